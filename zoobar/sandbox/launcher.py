"""The sandbox's launcher: runs one profile, as root, in a fresh process.

Started once by zoobar.sandbox.runner as ``python3 -I launcher.py CONTROL_FD``:
the **zygote**, a single-threaded root process that forks one process per
run and watches it (see ``zygote``). It imports nothing but the standard
library and Debian's ``seccomp`` binding, because it must not depend on the
application's code or on its threads.

Per run, one process (``ready_child``), forked ahead of its run (at once when
runs come in parallel, after the verdict of a lone run: ``fork_ahead``) from the
**template**, a process the zygote forks at its start that never holds
anything of a run (``Template``: the profile can read all of its process's
memory), in two stages:

* as root, its own session, while it waits for a run (``ready_child``): new
  mount, IPC and network namespaces for itself, and the run's size-limited
  tmpfs with the standard library bound read-only at its usual path inside
  it, as a detached mount tree (``make_jail_tree``), then a rehearsal of a
  profile's usual steps (``rehearse``); nothing of it depends on the owner.
  When the run comes (``prepare_jail``): that tree moved over
  the owner's directory (inside the private mount namespace only) and made
  the owner's, the owner's persistent files copied in (``load_files``), and
  a descriptor of the tmpfs handed to the zygote;
* confined (``run_profile``): ``confine`` keeps only stdout/stderr and the
  API channel, chroots into the owner's directory, sets its limits, drops to
  the owner's uid, sets no_new_privs and the seccomp filter; then the payload
  runs (``run_python``: the profile's code, with the ``api`` module).

The zygote enforces the wall-clock limit, reaps the process, and when the
run changed its files (``unchanged``) forks a **saver** that saves them, all
or nothing and within the owner's quota, from the tmpfs's descriptor
(``save_files``); then the verdict goes to the service. When the owner's
code has returned, the process says so on its API channel (``report_done``)
before it exits; the service passes that on, and if the run's tmpfs can be
frozen and is unchanged, the verdict goes out then (``Run.conclude``), the
run's lock and status pipe still held until the process has been reaped.

The profile therefore sees its owner's directory as ``/`` (cwd ``/``), with
its ``/data``, plus a read-only ``/usr/lib/python3.X``; nothing else of the
host exists for it.
"""

import contextlib
import ctypes
import errno
import json
import os
import resource
import select
import signal
import socket
import stat
import sys
import sysconfig
import time

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWNET = 0x00020000, 0x08000000, 0x40000000
CLONE_PARENT, SYS_CLONE3 = 0x00008000, 435
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 0x400, 0x800, 0x200000
MNT_DETACH, RENAME_EXCHANGE = 2, 2
SYS_OPEN_TREE, SYS_MOVE_MOUNT = 428, 429                # x86_64, as the seccomp list's
SYS_FSCONFIG, SYS_FSPICK = 431, 433
AT_FDCWD, AT_RECURSIVE = -100, 0x8000
OPEN_TREE_CLONE, OPEN_TREE_CLOEXEC, MOVE_MOUNT_F_EMPTY_PATH = 1, os.O_CLOEXEC, 4
FSPICK_CLOEXEC, FSPICK_EMPTY_PATH = 1, 8
FSCONFIG_SET_FLAG, FSCONFIG_SET_STRING, FSCONFIG_CMD_RECONFIGURE = 0, 1, 7
PR_SET_PDEATHSIG, PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS = 1, 22, 38
SECCOMP_MODE_FILTER = 2

API_FD = 3          # where the profile finds its API channel
# The last line a run's process writes on its API channel, after the owner's
# code has returned and the output is closed: [DONE_CALL, {"status": N}]. The
# service then asks the zygote for the verdict at once (see Run.conclude)
# instead of waiting for the process's exit. The owner's code can write it too:
# it is the profile's own word, which can only cut its own output short.
DONE_CALL = "sandbox.done"
DATA_DIR = "data"   # the owner's /data (2023+ profiles): a directory of their own /
STDLIB = sysconfig.get_path("stdlib")   # bind-mounted read-only at the same path in the jail
RESERVED = {STDLIB.split("/")[1]}       # usr: the sandbox's, in the owner's /
# What a profile imports from: the standard library alone (the same paths in
# the jail, see STDLIB). The zygote takes it as its own import path once it
# has loaded what it needs (jail_import_path), so no run pays for it.
JAIL_SYS_PATH = [STDLIB, os.path.join(STDLIB, "lib-dynload")]

# Denied with EPERM once the profile's code starts (DESIGN §4.4): processes and
# programs, other processes' memory, namespaces and mounts, kernel modules and
# kexec, keys, BPF, sockets of any kind, io_uring (it would bypass this list),
# SysV and POSIX IPC (the run's IPC namespace is private as well).
DENIED_SYSCALLS = [
    "execve", "execveat", "fork", "vfork", "clone", "clone3", "ptrace", "process_vm_readv",
    "process_vm_writev", "kcmp", "pidfd_open", "pidfd_getfd", "mount", "umount2", "pivot_root",
    "chroot", "unshare", "setns", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount",
    "fspick", "mount_setattr", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module", "keyctl", "add_key", "request_key", "bpf", "perf_event_open",
    "userfaultfd", "socket", "socketpair", "bind", "listen", "accept", "accept4", "connect",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "open_by_handle_at",
    "name_to_handle_at", "mknod", "mknodat", "setsid", "setpgid", "acct", "swapon", "swapoff",
    "reboot", "syslog", "quotactl", "personality", "fanotify_init",
    "shmget", "shmat", "shmdt", "shmctl", "msgget", "msgsnd", "msgrcv", "msgctl", "semget",
    "semop", "semtimedop", "semctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
    "mq_notify", "mq_getsetattr",
]

_libc = ctypes.CDLL(None, use_errno=True)
# The same functions called with the GIL held, as os.fork calls fork(2) and
# Python's fork hooks (fork_for_parent).
_pyapi = ctypes.PyDLL(None, use_errno=True)
_pyapi.syscall.restype = ctypes.c_long

# What a run executes instead of the profile's Python (``--payload FILE ARG``,
# loaded by the zygote: the wasm backends' zoobar/sandbox/wasm/payload.py), and
# whether the run's process is confined first (``--no-jail``: not).
PAYLOAD = None
JAIL = True
# The compiled seccomp filter (a Filter), or why the zygote could not make it.
FILTER = None
# The latest run's limits (its description's): the next waiting process makes
# its tmpfs with them (make_jail_tree).
LIMITS = None
# The process runs are forked from (Template), made by the zygote at its start.
TEMPLATE = None


def _check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None):
    enc = (lambda s: s.encode() if isinstance(s, str) else s)
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags),
                       enc(data)), f"mount {target}")


def _locked_flags(path):
    """Mount flags of the mount holding `path` that a user namespace may not drop."""
    f = os.statvfs(path).f_flag
    flags = MS_NOSUID | MS_NODEV
    for st_flag, ms_flag in ((os.ST_NOEXEC, MS_NOEXEC), (os.ST_NOATIME, MS_NOATIME),
                             (os.ST_NODIRATIME, MS_NODIRATIME), (os.ST_RELATIME, MS_RELATIME)):
        if f & st_flag:
            flags |= ms_flag
    return flags


def _opendir(name, dir_fd):
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)


