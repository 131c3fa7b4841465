"""The transfer form: ``recipient``, ``zoobars``, and (2023+ editions) ``delay``.

``delay`` (whole seconds, up to ``$ZOOBAR_TRANSFER_DELAY_MAX``; ignored when
that is 0 or unset, as in 2022) makes the front end wait after the login check
and before asking the bank. The bank checks the token itself when it moves the
zoobars, so a login during the wait (a new token) makes the transfer fail.
"""

from __future__ import annotations

import os
import time

from flask import Blueprint, g, render_template, request

from zoobar import rpc, usernames
from zoobar.frontend.services import bank, refusal
from zoobar.frontend.visitor import login_required

bp = Blueprint("transfer", __name__)

MAX_ZOOBARS_DIGITS = 18
DELAY_MAX_VARIABLE = "ZOOBAR_TRANSFER_DELAY_MAX"


def parse_whole(raw: str, what: str, max_digits: int = MAX_ZOOBARS_DIGITS) -> int:
    """A whole number >= 0 written in ASCII digits, or ValueError with a reason."""
    text = raw.strip()
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"{what} must be a whole number")
    if len(text) > max_digits:
        raise ValueError(f"{what} is too large")
    return int(text)


def parse_zoobars(raw: str) -> int:
    """A whole, positive number of zoobars, or ValueError with a reason."""
    amount = parse_whole(raw, "the amount of zoobars")
    if amount < 1:
        raise ValueError("the amount must be at least 1")
    return amount


def delay_max() -> int:
    """The largest delay allowed (0: the delay field is ignored)."""
    raw = os.environ.get(DELAY_MAX_VARIABLE, "").strip()
    return int(raw) if raw.isdigit() else 0


def parse_delay(raw: str | None, limit: int) -> int:
    """Seconds to wait before the transfer: 0 unless delays are on and one is asked."""
    if limit == 0 or raw is None or not raw.strip():
        return 0
    seconds = parse_whole(raw, "the delay", max_digits=6)
    if seconds > limit:
        raise ValueError(f"the delay is at most {limit} seconds")
    return seconds


@bp.route("/transfer", methods=["GET", "POST"])
@login_required
def transfer():
    message = balance = None
    if request.method == "POST":
        recipient = usernames.canonical(request.form.get("recipient", ""))
        try:
            amount = parse_zoobars(request.form.get("zoobars", ""))
            delay = parse_delay(request.form.get("delay"), delay_max())
        except ValueError as err:
            message = f"Transfer failed: {err}."
        else:
            time.sleep(delay)
            try:
                balance = bank().call("transfer", sender=g.user, recipient=recipient,
                                      amount=amount, token=g.token)
                message = f"Sent {amount} zoobars to {recipient}."
            except rpc.RemoteError as err:
                message = f"Transfer failed: {refusal(err)}."
    if balance is None:
        balance = bank().call("balance", username=g.user)
    return render_template("transfer.html", balance=balance, message=message,
                           recipient=request.values.get("recipient", ""),
                           delays=delay_max() > 0)
