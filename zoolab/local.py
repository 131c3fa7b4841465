#!/usr/bin/env python3
"""Local mode: run every section of a local zook.conf as a supervised process.

    python -m zoolab.local [--net 1] [--main-port 8080] [--data-dir build/local] [--frontend cgi]
                           [--no-firewall]

Renders zook.conf with loopback addresses (zoolab.render_conf), as root loads
the table's accept_from as iptables rules on loopback (zoolab.localfw: the
containers' rules, in chains of this stack's net), then starts each
section with ``python -m zoobar.serve <zook.conf> <section>`` in its own process
group, prefixes every line it prints with the section's name, restarts a section
that dies (with back-off), and on Ctrl-C or SIGTERM stops them all (SIGTERM,
then SIGKILL after a grace period) so that nothing is left running.

Tests reuse the same machinery through ``Supervisor`` (see tests/stack.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from zoobar import zookconf
from zoobar.sandbox import wasm as sandbox_wasm
from zoolab import ROOT, editions, localfw
from zoolab import render_conf as conf_renderer

VENV_BIN = ROOT / ".venv" / "bin"
BINDIR = ROOT / "zookd" / "build"
STOP_GRACE = 5.0
# The wasm sandbox's compiled module, shared by every local stack of this
# checkout (docs/wasm.md): compiled once, at the first such stack's start.
WASM_CACHE = ROOT / "build" / "wasm-cache"
MAX_BACKOFF = 10.0


def local_env(conf_path: Path, data_dir: Path, extra: dict | None = None,
              edition: str | None = None, sandbox: str | None = None) -> dict:
    """The environment every local service runs with: the edition's variables
    (``ZOOBAR_EDITION``, ...; default edition unless named) and local paths."""
    env = dict(os.environ)
    env.update(editions.load(edition, sandbox).env)
    env.update({
        "ZOOK_CONF": str(conf_path),
        "ZOOBAR_DB_DIR": str(data_dir / "db"),
        "ZOOBAR_SANDBOX_ROOT": str(data_dir / "sandbox"),
        "ZOOBAR_WASM_CACHE": env.get("ZOOBAR_WASM_CACHE") or str(WASM_CACHE),
        "ZOOLAB_BINDIR": str(BINDIR),
        "PATH": os.pathsep.join([str(VENV_BIN), env.get("PATH", "/usr/bin:/bin")]),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    })
    env.pop("ZOOK_SECTION", None)
    env.update(extra or {})
    return env


def forget_state(data_dir: Path) -> None:
    """Empty the stack's databases and sandbox directories, as a fresh-state
    edition's containers start (their tmpfs) — local mode's equivalent."""
    for name in ("db", "sandbox"):
        shutil.rmtree(data_dir / name, ignore_errors=True)


def write_conf(path: Path, net: int = 1, main_host: str = "127.0.0.1", main_port: int = 8080,
               frontend: str | None = None) -> Path:
    overrides = {"zoolab_frontend_server": frontend} if frontend else None
    text = conf_renderer.render(local=True, net=net, main_host=main_host,
                                main_port=main_port, overrides=overrides)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@contextlib.contextmanager
def accept_from_enforced(net: int, main_host: str, main_port: int, frontend: str | None = None,
                         log=print, enabled: bool = True):
    """While inside, the table's accept_from holds on loopback for net ``net``
    (the caller holds the net's lock): stale chains of dead stacks are swept,
    this stack's loaded, and removed on the way out. Yields whether the rules
    are in force; when they cannot be (not root), says so through ``log``.
    ``ZOOLAB_LOCAL_FIREWALL=0`` or ``enabled=False`` turns them off."""
    why = localfw.available()
    if not enabled or os.environ.get("ZOOLAB_LOCAL_FIREWALL") == "0":
        why = "turned off"
    if why:
        log(f"warning: {why}: the service table's accept_from is not enforced in local mode, "
            "only each RPC method's callers=")
        yield False
        return
    localfw.sweep_stale()
    localfw.install(net, localfw.local_rows(net, main_host, main_port, frontend))
    try:
        yield True
    finally:
        localfw.remove({net})


class _Child:
    def __init__(self, name: str):
        self.name = name
        self.proc: subprocess.Popen | None = None
        self.backoff = 0.5
        self.restart_at = 0.0
        self.started = 0.0
        self.restarts = 0


class Supervisor:
    """Start, watch, restart and stop the processes of a local stack."""

    def __init__(self, conf_path: Path, env: dict, sections: list[str] | None = None,
                 out=None, restart: bool = True):
        self.conf_path = Path(conf_path)
        self.conf = zookconf.load(self.conf_path)
        self.env = env
        self.names = sections or self.conf.names()
        self.out = out or sys.stdout
        self.restart = restart
        self.children = {name: _Child(name) for name in self.names}
        self._stopping = threading.Event()
        self._out_lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._pumps: list[threading.Thread] = []

    # -- output --------------------------------------------------------------
    def log(self, name: str, text: str) -> None:
        with self._out_lock:
            self.out.write(f"{name:>12} | {text}\n")
            self.out.flush()

    def _pump(self, name: str, stream) -> None:
        for raw in stream:
            self.log(name, raw.decode(errors="replace").rstrip("\n"))
        stream.close()

    # -- processes -----------------------------------------------------------
    def _spawn(self, child: _Child) -> None:
        argv = [str(VENV_BIN / "python"), "-m", "zoobar.serve", str(self.conf_path), child.name]
        if not Path(argv[0]).exists():
            argv[0] = sys.executable
        child.proc = subprocess.Popen(argv, env=self.env, cwd=str(ROOT), stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        child.started = time.monotonic()
        pump = threading.Thread(target=self._pump, args=(child.name, child.proc.stdout), daemon=True)
        pump.start()
        self._pumps = [t for t in self._pumps if t.is_alive()] + [pump]

    def start(self) -> Supervisor:
        # the wasm runtime, compiled once, if this stack runs the profile service
        problem = sandbox_wasm.prepare(self.env) if "profile" in self.children else None
        if problem:
            self.log("zooklocal", problem)
        for child in self.children.values():
            self._spawn(child)
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()
        return self

    def _watch(self) -> None:
        while not self._stopping.wait(0.2):
            now = time.monotonic()
            for child in self.children.values():
                proc = child.proc
                if proc is not None and proc.poll() is not None:
                    child.proc = None
                    if now - child.started > 30:
                        child.backoff = 0.5
                    child.restart_at = now + child.backoff
                    self.log(child.name, f"exited with status {proc.returncode}; "
                                         f"restarting in {child.backoff:.1f}s")
                    child.backoff = min(child.backoff * 2, MAX_BACKOFF)
                if (child.proc is None and self.restart and not self._stopping.is_set()
                        and now >= child.restart_at):
                    child.restarts += 1
                    self._spawn(child)

    def address(self, name: str) -> tuple[str, int]:
        return self.conf.address(name)

    def answering(self, name: str) -> bool:
        """Whether the section accepts connections: asked from its own address,
        which its firewall rules always accept (a container reaching itself)."""
        host, port = self.address(name)
        try:
            with socket.create_connection((host, port), timeout=0.5, source_address=(host, 0)):
                return True
        except OSError:
            return False

    def wait_ready(self, names: list[str] | None = None, timeout: float = 30.0) -> None:
        """Block until every named section accepts TCP connections."""
        waiting = list(names or self.names)
        deadline = time.monotonic() + timeout
        while waiting:
            waiting = [n for n in waiting if not self.answering(n)]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"not answering after {timeout}s: {', '.join(waiting)}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop every process group; returns when none is left."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join()
        procs = [c.proc for c in self.children.values() if c.proc is not None]
        for proc in procs:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for proc in procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in procs:
            # the group may still hold children (gunicorn workers, CGI runs)
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
        for child in self.children.values():
            child.proc = None
        # every process group is gone, so each pipe reaches EOF: let the
        # pumps write their last lines before the caller closes `out`
        for pump in self._pumps:
            pump.join(timeout=5)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", type=int, default=1, help="second octet of service addresses")
    ap.add_argument("--main-host", default="127.0.0.1")
    ap.add_argument("--main-port", type=int, default=8080)
    ap.add_argument("--data-dir", default=str(ROOT / "build" / "local"),
                    help="zook.conf, databases and sandboxes go here")
    ap.add_argument("--frontend", choices=["gunicorn", "cgi"])
    ap.add_argument("--edition", help="the course edition's behaviour (default 2022); a "
                                      "fresh-state edition (2024, 2026) starts with empty data")
    ap.add_argument("--sandbox", help="the profile sandbox's backend (default: the edition's)")
    ap.add_argument("--no-firewall", action="store_true",
                    help="do not load the table's accept_from as iptables rules on loopback")
    args = ap.parse_args(argv)
    if not 1 <= args.net <= 254:
        ap.error("--net must be 1..254")
    # the net's lock keeps other stacks' sweeps off this stack's rules; a
    # caller (a test) may hold it for us already
    claimed = localfw.claim_net([args.net])
    try:
        edition = editions.load(args.edition, args.sandbox)
    except editions.EditionError as err:
        ap.error(str(err))
    data_dir = Path(args.data_dir).resolve()
    if edition.fresh:
        forget_state(data_dir)
    conf_path = write_conf(data_dir / "zook.conf", args.net, args.main_host, args.main_port,
                           args.frontend)
    sup = Supervisor(conf_path, local_env(conf_path, data_dir, edition=edition.name,
                                          sandbox=args.sandbox))
    sup.log("zooklocal", f"edition {edition.name} ({edition.row['state']} state)")
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with accept_from_enforced(args.net, args.main_host, args.main_port, args.frontend,
                              lambda text: sup.log("zooklocal", text), not args.no_firewall):
        sup.start()
        try:
            sup.wait_ready(timeout=20)
            sup.log("zooklocal", f"site at http://{args.main_host}:{args.main_port}"
                                 "/zoobar/index.cgi/  (Ctrl-C stops everything)")
        except TimeoutError as err:
            sup.log("zooklocal", f"warning: {err}")
        stop.wait()
        sup.log("zooklocal", "stopping")
        sup.stop()
    if claimed is not None:
        claimed[1].close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
