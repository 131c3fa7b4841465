"""HTTP helpers for the application tests: a browser-like session on a stack's site.

Thin adapters over zoolab.site.SiteClient (the one site client): the tests keep
the requests.Session they get, with the last response as ``.last``.
"""

from __future__ import annotations

import uuid

import requests
from markupsafe import escape

from zoolab.site import HOME, SiteClient
from zoolab.site import zoobars_on_users_page as zoobars_marker

__all__ = ["HOME", "login", "register", "save_profile_and_view", "send", "unique",
           "zoobars_on_users_page"]


def unique(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def client(stack, web: requests.Session | None = None) -> SiteClient:
    return SiteClient(stack.base, timeout=30, session=web)


def login(stack, username: str, password: str, register: bool = False) -> requests.Session:
    """A browser-like session that submitted the login form (following redirects)."""
    site = client(stack)
    site.login(username, password, register=register)
    site.http.last = site.last
    return site.http


def register(stack, username: str, password: str = "pw") -> requests.Session:
    web = login(stack, username, password, register=True)
    assert f"Log out {escape(username)}" in web.last.text, web.last.text[-800:]
    return web


def save_profile_and_view(stack, owner_web: requests.Session, owner: str,
                          viewer_web: requests.Session, text: str) -> str:
    """Save ``text`` as ``owner``'s profile, then return the profile part of
    ``owner``'s users page as ``viewer`` sees it."""
    client(stack, owner_web).set_profile(text)
    page = SiteClient(stack.base, timeout=60, session=viewer_web).users(owner).text
    return page[page.index('class="profile">'):page.index("<h3>Transfers")]


def zoobars_on_users_page(web, stack, name) -> int:
    page = client(stack, web).users(name).text
    found = zoobars_marker(page)
    assert found is not None, page[-1000:]
    return found


def send(web, stack, recipient, zoobars) -> requests.Response:
    return client(stack, web).transfer(recipient, zoobars)