# -- the owner's files: walking, copying, removing --------------------------------
#
# Trees are walked iteratively, with two descriptors open whatever the depth
# (a directory is left through ".."): nothing else changes them while we walk,
# because the owner's profile has not started yet or has ended, and the
# owner's lock keeps every other run of theirs out.

class CopyStopped(Exception):
    """A copy could not be completed; the message says why, for the owner."""


def walk_tree(top_fd, keep=lambda depth, name, st: True):
    """Yield ("entry" | "enter" | "leave", dir_fd, name, st) for every entry
    under top_fd that `keep(depth, name, st)` accepts (depth 0: in top_fd), never following a link: "entry" for a
    non-directory, "enter" before a directory's contents and "leave" after
    them, both with dir_fd its parent. dir_fd is valid until the next step."""
    cur = os.dup(top_fd)
    stack = []                                  # (names left, name, st) per level above
    names = iter(os.listdir(cur))
    try:
        while True:
            name = next(names, None)
            if name is None:
                if not stack:
                    return
                parent = os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=cur)
                os.close(cur)
                cur = parent
                names, name, st = stack.pop()
                yield "leave", cur, name, st
                continue
            st = os.stat(name, dir_fd=cur, follow_symlinks=False)
            if not keep(len(stack), name, st):
                continue
            if not stat.S_ISDIR(st.st_mode):
                yield "entry", cur, name, st
                continue
            yield "enter", cur, name, st
            child = _opendir(name, cur)
            os.close(cur)
            cur = child
            stack.append((names, name, st))
            names = iter(os.listdir(cur))
    finally:
        os.close(cur)


class Budget:
    """What a saved directory may hold (the tmpfs's own numbers): `size` bytes,
    each file and symlink counted by its apparent size rounded up to pages (a
    sparse file counts in full), and `entries` names. Every name counts, so a
    file with 100 hard links counts 100 times: the host gets 100 copies."""

    PAGE = resource.getpagesize()

    def __init__(self, size, entries):
        self.size, self.entries = size, entries

    def take(self, st):
        self.entries -= 1
        if not stat.S_ISDIR(st.st_mode):
            self.size -= -(-st.st_size // self.PAGE) * self.PAGE
        if self.entries < 0:
            raise CopyStopped("more than the limit of files and directories")
        if self.size < 0:
            raise CopyStopped("more than the limit of bytes in files")


def _copy_file(name, src_fd, dst_fd, st, uid):
    """Copy one regular file, holes kept as holes; never leaves a partial file."""
    s = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=src_fd)
    try:
        d = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600,
                    dir_fd=dst_fd)
        try:
            os.fchown(d, uid, uid)              # the owner's from the start, never root's
            offset = 0
            while offset < st.st_size:
                try:
                    start = os.lseek(s, offset, os.SEEK_DATA)
                except OSError as e:
                    if e.errno == errno.ENXIO:  # only a hole is left
                        break
                    raise
                end = os.lseek(s, start, os.SEEK_HOLE)
                os.lseek(d, start, os.SEEK_SET)
                while start < end:
                    sent = os.sendfile(d, s, start, end - start)
                    if not sent:
                        break
                    start += sent
                offset = end
            os.ftruncate(d, st.st_size)         # a trailing hole, or a file cut short
            os.fchmod(d, stat.S_IMODE(st.st_mode) & 0o777)
            os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns))
        except BaseException:
            os.close(d)
            os.unlink(name, dir_fd=dst_fd)
            raise
        os.close(d)
    finally:
        os.close(s)


def copy_tree(src_fd, dst_fd, uid, budget=None, reserved=(), only_uid=False):
    """Copy regular files, directories and symlinks from src into dst, never
    following a link, making everything the owner's (`uid`). What is on
    another filesystem (a mount point) is left out, and with `only_uid` what
    is not the owner's (in the tmpfs: the directories we made). -> the number of entries not copied: other kinds
    (fifos...) and the top-level names in `reserved` (dst has them). Raises
    CopyStopped if it cannot copy everything (the budget, a full disk); what
    it did copy is then whole files only."""
    top = os.fstat(src_fd)
    dst = os.dup(dst_fd)
    skipped = 0

    def keep(depth, name, st):
        nonlocal skipped
        if st.st_dev != top.st_dev or (only_uid and st.st_uid != uid):
            return False
        if depth == 0 and name in reserved:
            skipped += 1
            return False
        return True

    try:
        for event, fd, name, st in walk_tree(src_fd, keep):
            if budget is not None and event != "leave":
                budget.take(st)
            if event == "enter":
                os.mkdir(name, 0o700, dir_fd=dst)
                child = _opendir(name, dst)
                os.close(dst)
                dst = child
                os.fchown(dst, uid, uid)
            elif event == "leave":
                os.fchmod(dst, stat.S_IMODE(st.st_mode) & 0o777)
                parent = os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=dst)
                os.close(dst)
                dst = parent
            elif stat.S_ISREG(st.st_mode):
                _copy_file(name, fd, dst, st, uid)
            elif stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(name, dir_fd=fd), name, dir_fd=dst)
                os.chown(name, uid, uid, dir_fd=dst, follow_symlinks=False)
            else:
                skipped += 1
    except OSError as e:
        raise CopyStopped(e.strerror or str(e)) from e
    finally:
        os.close(dst)
    return skipped


def clear_tree(dir_fd):
    """Remove everything inside dir_fd, never following a link."""
    for event, fd, name, _ in walk_tree(dir_fd):
        if event == "entry":
            os.unlink(name, dir_fd=fd)
        elif event == "leave":
            os.rmdir(name, dir_fd=fd)


def remove_dir(name, parent_fd):
    """Remove the directory `name` (in parent_fd) and its contents, if it exists."""
    try:
        fd = _opendir(name, parent_fd)
    except FileNotFoundError:
        return
    try:
        clear_tree(fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Filter:
    """The seccomp filter as the kernel takes it (BPF), compiled once in the
    zygote (``compile_filter``) and loaded by each run's profile with prctl,
    after no_new_privs: the same program libseccomp would load, without
    building it again for every run."""

    def __init__(self, program: bytes):
        self.program = ctypes.create_string_buffer(program, len(program))
        self.fprog = SockFprog(len(program) // 8, ctypes.addressof(self.program))

    def load(self):
        _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self.fprog), 0, 0),
               "seccomp")


def compile_filter():
    """build_filter's rules as BPF (libseccomp's export_bpf: what its load() loads)."""
    fd = os.memfd_create("seccomp-filter")
    with os.fdopen(fd, "w+b") as f:
        build_filter().export_bpf(f)
        f.seek(0)
        return Filter(f.read())


def build_filter():
    import seccomp
    filt = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in DENIED_SYSCALLS:
        if name in getattr(PAYLOAD, "SECCOMP_UNDENIED", ()):
            continue                            # the payload's own rule follows
        try:
            filt.add_rule(seccomp.ERRNO(errno.EPERM), name)
        except Exception:  # noqa: BLE001, S110 - a name this libseccomp lacks: nothing to deny
            pass
    if PAYLOAD is not None:
        PAYLOAD.adjust_filter(filt, seccomp)
    return filt


