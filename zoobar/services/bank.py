"""The bank: the only holder of balances and of the transfer log.

Databases ``bank`` (table ``bank``: username, zoobars) and ``transfer`` (table
``transfer``: id, sender, recipient, amount, time). Zoobars move only with a
valid token for the sender (checked with auth), or, for the profile service,
out of the profile owner's account. A transfer runs inside one ``BEGIN
IMMEDIATE`` transaction on the bank database, so concurrent transfers are
serialised; its log row is committed while that lock is held, just before the
balances.
"""

from __future__ import annotations

import time

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from zoobar import db, rpc

INITIAL_ZOOBARS = 10
LOG_LIMIT = 1000


class BankBase(DeclarativeBase):
    pass


class TransferBase(DeclarativeBase):
    pass


class Account(BankBase):
    __tablename__ = "bank"
    username: Mapped[str] = mapped_column(String, primary_key=True)
    zoobars: Mapped[int] = mapped_column(Integer, nullable=False)


class Transfer(TransferBase):
    __tablename__ = "transfer"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String, nullable=False, index=True)
    recipient: Mapped[str] = mapped_column(String, nullable=False, index=True)
    amount: Mapped[int] = mapped_column(Integer, nullable=False)
    time: Mapped[str] = mapped_column(String, nullable=False)


bank_db = db.Database("bank", BankBase)
transfer_db = db.Database("transfer", TransferBase)


class Bank(rpc.Service):
    name = "bank"

    @rpc.method(callers={"auth"})
    def new_account(self, username: str) -> int:
        with bank_db.session() as s:
            account = s.get(Account, username)
            if account is None:
                account = Account(username=username, zoobars=INITIAL_ZOOBARS)
                s.add(account)
            return account.zoobars

    @rpc.method(callers={"dynamic", "profile"})
    def balance(self, username: str) -> int:
        with bank_db.session() as s:
            account = s.get(Account, username)
            if account is None:
                raise rpc.Refused(f"no such user: {username!r}")
            return account.zoobars

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
        with transfer_db.session() as s:
            mine = (Transfer.sender == username) | (Transfer.recipient == username)
            rows = s.scalars(select(Transfer).where(mine)
                             .order_by(Transfer.id.desc()).limit(LOG_LIMIT))
            return [{"sender": t.sender, "recipient": t.recipient, "amount": t.amount,
                     "time": t.time} for t in rows]

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
