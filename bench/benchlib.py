"""Shared pieces of the benchmarks: wrk runs, medians, the monolithic baseline, report lines.

Every benchmark prints one line per measurement in the same shape
(``<label>  ours <x> <unit>  baseline <y> <unit>  ratio <r>``) so that
``bench/run-all`` can gather them into one table.

    from bench.benchlib import monolith, wrk, interleaved, report, register
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from zoobar import serve
from zoolab import ROOT
from zoolab.site import COOKIE, HOME, SiteClient

__all__ = ["COOKIE", "HOME", "ROOT"]   # re-exported for the bench scripts (from zoolab)
DEPLOYED = ("127.0.0.1", 8888)

# wrk prints this line from the Lua done() hook: requests, duration (us), socket
# errors (connect, read, write, timeout), non-2xx/3xx responses, latency p50/p99 (us).
_WRK_REPORT = r'''
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("ZOOLAB-WRK %d %d %d %d %d %d %d %.0f %.0f\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout,
    e.status, latency:percentile(50), latency:percentile(99)))
end
'''
_WRK_LINE = re.compile(r"^ZOOLAB-WRK" + r" (\d+)" * 9 + r"$", re.M)


@dataclass
class WrkResult:
    requests: int
    seconds: float
    socket_errors: int
    bad_status: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def lua_request(method: str = "GET", cookie: str | None = None, body: str | None = None) -> str:
    """A wrk script sending one fixed request (logged in when ``cookie`` is given)."""
    lines = [f'wrk.method = "{method}"']
    if cookie:
        lines.append(f"wrk.headers[\"Cookie\"] = {_lua_string(f'{COOKIE}={cookie}')}")
    if body is not None:
        lines.append('wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"')
        lines.append(f"wrk.body = {_lua_string(body)}")
    return "\n".join(lines) + "\n"


def _lua_string(text: str) -> str:
    return '"' + "".join(c if c.isalnum() or c in " =#%&-_.~+/:" else f"\\{ord(c)}"
                         for c in text) + '"'


def wrk(url: str, script: str = "", connections: int = 16, seconds: float = 8,
        threads: int = 2) -> WrkResult:
    """One wrk run against ``url`` with the Lua ``script``; its counts and latencies."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script + _WRK_REPORT)
    try:
        argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
                "--timeout", "10s", "-s", lua.name, url]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    finally:
        os.unlink(lua.name)
    found = _WRK_LINE.search(done.stdout)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}{done.stderr}")
    n, us, conn, read, write, timeout, status, p50, p99 = (int(x) for x in found.groups())
    return WrkResult(n, us / 1e6, conn + read + write + timeout, status, p50 / 1e3, p99 / 1e3)


def check_clean(result: WrkResult, what: str) -> WrkResult:
    """Refuse a run with failed requests: its rate would not mean what it says."""
    if result.bad_status or result.socket_errors:
        raise SystemExit(f"{what}: {result.bad_status} non-2xx/3xx responses and "
                         f"{result.socket_errors} socket errors in {result.requests} requests")
    return result


def interleaved(runs: int, ours: Callable[[], float],
                baseline: Callable[[], float]) -> tuple[float, float, list[float], list[float]]:
    """Medians of ``runs`` alternating runs of each (so drift hits both alike)."""
    a, b = [], []
    for _ in range(runs):
        a.append(ours())
        b.append(baseline())
    return statistics.median(a), statistics.median(b), a, b


def report(label: str, ours: float, baseline: float, unit: str, detail: str = "") -> None:
    ratio = ours / baseline if baseline else float("nan")
    print(f"{label:<58} ours {ours:9.2f} {unit:<7} baseline {baseline:9.2f} {unit:<7}"
          f" ratio {ratio:6.2f}" + (f"   # {detail}" if detail else ""), flush=True)


# -- processes ---------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """The process and every process below it (/proc/PID/task/*/children)."""
    out = [pid]
    for child in _children(pid):
        out += descendants(child)
    return out


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            found += [int(x) for x in
                      Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    except OSError:
        pass
    return found


def cpu_seconds(pid: int) -> float:
    """CPU of the process (all its threads) and of the children it has reaped
    (utime + stime + cutime + cstime): a sandbox run's processes count for the zygote."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / TICK


# -- the site ------------------------------------------------------------------

def register(base: str, username: str, password: str) -> str:
    """Register ``username`` on the site at ``base``; the login cookie's value."""
    return user(base, username, password).cookie


def user(base: str, username: str, password: str) -> SiteClient:
    """A site client logged in as ``username``, newly registered on the site at ``base``."""
    site = SiteClient(base, timeout=60)
    for _ in range(3):   # a deployed auth with full-strength hashing may be slow to answer
        r = site.register(username, password)
        if r.status_code != 503:
            break
    if r.status_code != 200 or "Log out" not in r.text:
        raise RuntimeError(f"registering {username} at {base} failed: {r.status_code} "
                           f"{r.text[-300:]}")
    return site


def answering(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def deployment_up() -> bool:
    """The provisioned site answers on localhost:8888."""
    if not answering(*DEPLOYED):
        return False
    try:
        return requests.get(f"http://{DEPLOYED[0]}:{DEPLOYED[1]}{HOME}login",
                            timeout=5).status_code == 200
    except requests.RequestException:
        return False


def wait_for(host: str, port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not answering(host, port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing answers on {host}:{port} after {timeout}s")
        time.sleep(0.1)


# -- the monolithic baseline ---------------------------------------------------

@contextlib.contextmanager
def monolith(data_dir: Path, host: str, port: int, env: dict) -> Iterator[str]:
    """The same Flask app with its services in-process (bench/monolith.py), under
    gunicorn with the front end's worker and thread counts; yields its base URL."""
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = serve.gunicorn_argv(host, port)
    assert argv[-1] == "zoobar.wsgi:app", argv
    argv[-1] = "bench.monolith:app"
    environment = {**env, "ZOOK_SECTION": "dynamic", "ZOOBAR_DB_DIR": str(data_dir / "db"),
                   "PYTHONPATH": str(ROOT)}
    with open(data_dir / "monolith.log", "w") as log:
        proc = subprocess.Popen(argv, env=environment, cwd=str(ROOT), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(host, port)
            yield f"http://{host}:{port}"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()


# The sections the dynamic pages and transfers need (profile runs are bench/profile's).
SITE_SECTIONS = ["main", "dynamic", "static", "auth", "bank", "profilestore", "honeychecker",
                 "echo"]


@contextlib.contextmanager
def stack_and_monolith(tmp: Path, sections: list[str] | None = None,
                       frontend: str | None = None) -> Iterator[tuple[object, str, Path]]:
    """A local privilege-separated stack (tests/stack.py; ``frontend`` "cgi" or
    "gunicorn", default the site's) and the monolith next to it, on the stack's
    loopback block; yields (stack, monolith base URL, monolith data dir)."""
    from tests.stack import TEST_ENV, running_stack
    from zoolab.local import local_env

    with running_stack(tmp / "stack", sections=sections or SITE_SECTIONS,
                       frontend=frontend) as stack:
        mono_dir = tmp / "mono"
        env = local_env(stack.conf_path, mono_dir, TEST_ENV)
        with monolith(mono_dir, f"127.{stack.net}.100.4", 8081, env) as mono:
            yield stack, mono, mono_dir
