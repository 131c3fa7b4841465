"""Issue #13 item 6 (DESIGN §3a): the profile API and files of every edition at once.

2022's profiles use a global `api` and relative file names in their own `/`;
2023+'s `import api` and keep their files in `/data`. Both work in every run:
`api` is one module, and `/data` is the directory `data` of the owner's own
persistent `/` (so `/data/x` and `data/x` are one file).
"""

from __future__ import annotations

import inspect
import time

import pytest

from tests.sandbox import test_profiles
from tests.sandbox.helpers import PROFILES, echo_api
from zoobar.sandbox import Limits, Sandbox

EDITION_2023 = PROFILES / "2023"


def run(sandbox, code, owner="owner"):
    return sandbox.run(owner, "#!python\n" + code, echo_api(owner))


def test_import_api_is_the_same_module_as_the_global_api(sandbox):
    r = run(sandbox, "g = api\nimport api\nprint(api.call('get_self'), api is g,"
                     " type(api).__name__, api.__name__)")
    assert r.output == "owner True module api\n"


def test_import_api_works_inside_a_function_and_from_import(sandbox):
    r = run(sandbox, "def f():\n    import api\n    return api.call('get_visitor')\n"
                     "from api import call\nprint(f(), call('get_self'))")
    assert r.output == "visitor owner\n"


def test_data_persists_and_is_the_directory_data_of_the_owners_root(sandbox):
    assert run(sandbox, "open('/data/x', 'w').write('kept')").status == "ok"
    r = run(sandbox, "import os\nprint(open('/data/x').read(), open('data/x').read(),"
                     " os.path.samefile('/data/x', 'data/x'))")
    assert r.output == "kept kept True\n"
    _, d = sandbox.prepare_owner("owner")
    assert (d / "data" / "x").read_text() == "kept"


def test_data_is_invisible_to_another_owner(sandbox):
    run(sandbox, "open('/data/secret', 'w').write('mine')", owner="alice")
    r = run(sandbox, "import os\nprint(os.listdir('/data'))\ntry:\n    open('/data/secret')\n"
                     "except OSError as e:\n    print(type(e).__name__)", owner="bob")
    assert r.output == "[]\nFileNotFoundError\n"


BLIND = """
import os
for path in ('/testfile', '/lib/testfile', '/data/testfile'):
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, 'w').write('written by alice')
    except OSError as e:
        print(path, type(e).__name__)
"""

LOOK = """
for path in ('/testfile', '/lib/testfile', '/data/testfile'):
    try:
        print(path, open(path).read())
    except OSError as e:
        print(path, type(e).__name__)
"""


def test_blind_writes_to_testfile_and_lib_testfile_are_never_seen_by_another_owner(sandbox):
    assert run(sandbox, BLIND, owner="alice").output == ""
    assert run(sandbox, LOOK, owner="alice").output.count("written by alice") == 3
    assert run(sandbox, LOOK, owner="bob").output == (
        "/testfile FileNotFoundError\n/lib/testfile FileNotFoundError\n"
        "/data/testfile FileNotFoundError\n")


def test_an_endless_profile_in_either_style_ends_within_the_limit(tmp_path):
    sb = Sandbox(root=str(tmp_path / "s"), limits=Limits(timeout=1.0))
    try:
        for code in ("while True: pass", "import api\napi.call('get_self')\nwhile True: pass"):
            started = time.monotonic()
            r = run(sb, code)
            assert (r.status, r.output) == ("timeout", "profile timed out (limit 1 s)")
            assert time.monotonic() - started < 5
    finally:
        sb.close()


# -- the example profiles, 2023+ edition ---------------------------------------------

def test_every_example_profile_ships_in_both_styles():
    names = sorted(p.name for p in PROFILES.glob("*.py"))
    assert names and names == sorted(p.name for p in EDITION_2023.glob("*.py"))
    for path in EDITION_2023.glob("*.py"):
        text = path.read_text()
        assert "\nimport api\n" in text, path
        assert "open(" not in text or "/data/" in text, path


class Site2023:
    """The site, with set_example taking the 2023+ version of an example profile."""

    def __init__(self, site):
        self._site = site

    def __getattr__(self, name):
        return getattr(self._site, name)

    def set_example(self, user: str, filename: str) -> None:
        self._site.set_profile(user, (EDITION_2023 / filename).read_text())


EXAMPLE_TESTS = [f for name, f in inspect.getmembers(test_profiles, inspect.isfunction)
                 if name.startswith("test_") and "set_example" in inspect.getsource(f)]


@pytest.mark.parametrize("example_test", EXAMPLE_TESTS, ids=[f.__name__ for f in EXAMPLE_TESTS])
def test_the_2023_example_profiles_pass_the_same_tests(site, example_test):
    example_test(Site2023(site))
