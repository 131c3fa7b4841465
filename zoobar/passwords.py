"""Password hashing for auth: salted PBKDF2, honeywords, and the course's legacy format.

Stored format (the ``password`` column), self-describing:

    pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>:<hash hex>:...

one PBKDF2-HMAC-SHA256 hash per sweetword (the real password and k-1
honeywords, in random order), all with the same per-user random salt, so a
login costs one PBKDF2 evaluation whatever k is. Which position holds the real
password is known only to the honeychecker service.

Legacy format (what the course's handout stored): ``password`` is the hex of
``PBKDF2-HMAC-SHA1(password, salt, 1000 iterations, 32 bytes)`` and ``salt`` is
the salt string; ``verify`` accepts it so that auth can upgrade it on login.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import string
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

SCHEME = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 600_000
DEFAULT_HONEYWORDS = 20
MAX_PASSWORD_BYTES = 4096
SALT_BYTES = 16
LEGACY_ITERATIONS = 1000
LEGACY_LENGTH = 32


class BadPassword(ValueError):
    """The password is refused before hashing (too long, not text)."""


def iterations() -> int:
    return _positive_env("ZOOBAR_PBKDF2_ITERATIONS", DEFAULT_ITERATIONS)


def honeyword_count() -> int:
    return _positive_env("ZOOBAR_HONEYWORDS", DEFAULT_HONEYWORDS)


def _positive_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1")
    return value


def encode(password: str) -> bytes:
    """The password's bytes, refusing oversized ones before any hashing."""
    data = password.encode("utf-8", "surrogatepass")
    if len(data) > MAX_PASSWORD_BYTES:
        raise BadPassword(f"passwords are limited to {MAX_PASSWORD_BYTES} bytes")
    return data


def _pbkdf2(password: str, salt: bytes, rounds: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", encode(password), salt, rounds)


@dataclass
class Stored:
    """What goes into the cred row: the hash string, its salt and the real index."""

    password: str
    salt: str
    real_index: int


def hash_sweetwords(password: str, k: int | None = None, rounds: int | None = None,
                    workers: int | None = None) -> Stored:
    """Hash the password together with k-1 honeywords; positions are shuffled."""
    encode(password)
    k = k or honeyword_count()
    words = [password, *honeywords(password, k - 1)]
    order = list(range(k))
    secrets.SystemRandom().shuffle(order)
    sweet = [words[i] for i in order]
    return Stored(*hash_words(sweet, rounds, workers), order.index(0))


def hash_words(words: list[str], rounds: int | None = None,
               workers: int | None = None) -> tuple[str, str]:
    """(stored hash string, salt hex) for these sweetwords, in this order, hashed by
    ``workers`` threads (default: one per core; pbkdf2_hmac releases the GIL)."""
    rounds = rounds or iterations()
    salt = secrets.token_bytes(SALT_BYTES)
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
        digests = list(pool.map(lambda w: _pbkdf2(w, salt, rounds).hex(), words))
    return f"{SCHEME}${rounds}${salt.hex()}${':'.join(digests)}", salt.hex()


class Busy(Exception):
    """Too much hashing work is already running or waiting."""


class WorkLimit:
    """At most ``running`` jobs at once and ``waiting`` more in line; past that,
    ``Busy`` at once (a flood of registrations must not queue without end)."""

    def __init__(self, running: int, waiting: int):
        self.running, self.waiting = running, waiting
        self._active = self._queued = 0
        self._cond = threading.Condition()

    @contextmanager
    def slot(self, wait: bool = True) -> Iterator[None]:
        with self._cond:
            if self._active >= self.running and (not wait or self._queued >= self.waiting):
                raise Busy(f"{self._active} running, {self._queued} waiting")
            self._queued += 1
            try:
                self._cond.wait_for(lambda: self._active < self.running)
            finally:
                self._queued -= 1
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify()


def is_legacy(stored: str) -> bool:
    return "$" not in stored


def needs_upgrade(stored: str) -> bool:
    if is_legacy(stored):
        return True
    return _parse(stored)[1] != iterations()


def _parse(stored: str) -> tuple[str, int, bytes, list[str]]:
    scheme, rounds, salt, hashes = stored.split("$")
    if scheme != SCHEME:
        raise ValueError(f"unknown password scheme {scheme!r}")
    return scheme, int(rounds), bytes.fromhex(salt), hashes.split(":")


def verify(password: str, stored: str, salt: str) -> int | None:
    """Index of the sweetword the password matches (0 for a legacy hash), or None.

    Every stored hash is compared, in constant time, whatever matches.
    """
    data = encode(password)
    if is_legacy(stored):
        digest = hashlib.pbkdf2_hmac("sha1", data, salt.encode(), LEGACY_ITERATIONS,
                                     LEGACY_LENGTH).hex()
        return 0 if hmac.compare_digest(digest, stored.lower()) else None
    _, rounds, salt_bytes, hashes = _parse(stored)
    digest = _pbkdf2(password, salt_bytes, rounds).hex()
    found = None
    for i, candidate in enumerate(hashes):
        if hmac.compare_digest(digest, candidate):
            found = i
    return found


# ---------------------------------------------------------------------------
# Honeywords: "chaffing by tweaking" (Juels & Rivest) so that they look like
# the real password: digits become other digits, symbols other symbols, the
# first letter may change case, and a password with nothing to tweak gets a tail.

_SYMBOLS = "!@#$%^&*?-_.+="
_rng = secrets.SystemRandom()


def _tweak(password: str) -> str:
    chars = list(password)
    changed = False
    first_letter = next((i for i, c in enumerate(chars) if c.isalpha()), None)
    for i, c in enumerate(chars):
        if c in string.digits and _rng.random() < 0.7:
            chars[i] = _rng.choice(string.digits)
        elif c in _SYMBOLS and _rng.random() < 0.5:
            chars[i] = _rng.choice(_SYMBOLS)
        elif i == first_letter and _rng.random() < 0.3:
            chars[i] = c.swapcase()        # people capitalise the first letter, or not
        else:
            continue
        changed = True
    word = "".join(chars)
    if not changed or word == password or _rng.random() < 0.25:
        tail = "".join(_rng.choice(string.digits) for _ in range(_rng.randint(1, 3)))
        word = word.rstrip(string.digits) + tail if word[-1:].isdigit() else word + tail
    return word


def honeywords(password: str, n: int) -> list[str]:
    """n distinct words, none equal to the password, shaped like it."""
    seen = {password}
    words: list[str] = []
    attempts = 0
    while len(words) < n:
        attempts += 1
        word = _tweak(password)
        if attempts > 50 * (n + 1):          # short passwords run out of tweaks
            word = password[:-4] + secrets.token_hex(2)
        if word not in seen and len(word.encode("utf-8", "surrogatepass")) <= MAX_PASSWORD_BYTES:
            seen.add(word)
            words.append(word)
    return words
