"""Logging out is a POST behind the cross-site check; a GET of logout (say, an
``<img src=".../logout">`` in a profile) revokes nothing (issue 12 item 6)."""

from __future__ import annotations

import re

import requests
from markupsafe import escape

from tests.app.helpers import register, save_profile_and_view, unique


def logged_in(stack, cookie: str, name: str) -> bool:
    page = requests.get(stack.url(), cookies={"PyZoobarLogin": cookie}, timeout=30).text
    return f"Log out {escape(name)}" in page


def test_the_page_shows_log_out_name_as_the_label_of_a_post_button(local_stack):
    name = unique()
    page = register(local_stack, name).last.text
    form = re.search(r'<form class="logout" method="POST" action="([^"]+)">'
                     r'<button type="submit">([^<]+)</button></form>', page)
    assert form, page[:1500]
    assert form.group(1) == "/zoobar/index.cgi/logout"
    assert form.group(2) == f"Log out {name}"


def test_a_get_of_logout_revokes_nothing(local_stack):
    name = unique()
    web = register(local_stack, name)
    cookie = web.cookies["PyZoobarLogin"]
    web.get(local_stack.url("logout"), timeout=30)
    assert logged_in(local_stack, cookie, name)


def test_an_img_pointing_at_logout_in_a_profile_does_not_log_the_viewer_out(local_stack,
                                                                            two_users):
    (a, web_a), (b, web_b) = two_users
    shown = save_profile_and_view(local_stack, web_a, a, web_b,
                                  '<img src="/zoobar/index.cgi/logout">')
    assert '<img src="/zoobar/index.cgi/logout">' in shown      # the sanitiser keeps it
    cookie = web_b.cookies["PyZoobarLogin"]
    web_b.get(local_stack.url("logout"), timeout=30)    # what the viewer's browser fetches
    assert logged_in(local_stack, cookie, b)


def test_a_cross_site_post_to_logout_is_refused_and_revokes_nothing(local_stack):
    name = unique()
    web = register(local_stack, name)
    cookie = web.cookies["PyZoobarLogin"]
    page = web.post(local_stack.url("logout"), headers={"Origin": "http://evil.example"},
                    timeout=30)
    assert page.status_code == 403
    assert logged_in(local_stack, cookie, name)


def test_the_logout_button_ends_the_session(local_stack):
    name = unique()
    web = register(local_stack, name)
    cookie = web.cookies["PyZoobarLogin"]
    page = web.post(local_stack.url("logout"), headers={"Origin": local_stack.base}, timeout=30)
    assert page.status_code == 200 and 'name="login_username"' in page.text
    assert "PyZoobarLogin" not in web.cookies
    assert not logged_in(local_stack, cookie, name)
