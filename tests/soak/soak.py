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
section, the sandbox included: needs root), reading its databases and its
supervisor; with ``--url`` against the deployed site, reading the users' pages
and the service processes the host sees in /proc:

    python -m tests.soak.soak [--users 50] [--seconds 60] [--url http://127.0.0.1:8888]

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

from tests.stack import ROOT, Stack, running_stack
from zoolab.site import SiteClient, log_rows, zoobars_on_users_page

INITIAL = 10
HELLO = (ROOT / "profiles" / "hello-user.py").read_text()
SENT = re.compile(r"Sent (\d+) zoobars to ([^<.]+)\.")
REQUEST_TIMEOUT = 30
# Registration hashes every sweetword with full-strength PBKDF2 on a deployed site
# (seconds of CPU each): users sign up a few at a time, then the mix starts.
SIGN_UPS_AT_ONCE = 2
# (VirtualUser method, weight) of the mix
MIX = (("view_user", 45), ("send", 30), ("view_home", 15), ("relogin", 5), ("view_self", 5))


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


class VirtualUser(SiteClient):
    """One visitor (zoolab.site's client) whose every request is tallied: status,
    action, and any failure (an exception or a 5xx) instead of raising."""

    def __init__(self, base: str, name: str, everyone: list[str], tally: Tally,
                 deadline: float, seed: int):
        super().__init__(base, timeout=REQUEST_TIMEOUT)
        self.name, self.everyone, self.tally = name, everyone, tally
        self.deadline = deadline
        self.rng = random.Random(seed)
        self.password = "pw-" + name
        self.action = "request"

    def act(self, action: str, call, *args, **kwargs) -> requests.Response | None:
        """``call`` (a SiteClient method) counted as ``action``."""
        self.action = action
        return call(*args, **kwargs)

    def request(self, method: str, path: str, **kw) -> requests.Response | None:
        try:
            r = super().request(method, path, **kw)
        except requests.RequestException as err:
            with self.tally.lock:
                self.tally.failures.append((self.action, f"{type(err).__name__}: {err}"))
            return None
        with self.tally.lock:
            self.tally.statuses[r.status_code] += 1
            self.tally.actions[self.action] += 1
            if r.status_code >= 500:
                self.tally.failures.append((self.action, f"{r.status_code} {r.text[-200:]}"))
        return r

    def sign_in(self, register: bool) -> bool:
        r = self.act("register" if register else "login", self.login, self.name, self.password,
                     register=register)
        ok = r is not None and f"Log out {self.name}" in r.text
        if r is not None and not ok:
            with self.tally.lock:
                self.tally.failures.append(("login", f"not logged in: {r.text[-200:]}"))
        return ok

    # -- the mix ---------------------------------------------------------------
    def view_user(self) -> None:
        self.act("view_user", self.users, self.rng.choice(self.everyone))

    def view_self(self) -> None:
        self.act("view_user", self.users, self.name)

    def view_home(self) -> None:
        self.act("home", self.home)

    def send(self) -> None:
        recipient = self.rng.choice([u for u in self.everyone if u != self.name])
        amount = self.rng.randint(1, 3)
        r = self.act("transfer", self.transfer, recipient, amount)
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
        self.act("logout", self.logout)
        self.sign_in(register=False)

    def run(self) -> None:
        actions = [getattr(self, name) for name, _ in MIX]
        weights = [w for _, w in MIX]
        while time.monotonic() < self.deadline:
            self.rng.choices(actions, weights)[0]()
            time.sleep(self.rng.uniform(0, 0.05))


def run_load(base: str, users: int, seconds: float,
             seed: int = 1) -> tuple[Tally, list[str], list[VirtualUser]]:
    """Register ``users`` users (every other one with a hello-user profile), then let
    them loose for ``seconds``; what they saw, their names and the users themselves."""
    tag = uuid.uuid4().hex[:6]
    names = [f"soak{tag}u{i}" for i in range(users)]
    tally = Tally()
    vus = [VirtualUser(base, n, names, tally, 0, seed + i) for i, n in enumerate(names)]

    signing_up = threading.Semaphore(SIGN_UPS_AT_ONCE)

    def sign_up(vu: VirtualUser) -> None:
        with signing_up:
            registered = vu.sign_in(register=True)
        if registered and names.index(vu.name) % 2 == 0:
            vu.act("profile", vu.set_profile, HELLO)

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
    return tally, names, vus


# -- what the invariants read: a local stack, or the deployed site -------------------

class LocalSite:
    """A stack of our own: its databases and its supervisor's processes."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.base = stack.base

    def balances(self, names: list[str]) -> tuple[int, int]:
        """(accounts, zoobars) among ``names``."""
        marks = ",".join("?" * len(names))
        count, total = self.stack.query("bank", f"SELECT count(*), sum(zoobars) FROM bank "
                                                f"WHERE username IN ({marks})", tuple(names))[0]
        return count, total or 0

    def transfers(self, names: list[str]) -> collections.Counter:
        """The logged (sender, recipient, amount) of transfers sent by ``names``."""
        marks = ",".join("?" * len(names))
        return collections.Counter(self.stack.query(
            "transfer", f"SELECT sender, recipient, amount FROM transfer "
                        f"WHERE sender IN ({marks})", tuple(names)))

    def processes(self) -> dict[str, object]:
        """Each section's process id (and restarts), and the front end's gunicorn workers."""
        pids: dict[str, object] = {}
        for name, child in self.stack.sup.children.items():
            pids[name] = (child.proc.pid if child.proc else None, child.restarts)
            if name == "dynamic" and child.proc:
                pids["dynamic workers"] = sorted(_children(child.proc.pid))
        return pids


LOG_LIMIT = 1000          # the bank's get_log returns at most this many rows


class DeployedSite:
    """The provisioned site, read like a visitor reads it (users pages), and its
    service processes as the host sees them (/proc: no container is touched)."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self._pages: dict[str, str] = {}

    def _page(self, viewer: VirtualUser, name: str) -> str:
        r = SiteClient(self.base, REQUEST_TIMEOUT, session=viewer.http).users(name)
        r.raise_for_status()
        return r.text

    def read(self, viewer: VirtualUser, names: list[str]) -> None:
        self._pages = {name: self._page(viewer, name) for name in names}

    def balances(self, names: list[str]) -> tuple[int, int]:
        found = [zoobars_on_users_page(self._pages[n]) for n in names]
        return sum(1 for z in found if z is not None), sum(z for z in found if z is not None)

    def transfers(self, names: list[str]) -> collections.Counter:
        logged = collections.Counter()
        for name in names:
            rows = [r for r in log_rows(self._pages[name]) if len(r) == 4 and r[3].isdigit()]
            if len(rows) >= LOG_LIMIT:
                raise RuntimeError(f"{name}'s log is cut at {LOG_LIMIT} rows: run a shorter soak")
            logged.update((s, r, int(a)) for _, s, r, a in rows if s == name)
        return logged

    def processes(self) -> dict[str, object]:
        """(pid, start time) of every long-lived service process in this host's own
        containers (not in containers nested inside them, such as Molecule's fleet;
        not the sandbox's runs or CGI children, which come and go)."""
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cgroups = (entry / "cgroup").read_text()
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                start = (entry / "stat").read_text().rsplit(")", 1)[1].split()[19]
            except OSError:
                continue
            container = _own_container(cgroups)
            text = " ".join(a.decode(errors="replace") for a in argv if a)
            if container and SERVICE_PROCESS.search(text) and not TRANSIENT.search(text):
                found[f"{container}: {entry.name} {text[-50:]}"] = start
        return found


SERVICE_PROCESS = re.compile(r"zoobar|zookd2|zookfs")
TRANSIENT = re.compile(r"sandbox/launcher\.py|index\.cgi")
_PAYLOAD = re.compile(r":/lxc\.payload\.([^/\n]+)(/[^\n]*)?$", re.M)


def _own_container(cgroups: str) -> str | None:
    """The container of this host that holds the process, from /proc/PID/cgroup."""
    for m in _PAYLOAD.finditer(cgroups):
        if "lxc.payload." not in (m.group(2) or ""):
            return m.group(1)
    return None


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def check_invariants(site, tally: Tally, names: list[str], before: dict) -> list[str]:
    """What is wrong with the site after the load (empty: all invariants hold)."""
    problems = []
    if tally.server_errors():
        problems.append(f"{tally.server_errors()} 5xx responses")
    if tally.failures:
        problems.append(f"{len(tally.failures)} failed requests, e.g. {tally.failures[:3]}")
    count, total = site.balances(names)
    if (count, total) != (len(names), INITIAL * len(names)):
        problems.append(f"{count} accounts hold {total} zoobars; expected "
                        f"{len(names)} holding {INITIAL * len(names)}")
    logged = site.transfers(names)
    if logged != tally.transfers:
        problems.append(f"transfer log differs from the successful transfers: "
                        f"only logged {dict(logged - tally.transfers)}, "
                        f"only reported {dict(tally.transfers - logged)}")
    after = site.processes()
    changed = {k: (v, after.get(k)) for k, v in before.items() if v != after.get(k)}
    if changed:
        problems.append(f"service processes changed (before, after): {changed}")
    return problems


def summary(tally: Tally, seconds: float) -> str:
    total = sum(tally.statuses.values())
    return (f"{total} requests in {seconds:.0f} s ({total / seconds:.1f}/s); "
            f"statuses {dict(sorted(tally.statuses.items()))}; actions {dict(tally.actions)}; "
            f"{sum(tally.transfers.values())} transfers made, {tally.refused} refused "
            f"(insufficient funds)")


def soak(users: int, seconds: float, tmp: Path, url: str | None = None
         ) -> tuple[list[str], str]:
    if url:
        site = DeployedSite(url)
        before = site.processes()
        if not before:
            return ["no service processes in this host's containers"], ""
        tally, names, vus = run_load(site.base, users, seconds)
        try:
            site.read(vus[0], names)
        except requests.RequestException as err:
            return [f"cannot read the users' pages after the load: {err}"], \
                summary(tally, seconds)
        return check_invariants(site, tally, names, before), summary(tally, seconds)
    with running_stack(tmp) as stack:
        site = LocalSite(stack)
        before = site.processes()
        tally, names, _ = run_load(stack.base, users, seconds)
        return check_invariants(site, tally, names, before), summary(tally, seconds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--url", help="the deployed site (e.g. http://127.0.0.1:8888) instead of "
                                  "a local stack of our own")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        problems, text = soak(args.users, args.seconds, Path(tmp), args.url)
    where = args.url or "a local stack"
    print(f"soak: {args.users} users, {args.seconds:.0f} s against {where}: {text}")
    for p in problems:
        print(f"soak: FAILED: {p}")
    if not problems:
        print("soak: every invariant holds (no 5xx, balances sum to 10 x users, transfer log "
              "= successful transfers, no service restarted)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
