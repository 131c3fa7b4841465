"""Showing a profile: stored text from the profile store, run by the profile
service when it starts with ``#!python``, sanitised with an allowlist (nh3)."""

from __future__ import annotations

from dataclasses import dataclass

import nh3
from markupsafe import Markup

from zoobar import rpc

EXECUTABLE_PREFIX = "#!python"
RUN_TIMEOUT = 30.0


@dataclass
class Shown:
    html: Markup
    note: str | None = None


def sanitise(text: str) -> Markup:
    """Safe HTML: allowlisted tags and attributes only, text and whitespace intact."""
    return Markup(nh3.clean(text))


def stored(username: str) -> str:
    return rpc.client("profilestore").call("get_profile", username=username)


def show(owner: str, visitor: str) -> Shown:
    text = stored(owner)
    if not text.startswith(EXECUTABLE_PREFIX):
        return Shown(sanitise(text))
    try:
        result = rpc.client("profile", timeout=RUN_TIMEOUT).call("run", user=owner,
                                                                  visitor=visitor)
    except rpc.RpcUnavailable:
        return Shown(Markup(""), "The profile service is unavailable, so this executable "
                                 "profile cannot be shown right now.")
    except rpc.RemoteError as err:
        return Shown(Markup(""), f"The profile could not be run: {err.message}")
    if not isinstance(result, dict):
        return Shown(Markup(""), "The profile service gave a malformed answer.")
    output = str(result.get("output", ""))
    status = result.get("status")
    note = None
    if status == "timeout":
        note = "The profile ran out of time; its output is cut short."
    elif status not in (None, "ok"):
        note = "The profile stopped with an error."
    return Shown(sanitise(output), note)
