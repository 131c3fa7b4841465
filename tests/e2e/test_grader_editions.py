"""The grader's edition exercises (zoolab/grader/editions.py) against local
stacks running an edition's environment: they pass on the edition they are
for and name what breaks on a stack without that edition's behaviour."""

import subprocess
import sys

import pytest

from tests.stack import ROOT, running_stack
from zoolab import editions


def grade(stack, edition: str, *only: str) -> subprocess.CompletedProcess:
    args = [a for o in only for a in ("--only", o)]
    return subprocess.run([sys.executable, "-m", "zoolab.grade", "--local", "--edition", edition,
                           "--data-dir", str(stack.data_dir), "--url", stack.base, *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def stack_2026(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("ed2026"), env=editions.load("2026").env) as stack:
        yield stack


def test_the_2026_exercises_pass_on_a_2026_stack(stack_2026):
    out = grade(stack_2026, "2026", "course-users", "exercise8", "db-copy", "sandbox-files",
                "profiles", "profile-endless")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().splitlines()[-1] == "6 passed, 0 failed"
    assert "blind writes to /testfile, /lib/testfile invisible" in out.stdout


def test_exercise8_fails_where_the_transfer_delay_is_off(tmp_path):
    # a stack with 2022's environment (ZOOBAR_TRANSFER_DELAY_MAX=0) graded as 2026
    with running_stack(tmp_path, env=editions.load("2022").env) as stack:
        out = grade(stack, "2026", "exercise8")
    assert out.returncode == 1
    assert "FAIL: exercise 8" in out.stdout and "delay=2 was not honoured" in out.stdout


def test_each_edition_lists_its_own_exercises():
    listed = {}
    for name in ("2022", "2023", "2024", "2026"):
        out = subprocess.run([sys.executable, "-m", "zoolab.grade", "--list", "--edition", name],
                             cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
        listed[name] = {line.split()[0] for line in out.stdout.splitlines()}
    assert {"state-wipe", "no-db"} <= listed["2022"] - listed["2024"]
    assert "exercise8" in listed["2023"] - listed["2022"]
    assert "db-copy" in listed["2026"] - listed["2024"]
    assert all({"course-users", "state-restart", "profile-endless"} <= ids for ids in listed.values())
