"""Home (balance, profile editor), transfer, users, echo."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request

from zoobar import rpc
from zoobar.frontend import profiles
from zoobar.frontend.session import login_required

bp = Blueprint("pages", __name__)

MAX_ZOOBARS_DIGITS = 18


def bank() -> rpc.Client:
    return rpc.client("bank")


def _refusal(err: rpc.RemoteError) -> str:
    if err.type != rpc.REFUSED:
        raise err
    return err.message


@bp.route("/", methods=["GET", "POST"])
@login_required
def home():
    message = None
    if request.method == "POST" and "profile_update" in request.form:
        try:
            rpc.client("profilestore").call("set_profile", username=g.user, token=g.token,
                                            text=request.form["profile_update"])
            message = "Profile saved."
        except rpc.RemoteError as err:
            message = f"Profile not saved: {_refusal(err)}"
    return render_template("home.html", balance=bank().call("balance", username=g.user),
                           profile=profiles.stored(g.user), message=message)


def parse_zoobars(raw: str) -> int:
    """A whole, positive number of zoobars, or ValueError with a reason."""
    text = raw.strip()
    if not text.isascii() or not text.isdigit():
        raise ValueError("the amount must be a whole number of zoobars")
    if len(text) > MAX_ZOOBARS_DIGITS:
        raise ValueError("the amount is too large")
    amount = int(text)
    if amount < 1:
        raise ValueError("the amount must be at least 1")
    return amount


@bp.route("/transfer", methods=["GET", "POST"])
@login_required
def transfer():
    message = None
    if request.method == "POST":
        recipient = request.form.get("recipient", "")
        try:
            amount = parse_zoobars(request.form.get("zoobars", ""))
        except ValueError as err:
            message = f"Transfer failed: {err}."
        else:
            try:
                bank().call("transfer", sender=g.user, recipient=recipient, amount=amount,
                            token=g.token)
                message = f"Sent {amount} zoobars to {recipient}."
            except rpc.RemoteError as err:
                message = f"Transfer failed: {_refusal(err)}."
    return render_template("transfer.html", balance=bank().call("balance", username=g.user),
                           message=message, recipient=request.values.get("recipient", ""))


@bp.route("/users")
@login_required
def users():
    name = request.args.get("user", "")
    if not name:
        return render_template("users.html", user=None)
    from zoobar.frontend import people  # SQLAlchemy only when needed (CGI start-up)

    if not people.exists(name):
        return render_template("users.html", user=name, missing=True)
    return render_template("users.html", user=name, missing=False,
                           balance=bank().call("balance", username=name),
                           log=bank().call("get_log", username=name),
                           profile=profiles.show(name, g.user))


@bp.route("/echo")
def echo():
    said = rpc.client("echo").call("echo", s=request.args.get("s", ""))
    return render_template("echo.html", said=said)
