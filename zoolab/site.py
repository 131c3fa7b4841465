"""The one HTTP client of the zoobar site: the course's forms and pages (DESIGN §3).

``SiteClient`` is one visitor with its own cookie jar: register/login, logout,
the home page, transfer, profile save, users pages, echo. The functions below
read the pages the way the course's grader does (visible text, the
``<span id="zoobars" class="N">`` marker, the ``<table class="log">`` rows).

Used by the grader (zoolab.grader), the soak (tests/soak), the benchmarks
(bench/benchlib.py), the test helpers (tests/app/helpers.py) and, through the
command line below, Molecule's verify playbooks. Every request goes through
``SiteClient.request``, so a subclass can observe or wrap them all.

    python -m zoolab.site --url http://localhost:8888 register USER PASSWORD
    python -m zoolab.site --url URL login USER PASSWORD
    python -m zoolab.site --url URL transfer USER PASSWORD RECIPIENT ZOOBARS

Each prints one JSON object (``user``, ``ok``, ``logged_in``, ``balance`` on the
home page, ``zoobars`` on the user's users page, ``detail``; transfer adds
``before`` and ``after``) and exits 0 when the action did what it says, 1 when
the site answered and refused it (wrong password, transfer not applied), 2 when
the site could not be asked (connection error, timeout, HTTP error status).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from html import unescape

import requests

APP = "/zoobar/index.cgi"
HOME = APP + "/"
COOKIE = "PyZoobarLogin"
TIMEOUT = 20.0
BUSY_TRIES = 10     # registrations a patient client (grader, command line) makes against a busy auth


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
    """One visitor of the site at ``base_url`` (``http://host:port``).

    A registration answered 503 (auth hashes one at a time and turns away a
    queue that is full: "please try again in a moment") is tried again up to
    ``REGISTER_TRIES`` times in all."""

    REGISTER_TRIES = 1

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
        resp = self.login(username, password, register=True)
        for attempt in range(self.REGISTER_TRIES - 1):
            if resp.status_code != 503:
                break
            time.sleep(2 + attempt)
            resp = self.login(username, password, register=True)
        return resp

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


# -- command line: one site action, its outcome as JSON (Molecule's verify) -------
OK, REFUSED, UNREACHABLE = 0, 1, 2


class _Unreachable(Exception):
    """The site did not answer the request properly (the message says how)."""


def _checked(resp: requests.Response, what: str) -> requests.Response:
    if resp.status_code >= 400:
        raise _Unreachable(f"{what}: HTTP {resp.status_code}")
    return resp


def _state(site: SiteClient, user: str) -> dict:
    """Who the client is logged in as, the home page's balance and the users page's marker."""
    home = _checked(site.home(), "home page").text
    logged_in = site.logged_in_as(home, user)
    zoobars = (zoobars_on_users_page(_checked(site.users(user), "users page").text)
               if logged_in else None)
    return {"logged_in": logged_in, "balance": balance_on_home(home) if logged_in else None,
            "zoobars": zoobars}


def run_action(site: SiteClient, args: argparse.Namespace) -> dict:
    """Do one command-line action; the outcome as a dict with ``ok`` and ``detail``."""
    user = args.user
    entered = _checked(site.register(user, args.password) if args.action == "register"
                       else site.login(user, args.password), args.action)
    out = {"action": args.action, "user": user, "status": entered.status_code}
    state = _state(site, user)
    out.update(state)
    if not state["logged_in"]:
        return {**out, "ok": False, "detail": f"{args.action} as {user} did not log in"}
    if args.action != "transfer":
        return {**out, "ok": True, "detail": f"logged in as {user}"}
    before = state["balance"]
    _checked(site.transfer(args.recipient, args.zoobars), "transfer")
    after = balance_on_home(_checked(site.home(), "home page").text)
    out.update(before=before, after=after, balance=after)
    moved = before is not None and after is not None and before - after == args.zoobars
    detail = (f"sent {args.zoobars} zoobars to {args.recipient}" if moved else
              f"transfer of {args.zoobars} to {args.recipient}: balance {before} -> {after}")
    return {**out, "ok": moved, "detail": detail}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m zoolab.site",
                                 description="One action on the zoobar site, its outcome as JSON "
                                             "(exit 0 done, 1 refused by the site, 2 site not reachable).")
    ap.add_argument("--url", required=True, help="the site, e.g. http://localhost:8888")
    ap.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per request")
    ap.add_argument("--register-tries", type=int, default=BUSY_TRIES,
                    help="registrations answered 503 (auth busy) are tried again, this many in all")
    sub = ap.add_subparsers(dest="action", required=True)
    for name, helptext in (("register", "register USER and check that it is logged in"),
                           ("login", "log in as USER"),
                           ("transfer", "log in as USER and send ZOOBARS to RECIPIENT")):
        cmd = sub.add_parser(name, help=helptext)
        cmd.add_argument("user")
        cmd.add_argument("password")
        if name == "transfer":
            cmd.add_argument("recipient")
            cmd.add_argument("zoobars", type=int)
    args = ap.parse_args(argv)
    if args.register_tries < 1:
        ap.error("--register-tries must be at least 1")
    site = SiteClient(args.url, timeout=args.timeout)
    site.REGISTER_TRIES = args.register_tries
    try:
        out = run_action(site, args)
    except (requests.RequestException, _Unreachable) as err:
        out = {"action": args.action, "user": args.user, "ok": False,
               "detail": f"{args.url}: {err}"}
        print(json.dumps(out))
        return UNREACHABLE
    print(json.dumps(out))
    return OK if out["ok"] else REFUSED


if __name__ == "__main__":
    sys.exit(main())
