"""Who is visiting: the login cookie, checked with auth on every request.

The cookie ``PyZoobarLogin`` holds ``<url-quoted username>#<token>``; it is
HttpOnly and SameSite=Lax. The token is worthless without auth's say-so, which
``load_visitor`` asks for on each request.
"""

from __future__ import annotations

import functools
from urllib.parse import quote, unquote

from flask import g, redirect, request, url_for

from zoobar.frontend.services import auth

COOKIE = "PyZoobarLogin"


def load_visitor() -> None:
    g.user = g.token = None
    raw = request.cookies.get(COOKIE, "")
    name, sep, token = raw.rpartition("#")
    if not sep or not name or not token:
        return
    username = unquote(name)
    if auth().call("check_token", username=username, token=token):
        g.user, g.token = username, token


def set_login(response, username: str, token: str) -> None:
    response.set_cookie(COOKIE, f"{quote(username, safe='')}#{token}",
                        httponly=True, samesite="Lax", path="/")


def clear_login(response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Lax")


def login_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if g.user is None:
            here = request.script_root + request.full_path.rstrip("?")
            nexturl = here if request.method == "GET" else url_for("home.home")
            return redirect(url_for("login.login", nexturl=nexturl))
        return view(*args, **kwargs)

    return wrapper
