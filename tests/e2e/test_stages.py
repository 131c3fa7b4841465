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
marked:
\t@touch marked-done
needs-mark:
\t@test -e marked-done && touch needs-mark-ran
waits-for-beside:
\t@for i in $$(seq 200); do test -e needs-mark-ran && exit 0; sleep 0.1; done; exit 4
"""


def run_stages(tmp_path, *chains, env=None, after=()):
    (tmp_path / "Makefile").write_text(MAKEFILE)
    argv = [sys.executable, "-m", "zoolab.stages", "--directory", str(tmp_path),
            "--logs", str(tmp_path / "logs")]
    for chain in chains:
        argv += ["--chain", chain]
    for stage, chain in after:
        argv += ["--after", stage, chain]
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


def test_a_chain_after_a_stage_starts_when_it_passed_beside_the_rest_of_its_chain(tmp_path):
    # needs-mark fails unless `marked` finished first; waits-for-beside, which
    # follows `marked` in its chain, fails unless needs-mark ran meanwhile.
    done = run_stages(tmp_path, "marked waits-for-beside", after=[("marked", "needs-mark")])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all 3 stages passed" in done.stdout
    assert "(chain 2)" in done.stdout


def test_a_chain_after_a_failed_stage_does_not_run(tmp_path):
    done = run_stages(tmp_path, "bad", "ok1", after=[("bad", "other")])
    assert done.returncode == 1
    assert not (tmp_path / "logs" / "other.log").exists()
    assert "2 stage(s) failed or did not run: bad other" in done.stdout


def test_serial_mode_runs_a_dependent_chain_after_its_stage(tmp_path):
    done = run_stages(tmp_path, "marked ok1", "other", after=[("marked", "needs-mark")],
                      env={**os.environ, "ZOOLAB_TEST_SERIAL": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "needs-mark-ran").exists()


def test_after_an_unknown_stage_is_refused(tmp_path):
    done = run_stages(tmp_path, "ok1", after=[("nope", "other")])
    assert done.returncode == 2
    assert "--after nope" in done.stderr
