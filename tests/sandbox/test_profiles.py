"""The example profiles in profiles/, run by the profile service over a sequence of visits."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.sandbox.helpers import must
from zoobar import rpc

CTIME = r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}"


def test_hello_user_greets_the_visitor_and_prints_the_time_as_a_float(site):
    owner, visitor = site.user("hello"), site.user("guest")
    site.set_example(owner, "hello-user.py")
    before = time.time()
    out = must(site.view(owner, visitor))
    assert f"Hello, <b>{visitor}</b>!" in out
    shown = float(re.search(r"The time here is (\d+\.\d+)", out).group(1))
    assert before - 1 <= shown <= time.time() + 1


def test_visit_tracker_counts_each_visitors_visits_and_remembers_the_last(site):
    owner, a, b = site.user("tracker"), site.user("a"), site.user("b")
    site.set_example(owner, "visit-tracker.py")
    first = must(site.view(owner, a))
    assert "visit number 1 " in first and "previous visit: never." in first
    second = must(site.view(owner, a))
    assert "visit number 2 " in second and re.search(f"previous visit: {CTIME}.", second)
    other = must(site.view(owner, b))
    assert "visit number 1 " in other and "never" in other
    assert "visit number 3 " in must(site.view(owner, a))


def test_last_visits_lists_the_three_previous_visitors_newest_first(site):
    owner = site.user("lastv")
    visitors = [site.user("v") for _ in range(4)]
    site.set_example(owner, "last-visits.py")
    assert "nobody yet" in must(site.view(owner, visitors[0]))
    for v in visitors[1:]:
        must(site.view(owner, v))
    out = must(site.view(owner, owner))
    listed = re.findall(rf"<li>(\S+) at {CTIME}</li>", out)
    assert listed == [visitors[3], visitors[2], visitors[1]]


def test_xfer_tracker_shows_the_last_transfer_between_owner_and_visitor(site):
    owner, visitor, stranger = site.user("xt"), site.user("x"), site.user("s")
    site.set_example(owner, "xfer-tracker.py")
    assert "No transfers between" in must(site.view(owner, visitor))
    site.give(owner, visitor, 2)
    site.give(visitor, owner, 1)
    site.give(stranger, owner, 3)          # not between them: ignored
    out = must(site.view(owner, visitor))
    assert re.search(rf"{visitor} gave {owner} 1 zoobars @ {CTIME}", out), out


def test_granter_gives_one_zoobar_then_asks_to_wait(site):
    owner, visitor = site.user("granter"), site.user("g")
    site.set_example(owner, "granter.py")
    out = must(site.view(owner, visitor))
    assert "Here is 1 zoobar" in out
    assert (site.balance(owner), site.balance(visitor)) == (9, 11)
    assert "come back in" in must(site.view(owner, visitor))
    assert (site.balance(owner), site.balance(visitor)) == (9, 11)


def test_granter_refuses_visitors_with_more_than_20(site):
    owner, rich = site.user("granter"), site.user("rich")
    for _ in range(2):
        site.give(site.user("donor"), rich, 10)
    site.set_example(owner, "granter.py")
    assert "You have 30 zoobars already" in must(site.view(owner, rich))
    assert site.balance(owner) == 10


def test_granter_says_when_the_owner_is_broke(site):
    owner, visitor = site.user("granter"), site.user("g")
    site.give(owner, site.user("sink"), 10)
    site.set_example(owner, "granter.py")
    assert "the owner is broke" in must(site.view(owner, visitor))
    assert site.balance(visitor) == 10


def test_my_profile_guestbook_is_signed_from_the_visitors_own_profile(site):
    owner, a, b = site.user("book"), site.user("a"), site.user("b")
    site.set_example(owner, "my-profile.py")
    site.set_profile(a, "I like zoobars.\nguestbook: greetings from a!")
    assert "Nobody has signed yet" in must(site.view(owner, owner))
    must(site.view(owner, a))
    must(site.view(owner, b))
    out = must(site.view(owner, a))
    notes = re.findall(r"<li><i>(.*?)</i> \((\S+),", out)
    assert notes == [("greetings from a!", a), ("passed by", b), ("greetings from a!", a)]
    assert f"<li>{a}: 2 visits</li>" in out and f"<li>{b}: 1 visit</li>" in out
    assert "as rich as" in out


def test_a_profile_that_is_not_executable_is_not_run(site):
    owner = site.user("plain")
    site.set_profile(owner, "just text\nprint('x')")
    assert site.view(owner, owner)["status"] == "error"


def test_run_is_for_the_front_end_only(site):
    owner = site.user("o")
    with pytest.raises(rpc.RemoteError) as err:
        site.stack.client("profile", as_section="bank").call("run", user=owner, visitor=owner)
    assert err.value.type == rpc.FORBIDDEN


# -- the profile API itself (DESIGN §3) ---------------------------------------------

def test_api_get_user_info_gives_username_profile_and_zoobars(site):
    owner = site.user("api")
    site.set_profile(owner, "#!python\nimport json\n"
                            "print(json.dumps(api.call('get_user_info', username=api.call('get_self'))))")
    info = json.loads(must(site.view(owner, owner)))
    assert info == {"username": owner, "profile": info["profile"], "zoobars": 10}
    assert info["profile"].startswith("#!python")


def test_api_get_user_info_of_an_unknown_user_is_none(site):
    owner = site.user("api")
    site.set_profile(owner, "#!python\nprint(api.call('get_user_info', username='no such user'))")
    assert must(site.view(owner, owner)) == "None\n"


def test_api_get_xfers_lists_transfers_newest_first_with_their_keys(site):
    owner, other = site.user("api"), site.user("o")
    site.give(owner, other, 1)
    site.give(other, owner, 2)
    site.set_profile(owner, "#!python\nimport json\n"
                            "print(json.dumps(api.call('get_xfers', username=api.call('get_self'))))")
    xfers = json.loads(must(site.view(owner, owner)))
    assert [(x["sender"], x["recipient"], x["amount"]) for x in xfers] == [(other, owner, 2),
                                                                           (owner, other, 1)]
    assert all(set(x) == {"sender", "recipient", "amount", "time"} for x in xfers)
    assert re.fullmatch(CTIME, xfers[0]["time"])


def test_api_xfer_moves_the_owners_zoobars_to_the_target(site):
    owner, target = site.user("api"), site.user("t")
    site.set_profile(owner, f"#!python\nprint(api.call('xfer', target='{target}', zoobars=3))")
    assert must(site.view(owner, target)) == "None\n"
    assert (site.balance(owner), site.balance(target)) == (7, 13)
