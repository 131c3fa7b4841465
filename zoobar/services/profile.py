"""The profile service: runs an owner's executable profile for a visitor.

``run(user, visitor)`` (callers: dynamic) reads ``user``'s profile from the
profile store (never from the caller, so a compromised front end cannot make
anyone's profile run other code), runs it in the sandbox (zoobar.sandbox) and
returns ``{"output": str, "status": "ok" | "timeout" | "error"}``.

The sandboxed code talks to ``ProfileApi`` (DESIGN §3), one instance per run,
over the run's private channel. This service holds no token and no password:
``xfer`` moves the owner's zoobars with the bank's ``profile_xfer``, which the
bank accepts from this service alone.
"""

from __future__ import annotations

import sys
import threading

from zoobar import rpc
from zoobar.sandbox import ApiError, Sandbox
from zoobar.sandbox.backends import make_sandbox

EXECUTABLE_MARK = "#!python"
SANDBOX_CALLER = "sandbox"      # the "section" the profile's calls come from


class ProfileApi(rpc.Service):
    """What a running profile may ask, on behalf of its owner and visitor."""

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
            raise
        profile = rpc.client("profilestore").call("get_profile", username=username)
        return {"username": username, "profile": profile, "zoobars": zoobars}

    @rpc.method(callers={SANDBOX_CALLER})
    def get_xfers(self, username: str) -> list:
        return rpc.client("bank").call("get_log", username=username)

    @rpc.method(callers={SANDBOX_CALLER})
    def xfer(self, target: str, zoobars: int) -> None:
        # Always from the owner: the profile cannot name another sender.
        rpc.client("bank").call("profile_xfer", owner=self.owner, recipient=target,
                                amount=zoobars)

    def handler(self):
        """The sandbox's API handler for this run: checked like any RPC call."""
        methods = self.rpc_methods()

        def handle(name: str, kwargs: dict):
            method = methods.get(name)
            if method is None:
                raise ApiError(f"no such profile API call: {name!r}")
            try:
                method.check_args(kwargs)
                return method.bound(**kwargs)
            except TypeError as err:
                raise ApiError(f"{name}: {err}") from None
            except rpc.RemoteError as err:
                raise ApiError(err.message) from None
            except rpc.RpcUnavailable as err:
                raise ApiError(f"service unavailable: {err}") from None

        return handle


class Profile(rpc.Service):
    name = "profile"

    def __init__(self, sandbox: Sandbox | None = None):
        self._sandbox = sandbox
        self._sandbox_lock = threading.Lock()

    def sandbox(self) -> Sandbox:
        # Made on first use, so that a misconfigured host gives clear error
        # replies instead of a service that cannot start.
        with self._sandbox_lock:
            if self._sandbox is None:
                self._sandbox = make_sandbox()     # $ZOOBAR_SANDBOX_BACKEND
            return self._sandbox

    @rpc.method(callers={"dynamic"})
    def run(self, user: str, visitor: str) -> dict:
        code = rpc.client("profilestore").call("get_profile", username=user)
        if not code.startswith(EXECUTABLE_MARK):
            return {"output": "", "status": "error"}
        try:
            result = self.sandbox().run(user, code, ProfileApi(user, visitor).handler())
        except Exception as err:  # noqa: BLE001 - the sandbox could not start: say so, keep serving
            print(f"profile: sandbox failure for {user!r}: {err}", file=sys.stderr, flush=True)
            return {"output": "profile could not run (sandbox failure)", "status": "error"}
        return {"output": result.output, "status": result.status}


def make_service() -> Profile:
    return Profile()
