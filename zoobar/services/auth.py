"""auth: the only holder of credentials and tokens.

Database ``cred`` (table ``cred``: username, password = the salted hash string
with the user's sweetwords, salt, token). Registration asks the honeychecker to
remember which sweetword is real and the bank to open the account. A login
that matches a honeyword is refused like a wrong password, and the
honeychecker raises the alarm.
"""

from __future__ import annotations

import hmac
import secrets
import sys
import unicodedata

from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from zoobar import db, passwords, rpc

MAX_USERNAME = 64
TOKEN_BYTES = 24          # 192 random bits
LOGIN_FAILED = "login failed: unknown user or wrong password"


class CredBase(DeclarativeBase):
    pass


class Cred(CredBase):
    __tablename__ = "cred"
    username: Mapped[str] = mapped_column(String, primary_key=True)
    password: Mapped[str] = mapped_column(String, nullable=False)
    salt: Mapped[str] = mapped_column(String, nullable=False)
    token: Mapped[str | None] = mapped_column(String, nullable=True)


cred_db = db.Database("cred", CredBase)


def check_username(username: str) -> None:
    if not username or len(username) > MAX_USERNAME:
        raise rpc.Refused(f"a username has 1 to {MAX_USERNAME} characters")
    if username != username.strip():
        raise rpc.Refused("a username cannot start or end with spaces")
    if any(unicodedata.category(c).startswith("C") for c in username):
        raise rpc.Refused("a username cannot contain control characters")


def _hash(password: str) -> passwords.Stored:
    try:
        return passwords.hash_sweetwords(password)
    except passwords.BadPassword as err:
        raise rpc.Refused(str(err)) from None


def _new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


class Auth(rpc.Service):
    name = "auth"

    def __init__(self):
        self.honeychecker = rpc.client("honeychecker")
        self.bank = rpc.client("bank")

    @rpc.method(callers={"dynamic"})
    def register(self, username: str, password: str) -> str:
        check_username(username)
        if not password:
            raise rpc.Refused("the password cannot be empty")
        stored = _hash(password)
        token = _new_token()
        with cred_db.session() as s:
            if s.get(Cred, username) is not None:
                raise rpc.Refused(f"the username {username!r} is taken")
            # Inside the transaction: a failure here leaves no half-made user.
            self.honeychecker.call("set_index", username=username, index=stored.real_index)
            s.add(Cred(username=username, password=stored.password, salt=stored.salt,
                       token=token))
        try:
            self.bank.call("new_account", username=username)
        except rpc.RpcError:
            with cred_db.session() as s:
                s.query(Cred).filter_by(username=username).delete()
            raise
        return token

    @rpc.method(callers={"dynamic"})
    def login(self, username: str, password: str) -> str:
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
        upgrade = _hash(password) if passwords.needs_upgrade(stored) else None
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
    return Auth()
