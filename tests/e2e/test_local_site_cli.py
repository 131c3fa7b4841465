"""``python -m zoolab.site``, the site client's command line (what Molecule's
verify playbooks run instead of hand-written HTTP sequences), against a real
local stack: it says what happened as JSON and by its exit status."""

import json
import socket
import subprocess
import sys
import uuid

from zoolab import ROOT


def site_cli(base: str, *args: str) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "zoolab.site", "--url", base, "--timeout", "30",
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.stderr == "", proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def fresh(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def test_register_logs_in_with_ten_zoobars(local_stack):
    user = fresh("cli")
    rc, out = site_cli(local_stack.base, "register", user, "pw1")
    assert rc == 0, out
    assert out["ok"] and out["logged_in"] and out["user"] == user
    assert out["balance"] == 10 and out["zoobars"] == 10


def test_login_with_a_wrong_password_is_refused_not_unreachable(local_stack):
    user = fresh("cli")
    assert site_cli(local_stack.base, "register", user, "right")[0] == 0
    rc, out = site_cli(local_stack.base, "login", user, "wrong")
    assert rc == 1 and not out["ok"] and not out["logged_in"], out
    rc, out = site_cli(local_stack.base, "login", user, "right")
    assert rc == 0 and out["logged_in"] and out["zoobars"] == 10, out


def test_transfer_reports_the_balances_and_refuses_an_overdraft(local_stack):
    alice, bob = fresh("clia"), fresh("clib")
    for user in (alice, bob):
        assert site_cli(local_stack.base, "register", user, "pw")[0] == 0
    rc, out = site_cli(local_stack.base, "transfer", alice, "pw", bob, "3")
    assert rc == 0 and (out["before"], out["after"]) == (10, 7), out
    rc, out = site_cli(local_stack.base, "transfer", alice, "pw", bob, "50")
    assert rc == 1 and (out["before"], out["after"]) == (7, 7), out
    assert site_cli(local_stack.base, "login", bob, "pw")[1]["zoobars"] == 13


def test_a_site_that_does_not_answer_is_exit_status_2(tmp_path):
    with socket.socket() as sock:          # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    rc, out = site_cli(f"http://127.0.0.1:{port}", "login", "nobody", "pw")
    assert rc == 2 and not out["ok"] and "127.0.0.1" in out["detail"], out
