"""Attacks that must fail: tokens, callers, amounts, metacharacters, sizes, cross-site posts."""

from __future__ import annotations

import time

import pytest
import requests

from tests.app.helpers import HOME, login, register, save_profile_and_view, send, unique, zoobars_on_users_page
from zoobar import rpc


@pytest.fixture
def pair(local_stack):
    """Two users registered over RPC, with their tokens."""
    auth = local_stack.client("auth", "dynamic")
    a, b = unique("a"), unique("b")
    return (a, auth.call("register", username=a, password="pa"),
            b, auth.call("register", username=b, password="pb"))


def balances(stack, *names):
    bank = stack.client("bank", "dynamic")
    return [bank.call("balance", username=n) for n in names]


def refused(call, kind=rpc.REFUSED):
    with pytest.raises(rpc.RemoteError) as err:
        call()
    assert err.value.type == kind, err.value
    return err.value


@pytest.mark.parametrize("token", ["", "forged-token", "x" * 32])
def test_bank_refuses_a_transfer_without_a_valid_token(local_stack, pair, token):
    a, _, b, _ = pair
    bank = local_stack.client("bank", "dynamic")
    refused(lambda: bank.call("transfer", sender=a, recipient=b, amount=1, token=token))
    assert balances(local_stack, a, b) == [10, 10]


def test_bank_refuses_another_users_token(local_stack, pair):
    a, _, b, token_b = pair
    bank = local_stack.client("bank", "dynamic")
    refused(lambda: bank.call("transfer", sender=a, recipient=b, amount=5, token=token_b))
    assert balances(local_stack, a, b) == [10, 10]


def test_transfer_without_the_token_argument_is_a_type_error(local_stack, pair):
    a, _, b, _ = pair
    bank = local_stack.client("bank", "dynamic")
    refused(lambda: bank.call("transfer", sender=a, recipient=b, amount=1), rpc.TYPE_ERROR)


@pytest.mark.parametrize("caller", ["dynamic", "profile", "echo", ""])
def test_new_account_is_refused_to_anyone_but_auth(local_stack, caller):
    bank = local_stack.client("bank", caller)
    refused(lambda: bank.call("new_account", username=unique()), rpc.FORBIDDEN)


def test_new_account_from_auth_gives_exactly_10_and_is_idempotent(local_stack, pair):
    a, token_a, b, _ = pair
    local_stack.client("bank", "dynamic").call("transfer", sender=a, recipient=b, amount=4,
                                               token=token_a)
    bank_as_auth = local_stack.client("bank", "auth")
    assert bank_as_auth.call("new_account", username=a) == 6
    assert bank_as_auth.call("new_account", username=unique()) == 10


def test_profile_xfer_is_refused_to_anyone_but_profile(local_stack, pair):
    a, _, b, _ = pair
    for caller in ("dynamic", "auth", "echo"):
        bank = local_stack.client("bank", caller)
        refused(lambda bank=bank: bank.call("profile_xfer", owner=a, recipient=b, amount=1),
                rpc.FORBIDDEN)
    assert balances(local_stack, a, b) == [10, 10]


def test_profile_xfer_from_profile_moves_the_owners_zoobars(local_stack, pair):
    a, _, b, _ = pair
    assert local_stack.client("bank", "profile").call("profile_xfer", owner=a, recipient=b,
                                                      amount=2) == 8
    assert balances(local_stack, a, b) == [8, 12]


@pytest.mark.parametrize("amount, kind", [
    (-1, rpc.REFUSED), (0, rpc.REFUSED), (11, rpc.REFUSED), (10 ** 30, rpc.REFUSED),
    (1.5, rpc.TYPE_ERROR), ("3", rpc.TYPE_ERROR), (True, rpc.TYPE_ERROR), (None, rpc.TYPE_ERROR),
])
def test_bad_amounts_over_rpc_move_nothing(local_stack, pair, amount, kind):
    a, token_a, b, _ = pair
    bank = local_stack.client("bank", "dynamic")
    refused(lambda: bank.call("transfer", sender=a, recipient=b, amount=amount, token=token_a),
            kind)
    assert balances(local_stack, a, b) == [10, 10]


@pytest.mark.parametrize("zoobars", ["-1", "0", "1.5", "abc", "", "1e3", "99999999999999999999",
                                     "11", " ", "3; DROP TABLE bank"])
def test_bad_amounts_in_the_form_move_nothing(local_stack, two_users, zoobars):
    (a, web_a), (b, _) = two_users
    page = send(web_a, local_stack, b, zoobars)
    assert page.status_code == 200 and "Transfer failed" in page.text
    assert zoobars_on_users_page(web_a, local_stack, a) == 10
    assert zoobars_on_users_page(web_a, local_stack, b) == 10


def test_transfer_to_a_missing_user_moves_nothing(local_stack, two_users):
    (a, web_a), _ = two_users
    page = send(web_a, local_stack, unique("ghost"), "3")
    assert "Transfer failed" in page.text and "no such user" in page.text
    assert zoobars_on_users_page(web_a, local_stack, a) == 10


def test_transfer_to_oneself_is_refused(local_stack, two_users):
    (a, web_a), _ = two_users
    assert "Transfer failed" in send(web_a, local_stack, a, "3").text
    assert zoobars_on_users_page(web_a, local_stack, a) == 10


SQL = ["x' OR '1'='1", "x'); DROP TABLE person;--", 'a"; DELETE FROM bank; --', "%_\\'"]


