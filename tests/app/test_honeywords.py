"""Honeywords: auth keeps k sweetwords, the honeychecker the real index, and a honeyword
login is refused and raises an alarm an operator can see."""

from __future__ import annotations

import time

import pbkdf2
import pytest

from tests.app.helpers import unique
from zoobar import passwords, rpc
from zoobar.services.auth import LOGIN_FAILED


@pytest.fixture
def known_sweetwords(local_stack):
    """A user whose stored sweetwords the test knows: the real one at the real index."""
    name = unique("honey")
    auth = local_stack.client("auth", "dynamic")
    auth.call("register", username=name, password="Real-Pass-1")
    (real,) = local_stack.query("honeychecker", "SELECT idx FROM honeyindex WHERE username = ?",
                                (name,))[0]
    words = [f"Real-Pass-{i + 2}" for i in range(passwords.DEFAULT_HONEYWORDS)]
    words[real] = "Real-Pass-1"
    stored, salt = passwords.hash_words(words, rounds=1000)
    local_stack.query("cred", "UPDATE cred SET password = ?, salt = ? WHERE username = ?",
                      (stored, salt, name))
    honeyword = words[(real + 1) % len(words)]
    return name, honeyword


def alarms(stack, name):
    return stack.query("honeychecker", "SELECT username, idx FROM alarms WHERE username = ?",
                       (name,))


def test_auth_stores_20_sweetwords_per_user_by_default(local_stack):
    name = unique()
    local_stack.client("auth", "dynamic").call("register", username=name, password="pw")
    stored = local_stack.query("cred", "SELECT password FROM cred WHERE username = ?", (name,))
    assert len(stored[0][0].split("$")[3].split(":")) == 20


def test_honeychecker_stores_only_an_index(local_stack):
    columns = [r[1] for r in local_stack.query("honeychecker", "PRAGMA table_info(honeyindex)")]
    assert columns == ["username", "idx"]


def test_honeyword_login_is_refused_like_a_wrong_password(local_stack, known_sweetwords):
    name, honeyword = known_sweetwords
    auth = local_stack.client("auth", "dynamic")
    with pytest.raises(rpc.RemoteError) as err:
        auth.call("login", username=name, password=honeyword)
    assert (err.value.type, err.value.message) == (rpc.REFUSED, LOGIN_FAILED)
    assert auth.call("login", username=name, password="Real-Pass-1")


def test_honeyword_login_raises_a_recorded_and_logged_alarm(local_stack, known_sweetwords):
    name, honeyword = known_sweetwords
    with pytest.raises(rpc.RemoteError):
        local_stack.client("auth", "dynamic").call("login", username=name, password=honeyword)
    assert len(alarms(local_stack, name)) == 1
    deadline = time.monotonic() + 5
    while "ALARM" not in local_stack.log_text() or repr(name) not in local_stack.log_text():
        assert time.monotonic() < deadline, "no ALARM line in the honeychecker's log"
        time.sleep(0.1)


def test_wrong_password_raises_no_alarm(local_stack, known_sweetwords):
    name, _ = known_sweetwords
    with pytest.raises(rpc.RemoteError):
        local_stack.client("auth", "dynamic").call("login", username=name, password="nope")
    assert alarms(local_stack, name) == []


def test_legacy_course_hash_logs_in_and_is_upgraded(local_stack):
    name = unique("legacy")
    auth = local_stack.client("auth", "dynamic")
    auth.call("register", username=name, password="old-pw")
    salt = "c2FsdHlzYWx0"
    local_stack.query("cred", "UPDATE cred SET password = ?, salt = ? WHERE username = ?",
                      (pbkdf2.PBKDF2("old-pw", salt).hexread(32), salt, name))
    assert auth.call("login", username=name, password="old-pw")
    stored = local_stack.query("cred", "SELECT password FROM cred WHERE username = ?", (name,))
    assert stored[0][0].startswith("pbkdf2_sha256$")
    assert auth.call("login", username=name, password="old-pw")
    assert alarms(local_stack, name) == []
