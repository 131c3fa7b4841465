"""RPC clients send a call at most once: a request that may have reached the
service is never re-sent (the soak showed why: a bank that dies after moving
the zoobars would move them again), while a kept connection the service
closed while idle is still replaced without the caller noticing.

The service here is a real socket server on the bank's loopback address that
misbehaves on purpose.
"""

from __future__ import annotations

import socket
import threading

import pytest

from tests.stack import claim_net
from zoolab import local as zooklocal
from zoobar import rpc, zookconf


class Flaky:
    """Answers {"ok": n} to the n-th request; ``die_on`` requests are read and
    then the connection is closed unanswered; after ``close_after_reply`` the
    connection is closed right after answering (an idle close, as it were)."""

    def __init__(self, address, die_on=(), close_after_reply=()):
        self.received: list[bytes] = []
        self.die_on, self.close_after_reply = set(die_on), set(close_after_reply)
        self.closed = threading.Event()     # set each time a connection has been closed
        self.listener = socket.create_server(address)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as lines:
                for line in lines:
                    self.received.append(line)
                    n = len(self.received)
                    if n in self.die_on:
                        break
                    conn.sendall(b'{"ok": %d}\n' % n)
                    if n in self.close_after_reply:
                        break
            self.closed.set()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def conf(tmp_path):
    net, lock = claim_net()
    path = zooklocal.write_conf(tmp_path / "zook.conf", net=net, main_host=f"127.{net}.0.4")
    yield str(path)
    lock.close()


def flaky(conf_path: str, **kw) -> Flaky:
    return Flaky(zookconf.load(conf_path).address("bank"), **kw)


def test_call_lost_after_sending_is_not_sent_again(conf):
    service = flaky(conf, die_on={2})
    try:
        client = rpc.Client("bank", conf, "dynamic")
        assert client.call("transfer", amount=1) == 1
        with pytest.raises(rpc.RpcUnavailable):
            client.call("transfer", amount=2)
        assert len(service.received) == 2
    finally:
        service.close()


def test_connection_closed_while_idle_is_replaced_transparently(conf):
    service = flaky(conf, close_after_reply={1})
    try:
        client = rpc.Client("bank", conf, "dynamic")
        assert client.call("balance", username="a") == 1
        # idle: the service has closed the kept connection before the next call
        assert service.closed.wait(5)
        assert client.call("balance", username="a") == 2
        assert len(service.received) == 2
    finally:
        service.close()
