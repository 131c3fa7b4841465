"""The course-style grader: passes a working stack, and names what breaks.

Runs zoolab.grade in local mode against real local stacks (tests/stack.py);
the tampering tests break one property on a stack of their own.
"""

import re
import sqlite3
import subprocess
import sys

import pytest

from tests.stack import ROOT, running_stack
from zoolab.grade import local_rows
from zoolab.grader import exercises
from zoolab.table import expected_matrix, site_rows
from zoolab.grader.site import CheckFailed, Runner


def grade(stack, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoolab.grade", "--local",
                           "--data-dir", str(stack.data_dir), "--url", stack.base, *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def local_context(stack) -> exercises.Context:
    return exercises.Context(base_url=stack.base, runner=Runner(None),
                             rows=local_rows(stack.conf_path), db_dir=str(stack.data_dir / "db"),
                             zook_conf=str(stack.conf_path), pythonpath=str(ROOT),
                             python=sys.executable)


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("tampered")) as stack:
        yield stack


def test_grader_passes_every_local_exercise_of_a_working_stack(local_stack):
    out = grade(local_stack)
    lines = out.stdout.strip().splitlines()
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.fullmatch(r"\d+ passed, 0 failed, \d+ skipped", lines[-1])
    assert len(lines) == len(exercises.exercises(site_rows())) + 1
    assert all(line.split(":")[0] in ("PASS", "SKIP") for line in lines[:-1])


def test_grader_skips_firewall_checks_in_local_mode_with_a_reason(local_stack):
    out = grade(local_stack, "--only", "firewall-auth")
    assert out.stdout.startswith("SKIP: firewall: only the table's callers reach auth")
    assert "no containers or firewall" in out.stdout


def test_grader_exits_nonzero_and_says_fail_when_a_password_is_stored_in_plain_text(own_stack):
    ctx = local_context(own_stack)
    for label in ("h1", "h2"):
        browser, _ = ctx.user(label, ctx.shared_password)
        with sqlite3.connect(own_stack.db_path("cred"), timeout=30) as conn:
            conn.execute("UPDATE cred SET password = ? WHERE username = ?",
                         (ctx.shared_password, browser.username))
    with pytest.raises(CheckFailed, match="plaintext password"):
        exercises.hashing(ctx)


def test_bank_exercise_fails_when_the_person_table_keeps_zoobars(own_stack):
    with sqlite3.connect(own_stack.db_path("person"), timeout=30) as conn:
        conn.execute("ALTER TABLE person ADD COLUMN zoobars INTEGER")
    with pytest.raises(CheckFailed, match="zoobars column"):
        exercises.bank_separation(local_context(own_stack))


def test_firewall_exercise_names_the_edge_that_differs_from_the_policy():
    rows = site_rows()
    ctx = exercises.Context(base_url="http://127.0.0.1:9", runner=Runner(), rows=rows,
                            db_dir="/nonexistent", zook_conf="/nonexistent", pythonpath="/")
    ctx._matrix = {pair: dict(want) for pair, want in expected_matrix(rows).items()}
    ctx._matrix[("profile", "auth")]["tcp"] = True      # one REJECT rule missing
    with pytest.raises(CheckFailed, match=r"profile->auth tcp reachable, policy says blocked"):
        exercises.firewall("auth")(ctx)
    assert "reached only by" in exercises.firewall("bank")(ctx)


def test_runner_appends_the_command_to_a_local_prefix():
    assert Runner("lxc-attach -n {container} --").argv("auth", ["test", "-e", "/x y"]) == \
        ["lxc-attach", "-n", "auth", "--", "test", "-e", "/x y"]


def test_runner_quotes_the_command_where_a_remote_shell_will_split_it():
    argv = Runner("ssh root@vm lxc-attach -n {container} -- {cmd}").argv(
        "static", ["python3", "-", '[["auth", "10.1.3.4", 8081]]'])
    assert argv == ["ssh", "root@vm", "lxc-attach", "-n", "static", "--",
                    """python3 - '[["auth", "10.1.3.4", 8081]]'"""]
