"""The profile service: runs an owner's executable profile for a visitor.

``run(user, visitor)`` (callers: dynamic) reads ``user``'s profile from the
profile store (never from the caller, so a compromised front end cannot make
anyone's profile run other code), runs it in the sandbox (zoobar.sandbox) and
returns ``{"output": str, "status": "ok" | "timeout" | "error" | "busy"}``.
"busy" (output "profile busy, try again") comes at once when the owner or the
visitor already has as many views under way as allowed (``ViewBounds``), and
within about a second when the owner's profile is running and does not end.

The owner's sandbox directory is keyed on the account id the bank keeps
(``bank.account_id(user)``, issued by auth at registration), so a name that
is registered again never sees what an earlier account of that name left.
The service never calls auth (DESIGN §2).

The sandboxed code talks to ``ProfileApi`` (DESIGN §3), one instance per run,
over the run's private channel. This service holds no token and no password:
``xfer`` moves the owner's zoobars with the bank's ``profile_xfer``, which the
bank accepts from this service alone.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

from zoobar import rpc
from zoobar.sandbox import BUSY, ApiError, Sandbox
from zoobar.sandbox.backends import make_sandbox

EXECUTABLE_MARK = "#!python"
SANDBOX_CALLER = "sandbox"      # the "section" the profile's calls come from
VIEWS_PER_OWNER = 4             # views under way at once, defaults ($ZOOBAR_PROFILE_VIEWS_PER_*)
VIEWS_PER_VISITOR = 3


def _ask(target: str, method: str, **kwargs):
    """Another service's answer for the profile; its refusal or absence is the
    profile's refusal (the profile sees the message, the log no traceback)."""
    try:
        return rpc.client(target).call(method, **kwargs)
    except rpc.RemoteError as err:
        raise rpc.Refused(err.message) from None
    except rpc.RpcUnavailable as err:
        raise rpc.Refused(f"service unavailable: {err}") from None


class ProfileApi(rpc.Service):
    """What a running profile may ask, on behalf of its owner and visitor.

    Served on the run's private channel through ``rpc.Dispatcher`` like any RPC
    service, the caller being ``SANDBOX_CALLER``: a method not marked for it is
    refused."""

    name = "profile-api"

    def __init__(self, owner: str, visitor: str):
        self.owner, self.visitor = owner, visitor

    @rpc.method(callers={SANDBOX_CALLER})
    def get_self(self) -> str:
        return self.owner

    @rpc.method(callers={SANDBOX_CALLER})
    def get_visitor(self) -> str:
        return self.visitor

    @rpc.method(callers={SANDBOX_CALLER})
    def get_user_info(self, username: str) -> dict | None:
        try:
            zoobars = rpc.client("bank").call("balance", username=username)
        except rpc.RemoteError as err:
            if err.type == rpc.REFUSED:
                return None                 # no such user
            raise rpc.Refused(err.message) from None
        except rpc.RpcUnavailable as err:
            raise rpc.Refused(f"service unavailable: {err}") from None
        profile = _ask("profilestore", "get_profile", username=username)
        return {"username": username, "profile": profile, "zoobars": zoobars}

    @rpc.method(callers={SANDBOX_CALLER})
    def get_xfers(self, username: str) -> list:
        return _ask("bank", "get_log", username=username)

    @rpc.method(callers={SANDBOX_CALLER})
    def xfer(self, target: str, zoobars: int) -> None:
        # Always from the owner: the profile cannot name another sender.
        _ask("bank", "profile_xfer", owner=self.owner, recipient=target, amount=zoobars)

    def known(self) -> dict[str, str]:
        """The answers that are fixed for the run (methods without arguments):
        the sandbox hands them to the profile with its code, no round trip."""
        return {"get_self": self.get_self(), "get_visitor": self.get_visitor()}

    def handler(self):
        """The sandbox's API handler for this run: each call dispatched and
        checked (callers, arguments) like an RPC request from SANDBOX_CALLER."""
        dispatcher = rpc.Dispatcher(self)

        def handle(name: str, kwargs: dict):
            try:
                return rpc.unpack(dispatcher.dispatch(name, kwargs, SANDBOX_CALLER), self.name)
            except rpc.RemoteError as err:
                raise ApiError(err.message, err.type) from None

        return handle


