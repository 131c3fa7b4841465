"""nginx as a baseline on loopback, and background processes for benchmarks.

    from bench.nginxbase import nginx, Proc, free_port, readable_tree

    with nginx(docroot) as base_url:          # Debian's nginx, private prefix
        ...
    with Proc([binary, conf, section], ready=("127.0.0.1", port)):
        ...
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.benchlib import wait_for

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

NGINX_CONF = """\
worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 100000;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen {host}:{port};
        root {root};
        location / {{ }}
    }}
}}
"""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Proc:
    """A background process, stopped on exit; ready=(host, port) waits for it."""

    def __init__(self, argv: list[str], ready: tuple[str, int] | None = None,
                 env: dict | None = None, log: Path | None = None):
        self.argv, self.ready, self.env, self.log = argv, ready, env, log

    def __enter__(self) -> subprocess.Popen:
        out = open(self.log, "wb") if self.log else subprocess.DEVNULL
        self.popen = subprocess.Popen(self.argv, env={**os.environ, **(self.env or {})},
                                      stdout=out, stderr=subprocess.STDOUT)
        if self.ready:
            wait_for(*self.ready, timeout=15)
        return self.popen

    def __exit__(self, *exc) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


@contextlib.contextmanager
def nginx(root: Path, host: str = "127.0.0.1") -> Iterator[str]:
    """Debian's nginx serving root on a free loopback port, with a private
    prefix and config in a temp dir (production-like: sendfile, no access
    log, one worker per core); yields its base URL."""
    port = free_port(host)
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as prefix:
        conf = Path(prefix) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(prefix=prefix, host=host, port=port, root=root))
        argv = [NGINX, "-p", prefix, "-c", str(conf), "-g", "daemon off;"]
        with Proc(argv, ready=(host, port), log=Path(prefix) / "stdout.log"):
            yield f"http://{host}:{port}"


def readable_tree(path: Path) -> None:
    """nginx workers run as nobody: let them read a temp tree."""
    for p in [path, *path.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    for parent in path.parents:
        if parent == Path("/"):
            break
        parent.chmod(parent.stat().st_mode | 0o005)
