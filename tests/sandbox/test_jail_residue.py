"""A run's process holds nothing of another owner's run: not as objects, not in memory.

Every run's process is a fork of an interpreter, so it starts with a copy of
that interpreter's memory. The profile can read all of it: its objects (the
frames it was called from, ``gc.get_objects()``) and, with ``ctypes``, its
raw memory, freed blocks included. So the process a run is forked from must
never have held another owner's data: descriptions (code, the visitor's
name), the contents or names of saved files, notes. These tests put secrets
into one owner's runs and look for them from another owner's profile.
"""

from __future__ import annotations

import secrets
import threading
import time

from tests.sandbox.helpers import echo_api

PREFIX = "ZLRESIDUE" + ":"       # split, so that no profile's code holds it whole

# Looks through every object the profile can reach: its frames' locals and
# globals, all the way up, and every object the collector tracks.
OBJECTS = """#!python
import gc, sys
prefix = "ZLRESIDUE" + ":"
found = set()
def look(value, depth=0):
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, str):
        at = value.find(prefix)
        while at >= 0:
            found.add(value[at:at + 50].split()[0])
            at = value.find(prefix, at + 1)
    elif depth < 4 and isinstance(value, dict):
        for k, v in list(value.items()):
            look(k, depth + 1); look(v, depth + 1)
    elif depth < 4 and isinstance(value, (list, tuple, set, frozenset)):
        for v in list(value):
            look(v, depth + 1)
    elif depth < 4 and hasattr(value, "__dict__") and not isinstance(value, type):
        look(vars(value), depth + 1)
frame = sys._getframe()
while frame is not None:
    look(frame.f_locals); look(frame.f_globals)
    frame = frame.f_back
for obj in gc.get_objects():
    look(obj)
print(" ".join(sorted(found)))
"""

# Reads its own memory, page by page, around its heap and its objects'
# arenas: each page through a pipe (write() says EFAULT for a page that is not
# readable, where reading it directly could kill the process).
MEMORY = """#!python
import ctypes, os, re
libc = ctypes.CDLL(None, use_errno=True)
libc.sbrk.restype = ctypes.c_void_p
libc.write.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
PAGE, WINDOW = 4096, 32 << 20
pattern = re.compile(("ZLRESIDUE" + ":").encode() + rb"[0-9a-f]{32}")
found, seen = set(), set()
r, w = os.pipe()
for centre in (libc.sbrk(0), id(object()), id(b"x" * 4000), id(ctypes)):
    start = max(PAGE, (centre - WINDOW) & ~(PAGE - 1))
    for page in range(start, centre + WINDOW, PAGE):
        if page in seen or libc.write(w, page, PAGE) != PAGE:
            continue
        seen.add(page)
        found.update(m.decode() for m in pattern.findall(os.read(r, PAGE)))
print(len(seen), " ".join(sorted(found)))
"""


def secret() -> str:
    return PREFIX + secrets.token_hex(16)


def writer(mark_small: str, mark_large: str) -> str:
    """A profile that saves two files holding the secrets (one small, one large)."""
    return ("#!python\n"
            f"open('/data/small', 'w').write({mark_small!r})\n"
            f"open('/data/large', 'w').write(({mark_large!r} + '\\n') * 100)\n"
            "print('saved')\n")


def test_a_run_finds_nothing_of_another_owners_concurrent_run_among_its_objects(sandbox):
    in_code, visitor = secret(), secret()
    results = []
    sleeper = threading.Thread(target=lambda: results.append(sandbox.run(
        "alice", f"#!python\nimport time\nmark = {in_code!r}\ntime.sleep(1.5)\nprint('slept')\n",
        echo_api("alice", visitor), {"get_self": "alice", "get_visitor": visitor})))
    sleeper.start()
    time.sleep(0.5)                             # alice's run is going
    seen = sandbox.run("bob", OBJECTS, echo_api("bob"))
    sleeper.join()
    assert results[0].status == "ok", results
    assert seen.status == "ok", seen
    assert in_code not in seen.output and visitor not in seen.output, seen.output


def test_a_run_finds_nothing_of_another_owners_files_or_runs_in_its_memory(sandbox):
    small, large, in_code, visitor = secret(), secret(), secret(), secret()
    for _ in range(2):                          # saved, then compared with what is saved
        r = sandbox.run("alice", writer(small, large), echo_api("alice"))
        assert r.status == "ok", r
    r = sandbox.run("alice", f"#!python\nmark = {in_code!r}\nprint(api.call('get_visitor'))\n",
                    echo_api("alice", visitor), {"get_self": "alice", "get_visitor": visitor})
    assert (r.status, r.output) == ("ok", visitor + "\n"), r
    seen = sandbox.run("bob", MEMORY, echo_api("bob"))
    assert seen.status == "ok", seen
    pages, *found = seen.output.split()
    assert int(pages) > 1000                    # it did read its memory
    assert not {small, large, in_code, visitor} & set(found), found
