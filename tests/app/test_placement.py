"""Data placement (DESIGN §3, §4.2): who holds which data after the grader's flows."""

from __future__ import annotations

import uuid

from tests.app.helpers import register, send, unique


def raw_bytes(stack, name: str) -> bytes:
    path = stack.db_path(name)
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal"))
                    if p.exists())


def columns(stack, db: str, table: str) -> list[str]:
    return [row[1] for row in stack.query(db, f"PRAGMA table_info({table})")]


def test_person_table_has_only_the_username(local_stack):
    register(local_stack, unique())
    assert columns(local_stack, "person", "person") == ["username"]


def test_cred_table_has_the_course_columns(local_stack):
    register(local_stack, unique())
    assert columns(local_stack, "cred", "cred") == ["username", "password", "salt", "token"]


def test_cred_db_holds_no_plaintext_password(local_stack):
    secret = f"Plaintext-{uuid.uuid4().hex}"
    name = unique()
    register(local_stack, name, secret)
    assert secret.encode() not in raw_bytes(local_stack, "cred")
    stored, salt = local_stack.query("cred", "SELECT password, salt FROM cred WHERE username = ?",
                                     (name,))[0]
    assert stored.startswith("pbkdf2_sha256$") and salt in stored


def test_bank_db_holds_the_balances_and_transfer_db_the_log(local_stack):
    a, b = unique(), unique()
    web = register(local_stack, a)
    register(local_stack, b)
    send(web, local_stack, b, "3")
    assert columns(local_stack, "bank", "bank") == ["username", "zoobars"]
    assert dict(local_stack.query("bank", "SELECT username, zoobars FROM bank WHERE username "
                                          "IN (?, ?)", (a, b))) == {a: 7, b: 13}
    assert columns(local_stack, "transfer", "transfer") == ["id", "sender", "recipient",
                                                            "amount", "time"]
    assert local_stack.query("transfer", "SELECT sender, recipient, amount FROM transfer "
                                         "WHERE sender = ?", (a,)) == [(a, b, 3)]


def test_tokens_are_at_least_128_random_bits(local_stack):
    auth = local_stack.client("auth", "dynamic")
    tokens = {auth.call("register", username=unique(), password="pw") for _ in range(5)}
    assert len(tokens) == 5
    assert all(len(t) >= 32 and t.replace("-", "").replace("_", "").isalnum() for t in tokens)
