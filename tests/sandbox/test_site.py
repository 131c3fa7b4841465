"""Executable profiles through the whole site: browser-like requests to zookd2,
the front end, the profile store and the profile service (a full local stack)."""

from __future__ import annotations

import pytest
import requests

from tests.sandbox.helpers import PROFILES
from tests.stack import running_stack


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("sandbox-site")) as stack:
        yield stack


def register(web, name: str) -> requests.Session:
    s = requests.Session()
    r = s.post(web.url("login"), data={"login_username": name, "login_password": "pw",
                                       "nexturl": "/zoobar/index.cgi/",
                                       "submit_registration": "Register"}, timeout=30)
    assert f"Log out {name}" in r.text
    return s


def save_profile(web, session: requests.Session, text: str) -> None:
    r = session.post(web.url(""), data={"profile_update": text, "profile_submit": "Save"},
                     timeout=30)
    assert r.status_code == 200


def test_a_visitor_sees_the_hello_user_profile_greeting_them(web):
    owner, visitor = register(web, "web_owner"), register(web, "web_visitor")
    save_profile(web, owner, (PROFILES / "hello-user.py").read_text())
    page = visitor.get(web.url("users?user=web_owner"), timeout=30).text
    assert "Hello, <b>web_visitor</b>!" in page


def test_profile_output_keeps_safe_markup_and_loses_scripts(web):
    owner, visitor = register(web, "web_marker"), register(web, "web_reader")
    save_profile(web, owner, "#!python\nprint('<p><i>it</i> <b>bold</b></p>"
                             "<script>alert(1)</script><ul><li>one</li></ul>')")
    page = visitor.get(web.url("users?user=web_marker"), timeout=30).text
    assert "<p><i>it</i> <b>bold</b></p>" in page and "<ul><li>one</li></ul>" in page
    assert "alert(1)" not in page


def test_a_profile_that_runs_too_long_shows_that_it_timed_out(web):
    owner, visitor = register(web, "web_sleeper"), register(web, "web_waiter")
    save_profile(web, owner, "#!python\nimport time\ntime.sleep(60)")
    page = visitor.get(web.url("users?user=web_sleeper"), timeout=60).text
    assert "profile timed out" in page
