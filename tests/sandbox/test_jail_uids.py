"""Issue #12 item 13 (sandbox side): the sandbox's uid range is its own.

Sandbox uids are real ids of the system the service runs on (in local mode,
the host). A profile running as an id that a user or group of that system
holds could act as them (their files, their processes), so the sandbox
refuses to start on a range any of them has.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil

import pytest

from zoobar.sandbox import Sandbox
from zoobar.sandbox.runner import UID_FIRST, UID_LAST
from zoobar.sandbox.uids import UidMap, UidRangeInUse, range_users


def test_the_sandbox_refuses_to_start_on_a_range_holding_a_system_user(tmp_path):
    user = pwd.getpwnam("daemon")                 # uid 1 on Debian; any system user does
    with pytest.raises(UidRangeInUse, match=f"user daemon \\(uid {user.pw_uid}\\)"):
        Sandbox(root=str(tmp_path / "s"), uid_first=user.pw_uid, uid_last=user.pw_uid + 5)


def test_a_group_alone_in_the_range_is_refused_too(tmp_path):
    users = {u.pw_uid for u in pwd.getpwall()}
    gid = next(g.gr_gid for g in grp.getgrall() if g.gr_gid not in users and g.gr_gid > 0)
    with pytest.raises(UidRangeInUse, match=f"gid {gid}"):
        UidMap(str(tmp_path / "m.sqlite"), gid, gid)


def test_the_refusal_says_what_to_do(tmp_path):
    with pytest.raises(UidRangeInUse) as err:
        UidMap(str(tmp_path / "m.sqlite"), 1, 1000)
    text = str(err.value)
    assert "1-1000" in text and "UID_FIRST" in text and text.count("(uid ") <= 5


def test_the_default_range_is_unused_on_this_host():
    # the premise of every other sandbox test: fix the host (or the range) if this fails
    assert range_users(UID_FIRST, UID_LAST) == []


def test_a_map_file_replaced_while_in_use_is_the_one_assigned_in(tmp_path):
    # A map keeps one connection per thread (uids.UidMap._db); a file put in
    # its place (restored from a copy, say) must be the one it reads and
    # writes from then on, never the unlinked one it had open.
    path = str(tmp_path / "m.sqlite")
    m = UidMap(path, 20000, 20009)
    a, _ = m.uid_for("a")
    shutil.copy(path, path + ".copy")
    os.rename(path + ".copy", path)            # a new file (inode) with the same rows
    b, new = m.uid_for("b")
    assert new and b != a and m.uid_for("a") == (a, False)
    assert UidMap(path, 20000, 20009).lookup("b") == b
