"""The sandbox itself, without services: what a profile sees and cannot do."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.sandbox import jail_fixtures
from tests.sandbox.helpers import echo_api
from zoobar.sandbox import Limits, Sandbox, UidMap, UidRangeExhausted, launcher
from zoobar.sandbox.runner import UID_FIRST, UID_LAST

REPO = Path(__file__).resolve().parents[2]
no_seccomp = jail_fixtures.no_seccomp          # a fixture
WEIRD_NAMES = ["../x", "a/b", ".", "..", "", "é☃日本", "x" * 1000, "nul\0byte", "-rf", "a b\n"]


def run(sandbox, code, owner="owner", **kw):
    return sandbox.run(owner, "#!python\n" + code, echo_api(owner, kw.get("visitor", "visitor")))


# -- uids and directories ------------------------------------------------------

def test_uid_of_an_owner_is_stable_across_maps(tmp_path):
    first = UidMap(str(tmp_path / "m.sqlite"), UID_FIRST, UID_LAST).uid_for("alice")[0]
    again = UidMap(str(tmp_path / "m.sqlite"), UID_FIRST, UID_LAST).uid_for("alice")
    assert again == (first, False)


def test_two_sandbox_roots_do_not_give_the_same_names_the_same_uids(tmp_path):
    a = UidMap(str(tmp_path / "a.sqlite"), UID_FIRST, UID_LAST)
    b = UidMap(str(tmp_path / "b.sqlite"), UID_FIRST, UID_LAST)
    names = ["alice", "bob", "carol"]
    assert [a.uid_for(n) for n in names] != [b.uid_for(n) for n in names]


def test_uids_stay_in_the_reserved_range_inside_a_container_idmap():
    assert 1000 < UID_FIRST <= UID_LAST <= 65535


def test_every_uid_of_a_small_range_goes_to_a_different_owner(tmp_path):
    # 5 uids, 5 names: hashing alone would collide; the map never does.
    uids = UidMap(str(tmp_path / "m.sqlite"), 30000, 30004)
    got = [uids.uid_for(f"user{i}")[0] for i in range(5)]
    assert sorted(got) == list(range(30000, 30005))


def test_a_full_uid_range_refuses_a_new_owner(tmp_path):
    uids = UidMap(str(tmp_path / "m.sqlite"), 30000, 30001)
    uids.uid_for("a")
    uids.uid_for("b")
    with pytest.raises(UidRangeExhausted):
        uids.uid_for("c")


def test_any_names_get_distinct_uids(tmp_path):
    uids = UidMap(str(tmp_path / "m.sqlite"), UID_FIRST, UID_LAST)
    got = {uids.uid_for(n)[0] for n in WEIRD_NAMES}
    assert len(got) == len(WEIRD_NAMES)


def test_any_names_get_distinct_directories_inside_owners(sandbox):
    dirs = [sandbox.prepare_owner(n)[1] for n in WEIRD_NAMES]
    assert len(set(dirs)) == len(WEIRD_NAMES)
    owners = os.path.join(sandbox.root, "owners")
    for d in dirs:
        assert os.path.dirname(os.path.realpath(d)) == os.path.realpath(owners)


def test_owner_directory_is_0700_and_owned_by_the_owners_uid(sandbox):
    uid, d = sandbox.prepare_owner("alice")
    st = os.lstat(d)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o700, uid, uid)


def test_owners_and_the_uid_map_are_closed_to_sandbox_uids(sandbox):
    root = sandbox.root
    assert stat.S_IMODE(os.stat(os.path.join(root, "owners")).st_mode) & 0o044 == 0
    assert stat.S_IMODE(os.stat(os.path.join(root, "uids.sqlite")).st_mode) == 0o600


def test_a_directory_left_by_a_lost_mapping_is_not_handed_to_a_new_owner(sandbox):
    uid, d = sandbox.prepare_owner("old")
    (d / "secret").write_text("old's")
    os.remove(os.path.join(sandbox.root, "uids.sqlite"))
    fresh = Sandbox(root=sandbox.root, uid_first=uid, uid_last=uid)
    assert fresh.prepare_owner("new") == (uid, d)
    assert not (d / "secret").exists()


# -- what the profile sees -----------------------------------------------------

def test_profile_runs_as_its_owners_uid_and_not_root(sandbox):
    uid, _ = sandbox.prepare_owner("owner")
    r = run(sandbox, "import os; print(os.getuid(), os.geteuid(), os.getgid(), os.getgroups())")
    assert r.output.split() == [str(uid), str(uid), str(uid), "[]"]


def test_profile_sees_its_directory_as_root_and_cwd(sandbox):
    _, d = sandbox.prepare_owner("owner")
    (d / "mine.txt").write_text("hello")
    r = run(sandbox, "import os; print(os.getcwd()); print(open('/mine.txt').read())")
    assert r.output.split() == ["/", "hello"]


def test_files_persist_between_runs_of_one_owner(sandbox):
    code = ("import os\nn = int(open('n').read()) if os.path.exists('n') else 0\n"
            "open('n', 'w').write(str(n + 1)); print(n)")
    assert [run(sandbox, code).output.strip() for _ in range(3)] == ["0", "1", "2"]


def test_the_owner_directory_keeps_mode_0700_after_a_profile_chmods_its_root(sandbox):
    run(sandbox, "import os; os.chmod('/', 0o777); open('f', 'w').write('x')")
    uid, d = sandbox.prepare_owner("owner")
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert (d / "f").stat().st_uid == uid


STDLIB = ["os", "time", "errno", "json", "math", "random", "datetime", "re", "collections",
          "base64", "traceback", "html", "hashlib", "itertools", "functools", "string",
          "textwrap", "struct", "decimal", "fractions", "statistics", "heapq", "bisect",
          "uuid", "zlib", "csv", "pickle", "difflib", "calendar", "zoneinfo", "pathlib",
          "dataclasses", "enum", "typing", "io", "operator", "copy", "pprint", "urllib.parse"]


@pytest.mark.parametrize("module", STDLIB)
def test_standard_library_module_imports_inside_the_chroot(sandbox, module):
    r = run(sandbox, f"import {module}; print('imported', {module}.__name__)")
    assert (r.status, r.output.strip()) == ("ok", f"imported {module}")


def test_a_profile_imports_from_the_standard_library_alone(sandbox):
    """Its import path is the jail's, and no finder of the service's paths
    (the virtualenv, the launcher's directory) is left for it to use."""
    r = run(sandbox, "import colorsys, json, sys\n"
                     "print(json.dumps([sys.path, sorted(sys.path_importer_cache)]))")
    assert r.status == "ok", r
    path, cached = json.loads(r.output)
    stdlib = launcher.STDLIB
    assert path == [stdlib, os.path.join(stdlib, "lib-dynload")]
    assert cached and all(p == stdlib or p.startswith(stdlib + "/") for p in cached), cached
    assert run(sandbox, "import zoobar").status == "error"


def test_profile_output_keeps_its_whitespace(sandbox):
    r = run(sandbox, "print('  a\\n\\tb  ', end='')")
    assert r.output == "  a\n\tb  "


def test_profile_error_is_reported_with_its_traceback(sandbox):
    r = run(sandbox, "print('before')\nraise ValueError('boom')")
    assert r.status == "error"
    assert "before" in r.output and "ValueError: boom" in r.output


def test_api_calls_reach_the_handler_and_return_json(sandbox):
    seen = []

    def handler(name, kwargs):
        seen.append((name, kwargs))
        return {"echo": kwargs}

    r = sandbox.run("o", "#!python\nprint(api.call('x', a=[1, 'b']))", handler)
    assert seen == [("x", {"a": [1, "b"]})]
    assert r.output.strip() == str({"echo": {"a": [1, "b"]}})


def test_a_refused_api_call_raises_in_the_profile(sandbox):
    r = run(sandbox, "try:\n api.call('nope')\nexcept Exception as e:\n print('refused', e)")
    assert r.output.startswith("refused")


# -- limits --------------------------------------------------------------------

def test_wall_clock_timeout_says_profile_timed_out(tmp_path):
    sb = Sandbox(root=str(tmp_path / "s"), limits=Limits(timeout=1.0))
    started = time.monotonic()
    r = run(sb, "import time\nprint('partial')\ntime.sleep(60)")
    assert (r.status, r.output) == ("timeout", "profile timed out (limit 1 s)")
    assert time.monotonic() - started < 3


def test_files_written_before_a_timeout_are_kept(tmp_path):
    sb = Sandbox(root=str(tmp_path / "s"), limits=Limits(timeout=1.0))
    run(sb, "open('kept', 'w').write('yes')\nwhile True: pass")
    _, d = sb.prepare_owner("owner")
    assert (d / "kept").read_text() == "yes"


def test_output_is_cut_at_the_output_limit(tmp_path):
    sb = Sandbox(root=str(tmp_path / "s"), limits=Limits(output=1000))
    r = run(sb, "print('x' * 5000)")
    assert r.status == "error"
    assert r.output.startswith("x" * 1000) and "output cut" in r.output
    assert r.output.count("x") == 1000


def test_files_written_before_the_output_was_cut_are_kept(tmp_path):
    sb = Sandbox(root=str(tmp_path / "s"), limits=Limits(output=1000))
    r = run(sb, "open('kept', 'w').write('yes')\nwhile True:\n    print('x' * 100)")
    assert r.status == "error"
    _, d = sb.prepare_owner("owner")
    assert (d / "kept").read_text() == "yes"
    sb.close()


def test_owner_directory_is_bounded_by_the_disk_limit(tmp_path):
    sb = Sandbox(root=str(tmp_path / "s"), limits=Limits(disk=2 << 20))
    r = run(sb, "i = 0\ntry:\n while True:\n  open(f'f{i}', 'wb').write(b'x' * 100000); i += 1\n"
                "except OSError as e:\n print(e.errno)")
    assert r.output.strip() == "28"       # ENOSPC
    _, d = sb.prepare_owner("owner")
    assert sum(f.stat().st_size for f in d.iterdir()) <= 2 << 20


# -- locks and parallelism -----------------------------------------------------

# prints when its sleep began and ended (the wall clock is the host's)
SLOW = "import time; began = time.time(); time.sleep(1.0); print(began, time.time())"


def sleeping_intervals(results):
    return [tuple(map(float, r.output.split())) for r in results.values()]


def timed_runs(sandbox, owners, results=None):
    results = {} if results is None else results

    def one(i, owner):
        results[i] = run(sandbox, SLOW, owner=owner)

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(i, o)) for i, o in enumerate(owners)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status == "ok" for r in results.values()), results
    return time.monotonic() - started


