"""Profile output is sanitised in bounded time (issue 12 item 3): the HTML parser
is quadratic in open/formatting elements, so only a bounded first part of a
profile is parsed as HTML and the rest is shown escaped."""

from __future__ import annotations

import time

import nh3
import pytest

from tests.app.helpers import save_profile_and_view
from zoobar.frontend import profiles

# What the audit used (20 s of front-end CPU per view), and the worst shapes
# found since: a formatting element per tag, foster-parented tables, attributes.
HOSTILE = {
    "nested lists": "<ul><li>" * 32768,
    "formatting elements": "".join(f"<b title={i}>x" for i in range(20000)),
    "foster parenting": "<table>" + "".join(f"x<b title={i}>" for i in range(20000)),
    "attributes": "<b " + " ".join(f"a{j}=1" for j in range(20000)) + ">x" * 2000,
    "open angles": "<" * 262144,
}
# Generous: today's cost is a few ms, the unbounded parser's 1 to 20 s.
BOUND_SECONDS = 0.5


@pytest.mark.parametrize("shape", HOSTILE)
def test_hostile_markup_is_sanitised_in_bounded_time(shape):
    start = time.perf_counter()
    html, note = profiles.sanitise(HOSTILE[shape])
    assert time.perf_counter() - start < BOUND_SECONDS
    assert note == profiles.OVER_BUDGET


def test_markup_past_the_budget_is_shown_escaped_never_live():
    text = "<b>x</b>" * profiles.MAX_TAGS + '<script>alert(1)</script><img src=x onerror=alert(2)>'
    html, note = profiles.sanitise(text)
    assert note == profiles.OVER_BUDGET
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_cut_never_splits_a_tag():
    text = "x" * (profiles.MAX_HTML_CHARS - 10) + '<img src=x onerror="alert(1)">' + "y" * 100
    html, note = profiles.sanitise(text)
    assert note == profiles.OVER_BUDGET and "<img" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;y" in html


def test_an_ordinary_profile_is_sanitised_exactly_as_before():
    text = ("<p>Hello, <b>visitor</b> &amp; <i>friends</i>!</p>\n  <a href='http://x.example/'>"
            "link</a><script>bad()</script>\n") * 25
    assert profiles.sanitise(text) == (nh3.clean(text), None)


def test_a_hostile_executable_profile_is_viewed_promptly(local_stack, two_users):
    (a, web_a), (b, web_b) = two_users
    start = time.perf_counter()
    shown = save_profile_and_view(local_stack, web_a, a, web_b,
                                  "#!python\nprint('<ul><li>' * 32768)\n")
    assert time.perf_counter() - start < 10          # 20 s of sanitising alone before
    assert "<ul><li>" in shown and "&lt;ul&gt;&lt;li&gt;" in shown
