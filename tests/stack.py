"""A local zoolab stack for tests: every zook.conf section as a real process.

Reuses zoolab.local (the machinery behind ``make local``). Each stack
claims its own loopback block 127.<net>.N.4 (a lock file per net under
/tmp/zoolab-nets, so concurrent test runs never share one) with zookd2 on
127.<net>.0.4:8080, and its own data directory.

In a conftest.py:

    from tests.stack import local_stack, running_stack   # noqa: F401  (fixture)

    def test_x(local_stack):
        local_stack.client("bank", as_section="dynamic").call("balance", username="a")
        requests.get(local_stack.url("users?user=a"))

``running_stack(tmp_dir, env=..., sections=..., wait_for=...)`` is the context
manager behind the fixture, for tests that need a stack of their own.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from zoobar import rpc
from zoolab import ROOT, localfw, local as zooklocal

__all__ = ["ROOT", "TEST_ENV", "Stack", "claim_net", "local_stack", "running_stack"]

TEST_ENV = {"ZOOBAR_PBKDF2_ITERATIONS": "1000"}   # fast hashing unless a test asks otherwise


def claim_net() -> tuple[int, object]:
    """A free net number 20..250 and the open lock file that holds it."""
    candidates = list(range(20, 251))
    random.shuffle(candidates)
    claimed = localfw.claim_net(candidates)
    if claimed is None:
        raise RuntimeError("no free loopback net in 20..250")
    return claimed


class Stack:
    """A running local stack: addresses, RPC clients, database paths, its log."""

    def __init__(self, data_dir: Path, net: int, supervisor: zooklocal.Supervisor):
        self.data_dir = data_dir
        self.net = net
        self.sup = supervisor
        self.conf_path = supervisor.conf_path
        self.main_host, self.main_port = supervisor.address("main")
        self.firewall = False      # whether the table's accept_from holds on its net

    @property
    def base(self) -> str:
        return f"http://{self.main_host}:{self.main_port}"

    def url(self, path: str = "") -> str:
        return f"{self.base}/zoobar/index.cgi/{path}"

    def address(self, section: str) -> tuple[str, int]:
        return self.sup.address(section)

    def client(self, target: str, as_section: str | None = None,
               timeout: float = rpc.READ_TIMEOUT) -> rpc.Client:
        """An RPC client to ``target`` whose source address is ``as_section``'s host."""
        return rpc.Client(target, str(self.conf_path), as_section or "", timeout)

    def db_path(self, name: str) -> Path:
        return self.data_dir / "db" / name / f"{name}.db"

    def query(self, name: str, sql: str, args: tuple = ()) -> list[tuple]:
        """Run one statement on a database file directly (committed), as an operator would."""
        with contextlib.closing(sqlite3.connect(self.db_path(name), timeout=30)) as conn:
            rows = conn.execute(sql, args).fetchall()
            conn.commit()
            return rows

    def log_text(self) -> str:
        return (self.data_dir / "stack.log").read_text(errors="replace")


@contextlib.contextmanager
def running_stack(data_dir: Path, env: dict | None = None, sections: list[str] | None = None,
                  wait_for: list[str] | None = None, frontend: str | None = None,
                  timeout: float = 30.0, firewall: bool = False) -> Iterator[Stack]:
    """Start a stack in ``data_dir``, wait until ``wait_for`` (default: all) answer,
    yield it, and stop every process on the way out.

    With ``firewall=True`` (and root) the table's accept_from holds on the
    stack's loopback net as in containers (``stack.firewall`` says whether it
    does). Off by default: most tests attack the second layer, each RPC
    method's callers=, from addresses the firewall would refuse before any
    RPC is read (tests/e2e/test_local_firewall.py runs stacks with it on)."""
    net, lock = claim_net()
    data_dir.mkdir(parents=True, exist_ok=True)
    main_host = f"127.{net}.0.4"
    conf = zooklocal.write_conf(data_dir / "zook.conf", net=net, main_host=main_host,
                                main_port=8080, frontend=frontend)
    environment = zooklocal.local_env(conf, data_dir, {**TEST_ENV, **(env or {})})
    log = open(data_dir / "stack.log", "w")
    sup = zooklocal.Supervisor(conf, environment, sections=sections, out=log)
    try:
        walls = (zooklocal.accept_from_enforced(net, main_host, 8080, frontend,
                                                lambda text: sup.log("stack", text))
                 if firewall else contextlib.nullcontext(False))
        with walls as enforced:
            try:
                sup.start()
                sup.wait_ready(wait_for, timeout=timeout)
                stack = Stack(data_dir, net, sup)
                stack.firewall = enforced
                yield stack
            except TimeoutError:
                log.flush()
                sys.stderr.write((data_dir / "stack.log").read_text(errors="replace")[-4000:])
                raise
            finally:
                sup.stop()
    finally:
        log.close()
        lock.close()


def _wanted_sections() -> list[str] | None:
    raw = os.environ.get("ZOOLAB_TEST_WAIT_FOR")
    return raw.split(",") if raw else None


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory) -> Iterator[Stack]:
    """One whole local stack shared by a test session (zookd2 included)."""
    with running_stack(tmp_path_factory.mktemp("stack"), wait_for=_wanted_sections()) as stack:
        yield stack
