"""zoobar.sandbox.turns: one owner's runs in this process take turns first come,
first served (a run that keeps asking cannot overtake one that waits)."""

from __future__ import annotations

import threading
import time

from zoobar.sandbox.turns import Turns


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.005)


def test_a_waiting_caller_gets_the_turn_before_the_holder_asks_again():
    turns, order, release = Turns(), [], threading.Event()

    def waiter() -> None:
        with turns.turn("alice", timeout=30) as mine:
            order.append(("waiter", mine))
            release.wait(30)

    with turns.turn("alice", timeout=1) as mine:
        assert mine
        thread = threading.Thread(target=waiter)
        thread.start()
        wait_until(lambda: turns.waiting("alice") == 2)
    # The holder asks again at once: the waiter is first in line, and keeps the turn.
    with turns.turn("alice", timeout=0.2) as again:
        assert not again
    assert order == [("waiter", True)]
    release.set()
    thread.join()
    with turns.turn("alice", timeout=1) as later:
        assert later
    assert turns.waiting("alice") == 0


def test_other_owners_do_not_wait_and_a_timed_out_caller_leaves_no_trace():
    turns = Turns()
    with turns.turn("alice", timeout=1) as alice:
        with turns.turn("bob", timeout=0) as bob:
            assert alice and bob
        with turns.turn("alice", timeout=0.05) as second:
            assert not second
        assert turns.waiting("alice") == 1 and turns.waiting("bob") == 0
    assert turns.waiting("alice") == 0
