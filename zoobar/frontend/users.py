"""The users page: a user's zoobars, profile and transfer log."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request

from zoobar import usernames
from zoobar.frontend import profiles
from zoobar.frontend.services import bank
from zoobar.frontend.visitor import login_required

bp = Blueprint("users", __name__)


@bp.route("/users")
@login_required
def users():
    name = usernames.canonical(request.args.get("user", ""))
    if not name:
        return render_template("users.html", user=None)
    from zoobar.frontend import people  # SQLAlchemy only when needed (CGI start-up)

    if not people.exists(name):
        return render_template("users.html", user=name, missing=True)
    return render_template("users.html", user=name, missing=False,
                           balance=bank().call("balance", username=name),
                           log=bank().call("get_log", username=name),
                           profile=profiles.show(name, g.user))
