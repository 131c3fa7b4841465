"""The wasm and layered backends themselves (docs/wasm.md): the pinned module,
its one-time compilation, the backend choice, and escapes specific to
WebAssembly: host files outside the preopen, memory past the store limit,
time past the epoch deadline, a broken module or a malformed API message.

Each run here is a real one: the launcher, the wasmtime host, CPython for WASI.
The services' side is a plain API handler (helpers.echo_api); the same
attempts through the real services are the escape suite (test_escapes.py,
every backend).
"""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from tests.sandbox.helpers import echo_api
from tests.sandbox.wasm_helpers import WASM_CACHE
from zoobar.sandbox import ApiError, Sandbox
from zoobar.sandbox.backends import BACKENDS, make_sandbox
from zoobar.sandbox.wasm import LayeredSandbox, WasmLimits, WasmSandbox, runtime

MARK = runtime.API_MARK.decode("latin-1")


@pytest.fixture(scope="module", params=["wasm", "layered"])
def wasm_sandbox(request, tmp_path_factory):
    limits = WasmLimits(timeout=4.0, guest_memory=64 << 20)
    if request.param == "layered":
        limits.memory, limits.open_files = runtime.HOST_ADDRESS_SPACE, 64
    sb = make_sandbox(request.param, root=str(tmp_path_factory.mktemp(request.param)),
                      limits=limits, cache_dir=WASM_CACHE)
    yield sb
    sb.close()


def run(sb, code, api=None):
    return sb.run("owner", code, api or echo_api())


def test_the_runtime_is_the_pinned_cpython_3_12_build():
    data = runtime.wasm_path().read_bytes()
    assert hashlib.sha256(data).hexdigest() == runtime.WASM_SHA256
    assert runtime.WASM_SHA256 == "e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763"


def test_a_module_with_other_bytes_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / runtime.WASM_FILE
    fake.write_bytes(runtime.wasm_path().read_bytes()[:-1] + b"\x00")
    monkeypatch.setattr(runtime, "wasm_path", lambda: fake)
    with pytest.raises(runtime.RuntimeMissing, match="not the pinned"):
        runtime.compile_module(runtime.make_engine(), str(tmp_path / "cache"))
    assert not (tmp_path / "cache" / runtime.compiled_name()).exists()


def test_the_module_is_compiled_once_and_then_only_loaded(tmp_path):
    compiled, _ = runtime.compile_module(runtime.make_engine(), WASM_CACHE)
    before = compiled.stat().st_mtime_ns
    started = time.monotonic()
    sb = WasmSandbox(root=str(tmp_path / "sb"), cache_dir=WASM_CACHE)
    try:
        assert run(sb, "print(6 * 7)").output == "42\n"
    finally:
        sb.close()
    assert compiled.stat().st_mtime_ns == before
    assert time.monotonic() - started < 60      # compiling alone takes longer on this VM


def test_a_cache_others_may_write_is_not_used(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o777)
    os.chmod(cache, 0o777)
    with pytest.raises(runtime.RuntimeMissing, match="writable by it alone"):
        runtime.compile_module(runtime.make_engine(), str(cache))


def test_a_damaged_compiled_module_is_compiled_again(tmp_path, monkeypatch):
    # a tiny module stands in for CPython, so that compiling it takes no time
    import wasmtime
    tiny = tmp_path / "tiny.wasm"
    tiny.write_bytes(wasmtime.wat2wasm('(module (func (export "_start")))'))
    monkeypatch.setattr(runtime, "wasm_path", lambda: tiny)
    monkeypatch.setattr(runtime, "WASM_SHA256", hashlib.sha256(tiny.read_bytes()).hexdigest())
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    target = cache / runtime.compiled_name()
    target.write_bytes(b"\x7fELF not really a module")
    os.chmod(target, 0o600)
    module = runtime.load_module(runtime.make_engine(), str(cache))
    assert [e.name for e in module.exports] == ["_start"]
    assert not target.read_bytes().startswith(b"\x7fELF not")


def test_make_sandbox_picks_the_backend_by_name_or_environment(tmp_path, monkeypatch):
    assert BACKENDS == ("kernel", "wasm", "layered")
    monkeypatch.delenv("ZOOBAR_SANDBOX_BACKEND", raising=False)
    kernel = make_sandbox(root=str(tmp_path / "k"))
    assert type(kernel) is Sandbox
    kernel.close()
    monkeypatch.setenv("ZOOBAR_SANDBOX_BACKEND", "layered")
    monkeypatch.setenv("ZOOBAR_WASM_CACHE", WASM_CACHE)
    layered = make_sandbox(root=str(tmp_path / "l"))
    assert type(layered) is LayeredSandbox
    layered.close()
    with pytest.raises(ValueError, match="unknown sandbox backend 'docker'"):
        make_sandbox("docker")


# -- the guest's view ---------------------------------------------------------------

def test_the_guest_is_cpython_3_12_for_wasi_with_the_api_as_global_and_module(wasm_sandbox):
    r = run(wasm_sandbox, "import sys, api as m\n"
                          "print(sys.version.split()[0], sys.platform, m.call('get_self'),"
                          " api.call('get_visitor'), m is api)")
    assert (r.status, r.output) == ("ok", "3.12.0 wasi owner visitor True\n")


def test_a_refused_call_raises_in_the_guest_and_the_run_goes_on(wasm_sandbox):
    def api(name, kwargs):
        raise ApiError(f"no such profile API call: {name!r}")
    r = run(wasm_sandbox, "try:\n    api.call('get_token')\nexcept api.Error as e:\n"
                          "    print('refused:', e)\nprint('after')", api)
    assert r.output == "refused: no such profile API call: 'get_token'\nafter\n"


