"""A small RPC service exercising what the RPC library checks (callers,
argument types, errors, refusals), shared by the RPC tests over the wire
(test_rpc.py) and in process (test_rpc_in_process.py)."""

from __future__ import annotations

import threading
import time

from zoobar import rpc

__all__ = ["Sample"]


class Sample(rpc.Service):
    name = "sample"

    @rpc.method(callers={"dynamic", "bank"})
    def whoami(self) -> str | None:
        return rpc.caller()

    @rpc.method(callers={"dynamic"})
    def add(self, a: int, b: int = 0) -> int:
        return a + b

    @rpc.method(callers={"dynamic"})
    def maybe(self, s: str | None, items: list, opts: dict, f: float, flag: bool) -> list:
        return [s, items, opts, f, flag]

    @rpc.method(callers={"dynamic"})
    def crash(self) -> None:
        raise KeyError("boom")

    @rpc.method(callers={"dynamic"})
    def refuse(self) -> None:
        raise rpc.Refused("no, thank you")

    @rpc.method(callers={"dynamic"})
    def nap(self, seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    @rpc.method(callers={"dynamic"})
    def meet(self, seconds: float) -> bool:
        """True once two calls are in here at the same time (within ``seconds``)."""
        try:
            self.meeting.wait(seconds)
        except threading.BrokenBarrierError:
            self.meeting.reset()
            return False
        return True

    @rpc.method(callers={"dynamic"})
    def unserialisable(self) -> object:
        return object()

    @rpc.method(callers={"dynamic"})
    def record(self, s: str) -> int:
        self.recorded.append(s)
        return len(self.recorded)

    def not_exported(self) -> str:
        return "secret"

    def __init__(self):
        self.recorded: list[str] = []
        self.meeting = threading.Barrier(2)
