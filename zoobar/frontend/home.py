"""The home page: balance, and the visitor's profile editor."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request

from zoobar import rpc
from zoobar.frontend import profiles
from zoobar.frontend.services import bank, profilestore, refusal
from zoobar.frontend.visitor import login_required

bp = Blueprint("home", __name__)


@bp.route("/", methods=["GET", "POST"])
@login_required
def home():
    message = None
    if request.method == "POST" and "profile_update" in request.form:
        try:
            profilestore().call("set_profile", username=g.user, token=g.token,
                                text=request.form["profile_update"])
            message = "Profile saved."
        except rpc.RemoteError as err:
            message = f"Profile not saved: {refusal(err)}"
    return render_template("home.html", balance=bank().call("balance", username=g.user),
                           profile=profiles.stored(g.user), message=message)
