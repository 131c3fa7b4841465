"""The verdict before the run's exit (launcher.DONE_CALL, Run.conclude), and
what a profile that says "done" itself (it runs in the process that says it)
can and cannot do with that: cut its own output short, nothing more. Its
files are saved only once it is dead, its owner's next run waits for that,
and it still dies at the wall clock."""

from __future__ import annotations

import os

from tests.sandbox.helpers import echo_api
from zoobar.sandbox import Limits, Sandbox

# What the launcher writes after the owner's code, written by the code itself.
FORGE = """
import json, os
os.write(3, (json.dumps(['sandbox.done', {'status': 0}]) + '\\n').encode())
"""


def run(sandbox, code, owner="owner"):
    return sandbox.run(owner, "#!python\n" + code, echo_api(owner))


def first_run(sandbox, owner="owner"):
    """An owner's first run saves (its `/data` is new); from the next on, a run
    that changes nothing has nothing to save."""
    assert run(sandbox, "pass", owner).status == "ok"


def alive(pid: int) -> bool:
    """Whether the process exists (the zygote reaps its runs: a dead one is gone)."""
    return os.path.exists(f"/proc/{pid}")


def test_a_run_that_changes_no_file_gets_its_verdict_before_its_process_is_reaped(sandbox):
    first_run(sandbox)
    r = run(sandbox, "print('hi')")
    assert (r.status, r.output) == ("ok", "hi\n")
    # done: the zygote's verdict on the DONE_CALL line; profile: the reap, not waited for
    assert {"code_done", "done"} <= r.phases.keys() and "profile" not in r.phases


def test_an_error_keeps_its_status_and_traceback_on_the_early_path(sandbox):
    first_run(sandbox)
    r = run(sandbox, "raise ValueError('boom')")
    assert r.status == "error" and "ValueError: boom" in r.output
    assert "done" in r.phases and r.detail == "exit status 1"


def test_a_run_that_writes_files_is_saved_after_its_exit_and_the_next_run_sees_them(sandbox):
    r = run(sandbox, "open('n', 'w').write('1')\nprint('wrote')")
    assert r.status == "ok" and "profile" in r.phases      # reaped, then saved
    assert run(sandbox, "print(open('n').read())").output == "1\n"


def test_a_forged_done_with_a_file_open_for_writing_waits_for_the_exit_and_saves_it_all(sandbox):
    # The tmpfs cannot be frozen while a file is open for writing: no early
    # verdict; what it writes after its "done" is saved when it has ended.
    code = "f = open('log', 'w')\nf.write('before ')\nf.flush()\n" + FORGE + (
        "import time\ntime.sleep(0.5)\nf.write('after')\nf.close()\nprint('end')")
    r = run(sandbox, code)
    assert (r.status, r.output) == ("ok", "end\n") and "profile" in r.phases
    assert run(sandbox, "print(open('log').read())").output == "before after\n"


def test_a_forged_done_freezes_the_files_and_later_writes_fail(sandbox):
    # Nothing open for writing: the zygote freezes the tmpfs and gives the
    # verdict; the profile can change nothing afterwards, and its output
    # goes on until it closes it (here: its end).
    code = "open('kept', 'w').write('yes')\n" + FORGE + """
import time
time.sleep(0.3)
try:
    open('late', 'w').write('no')
    print('late written')
except OSError as e:
    print('late refused', e.errno)
"""
    r = run(sandbox, code)
    assert r.status == "ok" and r.output == "late refused 30\n"      # EROFS
    out = run(sandbox, "import os\nprint(sorted(os.listdir('.')), open('kept').read())").output
    assert out == "['data', 'kept', 'usr'] yes\n"


def test_a_profile_running_on_after_a_forged_done_is_killed_at_the_wall_clock_and_holds_its_turn(
        tmp_path):
    sb = Sandbox(root=str(tmp_path / "s"), limits=Limits(timeout=2.0, lock_wait=10.0))
    try:
        first_run(sb)
        first_run(sb, "other")
        code = "import os\nprint(os.getpid(), flush=True)\nos.close(1)\nos.close(2)\n" + FORGE + (
            "while True: pass")
        r = run(sb, code)
        pid = int(r.output)
        assert r.status == "ok"              # its own word, on its own output
        assert alive(pid)                    # the result came while it runs on
        # Another owner is not held up by it ...
        assert run(sb, "print('other')", owner="other").output == "other\n"
        assert alive(pid)
        # ... but its owner's next run starts only once it is dead: killed at
        # the wall clock (2 s), reaped.
        nxt = run(sb, "print('next')")
        assert nxt.output == "next\n" and not alive(pid)
        assert nxt.phases["lock"] > 0.5
    finally:
        sb.close()


def test_a_forged_done_status_only_names_its_own_verdict(sandbox):
    code = FORGE.replace("'status': 0", "'status': 3") + "import os\nos.close(1)\nos.close(2)\n"
    first_run(sandbox)
    r = run(sandbox, code)
    assert (r.status, r.detail) == ("error", "exit status 3")


def test_the_done_line_is_read_like_the_launcher_writes_it():
    from zoobar.sandbox import launcher
    from zoobar.sandbox.runner import done_status
    line = b'["%s", {"status": 7}]\n' % launcher.DONE_CALL.encode()
    assert done_status(line) == 7
    assert done_status(b'["get_self", {}]\n') is None
    assert done_status(b'["sandbox.done", {"status": "x"}]\n') == 1
