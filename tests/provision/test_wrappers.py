"""The course-style wrappers (zookld.py and friends): their arguments, and the host lock,
which they take unless a parent process (`flock /run/zoolab-host.lock make up`) holds it."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.provision.helpers import ROOT
from zoolab import playbooks as zookld

PROBE = ("import sys; from pathlib import Path; from zoolab import playbooks; "
         "print(playbooks.held_by_ancestor(Path(sys.argv[1])))")


def probe(lock, wrap=()):
    cmd = [*wrap, sys.executable, "-c", PROBE, str(lock)]
    return subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def test_lock_held_by_a_parent_flock_is_recognised(tmp_path):
    lock = tmp_path / "host.lock"
    assert probe(lock, ("flock", str(lock))) == "True"


def test_lock_held_by_an_unrelated_process_is_not_ours(tmp_path):
    lock = tmp_path / "host.lock"
    holder = subprocess.Popen(["flock", str(lock), "sleep", "30"])
    try:
        deadline = time.monotonic() + 10
        while not zookld.lock_holders(lock):
            assert time.monotonic() < deadline, "the holder never took the lock"
            time.sleep(0.05)
        assert probe(lock) == "False"
    finally:
        holder.kill()
        holder.wait()


def test_no_lock_file_means_not_held(tmp_path):
    assert probe(tmp_path / "absent.lock") == "False"


def test_wrapper_arguments_after_double_dash_go_to_ansible_playbook():
    opts = zookld.service_args("test", ["auth", "--", "--check", "--diff"])
    assert opts.service == "auth"
    assert opts.ansible_args == ["--check", "--diff"]


def test_wrapper_without_service_acts_on_all():
    opts = zookld.service_args("test", ["--", "-i", "inventory/course.yml"])
    assert opts.service == ""
    assert opts.ansible_args == ["-i", "inventory/course.yml"]
