"""Issue #12 item 10: copy-in and copy-back lose none of the owner's files silently.

Both walk the tree iteratively with two descriptors whatever its depth (no
recursion limit, no path length limit), copy whole files or none, and say in
the run's output what they could not keep.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.sandbox import jail_fixtures
from tests.sandbox.helpers import echo_api
from zoobar.sandbox import Limits, Sandbox
from zoobar.sandbox.launcher import clear_tree
from zoolab import ROOT

no_seccomp = jail_fixtures.no_seccomp          # a fixture

MIB = 1 << 20


def run(sandbox, code, owner="owner"):
    return sandbox.run(owner, "#!python\n" + code, echo_api(owner))


DIVE = "import os\nfor _ in range({depth}):\n    {step}\n"


def test_a_tree_deeper_than_64_levels_is_kept(sandbox):
    # before: the copy-back stopped at 64 levels and the bottom file was gone, page "ok"
    make = DIVE.format(depth=100, step="os.mkdir('d'); os.chdir('d')")
    assert run(sandbox, make + "open('bottom', 'w').write('kept')").output == ""
    read = DIVE.format(depth=100, step="os.chdir('d')")
    assert run(sandbox, read + "print(open('bottom').read())").output == "kept\n"


def test_a_tree_longer_than_path_max_is_kept(sandbox):
    # 300 levels of 200-character names: a 60 KB path, beyond any PATH_MAX
    name = "n" * 200
    make = DIVE.format(depth=300, step=f"os.mkdir('{name}'); os.chdir('{name}')")
    assert run(sandbox, make + "open('bottom', 'w').write('kept')").output == ""
    read = DIVE.format(depth=300, step=f"os.chdir('{name}')")
    assert run(sandbox, read + "print(open('bottom').read())").output == "kept\n"


# In a child of its own: no other thread opens or closes descriptors while it
# counts them (in pytest's process, earlier tests' threads may), and a limit of
# 32 open files fails a walk that keeps one descriptor per level.
COPY_WITH_FEW_FDS = """
import os, resource, sys
from zoobar.sandbox.launcher import copy_tree
resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32))
s, d = os.open(sys.argv[1], os.O_RDONLY), os.open(sys.argv[2], os.O_RDONLY)
before = set(os.listdir("/proc/self/fd"))
assert copy_tree(s, d, os.getuid()) == 0
after = set(os.listdir("/proc/self/fd"))
assert after == before, (before, after)
"""


def test_copy_tree_walks_3000_levels_with_a_few_descriptors(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    try:
        fd = os.open(src, os.O_RDONLY)
        for _ in range(3000):                     # deeper than Python's recursion limit
            os.mkdir("d", dir_fd=fd)
            sub = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = sub
        os.close(os.open("bottom", os.O_CREAT | os.O_WRONLY, 0o600, dir_fd=fd))
        os.close(fd)
        done = subprocess.run([sys.executable, "-c", COPY_WITH_FEW_FDS, str(src), str(dst)],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        fd = os.open(dst, os.O_RDONLY)
        for _ in range(3000):
            sub = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = sub
        assert os.listdir(fd) == ["bottom"]
        os.close(fd)
    finally:
        # Too deep for pytest's own (recursive) removal of old temporary
        # directories, which would crash a later session: removed here, passed or not.
        fd = os.open(tmp_path, os.O_RDONLY)
        try:
            clear_tree(fd)
        finally:
            os.close(fd)


def test_a_copy_in_that_does_not_fit_leaves_no_partial_file_and_loses_nothing(tmp_path):
    # Saved files larger than the tmpfs (the limit was lowered since): before,
    # the copy-in left a root-owned partial file in the tmpfs, and the
    # copy-back then replaced the saved files by what had fitted.
    sb = Sandbox(root=str(tmp_path / "s"), limits=Limits(disk=1 * MIB))
    try:
        uid, d = sb.prepare_owner("owner")
        for name in ("a", "b"):
            (d / name).write_bytes(name.encode() * (600 << 10))
            os.chown(d / name, uid, uid)
        r = run(sb, "import os\nfor n in sorted(os.listdir('/')):\n"
                    "    st = os.lstat(n)\n    print(n, st.st_size, st.st_uid)\n"
                    "open('new', 'w').write('x')")
        shown = [line.split() for line in r.output.splitlines() if line and line[0] != "["]
        files = [row for row in shown if row[0] in ("a", "b")]
        assert files == [] or (len(files) == 1 and files[0][1:] == [str(600 << 10), str(uid)])
        assert all(row[2] == str(uid) for row in shown if row[0] != "usr"), shown
        assert "not all of your saved files could be loaded" in r.output
        assert "will not be saved" in r.output
        assert sorted(p.name for p in d.iterdir()) == ["a", "b"]
        assert all((d / n).read_bytes() == n.encode() * (600 << 10) for n in ("a", "b"))
    finally:
        sb.close()


def test_what_is_not_a_file_directory_or_symlink_is_reported(no_seccomp):
    r = run(no_seccomp, "import os\nos.mkfifo('pipe')\nopen('f', 'w').write('x')")
    assert "1 entries were not saved" in r.output
    _, d = no_seccomp.prepare_owner("owner")
    assert (d / "f").read_text() == "x" and not (d / "pipe").exists()


def test_a_save_interrupted_before_the_swap_leaves_nothing_behind(sandbox):
    uid, d = sandbox.prepare_owner("owner")
    staging = Path(str(d) + ".new")
    staging.mkdir()
    (staging / "half").write_text("from a killed run")
    assert run(sandbox, "import os\nprint(sorted(os.listdir('/')))").output == "['data', 'usr']\n"
    assert not (staging / "half").exists()    # (the run's own old files may be going now)


def test_saved_files_keep_their_modes_without_setuid_bits(sandbox):
    run(sandbox, "import os\nos.mkdir('dir', 0o750)\nopen('s', 'w').write('x')\n"
                 "os.chmod('s', 0o4755)")
    uid, d = sandbox.prepare_owner("owner")
    assert stat.S_IMODE((d / "dir").stat().st_mode) == 0o750
    assert stat.S_IMODE((d / "s").stat().st_mode) == 0o755
    assert (d / "s").stat().st_uid == uid



def test_a_full_host_disk_keeps_the_files_from_before_the_run(tmp_path):
    # the sandbox root on a 512 KiB filesystem: the save of a 600 KB file cannot fit
    root = tmp_path / "small"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(root)], check=True)
    try:
        sb = Sandbox(root=str(root / "s"))
        try:
            assert run(sb, "open('keep', 'w').write('before')").output == ""
            r = run(sb, "open('big', 'wb').write(b'x' * 600_000)\nprint('wrote')")
            assert r.output.startswith("wrote\n"), r.output
            assert "your files were not saved (No space left on device)" in r.output
            _, d = sb.prepare_owner("owner")
            assert sorted(p.name for p in d.iterdir()) == ["data", "keep"]
            assert sorted(p.name for p in d.parent.iterdir()) == [d.name]   # no .new left
        finally:
            sb.close()
    finally:
        subprocess.run(["umount", "-l", str(root)], check=True)


def test_saving_works_on_overlayfs_like_a_containers_rootfs(tmp_path):
    # the containers' rootfs is overlay (LXC): the save's RENAME_EXCHANGE must work there
    layers = {n: tmp_path / n for n in ("lower", "upper", "work", "merged")}
    for d in layers.values():
        d.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={layers['lower']},upperdir={layers['upper']},"
                    f"workdir={layers['work']}", str(layers["merged"])], check=True)
    try:
        sb = Sandbox(root=str(layers["merged"] / "sandbox"))
        try:
            code = ("import os\nn = int(open('n').read()) if os.path.exists('n') else 0\n"
                    "open('n', 'w').write(str(n + 1)); print(n)")
            assert [run(sb, code).output for _ in range(3)] == ["0\n", "1\n", "2\n"]
        finally:
            sb.close()
    finally:
        subprocess.run(["umount", "-l", str(layers["merged"])], check=True)


def test_every_saved_directory_and_file_is_loaded_again(sandbox):
    # The copy-in climbs back out of each directory with "..": it must land in
    # the saved tree, never in the tmpfs mounted over it (siblings were lost).
    make = "import os\nfor d in 'xyz':\n    os.mkdir(d)\n    open(d + '/f', 'w').write(d)\n"
    assert run(sandbox, make).output == ""
    listing = ("import os\nprint(sorted((p, sorted(f), open(p + '/f').read() if f else '')"
               " for p, _, f in os.walk('/') if p not in ('/', '/data') and 'usr' not in p))")
    r = run(sandbox, listing)
    assert r.status == "ok" and "[sandbox" not in r.output, r
    assert r.output.strip() == str([(f"/{d}", ["f"], d) for d in "xyz"])


def test_a_rewrite_that_keeps_size_and_mtime_is_still_saved(sandbox):
    # A run that leaves its files as loaded writes nothing to the host; one
    # that changed a file's bytes alone (same size, mtime put back) is saved.
    assert run(sandbox, "open('a', 'w').write('one')").output == ""
    _, d = sandbox.prepare_owner("owner")
    saved_tree = os.stat(d).st_ino
    assert run(sandbox, "print(open('a').read())").output == "one\n"
    assert os.stat(d).st_ino == saved_tree           # unchanged: not copied back
    rewrite = ("import os\nst = os.stat('a')\nopen('a', 'w').write('two')\n"
               "os.utime('a', ns=(st.st_atime_ns, st.st_mtime_ns))")
    assert run(sandbox, rewrite).output == ""
    assert run(sandbox, "print(open('a').read())").output == "two\n"
