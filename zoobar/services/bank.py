"""The bank: the only holder of balances and of the transfer log.

Databases ``bank`` (table ``bank``: username, zoobars; table ``account``:
username, account_id) and ``transfer`` (table ``transfer``: id, sender,
recipient, amount, time). ``account_id`` is the opaque identity auth issues at
registration; the profile service keys an owner's files on it, so that a name
registered again (after a wipe) is a different account. Zoobars move only with a
valid token for the sender (checked with auth), or, for the profile service,
out of the profile owner's account. A transfer runs inside one ``BEGIN
IMMEDIATE`` transaction on the bank database, so concurrent transfers are
serialised; its log row is committed while that lock is held, just before the
balances.
"""

from __future__ import annotations

import secrets
import time

from sqlalchemy import Integer, String, bindparam, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from zoobar import db, rpc

INITIAL_ZOOBARS = 10
LOG_LIMIT = 1000
ACCOUNT_ID_BYTES = 16     # 128 random bits
MAX_ACCOUNT_ID = 64


class BankBase(DeclarativeBase):
    pass


class TransferBase(DeclarativeBase):
    pass


class Account(BankBase):
    __tablename__ = "bank"
    username: Mapped[str] = mapped_column(String, primary_key=True)
    zoobars: Mapped[int] = mapped_column(Integer, nullable=False)


class AccountId(BankBase):
    __tablename__ = "account"
    username: Mapped[str] = mapped_column(String, primary_key=True)
    account_id: Mapped[str] = mapped_column(String, nullable=False, unique=True)


def new_account_id() -> str:
    return secrets.token_hex(ACCOUNT_ID_BYTES)


class Transfer(TransferBase):
    __tablename__ = "transfer"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String, nullable=False, index=True)
    recipient: Mapped[str] = mapped_column(String, nullable=False, index=True)
    amount: Mapped[int] = mapped_column(Integer, nullable=False)
    time: Mapped[str] = mapped_column(String, nullable=False)


bank_db = db.Database("bank", BankBase)
transfer_db = db.Database("transfer", TransferBase)

# The read paths' statements, built once (db.Database.read).
_NAME = bindparam("username")
_BALANCE = select(Account.zoobars).where(Account.username == _NAME)
_ACCOUNT_ID = (select(AccountId.account_id).select_from(Account)
               .outerjoin(AccountId, AccountId.username == Account.username)
               .where(Account.username == _NAME))
_LOG = (select(Transfer.sender, Transfer.recipient, Transfer.amount, Transfer.time)
        .where((Transfer.sender == _NAME) | (Transfer.recipient == _NAME))
        .order_by(Transfer.id.desc()).limit(LOG_LIMIT))


class Bank(rpc.Service):
    name = "bank"

    @rpc.method(callers={"auth"})
    def new_account(self, username: str, account_id: str | None = None) -> int:
        """Open ``username``'s account (idempotent: an existing one keeps its zoobars).
        ``account_id`` is auth's word on who holds the name now: it replaces any
        earlier id, so files keyed on the old one stay with the old account."""
        if account_id is not None and not 0 < len(account_id) <= MAX_ACCOUNT_ID:
            raise rpc.Refused(f"an account id has 1 to {MAX_ACCOUNT_ID} characters")
        with bank_db.session() as s:
            account = s.get(Account, username)
            if account is None:
                account = Account(username=username, zoobars=INITIAL_ZOOBARS)
                s.add(account)
            if account_id is not None:
                db.put(s, AccountId, username, account_id=account_id)
            return account.zoobars

    @rpc.method(callers={"profile"})
    def account_id(self, username: str) -> str | None:
        """The account's opaque id (made now for an account older than ids), or None."""
        found = bank_db.read(_ACCOUNT_ID, username=username)
        if not found:
            return None
        if found[0].account_id is not None:
            return found[0].account_id
        with bank_db.session() as s:
            if s.get(Account, username) is None:
                return None
            row = s.get(AccountId, username)
            if row is None:
                row = AccountId(username=username, account_id=new_account_id())
                s.add(row)
            return row.account_id

    @rpc.method(callers={"dynamic", "profile"})
    def balance(self, username: str) -> int:
        found = bank_db.read(_BALANCE, username=username)
        if not found:
            raise rpc.Refused(f"no such user: {username!r}")
        return found[0].zoobars

    @rpc.method(callers={"dynamic"})
    def transfer(self, sender: str, recipient: str, amount: int, token: str) -> int:
        _check_amount(amount)
        if not rpc.client("auth").call("check_token", username=sender, token=token):
            raise rpc.Refused("not authorised: invalid token for the sender")
        return self._move(sender, recipient, amount)

    @rpc.method(callers={"profile"})
    def profile_xfer(self, owner: str, recipient: str, amount: int) -> int:
        # The profile service is the proof: it runs the owner's code and may
        # move only the owner's zoobars.
        _check_amount(amount)
        return self._move(owner, recipient, amount)

    @rpc.method(callers={"dynamic", "profile"})
    def get_log(self, username: str) -> list:
        return [row._asdict() for row in transfer_db.read(_LOG, username=username)]

    def _move(self, sender: str, recipient: str, amount: int) -> int:
        if sender == recipient:
            raise rpc.Refused("cannot transfer to yourself")
        with bank_db.session() as s:
            source = s.get(Account, sender)
            target = s.get(Account, recipient)
            if source is None:
                raise rpc.Refused(f"no such user: {sender!r}")
            if target is None:
                raise rpc.Refused(f"no such user: {recipient!r}")
            if source.zoobars < amount:
                raise rpc.Refused(f"insufficient funds: {sender} has {source.zoobars} zoobars")
            source.zoobars -= amount
            target.zoobars += amount
            s.flush()
            with transfer_db.session() as log:
                log.add(Transfer(sender=sender, recipient=recipient, amount=amount,
                                 time=time.ctime()))
            return source.zoobars


def _check_amount(amount: int) -> None:
    if amount < 1:
        raise rpc.Refused(f"amount must be a whole number of zoobars, at least 1 (got {amount})")


def make_service() -> Bank:
    return Bank()
