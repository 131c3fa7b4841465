"""What the sandbox tests need to run a stack on each backend (docs/wasm.md)."""

from __future__ import annotations

import os

from zoobar.sandbox.backends import BACKENDS
from zoobar.sandbox.wasm.runtime import API_MARK
from zoolab import local

API_MARK_TEXT = API_MARK.decode("latin-1")

# The compiled CPython module, shared by every test run and local stack of this
# checkout: compiling takes 15-70 s on 2 cores, loading it milliseconds.
WASM_CACHE = os.environ.get("ZOOBAR_WASM_CACHE") or str(local.WASM_CACHE)

__all__ = ["BACKENDS", "WASM_CACHE", "backend_env", "outcomes", "wasm_family"]


def backend_env(backend: str) -> dict:
    """The environment of a stack whose profile service uses `backend` (the
    stack compiles the module before its services start, zoolab.local)."""
    return {"ZOOBAR_SANDBOX_BACKEND": backend, "ZOOBAR_WASM_CACHE": WASM_CACHE}


def wasm_family(backend: str) -> bool:
    """The guest is CPython for WASI (wasm, layered), not the host's CPython."""
    return backend in ("wasm", "layered")


# -- the escape suite on the wasm backends ----------------------------------------
#
# The guest is CPython for WASI: what the kernel jail refuses with EPERM or
# ENOENT mostly does not exist there (no fork, exec, kill, setuid, chroot,
# ctypes, AF_UNIX; sockets fail with ENOTSUP) or is refused by WASI's
# capability check (ENOTCAPABLE, shown as EPERM). Each entry is what stopping
# that attempt looks like on wasm: (text in the output, status) pairs, any of
# which is acceptable, and, where the kernel's attempt is meaningless under
# WASI, the same attack aimed at what the guest does have. An attempt missing
# here must be stopped exactly as on the kernel backend.

ABSENT = [("BLOCKED AttributeError", "ok")]                 # os/socket lack the call
NO_CTYPES = [("No module named 'ctypes'", "error")]        # the attempt cannot even start
NOT_CAPABLE = [("BLOCKED PermissionError [Errno 63]", "ok")]
NOT_SUPPORTED = [("BLOCKED OSError [Errno 58]", "ok")]
SLOW_OR = [("profile timed out", "timeout")]                # a loaded VM: still stopped

WASM_DESCRIPTORS = """
import os
root, lib = os.stat('/'), os.stat('/usr')
extra = []
for fd in range(1024):
    try:
        st = os.fstat(fd)
    except OSError:
        continue
    if fd > 2 and (st.st_dev, st.st_ino) not in {{(root.st_dev, root.st_ino), (lib.st_dev, lib.st_ino)}}:
        extra.append(fd)
print('BLOCKED' if extra == [] else 'BREACH', extra)
"""

WASM_API_GARBAGE = f"""
import os
os.write(2, {API_MARK_TEXT!r}.encode('latin-1') + b'\\xff{{{{not json\\n')
reply = os.read(0, 4096)
print('BLOCKED' if b'error' in reply else 'BREACH', reply)
"""

WASM_OUTCOMES = {
    "read /etc/passwd by ../": NOT_CAPABLE,
    "find another owner's file by walking up with chdir('..')":
        [("PermissionError: [Errno 63] Operation not permitted: '..'", "error")],
    "read another owner's file through a symlink": NOT_CAPABLE,
    "read /etc/passwd through a ../ symlink": NOT_CAPABLE,
    "write into the standard library": NOT_SUPPORTED,     # the module's own, read-only
    "make a device node": ABSENT,
    "connect to the bank over TCP": ABSENT,
    "send UDP": NOT_SUPPORTED,
    "open a unix socket": ABSENT,
    "open a netlink socket": ABSENT,
    "make a socketpair": NOT_SUPPORTED,
    "fork": ABSENT,
    "exec a binary": ABSENT,
    "run a shell with subprocess": [("BLOCKED OSError [Errno 58] wasi does not support processes",
                                     "ok")],
    "kill the profile service": ABSENT,
    "kill every process it can": [("AttributeError: module 'os' has no attribute 'kill'", "error")],
    "ptrace the profile service": NO_CTYPES,
    "become root": ABSENT,
    "escape the chroot with a nested chroot": ABSENT,
    "make a user namespace (to regain capabilities)": NO_CTYPES,
    "mount proc": NO_CTYPES,
    "use kernel interfaces: bpf, keyctl, modules, kexec, perf, io_uring": NO_CTYPES,
    "use an inherited descriptor": ([("BLOCKED []", "ok")], WASM_DESCRIPTORS),
    "fchdir out through any descriptor":
        [("AttributeError: module 'os' has no attribute 'fchdir'", "error")],
    "send garbage on the API channel": ([("BLOCKED", "ok")], WASM_API_GARBAGE),
    "fill the disk": [("BLOCKED OSError [Errno 51]", "ok")],          # WASI's ENOSPC
    "exhaust the inodes": [("BLOCKED OSError [Errno 51]", "ok")],
    "write one huge file": [("BLOCKED OSError [Errno 51]", "ok")],    # no RLIMIT_FSIZE
    "allocate 10 GB": [("BLOCKED OverflowError", "ok")],               # wasm32: 4 GiB at most
    # the tmpfs's inodes (ENOSPC) or the descriptors (EMFILE, or EIO from wasmtime) run out
    "open files without limit": [("BLOCKED OSError [Errno 51]", "ok"), ("BLOCKED OSError [Errno 33]", "ok"),
                                 ("BLOCKED OSError [Errno 29]", "ok")] + SLOW_OR,
    "crash by unbounded recursion in C": [("RecursionError", "error")] + SLOW_OR,
    "segfault through ctypes": NO_CTYPES,
    "share memory or queues beyond the run: SysV shm, msg, sem, POSIX mq": NO_CTYPES,
}
# Inside the jail as well: its rlimits answer first where they are lower.
LAYERED_OUTCOMES = {
    **WASM_OUTCOMES,
    "write one huge file": [("BLOCKED OSError [Errno 22] File too large", "ok")],  # RLIMIT_FSIZE
}


def outcomes(attempt, backend: str):
    """[(expected text, status), ...] and the code of `attempt` on `backend`."""
    table = {"wasm": WASM_OUTCOMES, "layered": LAYERED_OUTCOMES}.get(backend, {})
    entry = table.get(attempt.name)
    if entry is None:
        return [(attempt.expect, attempt.status)], attempt.code
    if isinstance(entry, tuple):
        return entry
    return entry, attempt.code
