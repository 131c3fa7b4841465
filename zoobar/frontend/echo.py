"""The echo page: ``echo?s=<text>`` through the echo service."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from zoobar import rpc

bp = Blueprint("echo", __name__)


@bp.route("/echo")
def echo():
    said = rpc.client("echo").call("echo", s=request.args.get("s", ""))
    return render_template("echo.html", said=said)
