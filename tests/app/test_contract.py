"""The HTTP contract of DESIGN §3, driven through local zookd2 as the course's grader does."""

from __future__ import annotations

import re

import pytest
import requests
from markupsafe import escape

from tests.app.helpers import HOME, login, register, send, unique, zoobars_on_users_page

LOG_ROW = re.compile(r"<tr><td>(?P<time>[^<]+)</td><td>(?P<sender>[^<]+)</td>"
                     r"<td>(?P<recipient>[^<]+)</td><td>(?P<amount>\d+)</td></tr>")
CTIME = re.compile(r"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}$")


def test_new_users_land_on_the_home_page_with_10_zoobars(local_stack):
    name = unique("carol")
    web = login(local_stack, name, "pw", register=True)
    assert web.last.url == local_stack.base + HOME
    assert f"Log out {name}" in web.last.text
    assert "Balance: 10 zoobars" in web.last.text


def test_home_page_has_the_profile_form(local_stack):
    web = register(local_stack, unique())
    assert '<textarea id="profile_update" name="profile_update"' in web.last.text
    assert 'name="profile_submit" value="Save"' in web.last.text


def test_transfer_moves_3_zoobars(local_stack, two_users):
    (a, web_a), (b, _) = two_users
    page = send(web_a, local_stack, b, "3")
    assert "Sent 3 zoobars" in page.text and "Balance: 7 zoobars" in page.text  # the bank's answer
    assert zoobars_on_users_page(web_a, local_stack, a) == 7
    assert zoobars_on_users_page(web_a, local_stack, b) == 13
    assert "Balance: 7 zoobars" in web_a.get(local_stack.url(), timeout=30).text


def test_users_page_shows_the_log_newest_first(local_stack, two_users):
    (a, web_a), (b, web_b) = two_users
    send(web_a, local_stack, b, "3")
    send(web_b, local_stack, a, "1")
    page = web_a.get(local_stack.url(f"users?user={a}"), timeout=30).text
    assert '<table class="log">' in page
    rows = [m.groupdict() for m in LOG_ROW.finditer(page)]
    assert [(r["sender"], r["recipient"], r["amount"]) for r in rows] == [(b, a, "1"), (a, b, "3")]
    assert all(CTIME.match(r["time"]) for r in rows)


def test_echo_goes_through_the_echo_service(local_stack):
    page = requests.get(local_stack.url("echo?s=hello-zoobar"), timeout=30).text
    assert "hello-zoobar" in page


def test_echo_output_is_escaped(local_stack):
    page = requests.get(local_stack.url("echo?s=<script>x</script>"), timeout=30).text
    assert "<script>x" not in page and "&lt;script&gt;x" in page


def test_static_media_are_served_by_zookfs(local_stack):
    css = requests.get(f"{local_stack.base}/zoobar/media/zoobar.css", timeout=30)
    logo = requests.get(f"{local_stack.base}/zoobar/media/zoobar-logo.svg", timeout=30)
    assert css.status_code == 200 and "zoobar" in css.text
    assert logo.status_code == 200 and "<svg" in logo.text


def test_wrong_password_shows_the_login_form_again(local_stack):
    name = unique()
    register(local_stack, name, "right")
    web = login(local_stack, name, "wrong")
    assert "Login failed" in web.last.text and 'name="login_username"' in web.last.text
    assert "PyZoobarLogin" not in web.cookies


def test_registering_a_taken_name_fails(local_stack):
    name = unique()
    register(local_stack, name)
    web = login(local_stack, name, "other", register=True)
    assert "Registration failed" in web.last.text and "taken" in web.last.text


def test_pages_need_a_login_and_come_back_after_it(local_stack):
    name = unique()
    register(local_stack, name)
    web = requests.Session()
    page = web.get(local_stack.url(f"users?user={name}"), timeout=30)
    assert 'name="login_password"' in page.text
    nexturl = re.search(r'name="nexturl" value="([^"]+)"', page.text).group(1)
    assert nexturl == f"/zoobar/index.cgi/users?user={name}"


def test_home_page_accepts_a_post_without_profile_update(local_stack):
    name = unique()
    web = register(local_stack, name)
    page = web.post(local_stack.url(), data={"whatever": "1"}, timeout=30)
    assert page.status_code == 200 and "Balance: 10 zoobars" in page.text


def test_session_cookie_is_httponly_and_samesite_lax(local_stack):
    response = requests.post(local_stack.url("login"), allow_redirects=False, timeout=30,
                             data={"login_username": unique(), "login_password": "pw",
                                   "nexturl": HOME, "submit_registration": "Register"})
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("PyZoobarLogin=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_redirect_never_leaves_the_site(local_stack):
    response = requests.post(local_stack.url("login"), allow_redirects=False, timeout=30,
                             data={"login_username": unique(), "login_password": "pw",
                                   "nexturl": "//evil.example/", "submit_registration": "x"})
    assert response.status_code == 302
    assert response.headers["Location"] in (HOME, local_stack.base + HOME)


@pytest.mark.parametrize("odd", ["a#b", "ünïcødé", "../x", "a/b", "x y", "<b>", "%41"])
def test_usernames_with_odd_characters_work_end_to_end(local_stack, odd):
    name = unique() + odd
    web = register(local_stack, name)
    other = unique()
    register(local_stack, other)
    assert "Sent 2 zoobars" in send(web, local_stack, other, "2").text
    assert zoobars_on_users_page(web, local_stack, name) == 8
    assert f"Log out {escape(name)}" in web.get(local_stack.url(), timeout=30).text


def test_pages_forbid_framing_by_other_sites_and_sniffing(local_stack):
    headers = requests.get(local_stack.url("login"), timeout=30).headers
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
    assert headers["X-Content-Type-Options"] == "nosniff"
