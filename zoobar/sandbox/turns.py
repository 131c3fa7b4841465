"""Turns: this process's runs of one owner go one at a time, in the order
they asked (first come, first served).

The owner's flock (runner.Sandbox._lock) is what keeps runs of one owner
apart across processes (a saver, an orphaned run); it can only be polled.
Within the service, a waiting run gets its turn here the moment the previous
one hands it over, and a run that keeps asking cannot overtake one that is
already waiting (a poll would let it, until the waiter answers "busy").
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Hashable, Iterator


class Turns:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queues: dict[Hashable, collections.deque] = {}

    @contextlib.contextmanager
    def turn(self, key: Hashable, timeout: float) -> Iterator[bool]:
        """Yields whether this caller has `key`'s turn (False: not within `timeout`
        seconds); the turn passes to the next in line when the block ends."""
        me = object()
        with self._cond:
            queue = self._queues.setdefault(key, collections.deque())
            queue.append(me)
            mine = self._cond.wait_for(lambda: queue[0] is me, timeout)
            if not mine:
                queue.remove(me)
                if not queue:
                    del self._queues[key]
        try:
            yield mine
        finally:
            if mine:
                with self._cond:
                    queue.popleft()
                    if not queue:
                        del self._queues[key]
                    self._cond.notify_all()

    def waiting(self, key: Hashable) -> int:
        """How many callers hold or wait for `key`'s turn."""
        with self._cond:
            return len(self._queues.get(key, ()))


class InFlight:
    """How many calls are inside a block at once (``inside``), e.g. runs
    under way in this service, from asking to their result."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    @contextlib.contextmanager
    def inside(self) -> Iterator[None]:
        with self._lock:
            self._count += 1
        try:
            yield
        finally:
            with self._lock:
                self._count -= 1

    def count(self) -> int:
        with self._lock:
            return self._count
