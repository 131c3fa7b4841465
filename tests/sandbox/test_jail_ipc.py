"""Issue #12 item 1: nothing of System V or POSIX IPC crosses a run's edge.

A run has an IPC namespace of its own, which the kernel destroys (with every
segment, queue and semaphore in it) when the run's last process ends; the
seccomp filter refuses the IPC calls before that. Each layer is checked on
its own: the namespace with seccomp off, the filter with it on.
"""

from __future__ import annotations

import secrets

import pytest

from tests.sandbox import jail_fixtures
from tests.sandbox.helpers import echo_api

no_seccomp = jail_fixtures.no_seccomp          # a fixture

IPC = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
IPC_CREAT = 0o1000
def errno_of(name, *args):
    r = getattr(libc, name)(*args)
    return ctypes.get_errno() if r in (-1, None, 2**64 - 1) else 0
"""

# Creates a 1 MiB segment under KEY, attaches it and writes a secret into it,
# and leaves it there (no IPC_RMID): on the host it would outlive the run.
CREATE = IPC + """
sid = libc.shmget({key}, 1 << 20, IPC_CREAT | 0o666)
addr = libc.shmat(sid, None, 0)
ctypes.memmove(addr, b"{secret}", {length})
print("created", sid, libc.msgget({key}, IPC_CREAT | 0o666) >= 0)
"""

# What a second owner does to find it: by key, and by the id the first one got.
ATTACH = IPC + """
print("by key", errno_of("shmget", {key}, 0, 0), "by id", errno_of("shmat", {sid}, None, 0),
      "queue", errno_of("msgget", {key}, 0))
"""


def host_shm():
    """(key, size, creator uid) of every SysV shared memory segment on the host."""
    with open("/proc/sysvipc/shm") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return [(int(r[0]), int(r[3]), int(r[9])) for r in rows]


def host_msg_keys():
    with open("/proc/sysvipc/msg") as f:
        return {int(line.split()[0]) for line in f.readlines()[1:]}


def run(sandbox, owner, code):
    return sandbox.run(owner, "#!python\n" + code, echo_api(owner))


def test_a_runs_shm_segment_is_gone_from_the_host_and_from_the_next_owner(no_seccomp):
    key, secret = secrets.randbelow(2**30) + 1, secrets.token_hex(8)
    uid, _ = no_seccomp.prepare_owner("first")
    try:
        r = run(no_seccomp, "first", CREATE.format(key=key, secret=secret, length=len(secret)))
        words = r.output.split()
        assert (r.status, words[0], words[2]) == ("ok", "created", "True"), r.output
        sid = int(words[1])
        # nothing of it is left on the host: not under its key, nor of its uid
        assert [s for s in host_shm() if s[0] == key or s[2] == uid] == []
        assert key not in host_msg_keys()
        r = run(no_seccomp, "second", ATTACH.format(key=key, sid=sid))
        assert r.output.split() == ["by", "key", "2", "by", "id", "22", "queue", "2"]  # ENOENT, EINVAL
    finally:
        # if the defence were gone, do not leave the segment behind on the host
        import subprocess
        subprocess.run(["ipcrm", "-M", str(key)], capture_output=True)
        subprocess.run(["ipcrm", "-Q", str(key)], capture_output=True)


@pytest.mark.parametrize("call", [
    "errno_of('shmget', 0, 4096, IPC_CREAT | 0o600)",
    "errno_of('shmat', 0, None, 0)",
    "errno_of('shmctl', 0, 0, None)",
    "errno_of('msgget', 0, IPC_CREAT | 0o600)",
    "errno_of('semget', 0, 1, IPC_CREAT | 0o600)",
    "errno_of('semctl', 0, 0, 0)",
    "errno_of('mq_open', b'/q', os.O_CREAT | os.O_RDWR, 0o600, None)",
    "errno_of('syscall', 241, b'/q')",         # mq_unlink, raw: glibc makes EPERM EACCES
])
def test_seccomp_refuses_the_ipc_calls(sandbox, call):
    r = run(sandbox, "owner", IPC + f"print({call})")
    assert r.output.strip() == "1", r.output        # EPERM, whatever the arguments
