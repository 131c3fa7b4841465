"""One wire format: the wasm guest's API client (zoobar/sandbox/wasm/guest.py,
which builds lines with ``_json`` so the guest need not import ``json``)
speaks the same bytes as zoobar/wire.py and reads replies as the kernel
backend's launcher.Api does. The guest's code is imported here on the host
(standard library only); the last test runs it in the guest."""

from __future__ import annotations

import pytest

from tests.app.test_rpc_wire import MESSAGES, REPLIES
from tests.sandbox.wasm_helpers import WASM_CACHE
from zoobar import wire
from zoobar.sandbox.launcher import Api
from zoobar.sandbox.backends import make_sandbox
from zoobar.sandbox.wasm import guest


@pytest.mark.parametrize("name,kwargs", MESSAGES, ids=[m[0] for m in MESSAGES])
def test_the_guest_sends_the_same_bytes_as_wire(name, kwargs):
    assert guest.request(name, kwargs) == wire.request(name, kwargs) == Api.request(name, kwargs)


def outcome(read, error, line):
    try:
        return ("ok", read(line))
    except error as err:
        return ("error", err.kind, str(err))


ODD_LINES = [b"", b'{"ok": 1}', b"not json\n", b"[1]\n", b'{"error": 3}\n', b'{"ok": 1} x\n', b'\xff\n',
             b'  {"ok": [1, 2]}  \n', b'{"error": {"type": "Refused"}}\n',
             b"[" * 100 + b"]" * 100 + b"\n"]


@pytest.mark.parametrize("line", [wire.reply_line(m) for m in REPLIES] + ODD_LINES)
def test_the_guest_reads_every_reply_line_as_the_launcher_does(line):
    assert outcome(guest.result, guest.Error, line) == outcome(Api.result, Api.Error, line)


def test_the_guest_refuses_nan_in_a_reply_as_wire_does():
    # (the launcher's json.loads would take it; the service never sends one)
    with pytest.raises(wire.WireError):
        wire.decode(b'{"ok": NaN}\n')
    assert outcome(guest.result, guest.Error, b'{"ok": NaN}\n') == (
        "error", "BadRequest", "a reply that is not JSON")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), object(), {1j: 2}, b"bytes"])
def test_what_is_not_strict_json_is_refused_by_the_guest_as_by_wire(value):
    with pytest.raises(wire.WireError):
        wire.request("m", {"v": value})
    with pytest.raises(guest.Error) as err:
        guest.request("m", {"v": value})
    assert err.value.kind == "InternalError"


def test_the_guest_refuses_a_request_over_the_line_limit():
    with pytest.raises(guest.Error) as err:
        guest.request("m", {"s": "x" * wire.MAX_LINE})
    assert err.value.kind == wire.TOO_LARGE
    assert guest.MAX_LINE == wire.MAX_LINE


@pytest.fixture(scope="module")
def wasm_box(tmp_path_factory):
    sb = make_sandbox("wasm", root=str(tmp_path_factory.mktemp("wire")), cache_dir=WASM_CACHE)
    yield sb
    sb.close()


def test_what_the_guest_sends_reaches_the_service_unchanged(wasm_box):
    got = []

    def api(name, kwargs):
        got.append((name, kwargs))
        return kwargs

    code = (f"sent = {MESSAGES!r}\n"
            "back = [api.call(name, **kwargs) for name, kwargs in sent]\n"
            "print(back == [kwargs for _, kwargs in sent])")
    r = wasm_box.run("owner", code, api)
    assert (r.status, r.output) == ("ok", "True\n")
    assert got == MESSAGES
