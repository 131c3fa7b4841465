"""Running one profile: owners' directories, locks, the launcher, the API channel.

The service side of the sandbox. ``Sandbox.run(owner, code, api)`` assigns the
owner's uid, prepares their private directory, takes that uid's lock (runs of
one owner serialize, different owners run in parallel; a run that cannot have
its turn within ``Limits.lock_wait`` answers status "busy"), has the launcher
(``launcher.py``: a root "zygote" started once) fork the run's process, which
confines itself, while the zygote holds the lock too until the run is over
(its files saved), answers the
profile's API calls with ``api(name, kwargs)`` on a private socketpair, reads
its output up to a limit, and returns ``Result(output, status)``: as soon as
the profile's code has returned and nothing needs saving (Run.conclude in the
launcher), while the run's thread keeps the owner's turn, lock and slot until
the process is gone.

Layout under the sandbox root (default ``$ZOOBAR_SANDBOX_ROOT`` or
``/home/student/sandbox``), all root-owned except the owners' directories:

    uids.sqlite          name -> uid (see uids.py), mode 0600
    owners/<uid>/        one owner's private directory, 0700, owned by <uid>
    locks/<uid>          the per-uid run lock (flock)
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import itertools
import json
import os
import queue
import selectors
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zoobar import wire

from .launcher import DONE_CALL
from .turns import InFlight, Turns
from .uids import UidMap

DEFAULT_ROOT = "/home/student/sandbox"
# Reserved for sandboxed owners: inside an unprivileged container's 65536 mapped
# ids, away from system and login accounts (student is 1000).
UID_FIRST, UID_LAST = 20000, 59999
LAUNCHER = Path(__file__).with_name("launcher.py")
API_CALLS_MAX = 1000
RUN_NICE = 10           # runs' scheduling priority: below the services and the front end

ApiHandler = Callable[[str, dict], Any]


class ApiError(Exception):
    """Raised by an API handler to refuse a call; its message reaches the profile,
    with ``kind`` (one of zoobar.wire's error names) as the reply's type."""

    def __init__(self, message: str, kind: str = wire.REFUSED):
        super().__init__(message)
        self.kind = kind


@dataclass
class Limits:
    timeout: float = 5.0            # wall clock, seconds
    cpu: int = 5                    # CPU seconds (RLIMIT_CPU)
    memory: int = 256 << 20         # address space (RLIMIT_AS)
    file_size: int = 1 << 20        # largest file (RLIMIT_FSIZE)
    open_files: int = 32            # RLIMIT_NOFILE
    output: int = 256 << 10         # bytes of output kept
    disk: int = 8 << 20             # the owner's directory, all files together
    inodes: int = 2000              # files and directories in it
    # How long a run may wait for its turn (its owner's lock, then a slot), in
    # all, before it answers "busy": a view never queues behind a slow owner.
    lock_wait: float = 1.0
    parallel: int = field(default_factory=lambda: max(4, 2 * (os.cpu_count() or 1)))


BUSY = "profile busy, try again"


@dataclass
class Result:
    output: str
    status: str                     # "ok" | "timeout" | "error" | "busy"
    detail: str = ""
    seconds: float = 0.0
    # When each phase of the run ended, in seconds since the run began, in
    # order (bench/profile prints the breakdown); empty for a "busy" answer.
    phases: dict[str, float] = field(default_factory=dict)


@dataclass
class Sandbox:
    root: str = field(default_factory=lambda: os.environ.get("ZOOBAR_SANDBOX_ROOT", DEFAULT_ROOT))
    limits: Limits = field(default_factory=Limits)
    uid_first: int = UID_FIRST
    uid_last: int = UID_LAST
    seccomp: bool = True
    _slots: threading.BoundedSemaphore = field(init=False, repr=False)
    _zygote: Zygote = field(default_factory=lambda: Zygote(), init=False, repr=False)
    _turns: Turns = field(default_factory=Turns, init=False, repr=False)
    _in_flight: InFlight = field(default_factory=InFlight, init=False, repr=False)
    _tokens: itertools.count = field(default_factory=itertools.count, init=False, repr=False)

    def __post_init__(self):
        root = Path(self.root)
        for sub, mode in (("", 0o711), ("owners", 0o711), ("locks", 0o700)):
            d = root / sub
            d.mkdir(mode=mode, parents=True, exist_ok=True)
            st = d.lstat()
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
                raise RuntimeError(f"{d} must be a directory owned by this service's user")
            os.chmod(d, mode)
        self.uids = UidMap(str(root / "uids.sqlite"), self.uid_first, self.uid_last)
        if self.seccomp and importlib.util.find_spec("seccomp") is None:
            raise RuntimeError("the seccomp module is missing: install Debian's python3-seccomp")
        self._slots = threading.BoundedSemaphore(self.limits.parallel)

    # -- owners' directories -------------------------------------------------

    def owner_dir(self, uid: int) -> Path:
        """The directory is named by the uid: distinct and path-safe for any name."""
        return Path(self.root, "owners", str(uid))

    def prepare_owner(self, owner: str) -> tuple[int, Path]:
        uid, new = self.uids.uid_for(owner)
        d = self.owner_dir(uid)
        if new and os.path.lexists(d):
            shutil.rmtree(d)            # left by a lost mapping: never hand it to a new owner
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            os.fchown(fd, uid, uid)
            os.fchmod(fd, 0o700)
        finally:
            os.close(fd)
        return uid, d

    def _lock(self, uid: int, deadline: float):
        fd = os.open(Path(self.root, "locks", str(uid)), os.O_RDWR | os.O_CREAT, 0o600)
        pause = 0.002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    return None
                time.sleep(pause)
                pause = min(pause * 2, 0.05)

    # -- a run ---------------------------------------------------------------

    def run(self, owner: str, code: str, api: ApiHandler,
            known: dict[str, str] | None = None) -> Result:
        """Run `code` as `owner`'s profile, its API calls answered by `api`;
        `known`: answers fixed for this run of calls without arguments (name ->
        string, e.g. get_self), which the profile then gets without a round
        trip (they must be what `api` would answer)."""
        with self._in_flight.inside():
            return self._run(owner, code, api, known)

    def _run(self, owner: str, code: str, api: ApiHandler,
             known: dict[str, str] | None) -> Result:
        started = time.monotonic()
        marks = {"start": started}      # when each phase ended (Result.phases)
        uid, d = self.prepare_owner(owner)
        marks["owner"] = time.monotonic()
        deadline = started + self.limits.lock_wait
        # What the run holds until it is over (its process gone, its files
        # saved), released in reverse: this service's turn of the owner (runs in
        # the order they came), the owner's flock (which another process may
        # hold: a saver, an orphan), a parallel-run slot. _launch may hand them
        # to a thread that releases them when the run is over, after the result.
        with contextlib.ExitStack() as held:
            turn = held.enter_context(
                self._turns.turn(uid, max(0.0, deadline - time.monotonic())))
            lock = self._lock(uid, deadline) if turn else None
            if lock is None:
                return Result(BUSY, "busy", "the owner's profile is running",
                              time.monotonic() - started)
            held.callback(os.close, lock)       # closing releases the flock
            marks["lock"] = time.monotonic()
            # at most `parallel` runs at once, whoever the owners: memory is finite
            if not self._slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
                return Result(BUSY, "busy", "too many runs at once", time.monotonic() - started)
            held.callback(self._slots.release)
            marks["slot"] = time.monotonic()
            result = self._launch(uid, str(d), code, api, lock, marks, known or {}, held)
        marks["end"] = time.monotonic()
        result.seconds = marks["end"] - started
        result.phases = {name: t - started
                         for name, t in sorted(marks.items(), key=lambda kv: kv[1])}
        return result

    def _launch(self, uid: int, directory: str, code: str, api: ApiHandler,
                lock: int, marks: dict[str, float], known: dict[str, str],
                held: contextlib.ExitStack) -> Result:
        lim = self.limits
        api_parent, api_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        token = next(self._tokens)
        # nice: a profile burning CPU yields to the site's own processes (nice 0).
        # ahead: other runs are under way here, so the next may be asked for
        # at any moment: the zygote forks its process now (launcher.fork_ahead).
        cfg = {"uid": uid, "dir": directory, "code": code, "timeout": lim.timeout,
               "seccomp": self.seccomp, "limits": asdict(lim), "nice": RUN_NICE,
               "known": known, "api_calls": API_CALLS_MAX, "token": token,
               "ahead": self._in_flight.count() > 1}
        description = os.memfd_create("zoobar-run", os.MFD_CLOEXEC)
        out_r, out_w = os.pipe()
        status_r, status_w = os.pipe()
        mine = {out_r, status_r}                    # closed on the way out, whatever happens
        server = None
        api_marks: dict[str, float] = {}
        handoff: queue.SimpleQueue = queue.SimpleQueue()
        handed = False
        try:
            try:
                write_all(description, json.dumps(cfg).encode())
                marks["sent"] = time.monotonic()
                _, child = self._zygote.spawn([description, out_w, api_child.fileno(),
                                                 status_w, lock])
                mine.add(child)
            finally:
                for fd in (description, out_w, status_w):
                    os.close(fd)
                api_child.close()
            marks["spawn"] = time.monotonic()
            # The profile's DONE_CALL line (its code has returned): the zygote
            # then gives the verdict without waiting for the process's exit.
            # After the API, the same thread waits for the run's end if the
            # verdict came first (`handoff`: what to release then, or None).
            server = threading.Thread(
                target=serve_then_finish,
                args=(api_parent, api, api_marks,
                      lambda status: self._zygote.done(token, status), handoff),
                daemon=True)
            server.start()
            # The launcher enforces the wall clock itself (and then saves the
            # directory); this deadline is only the backstop if it does not.
            output, overflow = read_output(out_r, lim.output, lim.timeout + 5.0)
            os.close(out_r)                         # a profile still printing gets EPIPE
            mine.discard(out_r)
            marks["output"] = time.monotonic()
            verdict, over = ({}, True) if overflow == "time" else read_status(
                status_r, lim.timeout + 5.0)
            marks["verdict"] = time.monotonic()
            if not verdict:
                kill_run(child)
            elif not over:
                # The verdict came before the run's end (Run.conclude): the
                # process may still be exiting. Its owner's turn, flock and slot
                # stay held until the zygote closes the status pipe.
                handoff.put((status_r, child, held.pop_all(), lim.timeout + 5.0))
                handed = True
                mine -= {status_r, child}
        finally:
            for fd in mine:
                os.close(fd)
            if not handed:
                handoff.put(None)
                api_parent.close()
                if server is not None:
                    server.join(timeout=5.0)
        phases = verdict.get("phases")
        if isinstance(phases, dict):
            marks.update({k: v for k, v in phases.items() if isinstance(v, (int, float))})
        marks.update(api_marks)
        text = output.decode("utf-8", "replace")
        if overflow == "size":
            return Result(text + f"\n[output cut: more than {lim.output} bytes]", "error",
                          "output limit")
        if overflow == "time" or verdict.get("status") == "timeout":
            return Result(f"profile timed out (limit {lim.timeout:g} s)", "timeout",
                          verdict.get("detail", "wall clock"))
        status = verdict.get("status", "error")
        return Result(text, status if status in ("ok", "error") else "error",
                      verdict.get("detail", "" if verdict else "no verdict from the sandbox"))

    def close(self) -> None:
        """Stop the zygote (it also stops by itself when this process ends)."""
        self._zygote.close()


class Zygote:
    """The launcher process that forks one process per run and watches it (launcher.zygote).

    Started on first use and again if it has died; requests go one at a time
    over a SOCK_SEQPACKET socketpair (a run's descriptors in, a pid out)."""

    def __init__(self, program: Path = LAUNCHER, args: tuple[str, ...] = ()):
        self.program, self.args = program, args     # `program CONTROL_FD *args`
        self._lock = threading.Lock()
        self._closing = threading.Lock()    # done() never sends on a socket being closed
        self._proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None

    def _start(self) -> None:
        self.close()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", str(self.program), str(theirs.fileno()), *self.args],
                stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(),), close_fds=True,
                start_new_session=True, cwd="/", env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        finally:
            theirs.close()
        mine.settimeout(10.0)
        self._sock = mine

    def done(self, token: int, status: int) -> None:
        """Tell the zygote that the run `token`'s code has ended with `status`
        (its DONE_CALL line); no answer. Not under the lock of spawn, which
        waits for the zygote's answer: one message is atomic, and a spawn
        waiting for its answer gets no other."""
        with self._closing:
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.send(b"done %d %d" % (token, status))

    def spawn(self, fds: list[int]) -> tuple[int, int]:
        """Start a run. -> its pid and a pidfd of it (the caller closes it)."""
        with self._lock:
            for _ in range(2):
                if self._proc is None or self._proc.poll() is not None:
                    self._start()
                pidfds: list[int] = []
                try:
                    socket.send_fds(self._sock, [b"run"], fds)
                    msg, pidfds, _, _ = socket.recv_fds(self._sock, 64, 1)
                    pid = int(msg or b"-1")
                except (OSError, ValueError):
                    pid = -1
                if pid > 0 and len(pidfds) == 1:
                    return pid, pidfds[0]
                for fd in pidfds:
                    os.close(fd)
                self.close()
            raise RuntimeError("the sandbox launcher does not answer")

    def close(self) -> None:
        with self._closing:
            if self._sock is not None:
                self._sock.close()      # the zygote ends when it sees this
                self._sock = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def kill_run(pidfd: int) -> None:
    """Kill a run's process, if still there (a pidfd: never anyone else)."""
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def read_output(fd: int, limit: int, seconds: float) -> tuple[bytes, str | None]:
    """Read until EOF. -> (bytes, None) or (bytes so far, "size" | "time")."""
    deadline = time.monotonic() + seconds
    chunks, total = [], 0
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return b"".join(chunks), "time"
            if not sel.select(left):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks), None
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                return b"".join(chunks)[:limit], "size"