def test_two_owners_slow_profiles_run_in_parallel(sandbox):
    # they overlap: each began sleeping before the other had finished
    # (a fact about order, whatever the machine's load; a wall-clock bound was flaky)
    results = {}
    timed_runs(sandbox, ["alice", "bob"], results)
    (a0, a1), (b0, b1) = sleeping_intervals(results)
    assert max(a0, b0) < min(a1, b1)


def test_one_owners_runs_take_turns(sandbox):
    results = {}
    assert timed_runs(sandbox, ["alice", "alice"], results) >= 2.0
    (a0, a1), (b0, b1) = sorted(sleeping_intervals(results))
    assert a1 <= b0


def test_a_run_that_waits_too_long_for_its_owners_lock_is_refused(tmp_path):
    sb = Sandbox(root=str(tmp_path / "s"), limits=Limits(lock_wait=0.3))
    try:
        first = threading.Thread(target=run, args=(sb, SLOW))
        first.start()
        time.sleep(0.2)
        second = run(sb, "print('second')")
        first.join()
    finally:
        sb.close()
    assert (second.status, second.output) == ("busy", "profile busy, try again")


def test_uid_lock_files_are_per_uid(sandbox):
    a, _ = sandbox.prepare_owner("alice")
    b, _ = sandbox.prepare_owner("bob")
    run(sandbox, "pass", owner="alice")
    run(sandbox, "pass", owner="bob")
    assert {p.name for p in (sandbox.owner_dir(a).parent.parent / "locks").iterdir()} \
        >= {str(a), str(b)}


