"""The users page: a user's zoobars, profile and transfer log."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request

from zoobar import rpc, usernames
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

    # The page's three reads are under way at once, while the front end looks
    # the name up in its own table; a profile runs only for a name found there.
    # For a name not found the answers are dropped (the bank refuses it).
    balance = rpc.submit(bank().call, "balance", username=name)
    log = rpc.submit(bank().call, "get_log", username=name)
    text = rpc.submit(profiles.stored, name)
    if not people.exists(name):
        return render_template("users.html", user=name, missing=True)
    profile = profiles.show(name, g.user, text)
    return render_template("users.html", user=name, missing=False,
                           balance=balance.result(), log=log.result(), profile=profile)
