"""auth: the only holder of credentials and tokens.

Database ``cred`` (table ``cred``: username, password = the salted hash string
with the user's sweetwords, salt, token; table ``name_skeleton``: username, its
TR39 skeleton). Registration asks the honeychecker to remember which sweetword
is real and the bank to open the account under a new random account id. A
login that matches a honeyword is refused like a wrong password, and the
honeychecker raises the alarm.

Names are stored in their canonical form (``zoobar.usernames``); a new name
that is taken, or that looks like an existing one, is refused before any
hashing. Registrations hash on all cores but one, one at a time, with a short
line behind them: a flood of registrations gets "busy" replies instead of
taking the CPU from logins.
"""

from __future__ import annotations

import functools
import hmac
import os
import secrets
import sys
import unicodedata

from sqlalchemy import String, delete, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from zoobar import db, passwords, rpc, usernames

MAX_USERNAME = 64
TOKEN_BYTES = 24          # 192 random bits
ACCOUNT_ID_BYTES = 16     # 128 random bits
LOGIN_FAILED = "login failed: unknown user or wrong password"
BUSY = "the site is busy with other registrations; please try again in a moment"
# Registrations hash one at a time on all cores but one (a login finds a free
# core), with a few more waiting; at 600 000 iterations one takes about 3 s.
HASH_WORKERS = max(1, (os.cpu_count() or 2) - 1)
REGISTRATIONS_RUNNING = 1
REGISTRATIONS_WAITING = 4


class CredBase(DeclarativeBase):
    pass


class Cred(CredBase):
    __tablename__ = "cred"
    username: Mapped[str] = mapped_column(String, primary_key=True)
    password: Mapped[str] = mapped_column(String, nullable=False)
    salt: Mapped[str] = mapped_column(String, nullable=False)
    token: Mapped[str | None] = mapped_column(String, nullable=True)


class NameSkeleton(CredBase):
    __tablename__ = "name_skeleton"
    username: Mapped[str] = mapped_column(String, primary_key=True)
    skeleton: Mapped[str] = mapped_column(String, nullable=False, index=True)


cred_db = db.Database("cred", CredBase)
hashing = passwords.WorkLimit(REGISTRATIONS_RUNNING, REGISTRATIONS_WAITING)


def check_username(username: str) -> None:
    if not username or len(username) > MAX_USERNAME:
        raise rpc.Refused(f"a username has 1 to {MAX_USERNAME} characters")
    if username != username.strip():
        raise rpc.Refused("a username cannot start or end with spaces")
    if any(unicodedata.category(c).startswith("C") for c in username):
        raise rpc.Refused("a username cannot contain control characters")


def _hash(password: str, wait: bool = True) -> passwords.Stored:
    """The sweetwords' hashes, within the registration hashing limit."""
    try:
        with hashing.slot(wait):
            return passwords.hash_sweetwords(password, workers=HASH_WORKERS)
    except passwords.BadPassword as err:
        raise rpc.Refused(str(err)) from None
    except passwords.Busy:
        raise rpc.Refused(BUSY) from None


def _new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def _check_name_is_free(s: Session, username: str, skeleton: str) -> None:
    if s.get(Cred, username) is not None:
        raise rpc.Refused(f"the username {username!r} is taken")
    _record_missing_skeletons(s)
    lookalike = s.scalars(select(NameSkeleton.username).where(
        NameSkeleton.skeleton == skeleton, NameSkeleton.username != username)).first()
    if lookalike is not None:
        raise rpc.Refused(f"the username {username!r} looks too much like an existing one")


def _record_missing_skeletons(s: Session) -> None:
    """Skeletons for accounts made before skeletons were kept (usually none)."""
    missing = s.scalars(select(Cred.username).outerjoin(
        NameSkeleton, NameSkeleton.username == Cred.username)
        .where(NameSkeleton.username.is_(None))).all()
    for name in missing:
        s.add(NameSkeleton(username=name, skeleton=usernames.skeleton(name)))


class Auth(rpc.Service):
    name = "auth"

    @functools.cached_property
    def honeychecker(self) -> rpc.Client:
        return rpc.client("honeychecker")

    @functools.cached_property
    def bank(self) -> rpc.Client:
        return rpc.client("bank")

    @rpc.method(callers={"dynamic"})
    def register(self, username: str, password: str) -> str:
        username = usernames.canonical(username)
        check_username(username)
        if not password:
            raise rpc.Refused("the password cannot be empty")
        skeleton = usernames.skeleton(username)
        with cred_db.session() as s:      # before any hashing: a taken name costs nothing
            _check_name_is_free(s, username, skeleton)
        stored = _hash(password)
        token = _new_token()
        with cred_db.session() as s:
            _check_name_is_free(s, username, skeleton)     # again: others ran meanwhile
            # Inside the transaction: a failure here leaves no half-made user.
            self.honeychecker.call("set_index", username=username, index=stored.real_index)
            s.add(Cred(username=username, password=stored.password, salt=stored.salt,
                       token=token))
            s.add(NameSkeleton(username=username, skeleton=skeleton))
        try:
            self.bank.call("new_account", username=username,
                           account_id=secrets.token_hex(ACCOUNT_ID_BYTES))
        except rpc.RpcError:
            with cred_db.session() as s:
                s.execute(delete(Cred).where(Cred.username == username))
                s.execute(delete(NameSkeleton).where(NameSkeleton.username == username))
            raise
        return token

    @rpc.method(callers={"dynamic"})
    def login(self, username: str, password: str) -> str:
        username = usernames.canonical(username)
        try:
            passwords.encode(password)
        except passwords.BadPassword as err:
            raise rpc.Refused(str(err)) from None
        with cred_db.session() as s:
            row = s.get(Cred, username)
            stored, salt = (row.password, row.salt) if row else (None, None)
        if stored is None:
            raise rpc.Refused(LOGIN_FAILED)
        index = passwords.verify(password, stored, salt)
        if index is None:
            raise rpc.Refused(LOGIN_FAILED)
        if not passwords.is_legacy(stored):
            if not self.honeychecker.call("check", username=username, index=index):
                print(f"auth: refused a honeyword login for {username!r}", file=sys.stderr,
                      flush=True)
                raise rpc.Refused(LOGIN_FAILED)
        token = _new_token()
        upgrade = None
        if passwords.needs_upgrade(stored):
            try:
                upgrade = _hash(password, wait=False)
            except rpc.Refused:
                pass              # registrations are hashing: upgrade at a later login
        with cred_db.session() as s:
            row = s.get(Cred, username)
            if row is None or row.password != stored:
                raise rpc.Refused("the account changed during login; try again")
            if upgrade is not None:
                self.honeychecker.call("set_index", username=username,
                                       index=upgrade.real_index)
                row.password, row.salt = upgrade.password, upgrade.salt
            row.token = token
        return token

    @rpc.method(callers={"dynamic", "bank", "profilestore"})
    def check_token(self, username: str, token: str) -> bool:
        with cred_db.session() as s:
            row = s.get(Cred, username)
            current = row.token if row else None
        return bool(current) and bool(token) and hmac.compare_digest(
            current.encode(), token.encode("utf-8", "surrogatepass"))

    @rpc.method(callers={"dynamic"})
    def logout(self, username: str, token: str) -> None:
        if not self.check_token(username, token):
            return
        with cred_db.session() as s:
            row = s.get(Cred, username)
            if row is not None and row.token == token:
                row.token = None


def make_service() -> Auth:
    usernames.skeleton("")        # load the confusables table now, not in a first registration
    return Auth()
