"""Log in, register, log out.

Logging out is a POST (the button on every page), behind the cross-site check:
a GET of ``logout`` (an ``<img>`` in someone's profile) revokes nothing.
"""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for

from zoobar import passwords, rpc, usernames
from zoobar.frontend import visitor
from zoobar.frontend.services import auth

bp = Blueprint("login", __name__)


def safe_next(nexturl: str | None) -> str:
    """Only a path on this site: no scheme, no host, no protocol-relative URL."""
    if (nexturl and nexturl.startswith("/") and not nexturl.startswith("//")
            and "\\" not in nexturl and not any(ord(c) < 32 for c in nexturl)):
        return nexturl
    return url_for("home.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    nexturl = safe_next(request.values.get("nexturl"))
    if request.method == "GET":
        return render_template("login.html", nexturl=nexturl, username="")
    typed = request.form.get("login_username", "")
    username = usernames.canonical(typed)
    password = request.form.get("login_password", "")
    registering = "submit_registration" in request.form
    message = None
    if not username or not password:
        message = "Enter a username and a password."
    elif len(password.encode("utf-8", "surrogatepass")) > passwords.MAX_PASSWORD_BYTES:
        message = f"Passwords are limited to {passwords.MAX_PASSWORD_BYTES} bytes."
    else:
        try:
            token = auth().call("register" if registering else "login",
                                username=username, password=password)
        except rpc.RemoteError as err:
            if err.type != rpc.REFUSED:
                raise
            message = ("Registration failed: " if registering else "Login failed: ") + err.message
        else:
            from zoobar.frontend import people  # SQLAlchemy only when needed (CGI start-up)

            people.add(username)
            response = redirect(nexturl)
            visitor.set_login(response, username, token)
            return response
    return render_template("login.html", nexturl=nexturl, username=typed,
                           message=message), 200


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    if request.method == "GET":          # revokes nothing: the button POSTs
        return redirect(url_for("home.home" if g.user else "login.login"))
    if g.user is not None:
        auth().call("logout", username=g.user, token=g.token)
    response = redirect(url_for("login.login"))
    visitor.clear_login(response)
    return response
