"""Local mode and service life cycle: wiped databases, restarts, clean shutdown, latency."""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

import pytest
import requests

from tests.app.helpers import unique
from tests.stack import ROOT, claim_net, running_stack

RPC_CORE = ["auth", "bank", "honeychecker"]


def group_members(pgids: set[int]) -> list[int]:
    """Running (not zombie) processes in any of these process groups."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()      # state ppid pgrp ...
        if fields[0] != "Z" and int(fields[2]) in pgids:
            found.append(int(entry))
    return found


def test_services_recreate_a_wiped_db_directory_while_running(tmp_path):
    with running_stack(tmp_path, sections=RPC_CORE) as stack:
        auth = stack.client("auth", "dynamic")
        auth.call("register", username="before", password="pw")
        shutil.rmtree(tmp_path / "db")
        auth.call("register", username="after", password="pw")
        assert stack.query("cred", "SELECT username FROM cred") == [("after",)]
        assert stack.query("bank", "SELECT username, zoobars FROM bank") == [("after", 10)]
        assert auth.call("login", username="after", password="pw")


def test_a_crashed_service_is_restarted(tmp_path):
    with running_stack(tmp_path, sections=["echo"]) as stack:
        child = stack.sup.children["echo"]
        os.kill(child.proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while child.restarts == 0 or not stack.sup.answering("echo"):
            assert time.monotonic() < deadline, "echo did not come back"
            time.sleep(0.1)
        assert stack.client("echo", "dynamic").call("echo", s="back") == "back"
        assert "echo | exited with status" in stack.log_text().replace("  ", "")


def test_stopping_leaves_no_process_behind(tmp_path):
    with running_stack(tmp_path, sections=["dynamic", "echo", "auth"]) as stack:
        pgids = {c.proc.pid for c in stack.sup.children.values()}
        deadline = time.monotonic() + 20
        while len(group_members(pgids)) < 5:           # echo, auth, gunicorn + 2 workers
            assert time.monotonic() < deadline, "gunicorn's workers never started"
            time.sleep(0.1)
    assert group_members(pgids) == []


def test_every_log_line_names_its_service(tmp_path):
    with running_stack(tmp_path, sections=["echo", "bank"]) as stack:
        pass
    lines = [line for line in stack.log_text().splitlines() if line.strip()]
    assert lines and all(line.split("|")[0].strip() in ("echo", "bank") for line in lines)


def test_zooklocal_serves_the_site_until_sigterm_and_leaves_nothing(tmp_path):
    net, lock = claim_net()
    log = tmp_path / "local.log"     # a file, not a pipe: a full pipe would stall the stack
    proc = None
    try:
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "zoolab.local", "--net",
                                     str(net), "--main-host", f"127.{net}.0.4", "--data-dir",
                                     str(tmp_path)], cwd=ROOT, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    env={**os.environ, "ZOOBAR_PBKDF2_ITERATIONS": "1000"})
        url = f"http://127.{net}.0.4:8080/zoobar/index.cgi/echo?s=local-mode"
        deadline = time.monotonic() + 60
        while True:
            try:
                if "local-mode" in requests.get(url, timeout=10).text:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass                # still starting (slow on a loaded machine)
            assert time.monotonic() < deadline, "make local's site never answered"
            time.sleep(0.2)
        children = [int(p) for p in subprocess.run(["pgrep", "-f", str(tmp_path / "zook.conf")],
                                                   capture_output=True, text=True).stdout.split()]
        assert len(children) >= 8
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.returncode == 0 and "stopping" in log.read_text(errors="replace")
        assert [p for p in children if os.path.exists(f"/proc/{p}")] == []
    finally:
        if proc is not None and proc.poll() is None:    # a failed check leaves nothing running
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        lock.close()


@pytest.mark.timeout(120)
def test_login_at_the_default_600000_iterations(tmp_path):
    env = {"ZOOBAR_PBKDF2_ITERATIONS": "600000"}
    with running_stack(tmp_path, env=env, sections=RPC_CORE) as stack:
        auth = stack.client("auth", "dynamic", timeout=60)
        name = unique()
        start = time.monotonic()
        auth.call("register", username=name, password="correct horse battery")
        registration = time.monotonic() - start
        stored = stack.query("cred", "SELECT password FROM cred")[0][0]
        assert stored.startswith("pbkdf2_sha256$600000$")
        times = []
        for _ in range(5):
            start = time.monotonic()
            assert auth.call("login", username=name, password="correct horse battery")
            times.append(time.monotonic() - start)
        login = statistics.median(times)
        print(f"\nPBKDF2 600000: registration (20 sweetwords) {registration:.2f}s, "
              f"login median {login * 1000:.0f} ms (min {min(times) * 1000:.0f} ms)")
        assert login < 2.0
