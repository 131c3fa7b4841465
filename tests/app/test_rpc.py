"""The RPC library: caller identity, argument checks, malformed input, concurrency."""

from __future__ import annotations

import json
import os
import socket
import threading
import time

import pytest

from tests.app.rpc_sample import Sample
from tests.stack import claim_net
from zoolab import local as zooklocal
from zoobar import rpc


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Sample served (in a thread, real sockets) at the echo section's address:
    (zook.conf path, the Sample instance)."""
    net, lock = claim_net()
    conf = zooklocal.write_conf(tmp_path_factory.mktemp("rpc") / "zook.conf", net=net,
                                main_host=f"127.{net}.0.4")
    srv = rpc.make_server(Sample(), str(conf), "echo")
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield conf, srv.service
    srv.shutdown()
    srv.server_close()
    lock.close()


@pytest.fixture(scope="module")
def server(served):
    return served[0]


def as_(server, section: str, **kw) -> rpc.Client:
    return rpc.Client("echo", str(server), section, **kw)


def raw_exchange(server, payloads: list[bytes]) -> list[dict]:
    """Send raw lines from dynamic's address on one connection; one parsed reply each."""
    client = as_(server, "dynamic")
    with socket.create_connection(client.address, timeout=10,
                                  source_address=(client.source, 0)) as sock:
        replies = sock.makefile("rb")
        out = []
        for payload in payloads:
            sock.sendall(payload)
            out.append(json.loads(replies.readline()))
        return out


def test_allowed_caller_gets_the_result(server):
    assert as_(server, "dynamic").call("add", a=2, b=3) == 5


def test_method_sees_the_calling_section(server):
    assert as_(server, "dynamic").call("whoami") == "dynamic"
    assert as_(server, "bank").call("whoami") == "bank"


def test_caller_not_in_the_list_is_forbidden(server):
    with pytest.raises(rpc.RemoteError) as err:
        as_(server, "auth").call("add", a=1)
    assert err.value.type == rpc.FORBIDDEN


def test_address_of_no_section_is_forbidden(server):
    with pytest.raises(rpc.RemoteError) as err:
        as_(server, "").call("whoami")        # source 127.0.0.1: in no section here
    assert err.value.type == rpc.FORBIDDEN


def test_unmarked_method_is_not_callable(server):
    with pytest.raises(rpc.RemoteError) as err:
        as_(server, "dynamic").call("not_exported")
    assert err.value.type == rpc.NO_SUCH_METHOD


@pytest.mark.parametrize("kwargs", [{}, {"a": 1, "c": 2}, {"b": 1}])
def test_wrong_argument_names_are_a_type_error(server, kwargs):
    with pytest.raises(rpc.RemoteError) as err:
        as_(server, "dynamic").call("add", **kwargs)
    assert err.value.type == rpc.TYPE_ERROR


@pytest.mark.parametrize("value", ["1", 1.5, True, None, [1], {"a": 1}])
def test_wrong_argument_types_are_a_type_error(server, value):
    with pytest.raises(rpc.RemoteError) as err:
        as_(server, "dynamic").call("add", a=value)
    assert err.value.type == rpc.TYPE_ERROR
    assert "'a' must be int" in err.value.message


def test_optional_list_dict_float_bool_annotations_accept_their_types(server):
    got = as_(server, "dynamic").call("maybe", s=None, items=[1], opts={"k": 2}, f=3, flag=False)
    assert got == [None, [1], {"k": 2}, 3, False]


def test_exception_in_a_method_is_an_error_reply_and_the_server_lives(server):
    client = as_(server, "dynamic")
    with pytest.raises(rpc.RemoteError) as err:
        client.call("crash")
    assert err.value.type == rpc.INTERNAL and "boom" in err.value.message
    assert client.call("add", a=1) == 1


def test_refused_reaches_the_client_with_its_message(server):
    with pytest.raises(rpc.RemoteError) as err:
        as_(server, "dynamic").call("refuse")
    assert (err.value.type, err.value.message) == (rpc.REFUSED, "no, thank you")


def test_unserialisable_result_is_an_error_reply(server):
    with pytest.raises(rpc.RemoteError) as err:
        as_(server, "dynamic").call("unserialisable")
    assert err.value.type == rpc.INTERNAL


MALFORMED = [
    b"not json\n",
    b"\n",
    b"\xff\xfe\n",
    b'{"method": "add"}\n',
    b'["add"]\n',
    b'["add", {"a": 1}, 3]\n',
    b'[1, {}]\n',
    b'["add", [1, 2]]\n',
    b'"add"\n',
    b"null\n",
    b"[" * 100_000 + b"]" * 100_000 + b"\n",
    b'["add", {"a": ' + b"9" * 5000 + b"}]\n",
]


