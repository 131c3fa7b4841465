"""Registration is no CPU lever (issue 12 item 7): a taken name is refused before
any hashing, and auth hashes one registration at a time with a short line
behind it; past that, a clear "busy" refusal."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.app.helpers import unique
from tests.app.test_lifecycle import RPC_CORE
from tests.stack import running_stack
from zoobar import passwords, rpc
from zoobar.services import auth


@pytest.fixture
def hashing_spy(tmp_path, monkeypatch):
    """Auth in this process on a database of its own, counting sweetword hashings."""
    monkeypatch.setenv("ZOOBAR_DB_DIR", str(tmp_path / "db"))
    calls = []
    real = passwords.hash_sweetwords

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(passwords, "hash_sweetwords", counted)
    return calls


def test_a_taken_name_is_refused_before_any_hashing(hashing_spy):
    with auth.cred_db.session() as s:
        s.add(auth.Cred(username="taken", password="x", salt="y", token=None))
    with pytest.raises(rpc.Refused, match="taken"):
        auth.Auth().register(username="taken", password="pw")
    assert hashing_spy == []


def test_a_lookalike_name_is_refused_before_any_hashing(hashing_spy):
    with auth.cred_db.session() as s:
        s.add(auth.Cred(username="alice", password="x", salt="y", token=None))
    with pytest.raises(rpc.Refused, match="looks too much like"):
        auth.Auth().register(username="\u0430lice", password="pw")      # Cyrillic а
    assert hashing_spy == []


def test_work_limit_runs_one_lets_some_wait_and_refuses_the_rest():
    limit = passwords.WorkLimit(running=1, waiting=2)
    release, started, outcomes = threading.Event(), [], []

    def job(i):
        try:
            with limit.slot():
                started.append(i)
                release.wait(10)
            outcomes.append("ran")
        except passwords.Busy:
            outcomes.append("busy")

    threads = [threading.Thread(target=job, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while outcomes.count("busy") < 3:
        assert time.monotonic() < deadline, outcomes
        time.sleep(0.01)
    assert len(started) == 1
    release.set()
    for t in threads:
        t.join(10)
    assert sorted(outcomes) == ["busy"] * 3 + ["ran"] * 3


def test_a_registration_flood_gets_busy_replies_and_logins_still_work(tmp_path):
    # 5 sweetwords at 100 000 iterations: a tenth of a second or more per registration
    # here, so the flood (sent at once) overlaps.
    with running_stack(tmp_path, sections=RPC_CORE,
                       env={"ZOOBAR_PBKDF2_ITERATIONS": "100000",
                            "ZOOBAR_HONEYWORDS": "5"}) as stack:
        client = stack.client("auth", "dynamic", timeout=60)
        client.call("register", username="bystander", password="pw")
        flood = 4 * (auth.REGISTRATIONS_RUNNING + auth.REGISTRATIONS_WAITING)

        def register(i):
            try:
                client.call("register", username=unique(f"flood{i}-"), password="pw")
                return "ok"
            except rpc.RemoteError as err:
                assert err.type == rpc.REFUSED and "busy" in err.message, err
                return "busy"

        with ThreadPoolExecutor(flood) as pool:
            results = pool.map(register, range(flood))
            time.sleep(0.5)                       # the flood is hashing now
            assert client.call("login", username="bystander", password="pw")
            results = list(results)
        assert results.count("busy") >= flood - 2 * (auth.REGISTRATIONS_RUNNING
                                                     + auth.REGISTRATIONS_WAITING)
        assert results.count("ok") >= auth.REGISTRATIONS_RUNNING + auth.REGISTRATIONS_WAITING


def test_a_registration_the_bank_cannot_open_leaves_no_account_behind(tmp_path):
    with running_stack(tmp_path, sections=["auth", "honeychecker"]) as stack:   # no bank
        client = stack.client("auth", "dynamic")
        with pytest.raises(rpc.RemoteError):
            client.call("register", username="halfmade", password="pw")
        assert stack.query("cred", "SELECT count(*) FROM cred") == [(0,)]
        assert stack.query("cred", "SELECT count(*) FROM name_skeleton") == [(0,)]
        with pytest.raises(rpc.RemoteError, match="login failed"):
            client.call("login", username="halfmade", password="pw")
