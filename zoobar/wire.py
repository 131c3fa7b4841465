"""The one wire format of zoobar: JSON lines (docs/conventions.md).

Every channel between our processes speaks it: the RPC library (``rpc.py``),
the sandbox's API channel (``sandbox/runner.py`` on the service side, the
profile's ``api`` object in ``sandbox/launcher.py``, which keeps a
standard-library copy of the few lines it needs; ``tests/app/test_wire.py``
checks that both speak the same bytes).

A request is one line ``[method, {kwargs}]``; its reply is one line,
``{"ok": result}`` or ``{"error": {"type": <one of the names below>, "message": str}}``.
A line is at most ``MAX_LINE`` bytes, newline included, and ends with its
newline: bytes cut off by the end of the stream are not a line, so a peer that
half-closes mid-line has sent nothing. Arrays and objects nest at most
``MAX_DEPTH`` deep. Only strict JSON (no NaN or Infinity).
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO

MAX_LINE = 1 << 20           # bytes, newline included; requests and replies alike
MAX_DEPTH = 32               # nesting of arrays and objects
MAX_DISCARD = 64 << 20       # an oversized line longer than this ends the connection

# The error names a reply can carry (its "type").
BAD_REQUEST = "BadRequest"          # not JSON, too deep, or not [method, {kwargs}]
TOO_LARGE = "TooLarge"              # a line over MAX_LINE
TOO_MANY = "TooMany"                # more requests than the channel allows
NO_SUCH_METHOD = "NoSuchMethod"
TYPE_ERROR = "TypeError"            # wrong argument names or types
FORBIDDEN = "Forbidden"             # the caller may not call this method
REFUSED = "Refused"                 # the method said no (its message says why)
INTERNAL = "InternalError"          # a bug or an unserialisable result on the serving side


class WireError(ValueError):
    """A line that is not a valid message; ``kind`` is one of the error names."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


def encode(message: Any, limit: int = MAX_LINE) -> bytes:
    """``message`` as one line (newline included); WireError if it cannot be one."""
    try:
        data = json.dumps(message, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError, RecursionError) as err:
        raise WireError(INTERNAL, f"not JSON: {err}") from None
    if len(data) + 1 > limit:
        raise WireError(TOO_LARGE, f"line over {limit} bytes")
    if _too_deep(data, message, MAX_DEPTH):
        raise WireError(INTERNAL, f"nested deeper than {MAX_DEPTH}")
    return data + b"\n"


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def decode(line: bytes, limit: int = MAX_LINE) -> Any:
    """The value of one line; WireError (``TooLarge`` or ``BadRequest``) if it is not one."""
    if len(line) > limit:
        raise WireError(TOO_LARGE, f"line over {limit} bytes")
    try:
        value = json.loads(line, parse_constant=_reject_constant)
    except RecursionError:
        raise WireError(BAD_REQUEST, f"nested deeper than {MAX_DEPTH}") from None
    except (UnicodeDecodeError, ValueError) as err:
        raise WireError(BAD_REQUEST, f"not JSON: {err}") from None
    if _too_deep(line, value, MAX_DEPTH):
        raise WireError(BAD_REQUEST, f"nested deeper than {MAX_DEPTH}")
    return value


def _too_deep(text: bytes, value: Any, limit: int) -> bool:
    """Whether arrays/objects in ``value`` (parsed from or dumped to ``text``) nest
    deeper than ``limit``: level by level, without recursion. A text with at
    most ``limit`` brackets cannot, so most lines cost two counts."""
    if text.count(b"[") + text.count(b"{") <= limit:
        return False
    level = [value] if isinstance(value, (list, dict)) else []
    for _ in range(limit):
        if not level:
            return False
        level = [v for c in level for v in (c.values() if isinstance(c, dict) else c)
                 if isinstance(v, (list, dict))]
    return bool(level)


# -- requests and replies ----------------------------------------------------------

def request(method: str, kwargs: dict, limit: int = MAX_LINE) -> bytes:
    return encode([method, kwargs], limit)


def parse_request(line: bytes, limit: int = MAX_LINE) -> tuple[str, dict]:
    """``(method, kwargs)`` of a request line; WireError if it is not one."""
    value = decode(line, limit)
    if (not isinstance(value, list) or len(value) != 2 or not isinstance(value[0], str)
            or not isinstance(value[1], dict)):
        raise WireError(BAD_REQUEST, "a request must be [method, {kwargs}]")
    return value[0], value[1]


def ok(result: Any) -> dict:
    return {"ok": result}


def error(kind: str, message: str) -> dict:
    return {"error": {"type": kind, "message": message}}


def reply_line(message: dict, limit: int = MAX_LINE) -> bytes:
    """A reply message as a line; a result that cannot travel becomes an error reply."""
    try:
        return encode(message, limit)
    except WireError as err:
        return encode(error(INTERNAL, f"the reply cannot be sent: {err.message}"))


class ReplyError(Exception):
    """An error reply: ``kind`` is its type, ``message`` its message."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


def result(message: Any) -> Any:
    """The result of a reply message, or ReplyError for an error reply or a malformed one."""
    if isinstance(message, dict) and "ok" in message:
        return message["ok"]
    err = message.get("error") if isinstance(message, dict) else None
    if isinstance(err, dict):
        raise ReplyError(str(err.get("type")), str(err.get("message")))
    raise ReplyError(BAD_REQUEST, "malformed reply")


# -- reading lines -----------------------------------------------------------------

def read_line(rfile: BinaryIO, limit: int = MAX_LINE) -> bytes | None:
    """The next complete line (newline included), or None at the end of the stream.

    Bytes without their newline at the end of the stream are not a line and are
    dropped (a peer that half-closes mid-line has sent nothing). A line over
    ``limit`` raises WireError(TooLarge) after reading ``limit + 1`` bytes of it;
    ``skip_line`` then discards the rest. OSError (a timeout) passes through."""
    line = rfile.readline(limit + 1)
    if len(line) > limit:
        raise LineTooLarge(line.endswith(b"\n"), limit)
    if not line.endswith(b"\n"):
        return None
    return line


class LineTooLarge(WireError):
    def __init__(self, complete: bool, limit: int):
        super().__init__(TOO_LARGE, f"line over {limit} bytes")
        self.complete = complete        # its newline has been read too


def skip_line(rfile: BinaryIO, err: LineTooLarge, max_discard: int = MAX_DISCARD) -> bool:
    """Discard the rest of an oversized line; False if the stream ended or the
    line goes on past ``max_discard`` bytes (the channel cannot be resynchronised)."""
    if err.complete:
        return True
    for _ in range(max(1, max_discard // 65536)):
        chunk = rfile.readline(65536)
        if not chunk:
            return False
        if chunk.endswith(b"\n"):
            return True
    return False
