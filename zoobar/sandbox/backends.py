"""Which sandbox runs profiles: ``make_sandbox(name)`` (docs/wasm.md).

    kernel   the kernel jail (runner.Sandbox): per-owner uid, chroot, no network,
             rlimits, seccomp; the profile is CPython 3.11 of the host
    wasm     CPython 3.12 for WASI under wasmtime, nothing else (the course's
             design since 2023)
    layered  the wasm host run inside the kernel jail: an escape needs both

Every backend has ``run(owner, code, api) -> Result`` and ``close()``. The name
defaults to ``$ZOOBAR_SANDBOX_BACKEND``, else ``kernel``.
"""

from __future__ import annotations

import os

from .runner import Sandbox

BACKENDS = ("kernel", "wasm", "layered")
DEFAULT = "kernel"
ENV = "ZOOBAR_SANDBOX_BACKEND"


def backend_name(name: str | None = None) -> str:
    name = name or os.environ.get(ENV) or DEFAULT
    if name not in BACKENDS:
        raise ValueError(f"unknown sandbox backend {name!r}: expected one of {', '.join(BACKENDS)}")
    return name


def make_sandbox(name: str | None = None, **options) -> Sandbox:
    """A sandbox of the named backend; ``options`` go to its constructor (root, limits)."""
    name = backend_name(name)
    if name == "kernel":
        return Sandbox(**options)
    from . import wasm                  # imports wasmtime only when it is used
    return (wasm.WasmSandbox if name == "wasm" else wasm.LayeredSandbox)(**options)
