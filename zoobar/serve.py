"""Start one zook.conf section: ``python3 -m zoobar.serve <zook.conf> <section>``.

The section's ``cmd`` decides what runs:

- ``zookd2`` / ``zookfs``: exec ``$ZOOLAB_BINDIR/<cmd> <zook.conf> <section>``;
- ``frontend``: exec gunicorn serving ``zoobar.wsgi:app`` on the section's host:port;
- anything else: the Python RPC service ``zoobar.services.<cmd>`` (its ``make_service()``).

``ZOOK_CONF`` and ``ZOOK_SECTION`` are set for the process and its children, so
RPC clients (and CGI programs run by zookfs) know who they are.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path

from zoobar import rpc, zookconf

BINARIES = ("zookd2", "zookfs")
DEFAULT_BINDIR = "/usr/local/bin"
PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


def _environment(conf_path: str, section: str) -> None:
    os.environ["ZOOK_CONF"] = conf_path
    os.environ["ZOOK_SECTION"] = section
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if PACKAGE_PARENT not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([PACKAGE_PARENT, *paths])


def gunicorn_argv(host: str, port: int) -> list[str]:
    workers = os.environ.get("ZOOBAR_GUNICORN_WORKERS", "2")
    threads = os.environ.get("ZOOBAR_GUNICORN_THREADS", "8")
    return [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}",
            "--workers", workers, "--threads", threads, "--worker-class", "gthread",
            "--access-logfile", "-", "--error-logfile", "-", "--no-control-socket",
            "zoobar.wsgi:app"]


def run(conf_path: str, section: str) -> None:
    conf_path = os.path.abspath(conf_path)
    conf = zookconf.load(conf_path)
    cmd = conf.require(section, "cmd")
    _environment(conf_path, section)
    if cmd in BINARIES:
        binary = os.path.join(os.environ.get("ZOOLAB_BINDIR", DEFAULT_BINDIR), cmd)
        os.execv(binary, [binary, conf_path, section])
    if cmd == "frontend":
        argv = gunicorn_argv(*conf.address(section))
        os.execv(argv[0], argv)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", cmd):
        raise zookconf.ConfError(f"[{section}] cmd {cmd!r} is not a service name")
    module = importlib.import_module(f"zoobar.services.{cmd}")
    rpc.serve(module.make_service(), conf_path, section)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} <zook.conf> <section>", file=sys.stderr)
        return 2
    try:
        run(argv[1], argv[2])
    except (zookconf.ConfError, OSError, ImportError) as err:
        print(f"zoobar.serve [{argv[2]}]: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
