"""The run's tmpfs is made by the waiting process, before the run is known.

A run's process is forked before its run (launcher.ready_child) and makes the
owner-independent part of the jail while it waits (make_jail_tree): the
tmpfs, with the standard library bound read-only inside it. When the run
comes, the tree is moved over that owner's directory and given to the owner.
These tests check what the profile then finds: an empty tmpfs of its own
(the library's mount point aside), its owner's mode and uid on `/`, the
run's own size and inode limits (the first run of a zygote resizes the tmpfs,
later ones find it made to size), and nothing of the run of another owner
that was going when the process was forked (launcher.fork_ahead).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys

import pytest

from tests.sandbox.helpers import echo_api
from zoobar.sandbox import Limits, Sandbox, launcher
from zoobar.sandbox.launcher import STDLIB

# What the profile sees of its `/`: every name outside the standard library,
# the owner and mode of `/`, and the tmpfs's size and inodes.
LOOK = f"""#!python
import json, os
names = []
for top, dirs, files in os.walk("/"):
    if top == "{STDLIB}":
        dirs[:] = []
        continue
    names += [os.path.join(top, n) for n in dirs + files]
st, vfs = os.stat("/"), os.statvfs("/")
print(json.dumps({{"names": sorted(names), "uid": st.st_uid, "mode": st.st_mode & 0o7777,
                  "bytes": vfs.f_blocks * vfs.f_frsize, "inodes": vfs.f_files}}))
"""

WRITE = "#!python\nopen('/secret', 'w').write('mine')\nopen('/data/more', 'w').write('x')\n"


def look(sandbox, owner):
    r = sandbox.run(owner, LOOK, echo_api(owner))
    assert r.status == "ok", r
    return json.loads(r.output)


def skeleton():
    """The directories up to the library's mount point, and /data."""
    parts = STDLIB.strip("/").split("/")
    return sorted(["/data", *("/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1))])


def test_the_tmpfs_is_empty_the_owners_and_sized_for_the_run(tmp_path):
    limits = Limits(disk=3 << 20, inodes=123)
    sandbox = Sandbox(root=str(tmp_path / "s"), limits=limits)
    try:
        first, again = look(sandbox, "alice"), look(sandbox, "alice")
    finally:
        sandbox.close()
    uid = sandbox.uids.uid_for("alice")[0]
    for seen in (first, again):             # resized on the first run, made to size after
        assert seen["names"] == skeleton()
        assert (seen["uid"], seen["mode"]) == (uid, 0o700)
        assert seen["bytes"] == 3 << 20
        assert seen["inodes"] == 123 + 1 + STDLIB.count("/")


@pytest.mark.parametrize("forked", ["after its verdict", "during it"])
def test_a_waiting_process_forked_after_or_during_one_owners_run_shows_the_next_owner_nothing(
        sandbox, forked):
    with contextlib.ExitStack() as stack:
        if forked == "during it":               # another run under way: forked at once
            stack.enter_context(sandbox._in_flight.inside())
        assert sandbox.run("alice", WRITE, echo_api("alice")).status == "ok"
    bob = look(sandbox, "bob")
    assert bob["names"] == skeleton()
    assert bob["uid"] == sandbox.uids.uid_for("bob")[0]
    alice = look(sandbox, "alice")
    assert alice["names"] == sorted([*skeleton(), "/secret", "/data/more"])


def test_the_waiting_processs_rehearsal_leaves_nothing_behind():
    """launcher.rehearse (a warm-up of a profile's steps while the process
    waits) closes what it opened and adds no module: the run finds the
    process as it would without it."""
    before_fds, before_modules = set(os.listdir("/proc/self/fd")), set(sys.modules)
    launcher.rehearse()
    assert set(os.listdir("/proc/self/fd")) == before_fds
    assert set(sys.modules) == before_modules
