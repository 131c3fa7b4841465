"""An owner's sandbox directory belongs to the account, not to the name (issue
12, item 5): after the documented db/ wipe, a different person registering the
same name must not see what the earlier account of that name left."""

from __future__ import annotations

import shutil

from tests.sandbox.conftest import SECTIONS
from tests.sandbox.helpers import Site, must
from tests.stack import running_stack

LEAVE = "#!python\nopen('diary.txt', 'w').write('the first holder was here')\nprint('saved')\n"
LOOK = ("#!python\nimport os\nprint(sorted(os.listdir('/')))\n"
        "print(open('diary.txt').read() if os.path.exists('diary.txt') else 'no diary')\n")


def test_a_name_registered_again_after_a_db_wipe_never_sees_the_earlier_accounts_files(
        tmp_path):
    data = tmp_path / "site"
    with running_stack(data, sections=SECTIONS) as stack:
        site = Site(stack)
        site.tokens["reused"] = site.auth.call("register", username="reused", password="first")
        site.set_profile("reused", LEAVE)
        assert must(site.view("reused", "reused")) == "saved\n"
    diaries = list((data / "sandbox" / "owners").glob("*/diary.txt"))
    assert len(diaries) == 1
    shutil.rmtree(data / "db")          # docs: the grader's rm -rf db/ (the sandbox stays)
    with running_stack(data, sections=SECTIONS) as stack:
        site = Site(stack)
        site.tokens["reused"] = site.auth.call("register", username="reused", password="second")
        site.set_profile("reused", LOOK)
        out = must(site.view("reused", "reused"))
        assert out.splitlines()[-1] == "no diary", out
        assert "diary.txt" not in out
        assert site.owner_dir("reused") != diaries[0].parent
    assert diaries[0].read_text() == "the first holder was here"    # kept, not given away


def test_the_same_account_keeps_its_files_from_view_to_view(site):
    owner = site.user("keeps")
    site.set_profile(owner, LEAVE)
    must(site.view(owner, owner))
    site.set_profile(owner, LOOK)
    assert must(site.view(owner, site.user("v"))).splitlines()[-1] == "the first holder was here"


def test_the_directory_is_keyed_on_the_account_id_not_the_name(site):
    owner = site.user("keyed")
    site.set_profile(owner, LEAVE)
    must(site.view(owner, owner))
    key = site.owner_key(owner)
    assert key.startswith("account:") and owner not in key