def read_status(fd: int, seconds: float) -> tuple[dict, bool]:
    """The launcher's verdict: the first line on the status pipe (wire format).
    -> (the verdict, {} if none came in time; whether the pipe has ended too:
    the run is over, its files saved)."""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        data = b""
        deadline = time.monotonic() + seconds
        ended = False
        while (b"\n" not in data or not ended) and len(data) <= wire.MAX_LINE:
            # after the line, only look whether the end is there already
            left = deadline - time.monotonic() if b"\n" not in data else 0
            if left < 0 or not sel.select(left):
                break
            chunk = os.read(fd, 4096)
            ended = not chunk
            if ended:
                break
            data += chunk
    line = data.split(b"\n", 1)[0] + b"\n" if b"\n" in data else b""
    try:
        verdict = wire.decode(line)
    except wire.WireError:
        return {}, ended
    return (verdict, ended) if isinstance(verdict, dict) else ({}, ended)


def serve_then_finish(sock: socket.socket, handler: ApiHandler, marks: dict[str, float],
                      on_done: Callable[[int], None], handoff: queue.SimpleQueue) -> None:
    """A run's thread: serve_api, then what `handoff` brings: None, or
    (status pipe, pidfd, what the run holds, seconds) when the verdict came
    before the run was over. Then, when the status pipe ends (the zygote has
    reaped the run's process and saved its files), close both descriptors and
    release what the run held; if it does not end within `seconds`, kill the
    process first."""
    try:
        serve_api(sock, handler, marks, on_done)
    finally:
        job = handoff.get()
    if job is None:
        return
    status_fd, pidfd, held, seconds = job
    with held:
        try:
            sock.close()
            if not wait_end(status_fd, seconds):
                kill_run(pidfd)
        finally:
            os.close(status_fd)
            os.close(pidfd)


