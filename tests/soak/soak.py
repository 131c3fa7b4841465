#!/usr/bin/env python3
"""Load and invariants: N virtual users for T seconds, then check the site is still right.

Each virtual user registers, then, until time is up, does a realistic mix with a
short think time: view a user's page (half of those owners have an executable
hello-user profile, so the sandbox runs), send 1-3 zoobars to someone, look at
the home page, log out and back in. Every response is recorded. At the end:

  1. zero 5xx responses and zero failed requests (timeouts, resets);
  2. the sum of all balances is exactly 10 x the number of users;
  3. the transfer log holds exactly the transfers the site said it made
     (the same multiset of sender, recipient, amount);
  4. every service process is the one that started (no crash-restart): the
     supervisor's processes and the front end's gunicorn workers.

By default it runs against a local stack of its own (tests/stack.py, every
section, the sandbox included: needs root):

    python -m tests.soak.soak [--users 50] [--seconds 60]

The pytest test (tests/soak/test_soak.py, ``make test-soak``) is the short version.
"""

from __future__ import annotations

import argparse
import collections
import html
import random
import re
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.stack import Stack, running_stack  # noqa: E402

HOME = "/zoobar/index.cgi/"
INITIAL = 10
HELLO = (ROOT / "profiles" / "hello-user.py").read_text()
SENT = re.compile(r"Sent (\d+) zoobars to ([^<.]+)\.")
REQUEST_TIMEOUT = 30
# (weight, action) of the mix
MIX = (("view_user", 45), ("transfer", 30), ("home", 15), ("relogin", 5), ("view_self", 5))


@dataclass
class Tally:
    """What the virtual users saw, merged under a lock."""
    statuses: collections.Counter = field(default_factory=collections.Counter)
    actions: collections.Counter = field(default_factory=collections.Counter)
    failures: list = field(default_factory=list)       # (action, description)
    transfers: collections.Counter = field(default_factory=collections.Counter)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def server_errors(self) -> int:
        return sum(n for code, n in self.statuses.items() if code >= 500)


class VirtualUser:
    def __init__(self, base: str, name: str, everyone: list[str], tally: Tally,
                 deadline: float, seed: int):
        self.base, self.name, self.everyone, self.tally = base, name, everyone, tally
        self.deadline = deadline
        self.rng = random.Random(seed)
        self.web = requests.Session()
        self.password = "pw-" + name

    def url(self, path: str) -> str:
        return self.base + HOME + path

    def request(self, action: str, method: str, path: str, **kw) -> requests.Response | None:
        try:
            r = self.web.request(method, self.url(path), timeout=REQUEST_TIMEOUT, **kw)
        except requests.RequestException as err:
            with self.tally.lock:
                self.tally.failures.append((action, f"{type(err).__name__}: {err}"))
            return None
        with self.tally.lock:
            self.tally.statuses[r.status_code] += 1
            self.tally.actions[action] += 1
            if r.status_code >= 500:
                self.tally.failures.append((action, f"{r.status_code} {r.text[-200:]}"))
        return r

    def login(self, register: bool) -> bool:
        button = {"submit_registration": "Register"} if register else {"submit_login": "Log in"}
        r = self.request("register" if register else "login", "POST", "login", data={
            "login_username": self.name, "login_password": self.password,
            "nexturl": HOME, **button})
        ok = r is not None and f"Log out {self.name}" in r.text
        if r is not None and not ok:
            with self.tally.lock:
                self.tally.failures.append(("login", f"not logged in: {r.text[-200:]}"))
        return ok

    # -- the mix ---------------------------------------------------------------
    def view_user(self) -> None:
        self.request("view_user", "GET", f"users?user={self.rng.choice(self.everyone)}")

    def view_self(self) -> None:
        self.request("view_user", "GET", f"users?user={self.name}")

    def home(self) -> None:
        self.request("home", "GET", "")

    def transfer(self) -> None:
        recipient = self.rng.choice([u for u in self.everyone if u != self.name])
        amount = self.rng.randint(1, 3)
        r = self.request("transfer", "POST", "transfer", data={
            "recipient": recipient, "zoobars": str(amount), "submission": "Send"})
        if r is None or r.status_code != 200:
            return
        sent = SENT.search(r.text)
        with self.tally.lock:
            if sent and (int(sent.group(1)), html.unescape(sent.group(2))) == (amount, recipient):
                self.tally.transfers[(self.name, recipient, amount)] += 1
            elif "Transfer failed: insufficient funds" in r.text:
                self.tally.refused += 1
            else:
                self.tally.failures.append(("transfer", f"unexpected page: {r.text[-300:]}"))

    def relogin(self) -> None:
        self.request("logout", "GET", "logout")
        self.login(register=False)

    def run(self) -> None:
        actions = [getattr(self, name) for name, _ in MIX]
        weights = [w for _, w in MIX]
        while time.monotonic() < self.deadline:
            self.rng.choices(actions, weights)[0]()
            time.sleep(self.rng.uniform(0, 0.05))