def owner_key(account_id: str) -> str:
    """The sandbox's key for an account's directory (uid map), never a bare name:
    the prefix keeps it apart from the names that keyed directories before."""
    return "account:" + account_id


def _bound_from_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"${name} must be a whole number of views, at least 1 (got {raw!r})")
    return int(raw)


class ViewBounds:
    """How many views may be under way at once for one owner and for one visitor.

    A view past either bound is answered "busy" at once: a flood of views of
    one profile, or by one visitor, holds a few of the front end's threads, not
    all of them (issue 12, item 4)."""

    def __init__(self, per_owner: int, per_visitor: int):
        self.per_owner, self.per_visitor = per_owner, per_visitor
        self._lock = threading.Lock()
        self._owners: dict[str, int] = {}
        self._visitors: dict[str, int] = {}

    @classmethod
    def from_env(cls) -> ViewBounds:
        return cls(_bound_from_env("ZOOBAR_PROFILE_VIEWS_PER_OWNER", VIEWS_PER_OWNER),
                   _bound_from_env("ZOOBAR_PROFILE_VIEWS_PER_VISITOR", VIEWS_PER_VISITOR))

    @contextlib.contextmanager
    def admit(self, owner: str, visitor: str) -> Iterator[bool]:
        """Yields whether this view may go ahead; counted until the block ends."""
        with self._lock:
            admitted = (self._owners.get(owner, 0) < self.per_owner
                        and self._visitors.get(visitor, 0) < self.per_visitor)
            if admitted:
                self._owners[owner] = self._owners.get(owner, 0) + 1
                self._visitors[visitor] = self._visitors.get(visitor, 0) + 1
        try:
            yield admitted
        finally:
            if admitted:
                with self._lock:
                    for counts, key in ((self._owners, owner), (self._visitors, visitor)):
                        counts[key] -= 1
                        if not counts[key]:
                            del counts[key]


class Profile(rpc.Service):
    name = "profile"

    def __init__(self, sandbox: Sandbox | None = None, bounds: ViewBounds | None = None):
        self._sandbox = sandbox
        self._sandbox_lock = threading.Lock()
        self.bounds = bounds or ViewBounds.from_env()

    def sandbox(self) -> Sandbox:
        # Made on first use, so that a misconfigured host gives clear error
        # replies instead of a service that cannot start.
        with self._sandbox_lock:
            if self._sandbox is None:
                self._sandbox = make_sandbox()     # $ZOOBAR_SANDBOX_BACKEND
            return self._sandbox

    @rpc.method(callers={"dynamic"})
    def run(self, user: str, visitor: str) -> dict:
        with self.bounds.admit(user, visitor) as admitted:
            if not admitted:
                return {"output": BUSY, "status": "busy"}
            return self._run(user, visitor)

    def _run(self, user: str, visitor: str) -> dict:
        # The owner's directory belongs to the account, not to the name: a name
        # registered again (after a db/ wipe) is a new account and starts empty.
        # Asked of the bank while the profile store is asked for the code: the
        # two round trips of a view overlap.
        account_id = rpc.submit(rpc.client("bank").call, "account_id", username=user)
        code = rpc.client("profilestore").call("get_profile", username=user)
        if not code.startswith(EXECUTABLE_MARK):
            return {"output": "", "status": "error"}
        account = account_id.result()
        if not account:
            return {"output": "profile could not run (no such account)", "status": "error"}
        api = ProfileApi(user, visitor)
        try:
            result = self.sandbox().run(owner_key(account), code, api.handler(), api.known())
        except Exception as err:  # noqa: BLE001 - the sandbox could not start: say so, keep serving
            print(f"profile: sandbox failure for {user!r}: {err}", file=sys.stderr, flush=True)
            return {"output": "profile could not run (sandbox failure)", "status": "error"}
        return {"output": result.output, "status": result.status}


def make_service() -> Profile:
    return Profile()
