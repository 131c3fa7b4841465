"""The in-process transport (bench/inprocess.py): the monolithic baseline's RPC.

Services hosted in the calling process are called directly, with the same
caller checks, argument checks and error replies as over the wire; the caller
a service sees is the in-process service whose method is calling it.
"""

from __future__ import annotations

import pytest

from bench import inprocess
from tests.app.rpc_sample import Sample
from zoolab import local as zooklocal
from zoobar import rpc


class Outer(rpc.Service):
    """Hosted as "bank", one of the callers Sample.whoami accepts."""
    name = "outer"

    @rpc.method(callers={"dynamic"})
    def relay(self) -> list:
        inner_saw = rpc.client("inner").call("whoami")
        return [inner_saw, rpc.caller()]

    @rpc.method(callers={"dynamic"})
    def forbidden_relay(self) -> int:
        return rpc.client("inner").call("add", a=1)


@pytest.fixture
def hosted(monkeypatch):
    monkeypatch.setenv("ZOOK_SECTION", "dynamic")
    inprocess.host(Sample(), "inner")
    inprocess.host(Outer(), "bank")
    yield
    inprocess.reset()


def test_client_of_a_hosted_service_is_local(hosted):
    assert isinstance(rpc.client("inner"), inprocess.LocalClient)


def test_reset_gives_back_the_network_client(hosted):
    inprocess.reset()
    assert rpc.client is inprocess._network_client


def test_client_of_other_services_still_uses_the_network(hosted, tmp_path):
    conf = zooklocal.write_conf(tmp_path / "zook.conf")
    assert isinstance(rpc.client("auth", conf_path=str(conf)), rpc.Client)


def test_local_call_returns_the_result(hosted):
    assert rpc.client("inner").call("add", a=2, b=3) == 5


def test_caller_is_the_processs_own_section(hosted):
    assert rpc.client("inner").call("whoami") == "dynamic"


def test_nested_call_presents_the_calling_service(hosted):
    assert rpc.client("bank").call("relay") == ["bank", "dynamic"]


def test_caller_not_in_callers_is_forbidden(hosted):
    with pytest.raises(rpc.RemoteError) as err:
        rpc.client("inner", section="static").call("add", a=1)
    assert err.value.type == rpc.FORBIDDEN


def test_nested_caller_not_in_callers_is_forbidden(hosted):
    with pytest.raises(rpc.RemoteError) as err:
        rpc.client("bank").call("forbidden_relay")
    assert err.value.type == rpc.INTERNAL and "Forbidden" in err.value.message


def test_arguments_are_type_checked(hosted):
    with pytest.raises(rpc.RemoteError) as err:
        rpc.client("inner").call("add", a="2")
    assert err.value.type == rpc.TYPE_ERROR


def test_unknown_method_is_refused(hosted):
    with pytest.raises(rpc.RemoteError) as err:
        rpc.client("inner").call("not_there")
    assert err.value.type == rpc.NO_SUCH_METHOD


def test_refusal_reaches_the_caller(hosted):
    with pytest.raises(rpc.RemoteError) as err:
        rpc.client("inner").call("refuse")
    assert (err.value.type, err.value.message) == (rpc.REFUSED, "no, thank you")


def test_exception_in_method_becomes_internal_error(hosted):
    with pytest.raises(rpc.RemoteError) as err:
        rpc.client("inner").call("crash")
    assert err.value.type == rpc.INTERNAL


def test_caller_is_cleared_after_a_call(hosted):
    rpc.client("bank").call("relay")
    assert rpc.caller() is None
