"""When the zygote forks the next run's process (launcher.fork_ahead).

A lone run (the only one going, and the service has no other run under way)
has the cores to itself: the next run's process is forked only once its
verdict is out. When runs come in parallel, it is forked at once, so the next
request does not wait for a fork. These tests watch the zygote's run
processes (its children in a mount namespace of their own: waiting or
running; not the template runs are forked from, nor a saver) while runs sleep.
"""

from __future__ import annotations

import os
import threading
import time

from tests.sandbox.helpers import echo_api

SLEEP = "#!python\nimport time\ntime.sleep({})\nprint('slept')\n"


def _stat_ppid(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None                             # gone meanwhile


def run_processes(sandbox) -> dict[int, int]:
    """The zygote's run processes: pid -> real uid (0 while still waiting)."""
    zygote = sandbox._zygote._proc.pid
    mine = os.readlink(f"/proc/{zygote}/ns/mnt")
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or _stat_ppid(name) != zygote:
            continue
        try:
            if os.readlink(f"/proc/{name}/ns/mnt") == mine:
                continue                        # the template, or a saver
            with open(f"/proc/{name}/status") as f:
                uid = next(int(line.split()[1]) for line in f if line.startswith("Uid:"))
        except (OSError, StopIteration, ValueError):
            continue
        found[int(name)] = uid
    return found


def wait_for(predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def running(sandbox, owner, seconds):
    """Start `owner`'s run of `seconds` in a thread; return once its code runs
    (a run process with the owner's uid). -> (thread, its results)."""
    results = []
    thread = threading.Thread(target=lambda: results.append(
        sandbox.run(owner, SLEEP.format(seconds), echo_api(owner))))
    thread.start()
    uid = sandbox.uids.uid_for(owner)[0]
    assert wait_for(lambda: uid in run_processes(sandbox).values()), run_processes(sandbox)
    return thread, results


def finished(thread, results):
    thread.join()
    assert results[0].status == "ok" and results[0].output == "slept\n", results


def warm(sandbox):
    """One run first, so that the zygote is up with its waiting process."""
    assert sandbox.run("warm", "#!python\nprint(1)", echo_api("warm")).status == "ok"
    assert wait_for(lambda: list(run_processes(sandbox).values()) == [0])


def test_a_lone_run_has_the_cores_to_itself_and_the_next_process_comes_after_it(sandbox):
    warm(sandbox)
    thread, results = running(sandbox, "alice", 1.0)
    time.sleep(0.3)                             # a fork at once would be long done
    during = run_processes(sandbox)
    finished(thread, results)
    assert list(during.values()) == [sandbox.uids.uid_for("alice")[0]], during
    assert wait_for(lambda: list(run_processes(sandbox).values()) == [0])


def test_with_another_run_under_way_in_the_service_the_next_process_is_forked_at_once(sandbox):
    warm(sandbox)
    with sandbox._in_flight.inside():           # as a run waiting for its owner's turn would be
        thread, results = running(sandbox, "alice", 1.0)
        forked = wait_for(lambda: sorted(run_processes(sandbox).values())
                          == [0, sandbox.uids.uid_for("alice")[0]], seconds=0.8)
    finished(thread, results)
    assert forked, run_processes(sandbox)


def test_two_owners_runs_at_once_leave_a_process_waiting_beside_them(sandbox):
    warm(sandbox)
    alice = running(sandbox, "alice", 1.5)
    bob = running(sandbox, "bob", 0.8)          # asked for while alice's run is under way
    uids = sorted([0, sandbox.uids.uid_for("alice")[0], sandbox.uids.uid_for("bob")[0]])
    forked = wait_for(lambda: sorted(run_processes(sandbox).values()) == uids, seconds=0.7)
    finished(*bob)
    finished(*alice)
    assert forked, run_processes(sandbox)
