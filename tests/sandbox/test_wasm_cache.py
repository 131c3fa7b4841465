"""The compiled module's cache (docs/wasm.md, "Compiled once"): where it lives,
that it is compiled once however many stacks start together, and its trust
model. A serialized wasmtime module is native code that the profile service
maps and runs, so it must only ever load a file that it or root wrote, never
one that a profile's uid (a jailed profile, or a guest that escaped wasmtime)
could have written or swapped.

A tiny module stands in for CPython here (compiling it takes milliseconds;
compiling CPython 15-70 s): the code under test is the same.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest
import wasmtime

from zoobar.sandbox.runner import UID_FIRST
from zoobar.sandbox.wasm import cache_dir_for, prepare, runtime
from zoolab import local

PROFILE_UID = UID_FIRST + 7          # a uid the sandbox gives owners' profiles
OURS = '(module (func (export "_start")))'
PLANTED = '(module (func (export "_start")) (func (export "planted")))'


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """The pinned module is a tiny one for this test (its hash pinned too)."""
    wasm = tmp_path / "tiny.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(OURS))
    monkeypatch.setattr(runtime, "wasm_path", lambda: wasm)
    monkeypatch.setattr(runtime, "WASM_SHA256", hashlib.sha256(wasm.read_bytes()).hexdigest())
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    return cache


def plant(cache, uid, mode=0o644):
    """A valid compiled module that is not ours, where ours belongs."""
    target = cache / runtime.compiled_name()
    target.write_bytes(wasmtime.Module(runtime.make_engine(), wasmtime.wat2wasm(PLANTED)).serialize())
    os.chown(target, uid, uid)
    os.chmod(target, mode)
    return target


def exports(module):
    return sorted(e.name for e in module.exports)


@pytest.mark.parametrize("uid, mode", [(PROFILE_UID, 0o644), (os.geteuid(), 0o666),
                                       (os.geteuid(), 0o620)],
                         ids=["a profile's uid wrote it", "anyone may write it",
                              "its group may write it"])
def test_a_compiled_module_someone_else_could_write_is_never_loaded(tiny, uid, mode):
    planted = plant(tiny, uid, mode)
    module = runtime.load_module(runtime.make_engine(), str(tiny))
    assert exports(module) == ["_start"]        # ours, compiled again: not the planted one
    st = planted.stat()
    assert (st.st_uid, st.st_mode & 0o777) == (os.geteuid(), 0o600)


def test_a_compiled_module_root_or_we_wrote_is_loaded_as_it_is(tiny):
    planted = plant(tiny, 0, 0o644)             # root's, as provisioning leaves it
    before = planted.stat().st_ino
    module = runtime.load_module(runtime.make_engine(), str(tiny))
    assert exports(module) == ["_start", "planted"]
    assert planted.stat().st_ino == before


def test_a_symlink_in_place_of_the_compiled_module_is_not_followed(tiny, tmp_path):
    elsewhere = tmp_path / "elsewhere.cwasm"
    elsewhere.write_bytes(wasmtime.Module(runtime.make_engine(),
                                          wasmtime.wat2wasm(PLANTED)).serialize())
    (tiny / runtime.compiled_name()).symlink_to(elsewhere)
    module = runtime.load_module(runtime.make_engine(), str(tiny))
    assert exports(module) == ["_start"]
    assert not (tiny / runtime.compiled_name()).is_symlink()


@pytest.mark.parametrize("parent_uid, parent_mode, refused", [
    (PROFILE_UID, 0o755, True),     # a profile's uid could rename the cache and put its own
    (0, 0o777, True),               # anyone could
    (0, 0o1777, False),             # sticky, as /tmp: nobody may rename what is not theirs
    (0, 0o755, False),
], ids=["profile-owned parent", "world-writable parent", "sticky parent", "root's parent"])
def test_a_cache_below_a_directory_others_may_change_is_refused(tiny, tmp_path, parent_uid,
                                                                parent_mode, refused):
    parent = tmp_path / "parent"
    parent.mkdir()
    os.chown(parent, parent_uid, parent_uid)
    os.chmod(parent, parent_mode)
    cache = parent / "wasm-cache"
    if refused:
        with pytest.raises(runtime.RuntimeMissing, match="writable by it alone"):
            runtime.load_module(runtime.make_engine(), str(cache))
        assert not (cache / runtime.compiled_name()).exists()
    else:
        assert exports(runtime.load_module(runtime.make_engine(), str(cache))) == ["_start"]


def test_a_cache_inside_a_profiles_own_directory_is_refused(tiny, tmp_path):
    owner = tmp_path / "owners" / str(PROFILE_UID)
    owner.mkdir(parents=True)
    os.chown(owner, PROFILE_UID, PROFILE_UID)
    with pytest.raises(runtime.RuntimeMissing):
        runtime.load_module(runtime.make_engine(), str(owner / "wasm-cache"))


# A stack's start in a process of its own (a fork of this process could inherit
# a lock held by one of wasmtime's threads): the tiny module, compiled slowly
# enough for the others to arrive while it compiles.
STARTER = """
import sys, time
from zoobar.sandbox.wasm import runtime
wasm, digest, cache = sys.argv[1:]
runtime.wasm_path = lambda: __import__("pathlib").Path(wasm)
runtime.WASM_SHA256 = digest
real = runtime._compile
runtime._compile = lambda engine: (time.sleep(1.0), real(engine))[1]
print(runtime.compile_module(runtime.make_engine(), cache)[1])
"""


def test_stacks_starting_together_compile_it_once(tiny):
    args = [str(runtime.wasm_path()), runtime.WASM_SHA256, str(tiny)]
    procs = [subprocess.Popen([sys.executable, "-c", STARTER, *args], cwd=local.ROOT,
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    said = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert [p.returncode for p in procs] == [0] * 4
    assert said == ["False", "False", "False", "True"]
    assert sorted(p.name for p in tiny.iterdir()) == [".lock", runtime.compiled_name()]


def test_the_default_cache_is_beside_the_sandbox_root_not_in_it():
    # in a container the root is a tmpfs in fresh-state editions and holds the owners' files
    assert cache_dir_for("/app/sandbox", {}) == "/app/wasm-cache"
    assert cache_dir_for("/app/sandbox", {"ZOOBAR_WASM_CACHE": "/x"}) == "/x"


def test_local_stacks_share_one_cache_in_the_checkouts_build_dir(tmp_path):
    env = local.local_env(tmp_path / "zook.conf", tmp_path, {"ZOOBAR_SANDBOX_BACKEND": "layered"})
    assert env["ZOOBAR_WASM_CACHE"] == str(local.ROOT / "build" / "wasm-cache")
    assert not env["ZOOBAR_WASM_CACHE"].startswith(env["ZOOBAR_SANDBOX_ROOT"])


def test_a_local_stack_compiles_the_module_before_its_services_start(tiny, tmp_path):
    env = {"ZOOBAR_SANDBOX_BACKEND": "wasm", "ZOOBAR_WASM_CACHE": str(tiny)}
    assert prepare(env) is None
    assert (tiny / runtime.compiled_name()).exists()
    kernel = tmp_path / "kernel-cache"
    assert prepare({"ZOOBAR_SANDBOX_BACKEND": "kernel", "ZOOBAR_WASM_CACHE": str(kernel)}) is None
    assert not kernel.exists()                  # the kernel backend needs none
    broken = tmp_path / "shared"
    broken.mkdir(mode=0o777)
    os.chmod(broken, 0o777)
    problem = prepare({"ZOOBAR_SANDBOX_BACKEND": "layered", "ZOOBAR_WASM_CACHE": str(broken)})
    assert "did not compile" in problem and "writable by it alone" in problem
