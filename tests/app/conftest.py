"""Fixtures for the application tests: a shared local stack and HTTP helpers."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
import requests
from markupsafe import escape

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.stack import local_stack  # noqa: E402,F401  (pytest fixture)

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


@pytest.fixture
def two_users(local_stack):  # noqa: F811  (the imported fixture)
    """Two freshly registered users and their logged-in sessions."""
    a, b = unique("alice"), unique("bob")
    return (a, register(local_stack, a)), (b, register(local_stack, b))


def save_profile_and_view(stack, owner_web: requests.Session, owner: str,
                          viewer_web: requests.Session, text: str) -> str:
    """Save ``text`` as ``owner``'s profile, then return the profile part of
    ``owner``'s users page as ``viewer`` sees it."""
    owner_web.post(stack.url(), data={"profile_update": text, "profile_submit": "Save"}, timeout=30)
    page = viewer_web.get(stack.url("users"), params={"user": owner}, timeout=60).text
    return page[page.index('class="profile">'):page.index("<h3>Transfers")]
