"""bench/ab: two revisions' stacks side by side (the A/B the performance notes cite)."""

import os
import subprocess
import sys

from zoolab import ROOT


def ab(*args, timeout=300):
    return subprocess.run([sys.executable, str(ROOT / "bench" / "ab"), *args], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=timeout)


def test_two_trees_are_measured_side_by_side_and_compared(tmp_path):
    # The checkout itself twice (a directory is used as it is): both stacks
    # start, serve every page, and the second is reported against the first.
    done = ab("--n", "3", "--pages", "home,view,run", str(ROOT), str(ROOT))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "view vs its home page, p50" in done.stdout
    assert f"{ROOT} vs {ROOT}: run, p50" in done.stdout


def test_an_unknown_revision_is_a_clear_error():
    done = ab("--n", "1", "no-such-revision-x", "HEAD", timeout=60)
    assert done.returncode != 0
    assert "no-such-revision-x" in done.stderr
