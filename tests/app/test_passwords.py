"""Password storage: salted PBKDF2 with honeywords, limits, and the course's legacy format."""

from __future__ import annotations

import time

import pbkdf2
import pytest

from zoobar import passwords

FAST = 1000


def test_default_is_600000_pbkdf2_sha256_iterations(monkeypatch):
    monkeypatch.delenv("ZOOBAR_PBKDF2_ITERATIONS", raising=False)
    assert passwords.iterations() == 600_000
    stored = passwords.hash_sweetwords("correct horse", k=1)
    assert stored.password.startswith("pbkdf2_sha256$600000$")
    assert passwords.verify("correct horse", stored.password, stored.salt) == 0


def test_stored_format_describes_scheme_iterations_salt_and_k_hashes():
    stored = passwords.hash_sweetwords("s3cret!", k=20, rounds=FAST)
    scheme, rounds, salt, hashes = stored.password.split("$")
    assert (scheme, rounds, salt) == ("pbkdf2_sha256", str(FAST), stored.salt)
    assert len(bytes.fromhex(salt)) >= 16
    assert len(hashes.split(":")) == 20
    assert "s3cret" not in stored.password


def test_real_password_matches_at_the_real_index():
    stored = passwords.hash_sweetwords("Tr0ub4dor&3", k=20, rounds=FAST)
    assert passwords.verify("Tr0ub4dor&3", stored.password, stored.salt) == stored.real_index


def test_wrong_password_matches_nothing():
    stored = passwords.hash_sweetwords("Tr0ub4dor&3", k=5, rounds=FAST)
    assert passwords.verify("tr0ub4dor&3x", stored.password, stored.salt) is None


def test_each_hash_gets_its_own_random_salt():
    one = passwords.hash_sweetwords("same", k=1, rounds=FAST)
    two = passwords.hash_sweetwords("same", k=1, rounds=FAST)
    assert one.salt != two.salt and one.password != two.password


def test_honeywords_are_distinct_and_never_the_password():
    words = passwords.honeywords("summer2024!", 19)
    assert len(set(words)) == 19 and "summer2024!" not in words


def test_honeywords_look_like_the_password():
    for word in passwords.honeywords("Summer2024!", 19):
        assert abs(len(word) - len("Summer2024!")) <= 3
        assert word[:6].lower() == "summer"


@pytest.mark.parametrize("password", ["a", "7", "!", "ab", "ünï", "x" * 4096])
def test_honeywords_exist_for_short_odd_and_maximal_passwords(password):
    words = passwords.honeywords(password, 19)
    assert len(set(words)) == 19 and password not in words
    assert all(len(w.encode()) <= passwords.MAX_PASSWORD_BYTES for w in words)


def test_password_over_4096_bytes_is_refused_before_hashing():
    start = time.monotonic()
    with pytest.raises(passwords.BadPassword):
        passwords.hash_sweetwords("x" * (1 << 20), k=20, rounds=600_000)
    with pytest.raises(passwords.BadPassword):
        passwords.verify("é" * 2049, "pbkdf2_sha256$600000$00$00", "00")
    assert time.monotonic() - start < 0.1      # one PBKDF2 at 600000 takes ~0.18 s


def test_legacy_hash_from_the_pbkdf2_package_verifies():
    salt = "Kq3bW9ZtQ2c="
    legacy = pbkdf2.PBKDF2("hunter2", salt).hexread(32)
    assert passwords.is_legacy(legacy)
    assert passwords.verify("hunter2", legacy, salt) == 0
    assert passwords.verify("hunter3", legacy, salt) is None


def test_legacy_hashes_and_other_iteration_counts_need_upgrading(monkeypatch):
    monkeypatch.setenv("ZOOBAR_PBKDF2_ITERATIONS", str(FAST))
    assert passwords.needs_upgrade(pbkdf2.PBKDF2("pw", "salt").hexread(32))
    assert passwords.needs_upgrade(passwords.hash_sweetwords("pw", k=1, rounds=2000).password)
    assert not passwords.needs_upgrade(passwords.hash_sweetwords("pw", k=1).password)


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_bad_iteration_setting_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("ZOOBAR_PBKDF2_ITERATIONS", value)
    with pytest.raises(ValueError, match="ZOOBAR_PBKDF2_ITERATIONS"):
        passwords.iterations()