MALFORMED_IDS = ["not-json", "empty", "not-utf8", "object", "one-element", "three-elements",
                 "method-not-string", "kwargs-not-object", "string", "null", "deep-nesting",
                 "huge-integer"]


@pytest.mark.parametrize("line", MALFORMED, ids=MALFORMED_IDS)
def test_malformed_line_gets_bad_request_and_the_connection_keeps_serving(server, line):
    bad, good = raw_exchange(server, [line, b'["add", {"a": 4}]\n'])
    assert bad["error"]["type"] == rpc.BAD_REQUEST
    assert good == {"ok": 4}


def test_oversized_line_is_refused_and_the_connection_resynchronises(server):
    huge = b'["add", {"a": "' + b"x" * (rpc.MAX_LINE + 10) + b'"}]\n'
    bad, good = raw_exchange(server, [huge, b'["add", {"a": 5}]\n'])
    assert bad["error"]["type"] == rpc.TOO_LARGE
    assert good == {"ok": 5}


def test_line_without_its_newline_is_not_executed_when_the_client_half_closes(served):
    server, sample = served
    client = as_(server, "dynamic")
    with socket.create_connection(client.address, timeout=10,
                                  source_address=(client.source, 0)) as sock:
        sock.sendall(b'["record", {"s": "complete"}]\n["record", {"s": "cut short"}]')
        sock.shutdown(socket.SHUT_WR)
        replies = sock.makefile("rb").read()      # until the server has closed its side
    assert replies.splitlines() == [b'{"ok":%d}' % len(sample.recorded)]
    assert sample.recorded[-1] == "complete"
    assert "cut short" not in sample.recorded


def test_client_refuses_to_send_an_oversized_request(server):
    with pytest.raises(rpc.RemoteError) as err:
        as_(server, "dynamic").call("add", a="x" * rpc.MAX_LINE)
    assert err.value.type == rpc.TOO_LARGE


def test_many_clients_are_served_concurrently(server):
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        as_(server, "dynamic").call("nap", seconds=0.5))) for _ in range(10)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [0.5] * 10
    assert time.monotonic() - start < 2.5


def test_one_client_reuses_its_connection(server):
    client = as_(server, "dynamic")
    client.call("add", a=1)
    first = client._local.conn[1]
    client.call("add", a=2)
    assert client._local.conn[1] is first


def test_read_timeout_raises_rpc_unavailable(server):
    client = as_(server, "dynamic", timeout=0.3)
    with pytest.raises(rpc.RpcUnavailable, match="did not answer"):
        client.call("nap", seconds=2)


def test_unreachable_service_raises_rpc_unavailable_quickly(server):
    client = rpc.Client("auth", str(server), "dynamic")     # nothing listens there
    start = time.monotonic()
    with pytest.raises(rpc.RpcUnavailable, match="cannot reach auth"):
        client.call("login", username="a", password="b")
    assert time.monotonic() - start < rpc.CONNECT_TIMEOUT + 1


def test_callers_must_be_a_collection_not_a_string():
    with pytest.raises(TypeError):
        rpc.method(callers="dynamic")



def test_submitted_calls_are_under_way_at_once(server):
    # Each call returns only once the other is in the service too: sequential
    # calls would both wait out their 5 s and answer False.
    client = as_(server, "dynamic")
    calls = [rpc.submit(client.call, "meet", seconds=5.0) for _ in range(2)]
    assert [c.result(timeout=10) for c in calls] == [True, True]


def test_a_submitted_call_raises_what_the_call_raised(server):
    with pytest.raises(rpc.RemoteError, match="no, thank you"):
        rpc.submit(as_(server, "dynamic").call, "refuse").result(timeout=10)
    with pytest.raises(rpc.RemoteError) as forbidden:
        rpc.submit(as_(server, "profile").call, "add", a=1).result(timeout=10)
    assert forbidden.value.type == rpc.FORBIDDEN


def test_submit_works_in_a_forked_child(server):
    # The parent's pool threads do not exist in a child: the child gets a pool of its own.
    assert rpc.submit(as_(server, "dynamic").call, "add", a=1).result(timeout=10) == 1
    pid = os.fork()
    if pid == 0:
        ok = False
        try:
            ok = rpc.submit(as_(server, "dynamic").call, "add", a=2).result(timeout=10) == 2
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