class Api:
    """The profile's `api` object: `api.call(name, **kwargs)` over the channel.

    zoobar.wire's format in the standard library alone (nothing of the
    application is importable here): `request` and `result` give and take the
    same bytes as wire.request and wire.result(wire.decode(...)); a test checks it."""

    MAX_LINE = 1 << 20              # wire.MAX_LINE

    class Error(Exception):
        def __init__(self, message, kind="BadRequest"):
            super().__init__(message)
            self.kind = kind

    def __init__(self, fd, known=None, calls=None):
        self._sock = socket.socket(fileno=fd)
        self._file = self._sock.makefile("rwb")
        # Answers the service gave with the run (calls without arguments whose
        # answer is a string fixed for the run: get_self, get_visitor), so
        # they cost no round trip; anything else goes over the channel. They
        # count towards the run's calls like the others: past the service's
        # bound (`calls`), a call gets its TooMany error here too.
        self._known = {k: v for k, v in (known or {}).items()
                       if isinstance(k, str) and isinstance(v, str)}
        self._max_calls, self._calls = calls, 0

    @staticmethod
    def request(name, kwargs):
        try:
            line = json.dumps([name, kwargs], allow_nan=False, separators=(",", ":")).encode()
        except (TypeError, ValueError, RecursionError) as e:
            raise Api.Error(f"not JSON: {e}", "InternalError") from None
        if len(line) + 1 > Api.MAX_LINE:
            raise Api.Error(f"line over {Api.MAX_LINE} bytes", "TooLarge")
        return line + b"\n"

    @staticmethod
    def result(line):
        if not line.endswith(b"\n"):
            raise Api.Error("the profile API is gone")
        try:
            reply = json.loads(line)
        except (ValueError, RecursionError):
            raise Api.Error("a reply that is not JSON") from None
        if isinstance(reply, dict) and "ok" in reply:
            return reply["ok"]
        error = reply.get("error") if isinstance(reply, dict) else None
        if isinstance(error, dict):
            raise Api.Error(str(error.get("message")), str(error.get("type")))
        raise Api.Error("malformed reply")

    def call(self, name, **kwargs):
        if self._max_calls is not None:
            if self._calls >= self._max_calls:
                raise Api.Error(f"more than {self._max_calls} API calls", "TooMany")
            self._calls += 1
        if not kwargs and name in self._known:
            return self._known[name]
        self._file.write(self.request(name, kwargs))
        self._file.flush()
        return self.result(self._file.readline(self.MAX_LINE + 1))

    def close(self):
        self._file.close()
        self._sock.close()


def confine(cfg, filt):
    """In the run's child: keep only the output (1, 2) and the API channel (3),
    chroot into the owner's directory, set the limits, become the owner, set
    no_new_privs and load the seccomp filter. What runs afterwards (the
    payload: today Python code, see run_python) has no way back."""
    uid = cfg["uid"]
    os.dup2(cfg["api_fd"], API_FD)
    os.closerange(API_FD + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    os.close(0)
    sys.stdin = None
    os.chdir(cfg["dir"])
    os.chroot(".")
    os.chdir("/")
    lim = cfg["limits"]
    for which, value in ((resource.RLIMIT_CPU, (lim["cpu"], lim["cpu"] + 1)),
                         (resource.RLIMIT_AS, (lim["memory"],) * 2),
                         (resource.RLIMIT_FSIZE, (lim["file_size"],) * 2),
                         (resource.RLIMIT_NOFILE, (lim["open_files"],) * 2),
                         (resource.RLIMIT_NPROC, (getattr(PAYLOAD, "NPROC", 0),) * 2),
                         (resource.RLIMIT_CORE, (0, 0))):
        resource.setrlimit(which, value)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if not dies_with(cfg["zygote"]):
        raise RuntimeError("the launcher is gone")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    sys.argv = ["profile"]
    if filt is not None:
        filt.load()


def api_module(client):
    """The profile API as a module: the global `api` (2022's profiles) and what
    `import api` finds (2023+), one object."""
    import types
    module = types.ModuleType("api", "The profile API: api.call(name, **kwargs).")
    module.call = client.call
    module.Error = Api.Error
    sys.modules["api"] = module
    return module


def run_python(code, api):
    """Run the profile's code (already confined). -> its exit status."""
    try:
        exec(compile(code, "profile", "exec"), {"__name__": "__main__", "api": api})  # noqa: S102
        status = 0
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 - the profile's own error is its output
        import traceback
        traceback.print_exc()
        status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001
        status = status or 1
    return status


def run_profile(cfg, filt):
    """In the run's process: confine it, then run the code. Never returns."""
    if not JAIL:                                # the wasm backend: wasmtime is the boundary
        below_the_site(cfg)
        report_done(cfg["api_fd"], PAYLOAD.run(cfg, cfg["dir"], cfg["api_fd"]))
    try:
        confine(cfg, filt)
        api = (api_module(Api(API_FD, cfg.get("known"), cfg.get("api_calls")))
               if PAYLOAD is None else None)
    except BaseException as e:  # noqa: BLE001 - any failure here means: do not run the code
        os.write(2, f"sandbox setup failed: {e}\n".encode())
        os._exit(70)
    below_the_site(cfg)
    if PAYLOAD is not None:
        report_done(API_FD, PAYLOAD.run(cfg, "/", API_FD))
    report_done(API_FD, run_python(cfg["code"], api))


def below_the_site(cfg):
    """The owner's code runs below the site's own processes (nice 10). Set just
    before it, not earlier: on a busy machine a lower priority makes the run's
    set-up wait, and the kernel hands the core to the zygote or the service at
    once (0.3 ms of a run when it was set before the report to the zygote)."""
    os.setpriority(os.PRIO_PROCESS, 0, cfg.get("nice", 0))


def report_done(api_fd, status):
    """The owner's code has returned: with every signal blocked (no handler of
    the profile's runs any more), close every descriptor but the API channel
    (the output ends; no file stays open for writing, so the zygote can freeze
    the tmpfs), say DONE_CALL on the channel, and exit. Never returns."""
    status &= 0xFF
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        close_all_but((api_fd,), low=0)
        os.write(api_fd, json.dumps([DONE_CALL, {"status": status}]).encode() + b"\n")
    except BaseException:  # noqa: BLE001, S110 - the service then waits for the exit
        pass
    os._exit(status)


def verdict(wstatus, timed_out):
    if timed_out:
        return {"status": "timeout"}
    if os.WIFSIGNALED(wstatus):
        sig = os.WTERMSIG(wstatus)
        if sig == signal.SIGXCPU:
            return {"status": "timeout", "detail": "CPU time limit"}
        return {"status": "error", "detail": f"killed by {signal.Signals(sig).name}"}
    return exit_verdict(os.WEXITSTATUS(wstatus))


def exit_verdict(code):
    return {"status": "ok"} if code == 0 else {"status": "error", "detail": f"exit status {code}"}


def freeze(fd):
    """Make the file system of the mount whose root `fd` is read-only, for
    every mount of it (the superblock: fspick + reconfigure), so that nothing
    can change its files any more. Refused (EBUSY) while a file on it is open
    for writing, mapped writable or being changed. -> whether it is frozen."""
    try:
        reconfigure(fd, [(FSCONFIG_SET_FLAG, "ro", None)])
    except OSError:
        return False
    return True


def read_description(fd):
    """A run's description: the JSON in the memfd the service wrote."""
    return json.loads(os.pread(fd, os.fstat(fd).st_size, 0))


def load_files(real, work, uid, reserved):
    """Copy the owner's saved files into the run's tmpfs. -> notes for the owner
    (empty if all of it arrived) and whether the run's files may be saved."""
    try:
        skipped = copy_tree(real, work, uid, reserved=reserved)
    except CopyStopped as e:
        # Saving this run would lose what did not fit: the saved files stay as they are.
        return [f"not all of your saved files could be loaded ({e}): what this run"
                " writes will not be saved"], False
    if skipped:
        return [f"{skipped} saved entries were not loaded (not a regular file, directory or"
                f" symlink, or a name the sandbox uses: {', '.join(sorted(reserved))})"], True
    return [], True


def save_files(parent, name, work, uid, lim, reserved):
    """Replace the owner's saved files (`name` in the directory `parent`) by the
    run's tmpfs `work` (a descriptor of its root, in a mount namespace where it
    covers nothing), all or nothing: copy into `<name>.new`, then swap the two
    in one rename. Over the quota (Budget), nothing changes. -> notes. The
    files from before stay in `<name>.new`, for the caller to remove once the
    service has its answer (removing directories costs milliseconds)."""
    staging = name + ".new"
    try:
        os.mkdir(staging, 0o700, dir_fd=parent)
        fd = _opendir(staging, parent)
        try:
            os.fchown(fd, uid, uid)
            skipped = copy_tree(work, fd, uid, Budget(lim["disk"], lim["inodes"]), reserved,
                                only_uid=True)
        finally:
            os.close(fd)
        _check(_libc.renameat2(parent, staging.encode(), parent, name.encode(), RENAME_EXCHANGE),
               "rename")
    except (CopyStopped, OSError) as e:
        _remove_quietly(staging, parent)
        why = e.strerror if isinstance(e, OSError) else e     # never a host path
        return [f"your files were not saved ({why}): you keep the files from before this run"]
    if skipped:
        return [f"{skipped} entries were not saved (not a regular file, directory or symlink,"
                f" or a name the sandbox uses: {', '.join(sorted(reserved))})"]
    return []


def _remove_quietly(name, parent):
    try:
        remove_dir(name, parent)
    except OSError:
        pass                                    # the owner's next run removes it


# What the zygote compares itself, without a saver process (see unchanged).
COMPARE_ENTRIES, COMPARE_BYTES = 64, 256 << 10


def tree_state(top_fd, uid, reserved, only_uid):
    """What a save of the tree under top_fd would keep, as a dict: relative
    path -> kind, mode and, for a file, its size, mtime and bytes (for a
    symlink, its target). None if the tree is larger than the zygote compares."""
    state, path, total = {}, [], 0
    top = os.fstat(top_fd)

    def keep(depth, name, st):
        return (st.st_dev == top.st_dev and not (only_uid and st.st_uid != uid)
                and not (depth == 0 and name in reserved))

    for event, fd, name, st in walk_tree(top_fd, keep):
        if event == "leave":
            path.pop()
            continue
        rel = "/".join([*path, name])
        mode = stat.S_IMODE(st.st_mode) & 0o777
        if event == "enter":
            state[rel] = ("dir", mode)
            path.append(name)
        elif stat.S_ISREG(st.st_mode):
            total += st.st_size
            if total > COMPARE_BYTES:
                return None
            f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
            try:
                data = os.read(f, st.st_size + 1)
            finally:
                os.close(f)
            state[rel] = ("file", mode, st.st_size, st.st_mtime_ns, data)
        elif stat.S_ISLNK(st.st_mode):
            state[rel] = ("symlink", os.readlink(name, dir_fd=fd))
        else:
            state[rel] = ("other",)             # a save would report it: not the same
        if len(state) > COMPARE_ENTRIES:
            return None
    return state


def unchanged(parent, name, work, uid, reserved):
    """Whether the run left its tmpfs exactly as loaded: the saved files, each
    with its bytes, mode and mtime, and nothing else (the access times aside),
    so that a save would write what is already there. Small trees only; for a
    larger one (None) the saver copies it anyway."""
    try:
        after = tree_state(work, uid, reserved, only_uid=True)
        if after is None:
            return False
        real = _opendir(name, parent)
        try:
            return tree_state(real, uid, reserved, only_uid=False) == after
        finally:
            os.close(real)
    except OSError:
        return False


def write_note(fd, note):
    """A line for the owner in the run's output, after what the profile printed."""
    try:
        os.write(fd, f"\n[sandbox: {note}]\n".encode())
    except OSError:
        pass                                    # the service stopped reading (output limit)


def close_all_but(keep, low=3):
    """Close every descriptor of this process from `low` on (0, 1 and 2 are
    kept by default) but `keep`."""
    for fd in sorted(set(keep)):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, resource.getrlimit(resource.RLIMIT_NOFILE)[0])


