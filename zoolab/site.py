"""The one HTTP client of the zoobar site: the course's forms and pages (DESIGN §3).

``SiteClient`` is one visitor with its own cookie jar: register/login, logout,
the home page, transfer, profile save, users pages, echo. The functions below
read the pages the way the course's grader does (visible text, the
``<span id="zoobars" class="N">`` marker, the ``<table class="log">`` rows).

Used by the grader (zoolab.grader), the soak (tests/soak), the benchmarks
(bench/benchlib.py) and the test helpers (tests/app/helpers.py). Every request
goes through ``SiteClient.request``, so a subclass can observe or wrap them all.
"""

from __future__ import annotations

import re
from html import unescape

import requests

APP = "/zoobar/index.cgi"
HOME = APP + "/"
COOKIE = "PyZoobarLogin"
TIMEOUT = 20.0


def page_text(html: str) -> str:
    """The visible text of a page, whitespace collapsed (for 'Balance: 10 zoobars')."""
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", html)
    text = re.sub(r"<[^>]*>", " ", text)
    return re.sub(r"\s+", " ", unescape(text)).strip()


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


def balance_on_home(html: str) -> int | None:
    match = re.search(r"Balance: (-?\d+) zoobars", page_text(html))
    return int(match.group(1)) if match else None


class SiteClient:
    """One visitor of the site at ``base_url`` (``http://host:port``)."""

    def __init__(self, base_url: str, timeout: float = TIMEOUT,
                 session: requests.Session | None = None):
        self.root = base_url.rstrip("/")
        self.app = self.root + APP
        self.http = session if session is not None else requests.Session()
        self.timeout = timeout
        self.username: str | None = None
        self.last: requests.Response | None = None

    def url(self, path: str = "") -> str:
        """The absolute URL of an application path (``"users"``, ``"/transfer"``, ``""``)."""
        return f"{self.app}/{path.lstrip('/')}"

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        """Every request goes through here (redirects followed, the client's timeout)."""
        kwargs.setdefault("timeout", self.timeout)
        self.last = self.http.request(method, self.url(path), **kwargs)
        return self.last

    def get(self, path: str, **params) -> requests.Response:
        return self.request("GET", path, params=params or None)

    def post(self, path: str, data: dict) -> requests.Response:
        return self.request("POST", path, data=data)

    # -- the course's forms and pages --------------------------------------------
    def login(self, username: str, password: str, register: bool = False) -> requests.Response:
        button = {"submit_registration": "Register"} if register else {"submit_login": "Log in"}
        self.username = username
        return self.post("login", {"login_username": username, "login_password": password,
                                   "nexturl": HOME, **button})

    def register(self, username: str, password: str) -> requests.Response:
        return self.login(username, password, register=True)

    def logout(self) -> requests.Response:
        return self.post("logout", {})        # the button; a GET revokes nothing

    def home(self) -> requests.Response:
        return self.get("")

    def balance_on_home(self) -> int | None:
        return balance_on_home(self.home().text)

    def logged_in_as(self, html: str, username: str | None = None) -> bool:
        return f"Log out {username or self.username}" in page_text(html)

    def transfer(self, recipient: str, zoobars: int | str) -> requests.Response:
        return self.post("transfer", {"recipient": recipient, "zoobars": str(zoobars),
                                      "submission": "Send"})

    def set_profile(self, text: str) -> requests.Response:
        return self.post("", {"profile_update": text, "profile_submit": "Save"})

    def users(self, username: str) -> requests.Response:
        return self.get("users", user=username)

    def echo(self, text: str) -> requests.Response:
        return self.get("echo", s=text)

    @property
    def cookie(self) -> str | None:
        """The login cookie's value, once logged in."""
        return self.http.cookies.get(COOKIE)
