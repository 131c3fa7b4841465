"""The transfer form's ``delay`` (issue 13 item 5, 2023+ editions): the front end
waits after the login check and before the bank, other requests are served
meanwhile, and a login during the wait (a new token) makes the transfer fail."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.app.helpers import login, register, unique, zoobars_on_users_page
from tests.stack import running_stack

DELAY_MAX = 3


def send(web, stack, recipient, zoobars, delay) -> requests.Response:
    return web.post(stack.url("transfer"), timeout=60,
                    data={"recipient": recipient, "zoobars": zoobars, "delay": delay,
                          "submission": "Send"})


@pytest.fixture(scope="module")
def delay_stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("delay"),
                       env={"ZOOBAR_TRANSFER_DELAY_MAX": str(DELAY_MAX)}) as stack:
        yield stack


@pytest.fixture
def pair(delay_stack):
    src, dst = unique("test8src"), unique("test8dst")
    return (src, register(delay_stack, src, "aaa")), (dst, register(delay_stack, dst, "bbb"))


def test_a_delayed_transfer_waits_then_moves_the_zoobars(delay_stack, pair):
    (src, web), (dst, _) = pair
    start = time.monotonic()
    page = send(web, delay_stack, dst, "3", "2")
    assert time.monotonic() - start >= 2
    assert "Sent 3 zoobars" in page.text
    assert zoobars_on_users_page(web, delay_stack, src) == 7
    assert zoobars_on_users_page(web, delay_stack, dst) == 13


@pytest.mark.parametrize("delay, reason", [(str(DELAY_MAX + 1), f"at most {DELAY_MAX} seconds"),
                                           ("-1", "whole number"), ("1.5", "whole number"),
                                           ("soon", "whole number"), ("9" * 40, "too large")])
def test_a_bad_delay_is_refused_and_moves_nothing(delay_stack, pair, delay, reason):
    (src, web), (dst, _) = pair
    page = send(web, delay_stack, dst, "3", delay)
    assert "Transfer failed" in page.text and reason in page.text and "Sent" not in page.text
    assert zoobars_on_users_page(web, delay_stack, src) == 10


def test_a_login_during_the_delay_is_served_and_makes_the_transfer_fail(delay_stack, pair):
    (src, web), (dst, _) = pair
    result = {}
    transfer = threading.Thread(target=lambda: result.update(
        page=send(web, delay_stack, dst, "3", str(DELAY_MAX))))
    start = time.monotonic()
    transfer.start()
    time.sleep(0.5)                        # the front end has checked the token by now
    again = login(delay_stack, src, "aaa")
    logged_in_at = time.monotonic() - start
    transfer.join(30)
    assert f"Log out {src}" in again.last.text
    assert logged_in_at < DELAY_MAX, "the login waited for the delayed transfer"
    assert "Sent" not in result["page"].text and "Transfer failed" in result["page"].text
    assert zoobars_on_users_page(again, delay_stack, src) == 10
    assert zoobars_on_users_page(again, delay_stack, dst) == 10


def test_a_cookie_from_before_a_new_login_moves_nothing(delay_stack, pair):
    (src, stale), (dst, _) = pair
    fresh = login(delay_stack, src, "aaa")
    page = send(stale, delay_stack, dst, "3", "0")
    assert "Sent" not in page.text
    assert zoobars_on_users_page(fresh, delay_stack, src) == 10


def test_without_the_variable_the_delay_field_is_ignored(local_stack, two_users):
    (a, web), (b, _) = two_users
    start = time.monotonic()
    page = send(web, local_stack, b, "2", "soon")
    assert "Sent 2 zoobars" in page.text
    page = send(web, local_stack, b, "1", "30")
    assert "Sent 1 zoobars" in page.text and time.monotonic() - start < 20
