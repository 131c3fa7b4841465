"""The profile API is served through rpc.Dispatcher: its callers= sets are
checked like any RPC method's (issue 10), by a real sandbox run."""

from __future__ import annotations

from zoobar import rpc
from zoobar.services.profile import SANDBOX_CALLER, ProfileApi


class WiderApi(ProfileApi):
    """The real profile API plus one method the sandbox is not among the callers of."""

    @rpc.method(callers={"dynamic"})
    def front_end_only(self) -> str:
        return "BREACH"


CALL = """#!python
try:
    print(api.call('front_end_only'))
except Exception as e:
    print('refused', e.kind)
print(api.call('get_self'), api.call('get_visitor'))
"""


def test_a_profile_api_method_not_for_the_sandbox_is_forbidden_to_a_profile(sandbox):
    r = sandbox.run("alice", CALL, WiderApi("alice", "bob").handler())
    assert r.output.splitlines() == [f"refused {rpc.FORBIDDEN}", "alice bob"], r


def test_every_profile_api_method_is_for_the_sandbox():
    methods = rpc.Dispatcher(ProfileApi("a", "b")).methods
    assert set(methods) == {"get_self", "get_visitor", "get_user_info", "get_xfers", "xfer"}
    assert all(m.callers == {SANDBOX_CALLER} for m in methods.values())


def test_profile_api_arguments_are_type_checked(sandbox):
    r = sandbox.run("alice", "#!python\ntry:\n    api.call('get_xfers', username=3)\n"
                             "except Exception as e:\n    print(e.kind)",
                    ProfileApi("alice", "bob").handler())
    assert r.output.strip() == rpc.TYPE_ERROR, r
