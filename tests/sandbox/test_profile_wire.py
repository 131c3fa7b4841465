"""The profile's API channel under hostile input (issue 12, items 9 and 11):
whatever a profile writes on fd 3, it gets an error reply or nothing, the
run's API keeps working, and only a complete line is a call."""

from __future__ import annotations

import textwrap

from zoobar import wire


def recording_api(calls: list):
    """An API handler that records every call it answers."""
    def handle(name, kwargs):
        calls.append((name, kwargs))
        return {"get_self": "owner"}.get(name, len(calls))
    return handle


def run(sandbox, code: str, calls: list | None = None):
    calls = [] if calls is None else calls
    return sandbox.run("owner", "#!python\n" + textwrap.dedent(code), recording_api(calls))


READ_REPLY = """
def reply():
    data = b''
    while not data.endswith(b'\\n'):
        chunk = os.read(3, 65536)
        if not chunk:
            return data
        data += chunk
    return data
"""


def test_deep_json_on_the_api_channel_gets_an_error_reply_and_the_api_keeps_working(sandbox):
    r = run(sandbox, "import os\n" + READ_REPLY + """
os.write(3, b'[' * 100000 + b'\\n')
print(reply().decode().strip())
print(api.call('get_self'))
""")
    assert r.status == "ok", r
    first, second = r.output.splitlines()
    assert wire.decode(first.encode())["error"]["type"] == wire.BAD_REQUEST
    assert second == "owner"


def test_json_nested_past_the_bound_is_refused_below_it_answered(sandbox):
    calls = []
    r = run(sandbox, f"""
try:
    api.call('deep', v={'[' * (wire.MAX_DEPTH + 1)}{']' * (wire.MAX_DEPTH + 1)})
except Exception as e:
    print(type(e).__name__, e.kind)
print(api.call('shallow', v={'[' * (wire.MAX_DEPTH - 3)}{']' * (wire.MAX_DEPTH - 3)}))
""", calls)
    assert r.output.splitlines() == ["Error BadRequest", "1"], r
    assert [name for name, _ in calls] == ["shallow"]


def test_an_api_line_without_its_newline_is_not_a_call_when_the_profile_half_closes(sandbox):
    calls = []
    r = run(sandbox, "import os, socket\n" + READ_REPLY + """
os.write(3, b'["first", {}]\\n["cut short", {}]')
channel = socket.socket(fileno=3)   # kept: its collection would close fd 3
channel.shutdown(socket.SHUT_WR)
print(reply().decode().strip())
""", calls)
    assert r.status == "ok", r
    assert r.output.strip() == '{"ok":1}'
    assert [name for name, _ in calls] == ["first"]


def test_an_oversized_api_line_gets_too_large_and_the_channel_resynchronises(sandbox):
    calls = []
    r = run(sandbox, "import os\n" + READ_REPLY + f"""
os.write(3, b'["big", {{"s": "' + b'x' * {wire.MAX_LINE + 10} + b'"}}]\\n')
print(reply().decode().strip())
print(api.call('get_self'))
""", calls)
    first, second = r.output.splitlines()
    assert wire.decode(first.encode())["error"]["type"] == wire.TOO_LARGE
    assert second == "owner"
    assert [name for name, _ in calls] == ["get_self"]


def test_a_handler_bug_is_an_internal_error_reply_and_the_api_keeps_working(sandbox):
    def handle(name, kwargs):
        if name == "bug":
            raise KeyError("oops")
        return "fine"
    r = sandbox.run("owner", "#!python\ntry:\n    api.call('bug')\nexcept Exception as e:\n"
                             "    print(e.kind, e)\nprint(api.call('other'))", handle)
    assert r.output.splitlines() == ["InternalError KeyError: 'oops'", "fine"], r
