"""Profile sandboxes built on CPython for WASI under wasmtime (docs/wasm.md).

``WasmSandbox``: wasmtime alone (the course's design since 2023).
``LayeredSandbox``: the same wasmtime host, run inside the kernel jail
(per-owner uid, chroot, no network, rlimits, seccomp), so that an escape
needs a wasmtime bug and a kernel-jail bug.

Both are ``Sandbox``es: the owner's directory, lock, parallel-run bound, API
service loop (``runner.serve_api``), the launcher's supervisor (tmpfs view of
the directory = disk quota, wall clock, copy back) and the verdicts are the
kernel backend's own. The launcher runs ``payload.py`` in place of the
profile's Python: jailed first for ``layered``, as it is (``--no-jail``) for
``wasm``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .. import backends
from ..runner import DEFAULT_ROOT, LAUNCHER, Limits, Sandbox, Zygote

PAYLOAD = Path(__file__).with_name("payload.py")


@dataclass
class WasmLimits(Limits):
    guest_memory: int = 128 << 20   # the guest's linear memory (store limit)


def _host_address_space() -> int:
    from . import runtime
    return runtime.HOST_ADDRESS_SPACE


@dataclass
class LayeredLimits(WasmLimits):
    # RLIMIT_AS of the wasmtime host in the jail (runtime.HOST_ADDRESS_SPACE).
    memory: int = field(default_factory=_host_address_space)
    open_files: int = 64


CACHE_ENV = "ZOOBAR_WASM_CACHE"


def cache_dir_for(root: str, env: Mapping[str, str] = os.environ) -> str:
    """Where the compiled module lives: $ZOOBAR_WASM_CACHE, else ``wasm-cache``
    next to the sandbox root: never inside it, as the root is a tmpfs in a
    fresh-state edition (every container start would compile again) and holds
    the owners' directories."""
    return env.get(CACHE_ENV) or os.path.join(os.path.dirname(os.path.abspath(root)), "wasm-cache")


def compile_runtime(cache_dir: str) -> bool:
    """Compile the pinned module once (15-70 s on 2 cores); later calls find it.
    -> whether this call compiled it."""
    from . import runtime           # wasmtime is imported only by the backends that use it
    return runtime.compile_module(runtime.make_engine(), cache_dir)[1]


def prepare(env: Mapping[str, str]) -> str | None:
    """Before a stack's services start (local mode): if its profile service
    will use a wasm backend, make sure the module is compiled, so that no view
    waits for it. -> a line to log if it could not be compiled."""
    if (env.get(backends.ENV) or backends.DEFAULT) not in ("wasm", "layered"):
        return None
    cache = cache_dir_for(env.get("ZOOBAR_SANDBOX_ROOT", DEFAULT_ROOT), env)
    try:
        compile_runtime(cache)
    except (RuntimeError, OSError) as err:
        return f"the wasm runtime did not compile into {cache}: {err}"
    return None


@dataclass
class WasmSandbox(Sandbox):
    limits: Limits = field(default_factory=WasmLimits)
    seccomp: bool = False
    cache_dir: str = ""
    _zygote: Zygote = field(default=None, init=False, repr=False)

    def __post_init__(self):
        super().__post_init__()
        self.cache_dir = os.path.abspath(self.cache_dir or cache_dir_for(self.root))
        compile_runtime(self.cache_dir)
        self._zygote = self._make_zygote()

    def _make_zygote(self) -> Zygote:
        return Zygote(LAUNCHER, ("--payload", str(PAYLOAD), self.cache_dir, "--no-jail"))


@dataclass
class LayeredSandbox(WasmSandbox):
    limits: Limits = field(default_factory=LayeredLimits)
    seccomp: bool = True

    def _make_zygote(self) -> Zygote:
        return Zygote(LAUNCHER, ("--payload", str(PAYLOAD), self.cache_dir))


__all__ = ["LayeredLimits", "LayeredSandbox", "WasmLimits", "WasmSandbox"]
