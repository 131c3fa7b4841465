"""Usernames (issue 12 item 8): one account per NFKC-normalised name, and no new
name that is confusable (Unicode TR39 skeleton) with an existing one."""

from __future__ import annotations

import unicodedata

import pytest
from markupsafe import escape

from tests.app.helpers import login, register, send, unique, zoobars_on_users_page
from zoobar import usernames

COMPOSED, DECOMPOSED = "\u00e9mile", "e\u0301mile"


@pytest.mark.parametrize("a, b", [(COMPOSED, DECOMPOSED), ("\uff41lice", "alice"),
                                  ("\ufb01sh", "fish")])
def test_variants_of_one_name_have_one_canonical_form(a, b):
    assert a != b and usernames.canonical(a) == usernames.canonical(b)


@pytest.mark.parametrize("name", ["test1", "test2", "test8src", "test8dst", "alice", "a#b",
                                  "ünïcødé", "../x"])
def test_ascii_and_nfc_names_are_their_own_canonical_form(name):
    assert usernames.canonical(name) == name


@pytest.mark.parametrize("a, b", [("alice", "\u0430lice"), ("paypal", "p\u0430yp\u0430l"),
                                  ("test1", "testl"), ("modern", "rnodern"),
                                  ("x" + COMPOSED, "x" + DECOMPOSED)])
def test_lookalikes_share_a_skeleton(a, b):
    assert usernames.skeleton(a) == usernames.skeleton(b)


@pytest.mark.parametrize("a, b", [("test1", "test2"), ("test8src", "test8dst"),
                                  ("alice", "Alice"), ("bob", "bop")])
def test_different_names_keep_different_skeletons(a, b):
    assert usernames.skeleton(a) != usernames.skeleton(b)


def test_a_decomposed_name_is_the_composed_account(local_stack):
    tag = unique()
    name = tag + COMPOSED
    register(local_stack, name)
    again = login(local_stack, tag + DECOMPOSED, "other", register=True)
    assert "Registration failed" in again.last.text and "taken" in again.last.text
    web = login(local_stack, tag + DECOMPOSED, "pw")
    assert f"Log out {escape(name)}" in web.last.text
    assert local_stack.query("cred", "SELECT username FROM cred WHERE username LIKE ?",
                             (tag + "%",)) == [(name,)]
    assert unicodedata.is_normalized("NFC", name)


def test_a_cyrillic_lookalike_of_an_existing_name_is_refused(local_stack):
    tag = unique()
    register(local_stack, "alice" + tag)
    spoof = login(local_stack, "\u0430lice" + tag, "pw", register=True)
    assert "Registration failed" in spoof.last.text
    assert "looks too much like an existing one" in spoof.last.text
    assert "PyZoobarLogin" not in spoof.cookies
    assert local_stack.query("cred", "SELECT count(*) FROM cred WHERE username = ?",
                             ("\u0430lice" + tag,)) == [(0,)]


def test_transfers_and_lookups_find_a_name_however_it_is_composed(local_stack):
    tag = unique()
    web = register(local_stack, tag + "sender")
    register(local_stack, tag + COMPOSED)
    assert "Sent 2 zoobars" in send(web, local_stack, tag + DECOMPOSED, "2").text
    assert zoobars_on_users_page(web, local_stack, tag + DECOMPOSED) == 12
