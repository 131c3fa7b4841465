"""HTTP helpers for the application tests: a browser-like session on a stack's site."""

from __future__ import annotations

import re
import uuid

import requests
from markupsafe import escape

HOME = "/zoobar/index.cgi/"


def unique(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def login(stack, username: str, password: str, register: bool = False) -> requests.Session:
    """A browser-like session that submitted the login form (following redirects)."""
    web = requests.Session()
    button = {"submit_registration": "Register"} if register else {"submit_login": "Log in"}
    response = web.post(stack.url("login"), data={"login_username": username,
                                                   "login_password": password,
                                                   "nexturl": HOME, **button}, timeout=30)
    web.last = response
    return web


def register(stack, username: str, password: str = "pw") -> requests.Session:
    web = login(stack, username, password, register=True)
    assert f"Log out {escape(username)}" in web.last.text, web.last.text[-800:]
    return web


def save_profile_and_view(stack, owner_web: requests.Session, owner: str,
                          viewer_web: requests.Session, text: str) -> str:
    """Save ``text`` as ``owner``'s profile, then return the profile part of
    ``owner``'s users page as ``viewer`` sees it."""
    owner_web.post(stack.url(), data={"profile_update": text, "profile_submit": "Save"}, timeout=30)
    page = viewer_web.get(stack.url("users"), params={"user": owner}, timeout=60).text
    return page[page.index('class="profile">'):page.index("<h3>Transfers")]


def zoobars_on_users_page(web, stack, name) -> int:
    page = web.get(stack.url("users"), params={"user": name}, timeout=30).text
    found = re.search(r'<span id="zoobars" class="(\d+)">', page)
    assert found, page[-1000:]
    return int(found.group(1))


def send(web, stack, recipient, zoobars) -> requests.Response:
    return web.post(stack.url("transfer"), data={"recipient": recipient, "zoobars": zoobars,
                                                 "submission": "Send"}, timeout=30)
