"""Account identity (issue 12 item 5): auth issues an opaque random id at
registration, the bank keeps it (table ``account`` in db ``bank``) and tells
the profile service; a name registered again after a wipe is another account."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.app.helpers import unique
from tests.app.test_lifecycle import RPC_CORE
from tests.stack import running_stack
from zoobar import rpc

ACCOUNT_ID = re.compile(r"[0-9a-f]{32}")


def test_registration_opens_the_account_under_a_random_id(local_stack):
    auth = local_stack.client("auth", "dynamic")
    a, b = unique(), unique()
    auth.call("register", username=a, password="pw")
    auth.call("register", username=b, password="pw")
    bank = local_stack.client("bank", "profile")
    id_a, id_b = bank.call("account_id", username=a), bank.call("account_id", username=b)
    assert ACCOUNT_ID.fullmatch(id_a) and ACCOUNT_ID.fullmatch(id_b) and id_a != id_b
    assert local_stack.query("bank", "SELECT account_id FROM account WHERE username = ?",
                             (a,)) == [(id_a,)]
    assert bank.call("account_id", username=a) == id_a          # stable


def test_the_bank_tables_are_unchanged_beside_account(local_stack):
    columns = {t: [r[1] for r in local_stack.query("bank", f"PRAGMA table_info({t})")]
               for t in ("bank", "account")}
    assert columns == {"bank": ["username", "zoobars"], "account": ["username", "account_id"]}


def test_an_unknown_user_has_no_account_id(local_stack):
    assert local_stack.client("bank", "profile").call("account_id", username=unique()) is None


def test_an_account_older_than_ids_gets_one_on_first_ask(local_stack):
    name = unique()
    local_stack.client("bank", "auth").call("new_account", username=name)   # as before ids
    assert local_stack.query("bank", "SELECT * FROM account WHERE username = ?", (name,)) == []
    bank = local_stack.client("bank", "profile")
    first = bank.call("account_id", username=name)
    assert ACCOUNT_ID.fullmatch(first) and bank.call("account_id", username=name) == first


@pytest.mark.parametrize("caller", ["dynamic", "auth", "echo", ""])
def test_account_id_answers_only_the_profile_service(local_stack, caller):
    with pytest.raises(rpc.RemoteError) as err:
        local_stack.client("bank", caller).call("account_id", username="x")
    assert err.value.type == rpc.FORBIDDEN


def test_a_name_registered_again_after_a_wipe_is_another_account(tmp_path):
    with running_stack(tmp_path, sections=RPC_CORE) as stack:
        auth, bank = stack.client("auth", "dynamic"), stack.client("bank", "profile")
        auth.call("register", username="reused", password="first holder")
        before = bank.call("account_id", username="reused")
        shutil.rmtree(tmp_path / "db")              # the course's documented wipe
        auth.call("register", username="reused", password="second holder")
        after = bank.call("account_id", username="reused")
        assert ACCOUNT_ID.fullmatch(after) and after != before


def test_account_id_answers_the_id_auth_gave_last(local_stack):
    # The bank's read path (no transaction of its own) sees the replaced id at once.
    name = unique()
    auth = local_stack.client("bank", "auth")
    bank = local_stack.client("bank", "profile")
    auth.call("new_account", username=name, account_id="first-id")
    assert bank.call("account_id", username=name) == "first-id"
    auth.call("new_account", username=name, account_id="second-id")
    assert bank.call("account_id", username=name) == "second-id"
