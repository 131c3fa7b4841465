"""Showing a profile: stored text from the profile store, run by the profile
service when it starts with ``#!python``, sanitised with an allowlist (nh3).

The HTML parser behind nh3 is quadratic in the number of open or formatting
elements (``'<ul><li>' * 32768`` cost 20 s) and slow on some linear inputs
(256 KiB of ``<``: 130 ms), so only the first ``MAX_TAGS`` tags and
``MAX_HTML_CHARS`` characters of a profile are parsed as HTML; after them the
profile is shown as it is, escaped (markup visible as text), with a note.
The worst case then costs about what an ordinary page does (docs/app.md).
"""

from __future__ import annotations

import re
from concurrent.futures import Future
from dataclasses import dataclass

import nh3
from markupsafe import Markup, escape

from zoobar import rpc
from zoobar.frontend.services import profilestore

EXECUTABLE_PREFIX = "#!python"
RUN_TIMEOUT = 30.0
MAX_TAGS = 256
MAX_HTML_CHARS = 16 * 1024
# Everything an HTML tokenizer could take for a tag starts like this (an upper
# bound: some are inside comments or attributes, which only makes us stricter).
TAG_START = re.compile(r"</?[A-Za-z]")
OVER_BUDGET = (f"This profile has more than {MAX_TAGS} tags or {MAX_HTML_CHARS} characters "
               "of HTML; the rest is shown as text, markup and all.")


@dataclass
class Shown:
    html: Markup
    note: str | None = None


def html_budget_end(text: str) -> int:
    """Where the part of ``text`` parsed as HTML ends: before its tag number
    ``MAX_TAGS`` + 1, and within ``MAX_HTML_CHARS`` (not inside a tag)."""
    end = len(text)
    for count, found in enumerate(TAG_START.finditer(text, 0, MAX_HTML_CHARS + 1)):
        if count == MAX_TAGS:
            return found.start()
    if end > MAX_HTML_CHARS:
        end = MAX_HTML_CHARS
        opened = text.rfind("<", 0, end)
        if opened > text.rfind(">", 0, end):
            end = opened                  # do not cut a tag in two
    return end


def sanitise(text: str) -> tuple[Markup, str | None]:
    """Safe HTML: allowlisted tags and attributes only, text and whitespace intact;
    past the budget, plain text. Returns the HTML and a note (or None)."""
    end = html_budget_end(text)
    if end == len(text):
        return Markup(nh3.clean(text)), None
    return Markup(nh3.clean(text[:end])) + escape(text[end:]), OVER_BUDGET


def stored(username: str) -> str:
    return profilestore().call("get_profile", username=username)


# Owners whose profile was executable when this process last showed it: their
# next view asks for the run without waiting for the stored text (the text,
# when it comes, still decides what is shown). Only a hint, bounded.
_was_executable: dict[str, bool] = {}
MAX_HINTS = 4096


def show(owner: str, visitor: str, text: Future) -> Shown:
    """``owner``'s profile as ``visitor`` sees it. ``text``: its stored text,
    already asked for (``rpc.submit``). The run's output is shown only if that
    text is executable; a run asked for early (the hint above) for a text that
    no longer is has its answer dropped."""
    early = _run(owner, visitor) if _was_executable.get(owner) else None
    current = text.result()
    executable = current.startswith(EXECUTABLE_PREFIX)
    if len(_was_executable) >= MAX_HINTS:
        _was_executable.clear()
    _was_executable[owner] = executable
    if not executable:
        return Shown(*sanitise(current))
    return early if early is not None else _run(owner, visitor)


def _run(owner: str, visitor: str) -> Shown:
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
    html, note = sanitise(str(result.get("output", "")))
    status = result.get("status")
    if status == "timeout":
        note = "The profile ran out of time; its output is cut short."
    elif status == "busy":
        note = "The profile is busy; try again in a moment."
    elif status not in (None, "ok"):
        note = "The profile stopped with an error."
    return Shown(html, note)
