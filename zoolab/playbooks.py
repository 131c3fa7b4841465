"""The course-named commands' machinery: run a playbook on this machine under the host lock.

``./zookld.py``, ``./zookstop.py``, ``./zookps.py`` and ``./zookclean.py`` (the
course's names, thin shims at the repository root) each call ``wrapper`` with
their playbook. The host lock (/run/zoolab-host.lock, or $ZOOLAB_HOST_LOCK) is
taken unless a parent process (``flock /run/zoolab-host.lock make up``)
already holds it.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

from zoolab import ROOT
from zoolab.editions import site_vars

LOCK = Path(os.environ.get("ZOOLAB_HOST_LOCK", "/run/zoolab-host.lock"))


def ancestors(pid: int | None = None) -> list[int]:
    """This process and its ancestors, nearest first."""
    chain, pid = [], os.getpid() if pid is None else pid
    while pid > 0:
        chain.append(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        # Fields after the command name (which may hold spaces) in parentheses.
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return chain


def lock_holders(lock: Path = LOCK) -> set[int]:
    """Pids holding a flock(2) on `lock`, from /proc/locks."""
    try:
        st = lock.stat()
        table = Path("/proc/locks").read_text()
    except OSError:
        return set()
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    holders = set()
    for line in table.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 fd:00:5678 0 EOF"; blocked waiters have "->".
        if len(fields) >= 6 and fields[1] == "FLOCK" and "->" not in fields and fields[5] == dev:
            holders.add(int(fields[4]))
    return holders


def held_by_ancestor(lock: Path = LOCK) -> bool:
    return bool(lock_holders(lock) & set(ancestors()))


def ansible_playbook() -> str:
    venv = ROOT / ".venv/bin/ansible-playbook"
    found = str(venv) if venv.exists() else shutil.which("ansible-playbook")
    if not found:
        sys.exit("zoolab: ansible-playbook not found; run `make bootstrap` first")
    return found


def run_playbook(playbook: str, extra_vars: dict[str, str] | None = None,
                 args: list[str] | None = None) -> int:
    """Run playbooks/<playbook> on this machine under the host lock; its exit status."""
    cmd = [ansible_playbook(), str(ROOT / "playbooks" / playbook)]
    for key, value in (extra_vars or {}).items():
        cmd += ["-e", f"{key}={value}"]
    cmd += args or []
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    if held_by_ancestor():
        return subprocess.call(cmd, cwd=ROOT, env=env)
    with open(LOCK, "a") as lock:
        if os.environ.get("ZOOLAB_LOCK_WAIT_NOTICE", "1") == "1":
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"zoolab: waiting for {LOCK} (another run holds it)", file=sys.stderr)
                fcntl.flock(lock, fcntl.LOCK_EX)
        else:
            fcntl.flock(lock, fcntl.LOCK_EX)
        return subprocess.call(cmd, cwd=ROOT, env=env)


def service_args(description: str, argv: list[str] | None) -> argparse.Namespace:
    """`[service] [-- ansible-playbook options]`: what follows `--` goes to ansible-playbook."""
    argv = sys.argv[1:] if argv is None else list(argv)
    ours, passed = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    ap = argparse.ArgumentParser(description=description,
                                 epilog="options after -- go to ansible-playbook (e.g. -- --check --diff)")
    ap.add_argument("service", nargs="?", default="", help="one service (default: all)")
    ap.add_argument("--edition", help="the course edition (2022, 2023, 2024, 2026; "
                                      "default: what this host runs, else 2022)")
    ap.add_argument("--sandbox", help="the profile sandbox's backend (kernel, wasm, layered; "
                                      "default: the edition's)")
    opts = ap.parse_args(ours)
    opts.ansible_args = passed
    return opts


def wrapper(playbook: str, doc: str, argv: list[str] | None = None) -> int:
    """A course-style command: `[service] [-- ansible-playbook options]` -> playbooks/<playbook>."""
    opts = service_args(doc.strip().splitlines()[0], argv)
    extra = site_vars(opts.edition, opts.sandbox)  # the deployed edition unless told
    if opts.service:
        extra["zoolab_only_service"] = opts.service
    return run_playbook(playbook, extra, opts.ansible_args)
