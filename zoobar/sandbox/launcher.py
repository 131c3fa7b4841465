"""The sandbox's launcher: runs one profile, as root, in a fresh process.

Started once by zoobar.sandbox.runner as ``python3 -I launcher.py CONTROL_FD``:
the **zygote**, a single-threaded root process that forks one supervisor per
run (see ``zygote``). It imports nothing but the standard library and
Debian's ``seccomp`` binding, because it must not depend on the application's
code or on its threads.

Per run, two processes:

* the **supervisor** (root, its own session): unshares a mount and a network
  namespace, mounts a size-limited tmpfs over the owner's directory (inside
  that private mount namespace only), copies the owner's persistent files
  into it, bind-mounts the standard library read-only at its usual path
  inside it, forks the profile, enforces the wall-clock limit, and copies the
  files back when the profile has ended;
* the **profile** (its child): keeps only stdout/stderr and the API channel,
  chroots into the owner's directory, sets its limits, drops to the owner's
  uid, sets no_new_privs and a seccomp filter, and executes the code.

The profile therefore sees its owner's directory as ``/`` (cwd ``/``), plus a
read-only ``/usr/lib/python3.X``; nothing else of the host exists for it.
"""

import ctypes
import errno
import json
import os
import resource
import select
import signal
import stat
import sys
import sysconfig

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 0x400, 0x800, 0x200000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38

API_FD = 3          # where the profile finds its API channel
MAX_DEPTH = 64      # directory depth copied in and out

# Denied with EPERM once the profile's code starts (DESIGN §4.4): processes and
# programs, other processes' memory, namespaces and mounts, kernel modules and
# kexec, keys, BPF, sockets of any kind, io_uring (it would bypass this list).
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
]

_libc = ctypes.CDLL(None, use_errno=True)

# What a run executes instead of the profile's Python (``--payload FILE ARG``,
# loaded by the zygote; the wasm backends' zoobar/sandbox/wasm/payload.py),
# and whether the profile process is confined first (``--no-jail``: not).
PAYLOAD = None
JAIL = True


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


def copy_tree(src_fd, dst_fd, uid, depth=0, skip_foreign=False):
    """Copy regular files, directories and symlinks from src to dst, never
    following a link, chowning what it creates to `uid`. Stops quietly at what
    does not fit (the destination may be the size-limited tmpfs)."""
    if depth > MAX_DEPTH:
        return
    for entry in os.scandir(src_fd):
        name = entry.name
        try:
            st = os.stat(name, dir_fd=src_fd, follow_symlinks=False)
            if skip_foreign and st.st_uid != uid:
                continue                    # our own mount points, nothing of the owner's
            mode = stat.S_IMODE(st.st_mode) & 0o777
            if stat.S_ISDIR(st.st_mode):
                os.mkdir(name, 0o700, dir_fd=dst_fd)
                s, d = _opendir(name, src_fd), _opendir(name, dst_fd)
                try:
                    copy_tree(s, d, uid, depth + 1)
                    os.fchown(d, uid, uid)
                    os.fchmod(d, mode)
                finally:
                    os.close(s)
                    os.close(d)
            elif stat.S_ISREG(st.st_mode):
                s = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=src_fd)
                try:
                    d = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                                0o600, dir_fd=dst_fd)
                    try:
                        while os.sendfile(d, s, None, 1 << 20):
                            pass
                        os.fchown(d, uid, uid)
                        os.fchmod(d, mode)
                        os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns))
                    finally:
                        os.close(d)
                finally:
                    os.close(s)
            elif stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(name, dir_fd=src_fd), name, dir_fd=dst_fd)
                os.chown(name, uid, uid, dir_fd=dst_fd, follow_symlinks=False)
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                return
            # anything odd the profile left behind (unreadable, vanished) is skipped


def clear_tree(dir_fd, depth=0):
    """Remove everything inside dir_fd, never following a link."""
    for entry in os.scandir(dir_fd):
        name = entry.name
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode) and depth < MAX_DEPTH:
            sub = _opendir(name, dir_fd)
            try:
                clear_tree(sub, depth + 1)
            finally:
                os.close(sub)
            os.rmdir(name, dir_fd=dir_fd)
        else:
            os.unlink(name, dir_fd=dir_fd)


def build_filter():
    import seccomp
    filt = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in DENIED_SYSCALLS:
        if name in getattr(PAYLOAD, "SECCOMP_UNDENIED", ()):
            continue
        try:
            filt.add_rule(seccomp.ERRNO(errno.EPERM), name)
        except Exception:  # noqa: BLE001, S110 - a name this libseccomp lacks: nothing to deny
            pass
    if PAYLOAD is not None:
        PAYLOAD.adjust_filter(filt, seccomp)
    return filt


class Api:
    """The profile's `api` object: `api.call(name, **kwargs)` over the channel."""

    class Error(Exception):
        pass

    def __init__(self, fd):
        import socket
        self._file = socket.socket(fileno=fd).makefile("rwb")

    def call(self, name, **kwargs):
        self._file.write(json.dumps([name, kwargs]).encode() + b"\n")
        self._file.flush()
        line = self._file.readline()
        if not line:
            raise Api.Error("the profile API is gone")
        reply = json.loads(line)
        if "error" in reply:
            raise Api.Error(reply["error"].get("message", "error"))
        return reply["ok"]


