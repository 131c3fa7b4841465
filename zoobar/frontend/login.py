"""Log in, register, log out."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for

from zoobar import passwords, rpc
from zoobar.frontend import session

bp = Blueprint("login", __name__)


def safe_next(nexturl: str | None) -> str:
    """Only a path on this site: no scheme, no host, no protocol-relative URL."""
    if (nexturl and nexturl.startswith("/") and not nexturl.startswith("//")
            and "\\" not in nexturl and not any(ord(c) < 32 for c in nexturl)):
        return nexturl
    return url_for("pages.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    nexturl = safe_next(request.values.get("nexturl"))
    if request.method == "GET":
        return render_template("login.html", nexturl=nexturl, username="")
    username = request.form.get("login_username", "")
    password = request.form.get("login_password", "")
    registering = "submit_registration" in request.form
    message = None
    if not username or not password:
        message = "Enter a username and a password."
    elif len(password.encode("utf-8", "surrogatepass")) > passwords.MAX_PASSWORD_BYTES:
        message = f"Passwords are limited to {passwords.MAX_PASSWORD_BYTES} bytes."
    else:
        try:
            token = session.auth().call("register" if registering else "login",
                                        username=username, password=password)
        except rpc.RemoteError as err:
            if err.type != rpc.REFUSED:
                raise
            message = ("Registration failed: " if registering else "Login failed: ") + err.message
        else:
            from zoobar.frontend import people  # SQLAlchemy only when needed (CGI start-up)

            people.add(username)
            response = redirect(nexturl)
            session.set_login(response, username, token)
            return response
    return render_template("login.html", nexturl=nexturl, username=username,
                           message=message), 200


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    if g.user is not None:
        session.auth().call("logout", username=g.user, token=g.token)
    response = redirect(url_for("login.login"))
    session.clear_login(response)
    return response