@pytest.mark.parametrize("meta", SQL)
def test_sql_metacharacters_in_every_field_are_just_text(local_stack, meta):
    name = unique() + meta
    web = register(local_stack, name, password=meta)
    other = unique()
    register(local_stack, other)
    assert "Sent 2 zoobars" in send(web, local_stack, other, "2").text
    assert "Transfer failed" in send(web, local_stack, other + meta, "1").text
    web.post(local_stack.url(), data={"profile_update": meta, "profile_submit": "Save"},
             timeout=30)
    page = web.get(local_stack.url("users"), params={"user": name}, timeout=30).text
    assert '<span id="zoobars" class="8">' in page
    assert "Cannot find that user" in web.get(local_stack.url("users"),
                                              params={"user": meta}, timeout=30).text
    assert login(local_stack, name, meta).last.url == local_stack.base + HOME
    for db, table in [("person", "person"), ("cred", "cred"), ("bank", "bank"),
                      ("transfer", "transfer"), ("profile", "profile")]:
        assert local_stack.query(db, f"SELECT count(*) FROM {table}")[0][0] > 0


def test_megabyte_password_is_refused_fast_over_rpc(local_stack):
    auth = local_stack.client("auth", "dynamic")
    start = time.monotonic()
    error = refused(lambda: auth.call("register", username=unique(), password="p" * 1_000_000))
    assert "4096" in error.message
    name = unique()
    auth.call("register", username=name, password="pw")
    refused(lambda: auth.call("login", username=name, password="p" * 1_000_000))
    assert time.monotonic() - start < 1.5


def test_megabyte_password_is_refused_fast_over_http(local_stack):
    start = time.monotonic()
    web = login(local_stack, unique(), "p" * 1_000_000, register=True)
    assert web.last.status_code == 200 and "4096 bytes" in web.last.text
    assert time.monotonic() - start < 2


@pytest.mark.parametrize("origin", ["http://evil.example", "null",
                                    "http://127.0.0.1.evil.example:8080"])
def test_cross_site_post_is_refused_and_moves_nothing(local_stack, two_users, origin):
    (a, web_a), (b, _) = two_users
    page = web_a.post(local_stack.url("transfer"), headers={"Origin": origin}, timeout=30,
                      data={"recipient": b, "zoobars": "5", "submission": "Send"})
    assert page.status_code == 403
    assert zoobars_on_users_page(web_a, local_stack, a) == 10


def test_same_site_post_with_origin_is_accepted(local_stack, two_users):
    (a, web_a), (b, _) = two_users
    page = web_a.post(local_stack.url("transfer"), headers={"Origin": local_stack.base},
                      data={"recipient": b, "zoobars": "5", "submission": "Send"}, timeout=30)
    assert page.status_code == 200 and "Sent 5 zoobars" in page.text


def test_forged_cookie_is_not_a_login(local_stack, two_users):
    (a, _), _ = two_users
    page = requests.get(local_stack.url(), cookies={"PyZoobarLogin": f"{a}#forged"},
                        timeout=30)
    assert f"Log out {a}" not in page.text and "login_username" in page.text


def test_plain_profile_markup_is_sanitised_and_text_kept(local_stack, two_users):
    (a, web_a), (b, web_b) = two_users
    text = ('<b>bold</b>  two  spaces\n\tand a tab <script>alert(1)</script>'
            '<img src=x onerror="alert(2)"> 1 < 2')
    shown = save_profile_and_view(local_stack, web_a, a, web_b, text)
    assert "<b>bold</b>  two  spaces\n\tand a tab " in shown
    assert "<script" not in shown and "onerror" not in shown and "1 &lt; 2" in shown


def test_profile_text_is_stored_only_by_the_profile_store(local_stack, two_users):
    (a, web_a), _ = two_users
    web_a.post(local_stack.url(), data={"profile_update": "stored-elsewhere-42",
                                        "profile_submit": "Save"}, timeout=30)
    assert local_stack.query("profile", "SELECT profile FROM profile WHERE username = ?",
                             (a,)) == [("stored-elsewhere-42",)]
    columns = [row[1] for row in local_stack.query("person", "PRAGMA table_info(person)")]
    assert columns == ["username"]


def test_profile_store_refuses_a_write_without_the_owners_token(local_stack, pair):
    a, _, _, token_b = pair
    store = local_stack.client("profilestore", "dynamic")
    refused(lambda: store.call("set_profile", username=a, token=token_b, text="defaced"))
    assert store.call("get_profile", username=a) == ""


def test_auth_refuses_callers_outside_its_table_row(local_stack):
    for caller in ("echo", "profile", "static"):
        auth = local_stack.client("auth", caller)
        refused(lambda auth=auth: auth.call("login", username="x", password="y"), rpc.FORBIDDEN)


def test_honeychecker_answers_only_auth(local_stack):
    for caller in ("dynamic", "bank", "profile"):
        hc = local_stack.client("honeychecker", caller)
        refused(lambda hc=hc: hc.call("check", username="x", index=0), rpc.FORBIDDEN)


@pytest.mark.parametrize("line", [b"garbage\n", b'["login"]\n', b'["login", {"username": 1}]\n',
                                  b'["nope", {}]\n', b"\xff\n"])
def test_services_survive_malformed_rpc_lines(local_stack, line):
    import socket
    for section in ("auth", "bank", "echo", "honeychecker", "profilestore"):
        with socket.create_connection(local_stack.address(section), timeout=10) as sock:
            sock.sendall(line)
            assert b'"error"' in sock.makefile("rb").readline()
    assert local_stack.client("echo", "dynamic").call("echo", s="alive") == "alive"


def test_refused_callers_are_logged_by_the_service(local_stack):
    with pytest.raises(rpc.RemoteError):
        local_stack.client("bank", "echo").call("new_account", username="intruder")
    deadline = time.monotonic() + 5
    while "bank: refused 'new_account' to echo" not in local_stack.log_text():
        assert time.monotonic() < deadline
        time.sleep(0.1)
