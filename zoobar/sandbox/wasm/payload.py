"""The launcher's wasm payload: what a run executes instead of the profile's Python.

``launcher.py CONTROL_FD --payload payload.py CACHE_DIR [--no-jail]`` loads this
file into its zygote (``prepare``: the compiled CPython module is mapped once,
before any fork, so no run compiles or reads it), and each run's profile
process calls ``run`` where it would otherwise ``exec`` the code:

* jailed (the ``layered`` backend): after the kernel jail's chroot, rlimits,
  uid drop and seccomp filter, so the wasmtime host itself is confined. The
  guest's ``/`` is the chroot's ``/`` (the owner's tmpfs view);
* ``--no-jail`` (the ``wasm`` backend): in the supervisor's child as it is,
  root, with the owner's tmpfs view (``cfg["dir"]``) as the guest's ``/``:
  wasmtime is the only boundary, as in the course's design.

Standard library and ``wasmtime`` only, like the launcher.
"""

import errno
import importlib.util
import os
import stat
import time
from pathlib import Path

# Threads of the host inside the jail: wasmtime's WASI runs on a tokio runtime
# (worker and blocking-pool threads) and our wall clock is a thread. They are
# the owner uid's only tasks (its runs take turns), and processes stay out:
# seccomp refuses a clone without CLONE_THREAD.
NPROC = 64
CLONE_THREAD = 0x00010000
# Names the launcher's denylist must leave to ``adjust_filter``.
SECCOMP_UNDENIED = ("clone", "clone3")

_runtime = None
_engine = None
_module = None


def _load_runtime():
    spec = importlib.util.spec_from_file_location("zoobar_sandbox_wasm_runtime",
                                                  Path(__file__).with_name("runtime.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prepare(cache_dir):
    """In the zygote, before any fork: map the compiled module (single-threaded)."""
    global _runtime, _engine, _module
    import threading  # noqa: F401 - the clock's module, loaded before the chroot
    _runtime = _load_runtime()
    _engine = _runtime.make_engine()
    _module = _runtime.load_module(_engine, cache_dir)


def adjust_filter(filt, seccomp):
    """Threads yes, processes no: clone only with CLONE_THREAD; clone3 (whose
    flags seccomp cannot see) fails with ENOSYS, so libc falls back to clone."""
    filt.add_rule(seccomp.ERRNO(errno.EPERM), "clone",
                  seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_THREAD, 0))
    filt.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")


def _foreign(root, uid):
    """(dev, inode) of what is not the owner's under root (the launcher's mount
    points), never entering another file system (the standard library's)."""
    found, dev = set(), os.lstat(root).st_dev
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            st = os.lstat(os.path.join(top, name))
            if st.st_uid != uid:
                found.add((st.st_dev, st.st_ino))
        dirs[:] = [d for d in dirs if os.lstat(os.path.join(top, d)).st_dev == dev]
    return found


def _give_to_owner(root, uid, keep):
    """Without the jail the guest's files are root's: make them the owner's, as
    the launcher saves only those (and drop setuid/setgid bits)."""
    dev = os.lstat(root).st_dev
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(top, name)
            st = os.lstat(path)
            if st.st_uid != uid and (st.st_dev, st.st_ino) not in keep and st.st_dev == dev:
                os.lchown(path, uid, uid)
                if not stat.S_ISLNK(st.st_mode):
                    os.chmod(path, stat.S_IMODE(st.st_mode) & 0o777)
        dirs[:] = [d for d in dirs if os.lstat(os.path.join(top, d)).st_dev == dev]


def run(cfg, root, api_fd):
    """Run the profile's code in a fresh wasmtime store. -> the exit status."""
    try:
        os.dup2(api_fd, 0)              # the guest's stdin: API replies
        jailed = os.geteuid() == cfg["uid"]
        keep = set() if jailed else _foreign(root, cfg["uid"])
        result = _runtime.run_guest(_engine, _module, root, cfg, api_fd)
        if not jailed:
            _give_to_owner(root, cfg["uid"], keep)
    except BaseException:  # noqa: BLE001 - a host failure is this run's error, said in its output
        import traceback
        traceback.print_exc()
        return 70
    if result["status"] == "timeout":
        # The supervisor's wall clock decides and reports the timeout; the
        # epoch trap has only stopped the guest from running on.
        time.sleep(cfg["timeout"] + 1.0)
    return 0 if result["status"] == "ok" else 1
