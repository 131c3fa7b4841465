"""A slow or flooded profile costs others little (issue 12, item 4): a view that
cannot have its turn answers "busy" within about a second instead of queueing
for the owner's lock (it used to wait up to 20 s), and the views under way at
once per owner and per visitor are bounded."""

from __future__ import annotations

import os
import threading
import time

import pytest

from tests.sandbox.helpers import Site, must
from tests.stack import running_stack
from zoobar.sandbox import BUSY, Limits, Sandbox
from zoobar.sandbox.runner import RUN_NICE
from zoobar.services.profile import ViewBounds

SLEEPER = "#!python\nimport time\n{signal}time.sleep({seconds})\nprint('slept')\n"


def test_a_busy_owners_view_answers_busy_within_about_a_second(tmp_path):
    sb = Sandbox(root=str(tmp_path / "s"))          # the default limits
    started = threading.Event()

    def api(name, kwargs):
        if name == "started":
            started.set()
        return None

    results = {}
    first = threading.Thread(target=lambda: results.setdefault(
        "first", sb.run("alice", SLEEPER.format(signal="api.call('started')\n", seconds=4), api)))
    try:
        first.start()
        assert started.wait(15)
        t = time.monotonic()
        second = sb.run("alice", "#!python\nprint('second')", api)
        waited = time.monotonic() - t
        other = sb.run("bob", "#!python\nprint('bob')", api)   # another owner: not busy
        first.join()
    finally:
        sb.close()
    assert (second.status, second.output) == ("busy", BUSY)
    assert waited < 3 * Limits().lock_wait              # not the 4 s left of the first run
    assert (other.status, other.output) == ("ok", "bob\n")
    assert results["first"].status == "ok"


def test_profiles_run_below_the_sites_own_priority(sandbox):
    r = sandbox.run("alice", "#!python\nimport os\nprint(os.getpriority(os.PRIO_PROCESS, 0))",
                    lambda name, kwargs: None)
    assert int(r.output) == RUN_NICE > os.getpriority(os.PRIO_PROCESS, 0), r


def test_view_bounds_admit_up_to_the_bound_per_owner_and_per_visitor():
    bounds = ViewBounds(per_owner=2, per_visitor=1)
    with bounds.admit("o", "v1") as a, bounds.admit("o", "v2") as b:
        with bounds.admit("o", "v3") as c:          # the owner's third view
            assert (a, b, c) == (True, True, False)
        with bounds.admit("p", "v1") as d:          # v1's second view, another owner
            assert d is False
        with bounds.admit("p", "v3") as e:
            assert e is True
    with bounds.admit("o", "v1") as again:          # all ended: counted no more
        assert again is True
    assert bounds._owners == {} and bounds._visitors == {}


def test_view_bounds_release_a_view_that_raised():
    bounds = ViewBounds(per_owner=1, per_visitor=1)
    with pytest.raises(RuntimeError), bounds.admit("o", "v"):
        raise RuntimeError("the run failed")
    with bounds.admit("o", "v") as admitted:
        assert admitted


@pytest.mark.parametrize("raw", ["0", "-1", "many", "1.5"])
def test_a_bad_bound_in_the_environment_is_a_clear_error(monkeypatch, raw):
    monkeypatch.setenv("ZOOBAR_PROFILE_VIEWS_PER_VISITOR", raw)
    with pytest.raises(ValueError, match="ZOOBAR_PROFILE_VIEWS_PER_VISITOR"):
        ViewBounds.from_env()


# -- through the profile service ----------------------------------------------------

@pytest.fixture(scope="module")
def bounded_site(tmp_path_factory):
    env = {"ZOOBAR_PROFILE_VIEWS_PER_VISITOR": "2", "ZOOBAR_PROFILE_VIEWS_PER_OWNER": "3"}
    with running_stack(tmp_path_factory.mktemp("busy-stack"), env=env,
                       sections=["auth", "honeychecker", "bank", "profilestore",
                                 "profile"]) as stack:
        yield Site(stack)


def test_a_visitor_past_its_bound_gets_busy_and_others_are_served(bounded_site):
    site = bounded_site
    a, b, c = site.user("slowa"), site.user("slowb"), site.user("quick")
    flooder, bystander = site.user("flood"), site.user("by")
    for owner in (a, b):
        site.set_profile(owner, SLEEPER.format(signal="", seconds=3))
    site.set_profile(c, "#!python\nprint('quick', api.call('get_visitor'))")
    results = {}
    threads = [threading.Thread(target=lambda o=o: results.setdefault(o, site.view(o, flooder)))
               for o in (a, b)]
    for t in threads:
        t.start()
    try:
        site.wait_running(a)
        site.wait_running(b)
        third = site.view(c, flooder)               # the flooder's third view at once
        served = site.view(c, bystander)
    finally:
        for t in threads:
            t.join()
    assert third == {"output": BUSY, "status": "busy"}
    assert must(served) == f"quick {bystander}\n"
    assert [must(results[o]) for o in (a, b)] == ["slept\n", "slept\n"]
    assert must(site.view(c, flooder)) == f"quick {flooder}\n"     # its views ended: served


def test_a_view_of_a_running_profile_answers_busy_through_the_service(bounded_site):
    site = bounded_site
    owner, first, second = site.user("slow"), site.user("v"), site.user("w")
    site.set_profile(owner, SLEEPER.format(signal="", seconds=4))
    results = {}
    thread = threading.Thread(target=lambda: results.setdefault("first",
                                                                site.view(owner, first)))
    thread.start()
    try:
        site.wait_running(owner)
        t = time.monotonic()
        busy = site.view(owner, second)
        waited = time.monotonic() - t
    finally:
        thread.join()
    assert busy == {"output": BUSY, "status": "busy"}
    assert waited < 3 * Limits().lock_wait
    assert must(results["first"]) == "slept\n"
