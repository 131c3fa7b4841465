"""Helpers of the sandbox tests: an API stand-in and the site as the front end sees it."""

from __future__ import annotations

import fcntl
import itertools
import os
import time
from pathlib import Path

from zoobar.sandbox import UidMap
from zoobar.sandbox.runner import UID_FIRST, UID_LAST
from zoobar.services.profile import owner_key

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "profiles"


def echo_api(owner="owner", visitor="visitor"):
    """An API handler for runs without services: knows only who is who."""
    def handle(name, kwargs):
        return {"get_self": owner, "get_visitor": visitor}[name]
    return handle



class Site:
    """The stack as the front end sees it, plus a look behind the scenes."""

    _names = itertools.count()

    def __init__(self, stack):
        self.stack = stack
        self.auth = stack.client("auth", as_section="dynamic")
        self.bank = stack.client("bank", as_section="dynamic")
        self.store = stack.client("profilestore", as_section="dynamic")
        self.profile = stack.client("profile", as_section="dynamic", timeout=30)
        self.bank_for_profile = stack.client("bank", as_section="profile")
        self.tokens: dict[str, str] = {}

    def user(self, prefix: str = "u") -> str:
        """Register a fresh user (10 zoobars) and return their name."""
        name = f"{prefix}{next(self._names)}"
        self.tokens[name] = self.auth.call("register", username=name, password="pw-" + name)
        return name

    def set_profile(self, user: str, text: str) -> None:
        self.store.call("set_profile", username=user, token=self.tokens[user], text=text)

    def set_example(self, user: str, filename: str) -> None:
        self.set_profile(user, (PROFILES / filename).read_text())

    def view(self, owner: str, visitor: str) -> dict:
        return self.profile.call("run", user=owner, visitor=visitor)

    def balance(self, user: str) -> int:
        return self.bank.call("balance", username=user)

    def give(self, sender: str, recipient: str, amount: int) -> None:
        self.bank.call("transfer", sender=sender, recipient=recipient, amount=amount,
                       token=self.tokens[sender])

    @property
    def sandbox_root(self) -> Path:
        return self.stack.data_dir / "sandbox"

    def owner_key(self, user: str) -> str:
        """The key of ``user``'s sandbox directory: their account, as the service asks."""
        return owner_key(self.bank_for_profile.call("account_id", username=user))

    def owner_uid(self, user: str) -> int | None:
        """The uid the service gave ``user``'s profile runs, None before the first."""
        path = self.sandbox_root / "uids.sqlite"
        if not path.exists():           # the service makes its sandbox on first use
            return None
        return UidMap(str(path), UID_FIRST, UID_LAST).lookup(self.owner_key(user))

    def owner_dir(self, user: str) -> Path:
        uid = self.owner_uid(user)
        assert uid is not None, f"{user} has never run a profile"
        return self.sandbox_root / "owners" / str(uid)

    def wait_running(self, user: str, timeout: float = 15.0) -> None:
        """Until a run of ``user``'s profile holds its owner's lock."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            uid = self.owner_uid(user)
            if uid is not None and lock_is_held(self.sandbox_root / "locks" / str(uid)):
                return
            time.sleep(0.02)
        raise AssertionError(f"no run of {user}'s profile started within {timeout} s")

    def service_pid(self) -> int:
        return self.stack.sup.children["profile"].proc.pid



def lock_is_held(path: Path) -> bool:
    """Whether someone holds the flock on ``path`` (probing releases it at once)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)                    # also releases the lock if the probe got it
    return False


def must(result: dict, status: str = "ok") -> str:
    """The output of a run that must have ended with `status`."""
    assert result["status"] == status, result
    return result["output"]