def test_the_run_description_is_json_the_launcher_reads(sandbox):
    # a code text with every awkward character reaches the profile unchanged
    text = "é\0\"'\\\n"
    r = run(sandbox, f"print(repr({json.dumps(text)}))")
    assert r.output.strip() == repr(text)


# -- inside an unprivileged container --------------------------------------------

USERNS_SCRIPT = """
from zoobar.sandbox import Sandbox
from tests.sandbox.helpers import echo_api
r = Sandbox(root={root!r}).run("alice", "#!python\\nimport os, json\\nprint(os.getuid(), os.getcwd())",
                                echo_api())
print(r.status, r.output.strip())
"""


def subordinate_range(path="/etc/subuid"):
    for line in open(path):
        name, start, count = line.strip().split(":")
        if name == "root" and int(count) >= 65536:
            return int(start)
    return None


def test_sandbox_works_as_root_of_a_user_namespace_like_an_lxc_container(tmp_path):
    # Production runs the profile service as root of an unprivileged container:
    # uid 0 inside is an unprivileged host id, 65536 ids are mapped. Same here.
    start = subordinate_range()
    if start is None or not shutil.which("unshare"):
        pytest.skip("needs a root range of 65536 in /etc/subuid and unshare(1)")
    work = Path(tempfile.mkdtemp(prefix="zoolab-userns-"))
    try:
        os.chown(work, start, start)
        script = USERNS_SCRIPT.format(repo=str(REPO), root=str(work / "sandbox"))
        proc = subprocess.run(
            ["unshare", "--user", f"--map-users={start},0,65536",
             f"--map-groups={start},0,65536", "--setuid", "0", "--setgid", "0",
             "--mount", "--propagation", "private", sys.executable, "-c", script],
            capture_output=True, text=True, timeout=60, cwd=REPO)
        status, uid, cwd = proc.stdout.split()
        assert (status, cwd) == ("ok", "/"), proc.stderr
        assert UID_FIRST <= int(uid) <= UID_LAST
        owner = work / "sandbox" / "owners" / uid
        assert owner.stat().st_uid == start + int(uid)       # an unprivileged host id
    finally:
        shutil.rmtree(work)