# -- one run: a single process, watched by the zygote ----------------------------------

def enter_namespaces():
    """New mount, IPC and network namespaces for this process alone, every
    mount in the mount namespace private (nothing mounted here reaches the
    host's)."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)


def tmpfs_options(lim):
    """The run's tmpfs's size and inodes: the owner's `inodes`, plus the
    tmpfs's root and the directories up to the standard library's mount
    point, which are ours."""
    return {"size": str(lim["disk"]), "nr_inodes": str(lim["inodes"] + 1 + STDLIB.count("/"))}


def _open_tree(path, fd=AT_FDCWD, flags=0):
    tree = _libc.syscall(SYS_OPEN_TREE, fd, path.encode(),
                         OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | flags)
    if tree < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"open_tree {path or fd}: {os.strerror(err)}")
    return tree


def _move_mount(tree, target):
    _check(_libc.syscall(SYS_MOVE_MOUNT, tree, b"", AT_FDCWD, target.encode(),
                         MOVE_MOUNT_F_EMPTY_PATH), f"move_mount {target}")


def make_jail_tree(lim):
    """In the waiting process (root, in its own namespaces), before any run is
    known: the run's tmpfs, empty but for the standard library, read-only at
    its usual path inside it, as a detached mount tree. -> (a descriptor of
    the tree, the options it was made with). Nothing in it depends on the
    owner; prepare_jail moves it onto the owner's directory and gives its
    root to the owner. `lim`: the limits of the zygote's latest run (the
    tmpfs's size; None: the tmpfs's default, set when the run comes).

    The standard library is bound in the empty tmpfs, so nothing of an
    owner's (a symlink named usr, say) is on the path root creates and
    mounts. The tmpfs is staged on the standard library's own directory (it
    exists; a clone of the library is taken first) and detached from there."""
    stdlib = _open_tree(STDLIB)
    try:
        options = tmpfs_options(lim) if lim else {}
        data = ",".join([*(f"{k}={v}" for k, v in options.items()), "mode=0700"])
        _mount("tmpfs", STDLIB, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, data)
        try:
            inside = STDLIB + STDLIB
            os.makedirs(inside, 0o755)
            _move_mount(stdlib, inside)
            _mount(None, inside, None, MS_REMOUNT | MS_BIND | MS_RDONLY | _locked_flags(inside))
            tree = _open_tree(STDLIB)
        finally:
            _check(_libc.umount2(STDLIB.encode(), MNT_DETACH), "umount")
    finally:
        os.close(stdlib)
    return tree, options


def resize_tmpfs(fd, options):
    """Set the tmpfs (root `fd`) to `options` (tmpfs_options), in place."""
    reconfigure(fd, [(FSCONFIG_SET_STRING, k, v) for k, v in options.items()])


def reconfigure(fd, params):
    """Reconfigure the file system of the mount whose root is `fd` (fspick):
    each (FSCONFIG_SET_*, key, value or None) of `params`, then the
    reconfigure itself. Raises OSError if any step is refused."""
    fs = _libc.syscall(SYS_FSPICK, fd, b"", FSPICK_CLOEXEC | FSPICK_EMPTY_PATH)
    if fs < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"fspick: {os.strerror(err)}")
    try:
        for cmd, key, value in params:
            _check(_libc.syscall(SYS_FSCONFIG, fs, cmd, key.encode(),
                                 None if value is None else value.encode(), 0),
                   f"fsconfig {key}")
        _check(_libc.syscall(SYS_FSCONFIG, fs, FSCONFIG_CMD_RECONFIGURE, None, None, 0),
               "fsconfig reconfigure")
    finally:
        os.close(fs)


def prepare_jail(cfg, host_root, jail, phases):
    """In the run's process (root, its own session, in its own namespaces),
    before any of the owner's code: the owner's tmpfs view (`jail`, what
    make_jail_tree made while the process waited, moved onto the owner's
    directory and made the owner's), the owner's files. -> (notes, savable,
    descriptor of the tmpfs's root).

    `host_root`: a descriptor of / opened before the namespaces were made. The
    owner's saved files are reached through it, so through the mounts of the
    service's namespace, where no tmpfs covers their directory: a walk that
    climbs back with ".." can never step into the tmpfs mounted on it here."""
    uid, owner_dir, lim = cfg["uid"], cfg["dir"], cfg["limits"]
    tree, options = jail
    parent_dir, name = os.path.split(owner_dir.rstrip("/"))
    parent = _opendir(parent_dir.lstrip("/") or ".", host_root)
    try:
        remove_dir(name + ".new", parent)       # left by a run killed while saving
        real = _opendir(name, parent)
    finally:
        os.close(parent)
        os.close(host_root)
    _move_mount(tree, owner_dir)
    os.close(tree)
    work = _opendir(owner_dir, None)
    os.fchown(work, uid, uid)                   # mode 0700: the owner's alone
    wanted = tmpfs_options(lim)
    if options != wanted:                       # not the latest run's limits
        resize_tmpfs(work, wanted)
    phases["mounts"] = time.monotonic()
    notes, savable = load_files(real, work, uid, RESERVED)
    os.close(real)
    try:
        os.mkdir(DATA_DIR, 0o700, dir_fd=work)
        os.chown(DATA_DIR, uid, uid, dir_fd=work, follow_symlinks=False)
    except OSError:
        pass                                    # the owner's own `data` (or a full tmpfs)
    for note in notes:
        write_note(1, note)
    phases["copy_in"] = time.monotonic()
    return notes, savable, work


# What a run's process rehearses while it waits (rehearse): a profile's usual
# steps (compiling, imports, API calls answered from `known` and over the
# channel, printing), so that the memory they write is already this process's
# own copy when the run comes, not copy-on-write faults during it.
REHEARSAL = """
import html, json, time
me = api.call("get_self")
answer = api.call("get_user_info", username=me)
print(f"<p>Hello, <b>{html.escape(me)}</b>! {answer!r} {time.time():f}</p>", file=out)
print(json.dumps({"n": [1, 2.5, None], "s": me}), file=out)
"""


def rehearse():
    """Run REHEARSAL against an API over a socketpair whose one reply is
    already written, printing into a buffer; everything it made is dropped
    (`tests/sandbox/test_jail_waiting.py`). In a lone run's process this cut
    `Sandbox.run()` by 0.5-0.8 ms for 0.15-0.45 ms more CPU (the waiting
    process's own, off the run's path; docs/performance.md)."""
    import io
    mine, theirs = socket.socketpair()
    client = None
    try:
        theirs.sendall(b'{"ok":{"zoobars":10}}\n')
        theirs.shutdown(socket.SHUT_WR)         # one answer only: a second call fails at once
        client = Api(mine.detach(), {"get_self": "owner"}, 10)
        code = compile(REHEARSAL, "rehearsal", "exec")
        exec(code, {"__name__": "__main__", "api": client, "out": io.StringIO()})  # noqa: S102
    finally:
        if client is not None:
            client.close()
        mine.close()
        theirs.close()


def ready_child(sock, zygote_pid):
    """A run's process, forked by the template before the run is asked for
    (so that the fork and the namespaces are off the run's critical path) as
    the zygote's child (fork_for_parent), used for one run only. Never returns.

    Waits on `sock` for the run: its description (a memfd of JSON), output
    pipe and API channel. Then, as root: prepare_jail, and one message back
    to the zygote on `sock` (the loading's notes, whether the files may be
    saved, the tmpfs's root as a descriptor: the zygote saves from it once this
    process is gone). Then run_profile: confined, the owner's code."""
    try:
        close_all_but((sock.fileno(),))
        if not dies_with(zygote_pid):
            os._exit(0)
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.close(devnull)
        host_root = _opendir("/", None)         # the service's mounts (prepare_jail)
        enter_namespaces()
        jail = make_jail_tree(LIMITS)
        failed = None
    except BaseException as e:  # noqa: BLE001 - said to the run, if one comes
        failed = e
    # A warm-up while nothing else is to be done: not when the run is already there.
    if failed is None and JAIL and PAYLOAD is None:
        try:
            if not select.select([sock], [], [], 0)[0]:
                rehearse()
        except Exception:  # noqa: BLE001, S110 - a warm-up only: the run goes on without it
            pass
    try:
        msg, fds, _, _ = socket.recv_fds(sock, 64, 3)
    except OSError:
        os._exit(0)
    if not msg or len(fds) != 3:
        os._exit(0)                             # the zygote is closing
    phases = {"child": time.monotonic()}
    cfg_fd, out_fd, api_fd = fds
    try:
        cfg = read_description(cfg_fd)
        os.close(cfg_fd)
        cfg["zygote"] = zygote_pid              # the run's parent (confine checks it)
        cfg["api_fd"] = api_fd
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.close(out_fd)
        if failed is not None:
            raise failed
        notes, savable, work = prepare_jail(cfg, host_root, jail, phases)
        filt = None
        if cfg.get("seccomp", True):
            if not isinstance(FILTER, Filter):
                raise RuntimeError(f"no seccomp filter: {FILTER}")
            filt = FILTER
        message = {"notes": notes, "savable": savable, "phases": phases}
        socket.send_fds(sock, [json.dumps(message).encode()], [work])
        os.close(work)
    except BaseException as e:  # noqa: BLE001 - report, never leave the service guessing
        try:
            sock.send(json.dumps({"failed": str(e)}).encode())
        except OSError:
            pass
        os._exit(70)
    sock.close()
    run_profile(cfg, filt)


def dies_with(parent):
    """Be killed when `parent`, this process's parent, exits
    (PR_SET_PDEATHSIG): -> whether it is still there, that is, did not exit
    before that was set."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    return os.getppid() == parent


class CloneArgs(ctypes.Structure):
    """struct clone_args (linux/sched.h), as of its first version."""
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack", "stack_size", "tls")]


def fork_for_parent():
    """os.fork(), except that the new process is the child of this process's
    parent, not of this process (clone3 with CLONE_PARENT; its exit signal is
    then the caller's own, SIGCHLD). Python's fork hooks run as for os.fork
    (PyOS_BeforeFork and the AfterFork ones: locks, threads, the
    os.register_at_fork callbacks such as random's reseeding), and the child
    goes on with a copy of the caller's stack, as after fork(2).
    -> 0 in the child, its pid in the caller. The caller must have one thread.

    The template forks run processes with it: one fork, where an
    intermediate process that exits (so that the zygote adopts the run's
    process) cost the zygote's machine twice the CPU and the run's process
    3-4 ms more before it was ready (docs/performance.md)."""
    args = CloneArgs(flags=CLONE_PARENT)
    _pyapi.PyOS_BeforeFork()
    pid = _pyapi.syscall(ctypes.c_long(SYS_CLONE3), ctypes.byref(args),
                         ctypes.c_size_t(ctypes.sizeof(args)))
    if pid == 0:
        _pyapi.PyOS_AfterFork_Child()
        return 0
    err = ctypes.get_errno()
    _pyapi.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(err, f"clone3(CLONE_PARENT): {os.strerror(err)}")
    return pid


class TemplateGone(OSError):
    """The template cannot fork any more: the zygote stops taking runs."""


class Template:
    """The process every run's process is forked from (template_loop).

    The profile can read all of its process's memory: its objects (the frames
    it was called from, ``gc.get_objects()``) and, with ctypes, raw memory,
    freed blocks included. The zygote's memory holds what it has handled of
    every run: descriptions (code, the visitor's name), the saved files it
    compared, notes. So runs are not forked from it but from this process,
    forked by the zygote once, at its start, before any run: it never gets
    anything of a run, only the tmpfs's size of the next one, and answers
    with a process forked as the zygote's child (fork_for_parent), so that
    the zygote watches and reaps it (tests/sandbox/test_jail_residue.py)."""

    def __init__(self):
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        zygote_pid = os.getpid()
        pid = os.fork()
        if pid == 0:
            mine.close()
            template_loop(theirs, zygote_pid)
        theirs.close()
        self.pid, self.sock = pid, mine
        self.pending = False            # a process asked for, its answer not taken

    def ask(self, limits):
        """Ask for a new waiting process (ready_child), sized for `limits`; its
        answer comes on `sock` (answer). The template's fork takes 1-2 ms,
        which the zygote spends on its other runs meanwhile."""
        sizes = {k: limits[k] for k in ("disk", "inodes")} if limits else None
        try:
            self.sock.send(json.dumps(sizes).encode())
        except OSError as e:
            raise TemplateGone(e.errno, f"the template is gone: {e}") from None
        self.pending = True

    def answer(self):
        """The process asked for, a Ready (its pid and the zygote's end of its
        socket), or None if the answer is not there yet."""
        self.sock.setblocking(False)    # (socket.recv_fds drops its flags in 3.11)
        try:
            msg, fds, _, _ = socket.recv_fds(self.sock, 64, 1)
        except BlockingIOError:
            return None
        except OSError as e:
            raise TemplateGone(e.errno, f"the template is gone: {e}") from None
        finally:
            self.sock.setblocking(True)
        self.pending = False
        if not msg:
            raise TemplateGone(errno.EPIPE, "the template is gone")
        word, _, pid = msg.partition(b" ")
        if word != b"forked" or not pid.isdigit() or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise OSError(errno.EAGAIN, "the template could not fork")
        return Ready(int(pid), socket.socket(fileno=fds[0]))

    def close(self):
        self.sock.close()               # the template exits when it sees this
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def template_loop(sock, zygote_pid):
    """The template (see Template): per message (the next run's tmpfs size,
    JSON), one waiting process, forked as the zygote's child
    (fork_for_parent); answers at once with its pid and the zygote's end of
    its socket. Ends with the zygote. Never returns."""
    global LIMITS
    close_all_but((sock.fileno(),))
    if not dies_with(zygote_pid):
        os._exit(0)
    while True:
        try:
            msg = sock.recv(4096)
        except OSError:
            msg = b""
        if not msg:
            os._exit(0)                         # the zygote is gone
        try:
            sizes = json.loads(msg)
            if sizes is not None:
                tmpfs_options(sizes)            # well-formed
            LIMITS = sizes
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            pid = fork_for_parent()
            if pid == 0:
                try:                            # never back in this loop
                    sock.close()
                    mine.close()
                    ready_child(theirs, zygote_pid)
                finally:
                    os._exit(70)
            theirs.close()
            socket.send_fds(sock, [b"forked %d" % pid], [mine.fileno()])
            mine.close()
        except (BrokenPipeError, ConnectionResetError):
            os._exit(0)                         # the zygote is gone: nobody to answer
        except (OSError, ValueError, KeyError, TypeError) as e:
            # To the service's log (the zygote's stderr, inherited): the run is
            # refused, and an operator must see why (a kernel without clone3, say).
            why = f"sandbox launcher: no process for the next run: {type(e).__name__}: {e}\n"
            with contextlib.suppress(OSError):  # no log: the refusal still goes
                os.write(2, why.encode())
            try:
                sock.send(b"-1")
            except OSError:
                os._exit(0)


class Ready:
    """The next run's process, forked and waiting (ready_child): the template's
    answer (Template.answer)."""

    def __init__(self, pid, sock):
        self.pid, self.sock = pid, sock
        try:
            self.pidfd = os.pidfd_open(self.pid)
        except OSError:
            self.discard()
            raise

    def discard(self):
        """End it unused (it exits when its socket closes)."""
        self.sock.close()
        os.kill(self.pid, signal.SIGKILL)       # our unreaped child: the pid is still its
        os.waitpid(self.pid, 0)
        if getattr(self, "pidfd", None) is not None:
            os.close(self.pidfd)


class Run:
    """A run the zygote watches: its process and what the zygote holds for it
    until the verdict (the status pipe, a copy of the output for the saver's
    notes, the owner's lock, then the tmpfs)."""

    SETUP_SECONDS = 5.0             # the longest the jail's set-up may take

    def __init__(self, cfg, pid, pidfd, report, status_fd, note_fd, lock_fd):
        self.cfg, self.pid, self.pidfd, self.report_sock = cfg, pid, pidfd, report
        self.token = cfg.get("token")
        self.report_fd = report.fileno()
        self.status_fd, self.note_fd, self.lock_fd = status_fd, note_fd, lock_fd
        self.deadline = time.monotonic() + self.SETUP_SECONDS + cfg["timeout"]
        self.report, self.work, self.timed_out = {}, None, False
        self.phases = {}
        # concluded: the verdict went out before the process ended (conclude);
        # changed: its frozen tmpfs was found to differ from the saved files.
        self.concluded = self.changed = False
        # ahead: the service has more runs under way (fork_ahead).
        self.ahead = cfg.get("ahead") is True

    def take_report(self):
        """The child's message: sent before the owner's code starts, or never."""
        try:
            msg, fds, _, _ = socket.recv_fds(self.report_sock, 1 << 16, 1)
        except OSError:
            msg, fds = b"", []
        self.report_sock.close()
        self.report_sock = self.report_fd = None
        for fd in fds[1:]:
            os.close(fd)
        self.work = fds[0] if fds else None
        try:
            self.report = json.loads(msg) if msg else {}
        except ValueError:
            self.report = {}
        if not isinstance(self.report, dict):
            self.report = {}
        if "savable" in self.report:            # the owner's code starts now
            self.deadline = time.monotonic() + self.cfg["timeout"]

    def descriptors(self):
        return [fd for fd in (self.pidfd, self.report_fd, self.status_fd, self.note_fd,
                              self.lock_fd, self.work) if fd is not None]

    def _owner_parent(self):
        """(descriptor of the saved directory's parent, the directory's name)."""
        parent_dir, name = os.path.split(self.cfg["dir"].rstrip("/"))
        return _opendir(parent_dir, None), name

    def _unchanged(self):
        parent, name = self._owner_parent()
        try:
            return unchanged(parent, name, self.work, self.cfg["uid"], RESERVED)
        finally:
            os.close(parent)

    def conclude(self, code):
        """The service says the owner's code has ended with exit status `code`
        (the DONE_CALL line on the run's API channel: the process's own word,
        which its code can forge). If nothing of the run needs saving, the
        verdict goes out now and the output ends here, while the process may
        still be exiting (or, if it lied, running: then only its own output is
        cut short). Nothing needs saving if the jail could not load the files
        (nothing is saved then), or if the tmpfs can be frozen (no file open
        for writing: the process can change nothing any more, however long it
        lives) and equals the saved files. The status pipe, the lock and the
        tmpfs stay held until the process has been reaped (finish), so the
        owner's next run starts only then; and a tmpfs that changed is saved
        only then, as without this message."""
        if self.concluded or self.timed_out or self.pidfd is None:
            return
        if self.report_fd is not None:
            self.take_report()                  # sent (and its socket closed) before the code
        if "savable" not in self.report or "failed" in self.report:
            return
        phases = {**self.phases, **self.report.get("phases", {}), "done": time.monotonic()}
        if self.report["savable"] and self.work is not None:
            if not freeze(self.work):
                return
            if not self._unchanged():
                self.changed = True             # frozen: finish saves it without comparing
                return
        phases["save"] = time.monotonic()
        self.report_verdict(exit_verdict(code), list(self.report.get("notes", [])), phases, final=False)
        os.close(self.note_fd)                  # the output ends once the process's copy is closed
        self.note_fd = None
        self.concluded = True

    def finish(self):
        """The child has ended: its verdict, and its files saved if they changed
        (by a saver process, which then holds the lock and the descriptors).
        -> (pidfd, pid) of the saver, or None."""
        wstatus = os.waitpid(self.pid, 0)[1]
        os.close(self.pidfd)
        self.pidfd = None
        if self.concluded:                      # verdict given, nothing to save
            self.close()
            return None
        if self.report_fd is not None:
            self.take_report()
        phases = {**self.phases, **self.report.get("phases", {}), "profile": time.monotonic()}
        result = verdict(wstatus, self.timed_out)
        if "failed" in self.report:
            result = {"status": "error", "detail": f"sandbox failed: {self.report['failed']}"}
        notes = list(self.report.get("notes", []))
        if self.report.get("savable") and self.work is not None:
            parent, name = self._owner_parent()     # one open, for the comparison and the saver
            try:
                if self.changed or not unchanged(parent, name, self.work, self.cfg["uid"],
                                                 RESERVED):
                    pid = os.fork()
                    if pid == 0:
                        self.save(parent, name, RESERVED, result, notes, phases)
                    saver = os.pidfd_open(pid), pid
                    self.close()
                    return saver
            finally:
                os.close(parent)
        phases["save"] = time.monotonic()
        self.report_verdict(result, notes, phases)
        self.close()
        return None

    def save(self, parent, name, reserved, result, notes, phases):
        """In the saver (a child of the zygote): save, then the verdict. Never returns."""
        try:
            close_all_but([parent, *self.descriptors()])
            saved = save_files(parent, name, self.work, self.cfg["uid"], self.cfg["limits"],
                               reserved)
            for note in saved:
                write_note(self.note_fd, note)
            phases["save"] = time.monotonic()
            self.report_verdict(result, notes + saved, phases)
            os.close(self.note_fd)
            os.close(self.work)
            _remove_quietly(name + ".new", parent)  # the files from before the run
        finally:
            os._exit(0)

    def report_verdict(self, result, notes, phases, final=True):
        """One line on the status pipe; `final`: and close it (the service takes
        the pipe's end as: the run is over, its files saved)."""
        if notes:
            result["detail"] = "; ".join([result.get("detail", ""), *notes]).lstrip("; ")
        result["phases"] = phases
        try:
            os.write(self.status_fd, json.dumps(result).encode() + b"\n")
        except OSError:
            pass                                # the service is gone
        if final:
            os.close(self.status_fd)
            self.status_fd = None

    def close(self):
        if self.report_sock is not None:
            self.report_sock.close()
        for fd in self.descriptors():
            if fd != self.report_fd:
                os.close(fd)
        self.pidfd = self.report_fd = self.report_sock = None
        self.status_fd = self.note_fd = self.lock_fd = self.work = None


def start_run(fds, ready):
    """Hand a request's descriptors to the ready process: the description (a
    memfd of JSON), the output pipe, the API channel, the status pipe, the
    owner's lock. -> its Run (which then holds the status pipe, the output
    and the lock)."""
    cfg_fd, out_fd, api_fd, status_fd, lock_fd = fds
    global LIMITS
    cfg = read_description(cfg_fd)
    tmpfs_options(cfg["limits"])                # well-formed, before the next process uses them
    LIMITS = cfg["limits"]
    socket.send_fds(ready.sock, [b"run"], [cfg_fd, out_fd, api_fd])
    os.close(cfg_fd)
    os.close(api_fd)
    return Run(cfg, ready.pid, ready.pidfd, ready.sock, status_fd, out_fd, lock_fd)


def zygote(control_fd):
    """Serve runs until the service hangs up and the last run has ended.

    A request is one SOCK_SEQPACKET message carrying five descriptors (see
    start_run); the reply is the run's pid (it leads its own session) with a
    pidfd of it. The zygote then watches the run: it gets the child's report
    when the jail is ready, kills it at the wall-clock limit, reaps it, and
    writes the verdict on the status pipe, after a saver process (its child
    too) has saved the files if the run changed them.

    Forking this single-threaded, already-initialised interpreter instead of
    starting one per run saves most of a run's CPU time, and one process per
    run instead of two (a supervisor and the profile) saves half of what is
    left: a fork's page-table copy, its copy-on-write faults and its exit."""
    global FILTER, TEMPLATE
    # Standard modules profiles commonly import (the example profiles use html,
    # json and time; a failing one, traceback), loaded once here so that every
    # run inherits them instead of reading and compiling them again
    # (import html alone is ~3 ms of a ~15 ms run; docs/performance.md).
    import base64  # noqa: F401
    import html  # noqa: F401
    import traceback  # noqa: F401
    try:
        FILTER = compile_filter()
    except Exception as e:  # noqa: BLE001 - said to every run that asks for the filter
        FILTER = f"{type(e).__name__}: {e}"
    if JAIL:
        jail_import_path()
    TEMPLATE = Template()                       # before anything of a run is here
    control = socket.socket(fileno=control_fd)
    poller = select.poll()
    poller.register(control, select.POLLIN)
    poller.register(TEMPLATE.sock, select.POLLIN)
    # fd -> Run (by its pidfd and its report); a saver's pidfd -> (pid, its run's ahead)
    runs, savers = {}, {}
    ready, queue = None, []         # queue: requests waiting for a process from the template
    while control is not None or runs or savers:
        if (ready is None and not TEMPLATE.pending and control is not None
                and fork_ahead(runs, savers)):
            try:
                TEMPLATE.ask(LIMITS)            # the next run's (fork_ahead: when)
            except OSError:
                pass                            # no fork now: the next request tries again
        now = time.monotonic()
        waits = [r.deadline - now for r in runs.values() if not r.timed_out]
        events = poller.poll(max(0, int(min(waits) * 1000) + 1) if waits else None)
        # Descriptors made while handling these events are watched from the
        # next poll on: an event of this one with the same number is a
        # closed descriptor's, and is skipped.
        new_runs, new_savers = {}, {}
        for fd, _ in events:
            if control is not None and fd == control.fileno():
                run, ready = serve_request(control, ready, runs, poller, queue)
                if run is False:
                    poller.unregister(control)
                    control.close()
                    control = None              # the service is gone: finish the runs
                    if ready is not None:
                        ready.discard()
                        ready = None
                    for fds, _, _ in queue:
                        for queued_fd in fds:
                            os.close(queued_fd)
                    queue.clear()
                elif run is not None:
                    new_runs[run.pidfd] = new_runs[run.report_fd] = run
            elif fd == TEMPLATE.sock.fileno():
                ready, run = take_answer(ready, control, poller, queue)
                if run is not None:
                    new_runs[run.pidfd] = new_runs[run.report_fd] = run
            elif fd in savers:
                poller.unregister(fd)
                os.waitpid(savers.pop(fd)[0], 0)
                os.close(fd)
            elif fd in runs:
                run = runs.pop(fd)
                poller.unregister(fd)
                if fd == run.report_fd:
                    run.take_report()
                    continue
                if run.report_fd is not None:
                    runs.pop(run.report_fd)
                    poller.unregister(run.report_fd)
                saver = run.finish()
                if saver is not None:
                    new_savers[saver[0]] = (saver[1], run.ahead)
        for table, new in ((runs, new_runs), (savers, new_savers)):
            for fd in new:
                poller.register(fd, select.POLLIN)
            table.update(new)
        now = time.monotonic()
        for run in set(runs.values()):
            if not run.timed_out and now >= run.deadline:
                os.kill(run.pid, signal.SIGKILL)    # our unreaped child: the pid is still its
                run.timed_out = True
    TEMPLATE.close()


def take_answer(ready, control, poller, queue):
    """The template's answer, the process asked for: the request queued first
    gets it, else it is the next run's if there is none yet and the service
    is there. -> (the ready process, the Run begun or None)."""
    try:
        got = TEMPLATE.answer()
    except OSError as e:
        if isinstance(e, TemplateGone):
            poller.unregister(TEMPLATE.sock)    # requests then fail, and the service
        while queue:                            # starts another zygote
            fds, _, _ = queue.pop(0)
            refuse(control, fds)
        return ready, None
    if got is None:
        return ready, None
    if queue:
        fds, received, tries = queue.pop(0)
        run = begin_run(control, fds, received, got, queue, tries)
        with contextlib.suppress(OSError):
            supply(queue)                       # the next queued request's process
        return ready, run
    if ready is None and control is not None:
        return got, None
    got.discard()
    return ready, None


def jail_import_path():
    """From now on, import only what a jailed profile could (JAIL_SYS_PATH).
    Done once, in the zygote: dropping the cached finders of the service's
    paths (the virtualenv's thousands of names) cost each run 0.5 ms of
    copy-on-write faults when its process did it."""
    sys.path[:] = JAIL_SYS_PATH
    sys.path_importer_cache.clear()


def fork_ahead(runs, savers):
    """Whether to fork the next run's process now: when no run is going (set
    up, running, or its files being saved: its verdict not given), or when
    one that is going came while the service had other runs under way
    (Run.ahead: the next request may come at any moment, and would wait for
    its fork). Not otherwise: a lone run's process would share the cores with
    the fork and the new process's namespaces and mounts (about 1 ms of a lone
    run of 4 ms); the next one is forked once its verdict is out."""
    going = [run.ahead for run in set(runs.values()) if not run.concluded]
    going += [ahead for _, ahead in savers.values()]
    return not going or any(going)


def serve_request(control, ready, runs, poller, queue):
    """One request from the service: a run, run by the ready process (or, if
    there is none, queued in `queue` for the one asked of the template: see
    take_answer), or ``done TOKEN STATUS`` for one of `runs` (Run.conclude;
    no reply). -> (its Run, or None if refused, queued or not a run, or False
    when the service has hung up; the ready process left)."""
    try:
        msg, fds, _, _ = socket.recv_fds(control, 64, 5)
    except OSError:
        return False, ready
    received = time.monotonic()
    if not msg:
        return False, ready
    if msg.startswith(b"done "):
        for fd in fds:
            os.close(fd)
        conclude_run(runs, poller, msg)
        return None, ready
    if len(fds) != 5:
        refuse(control, fds)
        return None, ready
    if ready is None:
        wait_for_process(control, fds, received, queue)
        return None, ready
    return begin_run(control, fds, received, ready, queue), None


def wait_for_process(control, fds, received, queue, tries=2):
    """Queue a request until the template's answer (asked for now if it was
    not yet); meanwhile the zygote goes on with its runs."""
    queue.append((fds, received, tries))
    try:
        supply(queue)
    except OSError:
        queue.pop()
        refuse(control, fds)


def supply(queue):
    """Ask the template for a process if requests wait and none is on its way."""
    if queue and not TEMPLATE.pending:
        TEMPLATE.ask(LIMITS)


def begin_run(control, fds, received, ready, queue, tries=2):
    """Hand the request to `ready` and answer the service. -> its Run, or None
    (refused; or queued again if the ready process had died)."""
    try:
        run = start_run(fds, ready)
    except OSError:                             # the process died: another one
        ready.discard()
        if tries > 1:
            wait_for_process(control, fds, received, queue, tries - 1)
        else:
            refuse(control, fds)
        return None
    except (ValueError, KeyError, TypeError):   # a bad description: not reused either
        ready.discard()
        refuse(control, fds)
        return None
    run.phases.update(zygote_request=received, zygote_reply=time.monotonic())
    socket.send_fds(control, [str(run.pid).encode()], [run.pidfd])
    return run


def refuse(control, fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
    try:
        control.send(b"-1")
    except OSError:
        pass


def conclude_run(runs, poller, msg):
    """``done TOKEN STATUS``: the service read the DONE_CALL line of the run
    with that token (a number the service gave in its description). `runs`
    and `poller`: the zygote's, which stop watching the run's report if
    Run.conclude has taken it."""
    try:
        _, token, code = msg.split()
        token, code = int(token), int(code)
    except ValueError:
        return
    for run in set(runs.values()):
        if run.token == token:
            report_fd = run.report_fd
            try:
                run.conclude(code)
            except OSError:
                pass                            # then the verdict waits for the exit
            if report_fd is not None and run.report_fd is None:
                del runs[report_fd]
                poller.unregister(report_fd)
            return


def load_payload(path, arg):
    global PAYLOAD
    import importlib.util
    spec = importlib.util.spec_from_file_location("zoobar_sandbox_payload", path)
    PAYLOAD = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(PAYLOAD)
    PAYLOAD.prepare(arg)


if __name__ == "__main__":
    if sys.argv[2:3] == ["--payload"]:
        load_payload(sys.argv[3], sys.argv[4])
        JAIL = "--no-jail" not in sys.argv[5:]
    zygote(int(sys.argv[1]))