def wait_end(fd: int, seconds: float) -> bool:
    """Read and drop what comes on `fd` until its end. -> whether it came in time."""
    deadline = time.monotonic() + seconds
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if sel.select(left) and not os.read(fd, 4096):
                return True
    return False


def serve_api(sock: socket.socket, handler: ApiHandler,
              marks: dict[str, float] | None = None,
              on_done: Callable[[int], None] | None = None) -> None:
    """Answer the profile's calls until it hangs up or says DONE_CALL (its code
    has returned: `on_done(exit status)`, and no more calls), at most API_CALLS_MAX.

    The wire format is zoobar.wire's (the RPC one): ``[name, {kwargs}]`` in,
    ``{"ok": ...}`` or ``{"error": {"type", "message"}}`` out. Bad input gets an
    error reply and the channel keeps serving; a line cut off by the profile's
    end is not a call."""
    f = sock.makefile("rwb")
    try:
        for _ in range(API_CALLS_MAX):
            try:
                line = wire.read_line(f)
            except wire.LineTooLarge as err:
                send(f, wire.error(err.kind, err.message))
                if not wire.skip_line(f, err):
                    return
                continue
            if line is None:
                return
            status = done_status(line)
            if status is not None:
                if marks is not None:
                    marks["code_done"] = time.monotonic()
                if on_done is not None:
                    on_done(status)
                return
            if marks is not None:
                marks.setdefault("api_first_call", time.monotonic())
            send(f, answer(line, handler))
            if marks is not None:
                marks["api_last_reply"] = time.monotonic()
        send(f, wire.error(wire.TOO_MANY, f"more than {API_CALLS_MAX} API calls"))
    except OSError:
        return                           # the profile went away mid-call
    finally:
        try:
            f.close()
            sock.shutdown(socket.SHUT_RDWR)     # the profile's next call sees the end
        except OSError:
            pass


def done_status(line: bytes) -> int | None:
    """The exit status if `line` is the DONE_CALL line, else None."""
    if DONE_CALL.encode() not in line:
        return None
    try:
        name, kwargs = wire.parse_request(line)
    except wire.WireError:
        return None
    status = kwargs.get("status")
    if name != DONE_CALL:
        return None
    return status if isinstance(status, int) and 0 <= status <= 255 else 1


def send(f, message: dict) -> None:
    f.write(wire.reply_line(message))
    f.flush()


def answer(line: bytes, handler: ApiHandler) -> dict:
    """The reply message to one request line."""
    try:
        name, kwargs = wire.parse_request(line)
    except wire.WireError as err:
        return wire.error(err.kind, err.message)
    try:
        return wire.ok(handler(name, kwargs))
    except ApiError as e:
        return wire.error(e.kind, str(e))
    except Exception as e:  # noqa: BLE001 - a handler bug must not end the run's API
        return wire.error(wire.INTERNAL, f"{type(e).__name__}: {e}")
