"""Who is visiting: the login cookie, checked with auth, and cross-site POST refusal.

The cookie ``PyZoobarLogin`` holds ``<url-quoted username>#<token>``; it is
HttpOnly and SameSite=Lax. The token is worthless without auth's say-so, which
``load_visitor`` asks for on each request.
"""

from __future__ import annotations

import functools
from urllib.parse import quote, unquote, urlsplit

from flask import abort, g, redirect, request, url_for

from zoobar import rpc

COOKIE = "PyZoobarLogin"


AUTH_TIMEOUT = 30.0     # a registration hashes k sweetwords; several may queue up


def auth() -> rpc.Client:
    return rpc.client("auth", timeout=AUTH_TIMEOUT)


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


def refuse_cross_site_post() -> None:
    """A POST whose Origin is another site (or opaque) is refused."""
    if request.method != "POST":
        return
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        abort(403, description="cross-site form submissions are refused")
    origin = request.headers.get("Origin")
    if origin is None:
        return
    parts = urlsplit(origin)
    if origin == "null" or not parts.netloc or parts.netloc.lower() != request.host.lower():
        abort(403, description="cross-site form submissions are refused")


def security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def login_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if g.user is None:
            here = request.script_root + request.full_path.rstrip("?")
            nexturl = here if request.method == "GET" else url_for("pages.home")
            return redirect(url_for("login.login", nexturl=nexturl))
        return view(*args, **kwargs)

    return wrapper
