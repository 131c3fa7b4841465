"""Issue #12 item 2: what a run leaves on the host is bounded by the owner's quota.

The quota is the tmpfs's own numbers (Limits.disk bytes, Limits.inodes
names), counted on what would be saved: every name with its apparent size,
rounded up to pages, so sparse files and hard links count in full. A run over
the quota keeps the files from before it, and its output says so.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.sandbox.helpers import echo_api
from zoobar.sandbox import Limits, Sandbox
from zoobar.sandbox.launcher import Budget, CopyStopped, copy_tree

MIB = 1 << 20


def run(sandbox, code, owner="owner"):
    return sandbox.run(owner, "#!python\n" + code, echo_api(owner))


def host_bytes(d: Path) -> int:
    """Disk blocks really used under d (what the host pays), in bytes."""
    return sum(p.lstat().st_blocks * 512 for p in d.rglob("*"))


def saved_names(d: Path) -> set[str]:
    return {str(p.relative_to(d)) for p in d.rglob("*")}


def test_sparse_files_over_the_quota_are_not_saved_and_the_previous_files_are_kept(sandbox):
    # 20 sparse files of 1 MiB cost nothing in the tmpfs; written out as zeros
    # they were 20 MiB on the host (the audit: 1996 of them, 2 GiB, in one view).
    assert run(sandbox, "open('/data/keep', 'w').write('before')").status == "ok"
    r = run(sandbox, "import os\nfor i in range(20):\n"
                     "    with open(f'sparse{i}', 'wb') as f:\n        f.truncate(1 << 20)\n"
                     "print('made')")
    assert r.status == "ok" and r.output.startswith("made\n")
    assert "your files were not saved" in r.output and "from before this run" in r.output
    _, d = sandbox.prepare_owner("owner")
    assert saved_names(d) == {"data", "data/keep"}
    assert host_bytes(d) < 64 << 10
    assert run(sandbox, "print(open('data/keep').read())").output == "before\n"


def test_a_sparse_file_within_the_quota_stays_sparse_on_the_host(sandbox):
    code = ("with open('holes', 'wb') as f:\n    f.seek((1 << 20) - 1)\n    f.write(b'z')\n")
    assert run(sandbox, code).output == ""
    _, d = sandbox.prepare_owner("owner")
    st = (d / "holes").stat()
    assert st.st_size == MIB and st.st_blocks * 512 <= 64 << 10
    r = run(sandbox, "d = open('holes', 'rb').read()\nprint(len(d), d.count(0), d[-1:])")
    assert r.output == f"{MIB} {MIB - 1} b'z'\n"


def test_hard_links_count_once_per_name(sandbox):
    # one 1 MiB file with 10 more names costs 1 MiB in the tmpfs, 11 MiB saved
    r = run(sandbox, "import os\nopen('big', 'wb').write(b'x' * (1 << 20))\n"
                     "for i in range(10):\n    os.link('big', f'link{i}')\nprint('linked')")
    assert r.output.startswith("linked\n") and "not saved" in r.output
    _, d = sandbox.prepare_owner("owner")
    assert saved_names(d) == set()          # its first run: nothing was there before


def test_a_run_within_the_quota_is_saved_whole(tmp_path):
    sb = Sandbox(root=str(tmp_path / "s"), limits=Limits(disk=2 * MIB))
    try:
        r = run(sb, "for i in range(15):\n    open(f'f{i}', 'wb').write(b'x' * 100_000)")
        assert (r.status, r.output) == ("ok", "")
        _, d = sb.prepare_owner("owner")
        assert len(list(d.glob("f*"))) == 15
    finally:
        sb.close()


# -- the budget itself, on plain directories -----------------------------------------

def make_tree(root: Path, files: int, size: int = 0) -> None:
    root.mkdir()
    for i in range(files):
        (root / f"f{i}").write_bytes(b"x" * size)


def copy(src: Path, dst: Path, budget) -> int:
    dst.mkdir()
    s, d = os.open(src, os.O_RDONLY), os.open(dst, os.O_RDONLY)
    try:
        return copy_tree(s, d, os.getuid(), budget)
    finally:
        os.close(s)
        os.close(d)


def test_the_budget_counts_names(tmp_path):
    make_tree(tmp_path / "src", 6)
    with pytest.raises(CopyStopped, match="files and directories"):
        copy(tmp_path / "src", tmp_path / "dst", Budget(MIB, 5))


def test_the_budget_counts_bytes_in_pages(tmp_path):
    make_tree(tmp_path / "src", 3, size=1)        # 3 bytes, 3 pages
    with pytest.raises(CopyStopped, match="bytes"):
        copy(tmp_path / "src", tmp_path / "dst", Budget(2 * Budget.PAGE, 100))
    make_tree(tmp_path / "ok", 2, size=1)
    assert copy(tmp_path / "ok", tmp_path / "dst2", Budget(2 * Budget.PAGE, 100)) == 0