def test_files_persist_in_the_owners_directory_and_data(wasm_sandbox):
    code = ("import os\nos.makedirs('/data', exist_ok=True)\n"
            "n = int(open('/data/n').read()) if os.path.exists('/data/n') else 0\n"
            "open('/data/n', 'w').write(str(n + 1))\nopen('rel', 'a').write('x')\n"
            "print(n + 1, open('rel').read())")
    outputs = [run(wasm_sandbox, code).output for _ in range(2)]
    first = int(outputs[0].split()[0])
    assert outputs[1] == f"{first + 1} {'x' * (len(outputs[0].split()[1]) + 1)}\n"


def test_no_host_file_outside_the_preopen_is_reachable(wasm_sandbox):
    code = f"""
import os
seen = sorted(os.listdir('/'))
tries = ['/etc/passwd', '../../../../etc/passwd', '/proc/self/environ', '{WASM_CACHE}',
         '/usr/local/lib/python3.12/../../../../etc/passwd', '/dev/null', '//etc/passwd']
for path in tries:
    try:
        open(path, 'rb').read(1)
        print('BREACH', path)
    except OSError as e:
        pass
for target in ('/etc/passwd', '../../../../../etc/passwd'):
    try:
        os.symlink(target, 'ln')
        open('ln').read()
        print('BREACH symlink', target)
    except OSError as e:
        print('symlink refused', e.errno)
os.chdir('/')
try:
    os.chdir('..')
    print('BREACH chdir')
except OSError as e:
    print('chdir refused', e.errno)
print('cwd', os.getcwd(), seen)
"""
    r = run(wasm_sandbox, code)
    assert "BREACH" not in r.output, r.output
    assert r.output.count("symlink refused") == 2 and "chdir refused" in r.output
    seen = eval(r.output.split("cwd / ")[1])  # noqa: S307 - our own printed list
    assert set(seen) <= {"usr", "data", "ln", "rel", "n"}, seen


def test_memory_stops_at_the_store_limit_with_a_note(wasm_sandbox):
    r = run(wasm_sandbox, "chunks = []\nwhile True:\n    chunks.append(bytearray(1 << 20))")
    assert r.status == "error"
    assert "MemoryError" in r.output
    assert "[memory limit reached (64 MiB)]" in r.output
    assert run(wasm_sandbox, "print('next')").output == "next\n"


@pytest.mark.parametrize("code", [
    "while True:\n    pass",
    "import time\ntime.sleep(1000)",
    "import api\nwhile True:\n    try:\n        api.call('get_self')\n    except api.Error:\n        pass",
])
def test_a_guest_cannot_outlive_the_wall_clock(wasm_sandbox, code):
    started = time.monotonic()
    r = run(wasm_sandbox, code)
    assert (r.status, r.output) == ("timeout", "profile timed out (limit 4 s)")
    assert time.monotonic() - started < 4.0 + 6.0
    assert run(wasm_sandbox, "print('next')").output == "next\n"


def test_a_crashing_guest_ends_with_a_note(wasm_sandbox):
    r = run(wasm_sandbox, "import sys\nsys.setrecursionlimit(10**8)\nx = []\n"
                          "for _ in range(10**4):\n    x = [x]\nrepr(x)")
    assert r.status == "error"
    assert "profile crashed" in r.output or "RecursionError" in r.output, r.output
    assert run(wasm_sandbox, "print('next')").output == "next\n"


@pytest.mark.parametrize("request_bytes", [
    "b'garbage\\n'",                                # not JSON
    "b'[\"get_self\"]\\n'",                         # not [name, kwargs]
    "b'[1, {}]\\n'",                                # name not a string
    "b'x' * (2 << 20) + b'\\n'",                    # longer than a request line may be
    "b'\\xff\\xfe{\\n'",                            # not UTF-8
])
def test_a_malformed_api_message_gets_an_error_reply_and_harms_nothing(wasm_sandbox, request_bytes):
    code = f"""
import os
data = {MARK!r}.encode('latin-1') + {request_bytes}
while data:
    data = data[os.write(2, data):]
reply = b''
while not reply.endswith(b'\\n'):
    reply += os.read(0, 65536)
print('error' in reply.decode(), len(reply) < 1000)
"""
    calls = []
    r = run(wasm_sandbox, code, lambda name, kwargs: calls.append(name))
    assert (r.status, r.output) == ("ok", "True True\n"), r
    assert calls == []
    assert run(wasm_sandbox, "print(api.call('get_self'))").output == "owner\n"


def test_an_unfinished_api_request_or_stray_stderr_harms_nothing(wasm_sandbox):
    r = run(wasm_sandbox, f"import os\nos.write(2, b'plain text on stderr\\n')\n"
                          f"os.write(2, {MARK!r}.encode('latin-1') + b'[\"get_self\", ')\n")
    assert r.status == "ok" and "plain text on stderr" in r.output
    assert run(wasm_sandbox, "print(api.call('get_self'))").output == "owner\n"


def test_the_host_relays_no_longer_request_line_than_the_service_reads():
    from zoobar import wire
    assert runtime.API_LINE_MAX == wire.MAX_LINE


def test_every_wasm_escape_outcome_names_an_attempt_of_the_suite():
    from tests.sandbox.test_escapes import ATTEMPTS
    from tests.sandbox.wasm_helpers import LAYERED_OUTCOMES, WASM_OUTCOMES
    names = {a.name for a in ATTEMPTS}
    assert set(WASM_OUTCOMES) <= names and set(LAYERED_OUTCOMES) <= names
