"""The one wire format (zoobar/wire.py) and the launcher's standard-library copy of it."""

from __future__ import annotations

import io

import pytest

from zoobar import rpc, wire
from zoobar.sandbox.launcher import Api

MESSAGES = [
    ("get_self", {}),
    ("xfer", {"target": "bob", "zoobars": 3}),
    ("get_user_info", {"username": "é☃\0\"\\\n</script>"}),
    ("odd", {"f": 1.5, "n": None, "t": True, "l": [1, [2, [3]]], "d": {"k": {"k": {}}}}),
    ("big", {"i": 10 ** 40, "s": "x" * 100_000}),
]


@pytest.mark.parametrize("name,kwargs", MESSAGES, ids=[m[0] for m in MESSAGES])
def test_the_launchers_api_sends_the_same_bytes_as_wire(name, kwargs):
    assert Api.request(name, kwargs) == wire.request(name, kwargs)
    assert wire.parse_request(Api.request(name, kwargs)) == (name, kwargs)


REPLIES = [wire.ok(None), wire.ok({"username": "a", "zoobars": 10}), wire.ok([{"x": "é"}] * 3),
           wire.error(wire.REFUSED, "insufficient funds"), wire.error(wire.TOO_MANY, "stop")]


@pytest.mark.parametrize("message", REPLIES)
def test_the_launchers_api_reads_replies_as_wire_does(message):
    line = wire.reply_line(message)
    try:
        expected = ("ok", wire.result(wire.decode(line)))
    except wire.ReplyError as err:
        expected = ("error", err.kind, err.message)
    try:
        got = ("ok", Api.result(line))
    except Api.Error as err:
        got = ("error", err.kind, str(err))
    assert got == expected


@pytest.mark.parametrize("value", [float("nan"), float("inf"), object(), {1j: 2}])
def test_what_is_not_strict_json_is_refused_by_both(value):
    with pytest.raises(wire.WireError):
        wire.request("m", {"v": value})
    with pytest.raises(Api.Error):
        Api.request("m", {"v": value})


def test_both_refuse_a_request_over_the_line_limit():
    with pytest.raises(wire.WireError) as err:
        wire.request("m", {"s": "x" * wire.MAX_LINE})
    assert err.value.kind == wire.TOO_LARGE
    with pytest.raises(Api.Error) as err:
        Api.request("m", {"s": "x" * wire.MAX_LINE})
    assert err.value.kind == wire.TOO_LARGE
    assert Api.MAX_LINE == wire.MAX_LINE


def test_a_reply_cut_short_is_no_reply_for_the_launcher():
    with pytest.raises(Api.Error, match="gone"):
        Api.result(wire.reply_line(wire.ok(1))[:-1])


@pytest.mark.parametrize("text", [b"NaN\n", b"[Infinity]\n", b"not json\n", b"\xff\n",
                                  b"[" * 100_000 + b"\n"])
def test_decode_refuses_what_is_not_strict_json_as_bad_request(text):
    with pytest.raises(wire.WireError) as err:
        wire.decode(text)
    assert err.value.kind == wire.BAD_REQUEST


def test_nesting_is_bounded_outside_strings_only():
    deep = wire.MAX_DEPTH + 1
    with pytest.raises(wire.WireError):
        wire.decode(b"[" * deep + b"]" * deep)
    nested: list = []
    for _ in range(deep - 1):
        nested = [nested]
    with pytest.raises(wire.WireError):
        wire.encode(nested)
    assert wire.decode(wire.encode(nested[0])) == nested[0]
    ok = wire.MAX_DEPTH
    assert wire.decode(b"[" * ok + b"]" * ok + b"\n") is not None
    assert wire.decode(b'["' + b"[{" * 1000 + b'"]\n') == ["[{" * 1000]


def test_read_line_gives_complete_lines_only():
    stream = io.BytesIO(b'["a",{}]\n["b",{}]')
    assert wire.read_line(stream) == b'["a",{}]\n'
    assert wire.read_line(stream) is None          # cut off by the end: not a line
    assert wire.read_line(stream) is None


def test_read_line_refuses_an_oversized_line_and_skip_line_resynchronises():
    stream = io.BytesIO(b"x" * 100 + b"\nnext\n")
    with pytest.raises(wire.LineTooLarge) as err:
        wire.read_line(stream, limit=10)
    assert wire.skip_line(stream, err.value)
    assert wire.read_line(stream, limit=10) == b"next\n"


def test_an_unserialisable_result_becomes_an_internal_error_reply():
    assert wire.decode(wire.reply_line(wire.ok(object())))["error"]["type"] == wire.INTERNAL


# -- the one dispatch --------------------------------------------------------------

class Guarded(rpc.Service):
    name = "guarded"

    @rpc.method(callers={"dynamic"})
    def add(self, a: int) -> int:
        return a + 1


def test_dispatcher_checks_the_caller_names_and_types():
    d = rpc.Dispatcher(Guarded())
    assert d.dispatch("add", {"a": 1}, "dynamic") == {"ok": 2}
    assert d.dispatch("add", {"a": 1}, "bank")["error"]["type"] == wire.FORBIDDEN
    assert d.dispatch("add", {"a": 1}, None)["error"]["type"] == wire.FORBIDDEN
    assert d.dispatch("add", {"a": "1"}, "dynamic")["error"]["type"] == wire.TYPE_ERROR
    assert d.dispatch("nope", {}, "dynamic")["error"]["type"] == wire.NO_SUCH_METHOD
    assert d.dispatch_line(b'["add", 1]\n', "dynamic")["error"]["type"] == wire.BAD_REQUEST


def test_rpc_and_wire_share_one_set_of_error_names():
    for name in ("BAD_REQUEST", "TOO_LARGE", "NO_SUCH_METHOD", "TYPE_ERROR", "FORBIDDEN",
                 "REFUSED", "INTERNAL", "MAX_LINE"):
        assert getattr(rpc, name) == getattr(wire, name)
