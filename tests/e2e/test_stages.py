"""make test's stage runner (zoolab.stages): chains side by side, a chain stops
at its first failure, every stage's output kept in its own log."""

import os
import subprocess
import sys

MAKEFILE = """\
ok1:
\t@echo one-says-hi
bad:
\t@echo bad-says-why; exit 3
after-bad:
\t@echo must-not-run > ran-after-bad
other:
\t@echo other-ran
"""


def run_stages(tmp_path, *chains, env=None):
    (tmp_path / "Makefile").write_text(MAKEFILE)
    argv = [sys.executable, "-m", "zoolab.stages", "--directory", str(tmp_path),
            "--logs", str(tmp_path / "logs")]
    for chain in chains:
        argv += ["--chain", chain]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)


def test_a_failed_stage_stops_its_chain_only_and_fails_the_run(tmp_path):
    done = run_stages(tmp_path, "ok1 bad after-bad", "other")
    assert done.returncode == 1
    assert not (tmp_path / "ran-after-bad").exists()
    assert "one-says-hi" in (tmp_path / "logs" / "ok1.log").read_text()
    assert "other-ran" in (tmp_path / "logs" / "other.log").read_text()
    # The failed stage's log tail is shown, and the table names what did not run.
    assert "bad-says-why" in done.stdout
    assert "after-bad" in done.stdout and "not run" in done.stdout
    assert "2 stage(s) failed or did not run: bad after-bad" in done.stdout


def test_all_stages_passing_exits_zero(tmp_path):
    done = run_stages(tmp_path, "ok1", "other")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all 2 stages passed" in done.stdout


def test_serial_mode_shows_output_live(tmp_path):
    done = run_stages(tmp_path, "ok1", "other", env={**os.environ, "ZOOLAB_TEST_SERIAL": "1"})
    assert done.returncode == 0
    assert "one-says-hi" in done.stdout and "other-ran" in done.stdout


def test_a_stage_named_twice_is_refused(tmp_path):
    done = run_stages(tmp_path, "ok1", "ok1")
    assert done.returncode == 2
    assert "named twice" in done.stderr