def run_load(base: str, users: int, seconds: float, seed: int = 1) -> tuple[Tally, list[str]]:
    """Register ``users`` users (every other one with a hello-user profile), then let
    them loose for ``seconds``; what they saw and their names."""
    tag = uuid.uuid4().hex[:6]
    names = [f"soak{tag}u{i}" for i in range(users)]
    tally = Tally()
    vus = [VirtualUser(base, n, names, tally, 0, seed + i) for i, n in enumerate(names)]

    def sign_up(vu: VirtualUser) -> None:
        if vu.login(register=True) and names.index(vu.name) % 2 == 0:
            vu.request("profile", "POST", "", data={"profile_update": HELLO,
                                                    "profile_submit": "Save"})

    threads = [threading.Thread(target=sign_up, args=(vu,)) for vu in vus]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.monotonic() + seconds
    for vu in vus:
        vu.deadline = deadline
    threads = [threading.Thread(target=vu.run) for vu in vus]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return tally, names


# -- invariants on a local stack --------------------------------------------------

def service_pids(stack: Stack) -> dict[str, object]:
    """Each section's process id, and the front end's gunicorn workers."""
    pids: dict[str, object] = {}
    for name, child in stack.sup.children.items():
        pids[name] = child.proc.pid if child.proc else None
        if name == "dynamic" and child.proc:
            pids["dynamic workers"] = sorted(_children(child.proc.pid))
    return pids


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def check_invariants(stack: Stack, tally: Tally, names: list[str],
                     pids_before: dict) -> list[str]:
    """What is wrong with the site after the load (empty: all invariants hold)."""
    problems = []
    if tally.server_errors():
        problems.append(f"{tally.server_errors()} 5xx responses")
    if tally.failures:
        problems.append(f"{len(tally.failures)} failed requests, e.g. {tally.failures[:3]}")
    marks = ",".join("?" * len(names))
    balances = stack.query("bank", f"SELECT count(*), sum(zoobars) FROM bank "
                                   f"WHERE username IN ({marks})", tuple(names))[0]
    if balances != (len(names), INITIAL * len(names)):
        problems.append(f"{balances[0]} accounts hold {balances[1]} zoobars; expected "
                        f"{len(names)} holding {INITIAL * len(names)}")
    logged = collections.Counter(stack.query(
        "transfer", f"SELECT sender, recipient, amount FROM transfer WHERE sender IN ({marks})",
        tuple(names)))
    if logged != tally.transfers:
        problems.append(f"transfer log differs from the successful transfers: "
                        f"only logged {dict(logged - tally.transfers)}, "
                        f"only reported {dict(tally.transfers - logged)}")
    restarts = {n: c.restarts for n, c in stack.sup.children.items() if c.restarts}
    if restarts:
        problems.append(f"services restarted: {restarts}")
    after = service_pids(stack)
    changed = {k: (v, after.get(k)) for k, v in pids_before.items() if v != after.get(k)}
    if changed:
        problems.append(f"service processes changed (before, after): {changed}")
    return problems


def summary(tally: Tally, seconds: float) -> str:
    total = sum(tally.statuses.values())
    return (f"{total} requests in {seconds:.0f} s ({total / seconds:.1f}/s); "
            f"statuses {dict(sorted(tally.statuses.items()))}; actions {dict(tally.actions)}; "
            f"{sum(tally.transfers.values())} transfers made, {tally.refused} refused "
            f"(insufficient funds)")


def soak(users: int, seconds: float, tmp: Path) -> tuple[list[str], str]:
    with running_stack(tmp) as stack:
        before = service_pids(stack)
        tally, names = run_load(stack.base, users, seconds)
        problems = check_invariants(stack, tally, names, before)
        return problems, summary(tally, seconds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        problems, text = soak(args.users, args.seconds, Path(tmp))
    print(f"soak: {args.users} users, {args.seconds:.0f} s: {text}")
    for p in problems:
        print(f"soak: FAILED: {p}")
    if not problems:
        print("soak: every invariant holds (no 5xx, balances sum to 10 x users, transfer log "
              "= successful transfers, no service restarted)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
