"""Running zookd2/zookfs for tests: real binaries on loopback, raw HTTP.

The binaries come from $ZOOLAB_BINDIR (make test-zookd points it at the
sanitizer build, zookd/build-san); each test gets its own zook.conf, its own
loopback addresses 127.<net>.N.4 (net claimed with tests.stack.claim_net so
concurrent runs never collide) and fresh ports. Every process is checked at
the end: still alive (unless the test stopped it) and no sanitizer report.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.stack import ROOT, claim_net

BINDIR = Path(os.environ.get("ZOOLAB_BINDIR", ROOT / "zookd" / "build")).resolve()
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer",
                     "UndefinedBehaviorSanitizer")


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_listening(host: str, port: int, proc: subprocess.Popen | None = None,
                   timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port}")


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def parse_response(raw: bytes, head_request: bool = False) -> tuple[Response, bytes]:
    """One response from the front of raw; returns it and what follows it."""
    end = raw.index(b"\r\n\r\n") + 4
    lines = raw[:end - 4].decode("latin-1").split("\r\n")
    version, status, *reason = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k, v.strip()))
    resp = Response(int(status), reason[0] if reason else "", headers, b"", raw)
    length = resp.header("content-length")
    if head_request or resp.status in (204, 304):
        return resp, raw[end:]
    if length is not None:
        n = int(length)
        resp.body = raw[end:end + n]
        return resp, raw[end + n:]
    if (resp.header("transfer-encoding") or "").lower().endswith("chunked"):
        body, rest = b"", raw[end:]
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                rest = rest[2:] if rest.startswith(b"\r\n") else rest.partition(b"\r\n\r\n")[2]
                resp.body = body
                return resp, rest
            body += rest[:size]
            rest = rest[size + 2:]
    resp.body = raw[end:]
    return resp, b""


def exchange(addr: tuple[str, int], data: bytes, timeout: float = 10.0,
             head_request: bool = False) -> Response:
    """Send raw bytes, read until the peer closes, parse the first response."""
    raw = send_raw(addr, data, timeout)
    if not raw:
        raise ConnectionError("connection closed without a response")
    return parse_response(raw, head_request)[0]


def send_raw(addr: tuple[str, int], data: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes on a new connection; return everything read until the peer closes."""
    with socket.create_connection(addr, timeout=timeout) as s:
        s.sendall(data)
        return read_until_close(s)


def read_until_close(s: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


def get(addr: tuple[str, int], path: str, headers: str = "", method: str = "GET",
        body: bytes = b"", timeout: float = 10.0) -> Response:
    host = "" if "host:" in headers.lower() else "Host: test\r\n"
    head = (f"{method} {path} HTTP/1.1\r\n{host}Connection: close\r\n{headers}"
            + (f"Content-Length: {len(body)}\r\n" if body else "") + "\r\n")
    return exchange(addr, head.encode("latin-1") + body, timeout, head_request=method == "HEAD")


def client_from(site, n: int = 9, section: str = "main", timeout: float = 10.0) -> socket.socket:
    """A client socket from 127.<net>.<n>.9 (so its address is known),
    connected to the section."""
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((site.host(n).rsplit(".", 1)[0] + ".9", 0))
    s.connect(site.addr(section))
    return s


@dataclass
class Proc:
    """A zookd2 or zookfs process."""
    name: str
    popen: subprocess.Popen
    log: Path
    addr: tuple[str, int]
    expect_alive: bool = True

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@dataclass
class Site:
    """A zook.conf of our own and the processes started from it."""
    tmp: Path
    net: int
    sections: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def host(self, n: int) -> str:
        return f"127.{self.net}.{n}.4"

    def section(self, name: str, n: int, **keys) -> tuple[str, int]:
        """Add [name] listening on 127.<net>.<n>.4 and a fresh port."""
        host = self.host(n)
        port = free_port(host)
        entries = {"host": [host], "port": [str(port)]}
        for k, v in keys.items():
            entries[k] = v if isinstance(v, list) else [str(v)]
        self.sections[name] = entries
        return host, port

    @property
    def conf(self) -> Path:
        path = self.tmp / "zook.conf"
        lines = []
        for name, entries in self.sections.items():
            lines.append(f"[{name}]")
            for k, values in entries.items():
                lines += [f"    {k} = {v}" for v in values]
            lines.append("")
        path.write_text("\n".join(lines))
        return path

    def addr(self, name: str) -> tuple[str, int]:
        e = self.sections[name]
        return e["host"][0], int(e["port"][0])

    def start(self, binary: str, section: str, env: dict[str, str] | None = None,
              wait: bool = True) -> Proc:
        log = self.tmp / f"{section}.log"
        full_env = dict(os.environ)
        full_env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
        full_env.update(self.env)
        full_env.update(env or {})
        popen = subprocess.Popen([str(BINDIR / binary), str(self.conf), section],
                                 stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                                 env=full_env, cwd=self.tmp)
        proc = Proc(section, popen, log, self.addr(section))
        self.procs.append(proc)
        if wait:
            wait_listening(*proc.addr, proc=popen)
        return proc

    def check_and_stop(self) -> list[str]:
        problems = []
        for p in self.procs:
            if p.expect_alive and not p.alive():
                problems.append(f"{p.name} died (status {p.popen.returncode}):\n{p.log_text()}")
            p.stop()
            text = p.log_text()
            if any(m in text for m in SANITIZER_MARKERS):
                problems.append(f"{p.name} sanitizer report:\n{text}")
        return problems


class Backend:
    """A scripted HTTP service on a real socket: records each request's raw
    bytes and answers with whatever the test's handler returns (or does)."""

    def __init__(self, host: str, port: int, handler, serial: bool = False):
        """serial: one connection at a time, like a single sync worker."""
        self.handler = handler
        self.serial = serial
        self.requests: list[bytes] = []
        self.accepted: list[float] = []  # time.monotonic() of each connection
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(128)
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(time.monotonic())
            if self.serial:
                self._serve(conn)
            else:
                threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket):
        with conn:
            conn.settimeout(10)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v.strip())
                while len(body) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                raw = head + b"\r\n\r\n" + body
                self.requests.append(raw)
                self.handler(conn, raw)
            except OSError:
                pass

    def close(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        except OSError:
            pass
        self.sock.close()


def fixed(response: bytes):
    """A Backend handler that sends these bytes and closes."""
    def handler(conn, _raw):
        conn.sendall(response)
    return handler


__all__ = ["Backend", "Proc", "client_from", "Response", "Site", "claim_net", "exchange", "fixed", "get",
           "parse_response", "read_until_close", "wait_listening", "free_port", "BINDIR"]
