"""Concurrent transfers never lose or mint a zoobar, and every success is logged."""

from __future__ import annotations

import multiprocessing
import random
import time

from tests.app.helpers import unique
from zoobar import rpc

PROCESSES = 8
TRANSFERS_EACH = 70          # 560 in all
USERS = 10


def worker(conf_path: str, users: list[tuple[str, str]], seed: int, queue) -> None:
    rng = random.Random(seed)
    bank = rpc.Client("bank", conf_path, "dynamic")
    ok = refused = 0
    for _ in range(TRANSFERS_EACH):
        (sender, token), (recipient, _) = rng.sample(users, 2)
        try:
            bank.call("transfer", sender=sender, recipient=recipient,
                      amount=rng.randint(1, 6), token=token)
            ok += 1
        except rpc.RemoteError as err:
            assert err.type == rpc.REFUSED and "insufficient" in err.message, err
            refused += 1
    queue.put((ok, refused))


def test_concurrent_random_transfers_conserve_zoobars_and_log_every_success(local_stack):
    auth = local_stack.client("auth", "dynamic")
    users = []
    for _ in range(USERS):
        name = unique("conc")
        users.append((name, auth.call("register", username=name, password="pw")))
    names = [u[0] for u in users]
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(str(local_stack.conf_path), users, seed, queue))
             for seed in range(PROCESSES)]
    start = time.monotonic()
    for p in procs:
        p.start()
    results = [queue.get(timeout=240) for _ in procs]
    elapsed = time.monotonic() - start
    for p in procs:
        p.join(10)
        assert p.exitcode == 0
    successes = sum(ok for ok, _ in results)
    attempts = successes + sum(r for _, r in results)
    assert attempts == PROCESSES * TRANSFERS_EACH
    marks = ",".join("?" * USERS)
    balances = dict(local_stack.query("bank", f"SELECT username, zoobars FROM bank "
                                              f"WHERE username IN ({marks})", tuple(names)))
    assert sum(balances.values()) == 10 * USERS
    assert all(v >= 0 for v in balances.values())
    log = local_stack.query("transfer", f"SELECT sender, recipient, amount FROM transfer "
                                        f"WHERE sender IN ({marks})", tuple(names))
    assert len(log) == successes
    for name in names:
        net = (sum(a for s, r, a in log if r == name) - sum(a for s, r, a in log if s == name))
        assert balances[name] == 10 + net
    print(f"\n{attempts} transfers ({successes} succeeded) from {PROCESSES} processes in "
          f"{elapsed:.2f}s: {attempts / elapsed:.0f} transfers/s over RPC")
