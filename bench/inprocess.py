"""The in-process transport of the monolithic baseline (bench/monolith.py).

``host(service, section)`` makes ``rpc.client(section)`` in this process call
``service`` directly: no socket, no JSON, no other process, but the same
checks and errors as over the wire, because every call goes through
``rpc.Dispatcher`` like a request the TCP server reads. The caller a hosted
service sees is the hosted service whose method is running on this thread
(as that service's own process would be), else the client's own section.

Benchmark-only: production code never imports it (``zoobar/rpc.py`` holds
only what the separated site uses).
"""

from __future__ import annotations

import os
import threading

from zoobar import rpc

_hosted: dict[str, rpc.Dispatcher] = {}
_serving = threading.local()            # the hosted section whose method runs on this thread
_network_client = rpc.client


def host(service: rpc.Service, section: str) -> None:
    """Host ``service`` as ``section``: from now on ``rpc.client(section)`` is local."""
    _hosted[section] = rpc.Dispatcher(service, section)
    rpc.client = client


def reset() -> None:
    """Host nothing any more: ``rpc.client`` is the network one again."""
    _hosted.clear()
    rpc.client = _network_client


def client(target: str, conf_path: str | None = None, section: str | None = None,
           timeout: float = rpc.READ_TIMEOUT):
    """``rpc.client`` while something is hosted: local for hosted targets."""
    if target in _hosted:
        return LocalClient(target, section)
    return _network_client(target, conf_path, section, timeout)


class LocalClient:
    """A client for a service hosted in this process."""

    def __init__(self, target: str, section: str | None = None):
        self.target = target
        self.section = section if section is not None else os.environ.get("ZOOK_SECTION")

    def call(self, _method: str, /, **kwargs):
        outer = getattr(_serving, "section", None)
        _serving.section = self.target
        try:
            reply = _hosted[self.target].dispatch(_method, kwargs, outer or self.section)
        finally:
            _serving.section = outer
        return rpc.unpack(reply, self.target)

    def close(self) -> None:
        pass
