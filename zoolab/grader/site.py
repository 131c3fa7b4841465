"""What the grader talks to: the web site over HTTP, and the containers.

``Browser`` is one logged-in user driving the course's URLs with requests.
``Runner`` runs a command in a container (``lxc-attach -n <c> --`` by default,
any prefix with ``{container}`` in it; ``{cmd}`` marks where a remote shell
gets the quoted command, e.g. ``ssh root@vm lxc-attach -n {container} -- {cmd}``),
or, in local mode, on this machine.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from html import unescape

import requests

HTTP_TIMEOUT = 20.0
DEFAULT_RUNNER = "lxc-attach -n {container} --"


class CheckFailed(Exception):
    """A grading check did not hold; the message says what was seen."""


class Skipped(Exception):
    """A check cannot be made in this mode; the message says why."""


def page_text(html: str) -> str:
    """The visible text of a page, whitespace collapsed (for 'Balance: 10 zoobars')."""
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", html)
    text = re.sub(r"<[^>]*>", " ", text)
    return re.sub(r"\s+", " ", unescape(text)).strip()


class Browser:
    """One user's session on the site: the course's forms and pages."""

    def __init__(self, base_url: str, timeout: float = HTTP_TIMEOUT):
        self.root = base_url.rstrip("/")
        self.app = self.root + "/zoobar/index.cgi"
        self.http = requests.Session()
        self.timeout = timeout
        self.username: str | None = None

    def get(self, path: str, **params) -> requests.Response:
        return self.http.get(self.app + path, params=params or None, timeout=self.timeout)

    def post(self, path: str, data: dict) -> requests.Response:
        return self.http.post(self.app + path, data=data, timeout=self.timeout)

    def _login_form(self, username: str, password: str, button: dict) -> requests.Response:
        resp = self.post("/login", {"login_username": username, "login_password": password,
                                    "nexturl": "/zoobar/index.cgi/", **button})
        self.username = username
        return resp

    def register(self, username: str, password: str) -> requests.Response:
        return self._login_form(username, password, {"submit_registration": "Register"})

    def login(self, username: str, password: str) -> requests.Response:
        return self._login_form(username, password, {"submit_login": "Log in"})

    def home(self) -> requests.Response:
        return self.get("/")

    def balance_on_home(self) -> int | None:
        match = re.search(r"Balance: (-?\d+) zoobars", page_text(self.home().text))
        return int(match.group(1)) if match else None

    def logged_in_as(self, html: str) -> bool:
        return f"Log out {self.username}" in page_text(html)

    def transfer(self, recipient: str, zoobars: int | str) -> requests.Response:
        return self.post("/transfer", {"recipient": recipient, "zoobars": str(zoobars),
                                       "submission": "Send"})

    def set_profile(self, text: str) -> requests.Response:
        return self.post("/", {"profile_update": text, "profile_submit": "Save"})

    def users(self, username: str) -> requests.Response:
        return self.get("/users", user=username)

    def echo(self, text: str) -> requests.Response:
        return self.get("/echo", s=text)


def zoobars_on_users_page(html: str) -> int | None:
    """The <span id="zoobars" class="N"> marker the course's grader reads."""
    for tag in re.findall(r"<span\b[^>]*>", html):
        if re.search(r'\bid\s*=\s*["\']zoobars["\']', tag):
            match = re.search(r'\bclass\s*=\s*["\'](-?\d+)["\']', tag)
            if match:
                return int(match.group(1))
    return None


def log_rows(html: str) -> list[list[str]]:
    """Cells of each row of <table class="log">, as visible text."""
    match = re.search(r'(?is)<table\b[^>]*class\s*=\s*["\'][^"\']*\blog\b[^"\']*["\'][^>]*>(.*?)</table>',
                      html)
    if not match:
        return []
    rows = []
    for row in re.findall(r"(?is)<tr\b[^>]*>(.*?)</tr>", match.group(1)):
        cells = [page_text(c) for c in re.findall(r"(?is)<t[dh]\b[^>]*>(.*?)</t[dh]>", row)]
        if cells:
            rows.append(cells)
    return rows


@dataclass
class Runner:
    """Runs commands in a container (prefix template) or, with prefix None, locally."""

    prefix: str | None = DEFAULT_RUNNER

    @property
    def local(self) -> bool:
        return self.prefix is None

    def argv(self, container: str, argv: list[str]) -> list[str]:
        """The full command. A prefix with ``{cmd}`` gets the command shell-quoted
        in its place (for runners that pass a string to a remote shell, like ssh);
        otherwise the command's words are appended."""
        if self.prefix is None:
            return list(argv)
        template = self.prefix.replace("{container}", container)
        if "{cmd}" in template:
            quoted = shlex.join(argv)
            return [quoted if word == "{cmd}" else word for word in shlex.split(template)]
        return shlex.split(template) + list(argv)

    def run(self, container: str, argv: list[str], stdin: bytes | None = None,
            timeout: float = 60.0) -> subprocess.CompletedProcess:
        full = self.argv(container, argv)
        try:
            return subprocess.run(full, input=stdin, capture_output=True, timeout=timeout,
                                  check=False)
        except FileNotFoundError as err:
            raise CheckFailed(f"cannot run {full[0]!r}: {err}") from None
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"{' '.join(full)} did not finish in {timeout:.0f}s") from None

    def exists(self, container: str, path: str) -> bool:
        return self.run(container, ["test", "-e", path]).returncode == 0

    def read(self, container: str, path: str) -> bytes | None:
        """The file's bytes, or None if it is not there."""
        out = self.run(container, ["cat", path])
        return out.stdout if out.returncode == 0 else None