# -- the launcher (zygote) -----------------------------------------------------------

def test_a_killed_launcher_is_restarted_by_the_next_run(sandbox):
    assert run(sandbox, "print('one')").output == "one\n"
    sandbox._zygote._proc.kill()
    sandbox._zygote._proc.wait()
    assert run(sandbox, "print('two')").output == "two\n"


def test_closing_the_sandbox_ends_its_launcher(sandbox):
    run(sandbox, "pass")
    proc = sandbox._zygote._proc
    sandbox.close()
    assert proc.poll() is not None


def test_runs_beyond_the_parallel_limit_wait_for_a_slot(tmp_path):
    sb = Sandbox(root=str(tmp_path / "s"), limits=Limits(parallel=1, lock_wait=5.0))
    try:
        assert timed_runs(sb, ["alice", "bob"]) >= 2.0
    finally:
        sb.close()


# -- each layer holds on its own (seccomp off) -----------------------------------------

def test_without_seccomp_the_network_namespace_alone_keeps_loopback_out_of_reach(no_seccomp):
    import socket
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        r = run(no_seccomp, "import socket\ntry:\n"
                            f"    socket.create_connection(('127.0.0.1', {port}), 1)\n"
                            "    print('connected')\nexcept OSError as e:\n    print(e.errno)")
    assert r.output.strip() == "101"          # ENETUNREACH: not even a loopback


def test_without_seccomp_rlimit_nproc_alone_stops_fork(no_seccomp):
    r = run(no_seccomp, "import os\ntry:\n    os.fork()\n    print('forked')\n"
                        "except OSError as e:\n    print(e.errno)")
    assert r.output.strip() == "11"           # EAGAIN


def test_without_seccomp_the_uid_alone_stops_chroot_escapes(no_seccomp):
    r = run(no_seccomp, "import os\ntry:\n    os.chroot('/')\n    print('chrooted')\n"
                        "except OSError as e:\n    print(e.errno)")
    assert r.output.strip() == "1"            # EPERM: no capabilities left


ORPHAN_SCRIPT = """
from zoobar.sandbox import Sandbox
from tests.sandbox.helpers import echo_api
print("started", flush=True)
Sandbox(root={root!r}).run("alice", "#!python\\nimport time\\ntime.sleep(2)", echo_api())
"""


def test_a_run_keeps_its_owners_lock_after_the_service_dies(tmp_path):
    # The service holding the lock is killed mid-run; its profile still runs
    # on, so the owner's next run (a restarted service) must wait for it.
    root = str(tmp_path / "s")
    service = subprocess.Popen([sys.executable, "-c", ORPHAN_SCRIPT.format(repo=str(REPO),
                                                                          root=root)],
                               stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert service.stdout.readline().strip() == "started"
    time.sleep(0.7)                          # the profile is sleeping now
    started = time.monotonic()
    service.kill()
    service.wait()
    sb = Sandbox(root=root, limits=Limits(lock_wait=5.0))
    try:
        r = run(sb, "print('after')", owner="alice")
    finally:
        sb.close()
    assert r.output == "after\n"
    assert time.monotonic() - started > 0.9  # waited for the orphaned run
