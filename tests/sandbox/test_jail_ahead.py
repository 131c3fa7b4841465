"""When the zygote forks the next run's process (launcher.fork_ahead).

A lone run (the only one going, and the service has no other run under way)
has the cores to itself: the next run's process is forked only once its
verdict is out. When runs come in parallel, it is forked at once, so the next
request does not wait for a fork. These tests count the zygote's children
while a run sleeps: one (the run's process) for a lone run, one more when
another run is under way in the service (Run.ahead) or going in the zygote.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from tests.sandbox.helpers import echo_api

SLEEP = "#!python\nimport time\ntime.sleep({})\nprint('slept')\n"


def children(pid: int) -> set[int]:
    found = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    stat = f.read()
            except OSError:
                continue                        # gone meanwhile
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(name))
    return found


def zygote_pid(sandbox) -> int:
    return sandbox._zygote._proc.pid


def wait_for(predicate, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def running(sandbox, owner, seconds):
    """Start `owner`'s run of `seconds` in a thread. -> (thread, its results)."""
    results = []
    thread = threading.Thread(target=lambda: results.append(
        sandbox.run(owner, SLEEP.format(seconds), echo_api(owner))))
    thread.start()
    return thread, results


def warm(sandbox):
    """One run first, so that the zygote is up with its waiting process."""
    assert sandbox.run("warm", "#!python\nprint(1)", echo_api("warm")).status == "ok"
    assert wait_for(lambda: len(children(zygote_pid(sandbox))) == 1)
    return children(zygote_pid(sandbox))


def test_a_lone_run_has_the_cores_to_itself_and_the_next_process_comes_after_it(sandbox):
    waiting = warm(sandbox)
    thread, results = running(sandbox, "alice", 0.8)
    time.sleep(0.4)
    during = children(zygote_pid(sandbox))
    thread.join()
    assert results[0].status == "ok" and results[0].output == "slept\n", results
    assert during == waiting                    # the waiting process became the run: no other
    assert wait_for(lambda: len(children(zygote_pid(sandbox)) - during) == 1)


@pytest.mark.parametrize("other", ["under way in the service", "going in the zygote"])
def test_with_another_run_the_next_process_is_forked_at_once(sandbox, other):
    warm(sandbox)
    threads = []
    if other == "under way in the service":
        with sandbox._in_flight.inside():       # as a run waiting for its owner's turn would be
            thread, results = running(sandbox, "alice", 0.8)
            time.sleep(0.4)
            during = children(zygote_pid(sandbox))
        expected = 2                            # alice's run, the next one's process
    else:
        thread, results = running(sandbox, "alice", 1.2)
        time.sleep(0.3)
        threads.append(running(sandbox, "bob", 0.6))
        time.sleep(0.3)
        during = children(zygote_pid(sandbox))
        expected = 3                            # alice's, bob's, the next one's
    for t, r in [(thread, results), *threads]:
        t.join()
        assert r[0].status == "ok" and r[0].output == "slept\n", r
    assert len(during) == expected, during