def run_profile(cfg, filt):
    """In the forked child: confine this process, then run the code. Never returns."""
    if not JAIL:
        os._exit(PAYLOAD.run(cfg, cfg["dir"], cfg["api_fd"]))
    try:
        uid = cfg["uid"]
        # Only the output (1, 2) and the API channel (3) stay open.
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
        _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        api = Api(API_FD)
        sys.path[:] = cfg["sys_path"]
        sys.path_importer_cache.clear()
        sys.argv = ["profile"]
        if filt is not None:
            filt.load()
    except BaseException as e:  # noqa: BLE001 - any failure here means: do not run the code
        os.write(2, f"sandbox setup failed: {e}\n".encode())
        os._exit(70)
    if PAYLOAD is not None:
        os._exit(PAYLOAD.run(cfg, "/", API_FD))
    code = cfg["code"]
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
    os._exit(status & 0xFF)


def wait_with_deadline(pid, seconds):
    """Wait for pid at most `seconds`, kill it on expiry. -> (waitstatus, timed_out)."""
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], seconds)
    finally:
        os.close(pidfd)
    timed_out = not ready
    if timed_out:
        os.kill(pid, signal.SIGKILL)            # our unreaped child: the pid is still its
    _, wstatus = os.waitpid(pid, 0)
    return wstatus, timed_out


def verdict(wstatus, timed_out):
    if timed_out:
        return {"status": "timeout"}
    if os.WIFSIGNALED(wstatus):
        sig = os.WTERMSIG(wstatus)
        if sig == signal.SIGXCPU:
            return {"status": "timeout", "detail": "CPU time limit"}
        return {"status": "error", "detail": f"killed by {signal.Signals(sig).name}"}
    code = os.WEXITSTATUS(wstatus)
    return {"status": "ok"} if code == 0 else {"status": "error", "detail": f"exit status {code}"}


def read_all(fd):
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def supervise(cfg_fd, api_fd, status_fd):
    """One run (in a fresh child of the zygote, stdout/stderr = the output pipe)."""
    cfg = json.loads(read_all(cfg_fd))
    cfg["api_fd"] = api_fd
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    uid, owner_dir, lim = cfg["uid"], cfg["dir"], cfg["limits"]
    stdlib = sysconfig.get_path("stdlib")
    cfg["sys_path"] = [stdlib, os.path.join(stdlib, "lib-dynload")]

    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    real = _opendir(owner_dir, None)
    _mount("tmpfs", owner_dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
           f"size={lim['disk']},nr_inodes={lim['inodes']},mode=0700,uid={uid},gid={uid}")
    work = _opendir(owner_dir, None)
    # The standard library, read-only, at its usual path inside the chroot. Made
    # in the empty tmpfs *before* the owner's files arrive, so that nothing of
    # theirs (a symlink named usr, say) is on the path root creates and mounts.
    inside = owner_dir + stdlib
    os.makedirs(inside, 0o755)
    _mount(stdlib, inside, None, MS_BIND | MS_REC)
    _mount(None, inside, None, MS_REMOUNT | MS_BIND | MS_RDONLY | _locked_flags(stdlib))
    copy_tree(real, work, uid)                  # what already exists (usr) is skipped

    filt = build_filter() if cfg.get("seccomp", True) else None
    pid = os.fork()
    if pid == 0:
        os.close(real)
        os.close(work)
        os.close(status_fd)
        run_profile(cfg, filt)
    # The supervisor keeps no copy of the profile's output or API channel, so
    # the service sees end-of-output exactly when the profile is gone.
    os.close(cfg["api_fd"])
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    wstatus, timed_out = wait_with_deadline(pid, cfg["timeout"])
    result = verdict(wstatus, timed_out)
    try:
        clear_tree(real)
        copy_tree(work, real, uid, skip_foreign=True)
    except OSError as e:
        result["detail"] = f"{result.get('detail', '')} (saving the directory failed: {e})".strip()
    os.write(status_fd, json.dumps(result).encode() + b"\n")


def zygote(control_fd):
    """Serve runs until the service hangs up: fork a supervisor per request.

    A request is one SOCK_SEQPACKET message carrying five descriptors: the
    run's description (a pipe to read to its end), the output pipe, the API
    channel, the status pipe and the owner's lock file. The reply is the
    supervisor's pid (it leads its own session, so the service can kill the
    whole run by that id).
    Forking this single-threaded, already-initialised interpreter instead of
    starting one per run saves most of a run's CPU time."""
    import socket

    # Standard modules profiles commonly import (the example profiles use html,
    # json and time; a failing one, traceback), loaded once here so that every
    # run inherits them instead of reading and compiling them again
    # (import html alone is ~3 ms of a ~15 ms run; docs/performance.md).
    import base64  # noqa: F401
    import html  # noqa: F401
    import time  # noqa: F401
    import traceback  # noqa: F401
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)       # supervisors reap themselves
    control = socket.socket(fileno=control_fd)
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(control, 64, 5)
        except OSError:
            return
        if not msg:
            return                                      # the service is gone
        if len(fds) != 5:
            for fd in fds:
                os.close(fd)
            control.send(b"-1")
            continue
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            control.close()
            os.setsid()
            # lock_fd stays open here until the run is over: the owner's lock
            # (a flock, shared with the service) outlives a service restart.
            cfg_fd, out_fd, api_fd, status_fd, lock_fd = fds  # noqa: F841
            os.dup2(out_fd, 1)
            os.dup2(out_fd, 2)
            os.close(out_fd)
            try:
                supervise(cfg_fd, api_fd, status_fd)
            except BaseException as e:  # noqa: BLE001 - report, never leave the service guessing
                msg = json.dumps({"status": "error", "detail": f"sandbox failed: {e}"}).encode()
                try:
                    os.write(status_fd, msg + b"\n")
                except OSError:
                    pass
            os._exit(0)
        for fd in fds:
            os.close(fd)
        control.send(str(pid).encode())


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
