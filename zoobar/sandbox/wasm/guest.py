"""What the guest (CPython for WASI) runs before the profile's code.

runtime.py starts every guest as ``python -S -I -c <this file> CODE``: this
makes the profile API both a global ``api`` and an importable module (DESIGN
§3a; ``api.call(name, **kwargs)``, ``api.Error`` with ``kind``, as the
kernel backend's ``launcher.Api``), then runs CODE as ``__main__``.

**The API channel.** WASI preview 1 has no sockets: a request is ``MARK``
then one line of the wire format (zoobar/wire.py) written to the guest's
stderr (fd 2), which the host relays to the service; the reply line is read
from stdin (fd 0). stdout is the output, and so are tracebacks
(``sys.stderr`` is stdout).

**The wire format without importing json.** Importing ``json`` (it imports
``re``, ``enum``, ``functools``...) costs about 100 ms of a guest run, more
than CPython's own start. The lines here are built and read with ``_json``,
the C half of ``json`` that is built into CPython: the same encoder and
scanner ``json.dumps``/``json.loads`` use, with zoobar.wire's options
(compact separators, ASCII, no NaN or Infinity either way).
``tests/sandbox/test_wasm_wire.py`` checks the bytes against zoobar.wire and
the launcher's copy.

Standard library only; importing this file runs nothing (the tests import it
on the host).
"""

import sys

MARK = b"\x00zoobar-api\x00"   # what starts a request on stderr (runtime.Guest)
MAX_LINE = 1 << 20              # zoobar.wire.MAX_LINE: a line, newline included


class Error(Exception):
    """A refused or failed API call; ``kind`` is the wire format's error name."""

    def __init__(self, message, kind="BadRequest"):
        super().__init__(message)
        self.kind = kind


Error.__module__, Error.__qualname__ = "api", "Error"


def _not_json(value):
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


class _Strict:
    """json.JSONDecoder's settings as _json's scanner reads them (parse_constant:
    zoobar.wire refuses NaN and Infinity)."""
    strict = True
    object_hook = object_pairs_hook = None
    parse_float, parse_int, parse_constant = float, int, staticmethod(_no_constant)


_codec = []                     # (encoder, scanner), made on the first call


def _json():
    if not _codec:
        import _json
        _codec.append((_json.make_encoder({}, _not_json, _json.encode_basestring_ascii, None,
                                          ":", ",", False, False, False),
                       _json.make_scanner(_Strict())))
    return _codec[0]


def request(name, kwargs):
    """One request line, newline included: zoobar.wire.request's bytes."""
    encode = _json()[0]
    try:
        line = "".join(encode([name, kwargs], 0)).encode()
    except (TypeError, ValueError, RecursionError) as e:
        raise Error(f"not JSON: {e}", "InternalError") from None
    if len(line) + 1 > MAX_LINE:
        raise Error(f"line over {MAX_LINE} bytes", "TooLarge")
    return line + b"\n"


def _loads(line):
    text = line.decode()
    start = len(text) - len(text.lstrip(" \t\n\r"))
    try:
        value, end = _json()[1](text, start)
    except StopIteration:
        raise ValueError("no JSON value") from None
    if text[end:].strip(" \t\n\r"):
        raise ValueError("extra data")
    return value


def result(line):
    """The result of one reply line (newline included), or Error: as launcher.Api.result."""
    if not line.endswith(b"\n"):
        raise Error("the profile API is gone")
    try:
        reply = _loads(line)
    except (ValueError, RecursionError):
        raise Error("a reply that is not JSON") from None
    if isinstance(reply, dict) and "ok" in reply:
        return reply["ok"]
    error = reply.get("error") if isinstance(reply, dict) else None
    if isinstance(error, dict):
        raise Error(str(error.get("message")), str(error.get("type")))
    raise Error("malformed reply")


_pending = bytearray()          # what came after the last reply line


def call(name, **kwargs):
    import posix                # built in: os is not imported under -S
    data = MARK + request(name, kwargs)
    while data:
        data = data[posix.write(2, data):]
    while b"\n" not in _pending:
        if len(_pending) > MAX_LINE:
            raise Error(f"a reply over {MAX_LINE} bytes")
        chunk = posix.read(0, 65536)
        if not chunk:
            return result(bytes(_pending))      # the service is gone
        _pending.extend(chunk)
    end = _pending.index(b"\n") + 1
    line = bytes(_pending[:end])
    del _pending[:end]
    return result(line)


def _boot():
    code = sys.argv[1]
    sys.argv = ["profile"]
    sys.stderr = sys.stdout             # tracebacks are output; fd 2 carries the API
    api = type(sys)("api", "The profile API: api.call(name, **kwargs).")
    api.call, api.Error = call, Error
    sys.modules["api"] = api
    return compile(code, "profile", "exec"), api


if __name__ == "__main__":
    _code, _api = _boot()
    del _boot
    exec(_code, {"__name__": "__main__", "api": _api})  # noqa: S102 - the profile, in the guest
