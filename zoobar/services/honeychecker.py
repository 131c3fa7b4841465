"""honeychecker: knows only which of a user's sweetwords is the real password.

Database ``honeychecker``: table ``honeyindex`` (username, idx) and table
``alarms`` (id, time, username, idx) where every honeyword login is recorded;
each alarm is also printed to the service's log as a line starting ``ALARM``.
Only auth may call it.
"""

from __future__ import annotations

import sys
import time

from sqlalchemy import Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from zoobar import db, rpc


class HoneyBase(DeclarativeBase):
    pass


class HoneyIndex(HoneyBase):
    __tablename__ = "honeyindex"
    username: Mapped[str] = mapped_column(String, primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, nullable=False)


class Alarm(HoneyBase):
    __tablename__ = "alarms"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[str] = mapped_column(String, nullable=False)
    username: Mapped[str] = mapped_column(String, nullable=False)
    idx: Mapped[int] = mapped_column(Integer, nullable=False)


honey_db = db.Database("honeychecker", HoneyBase)


class Honeychecker(rpc.Service):
    name = "honeychecker"

    @rpc.method(callers={"auth"})
    def set_index(self, username: str, index: int) -> None:
        if index < 0:
            raise rpc.Refused("index must be >= 0")
        with honey_db.session() as s:
            db.put(s, HoneyIndex, username, idx=index)

    @rpc.method(callers={"auth"})
    def check(self, username: str, index: int) -> bool:
        with honey_db.session() as s:
            row = s.get(HoneyIndex, username)
            if row is not None and row.idx == index:
                return True
            when = time.ctime()
            s.add(Alarm(time=when, username=username, idx=index))
        reason = "no real index on record" if row is None else "a honeyword was used"
        print(f"ALARM {when}: login for {username!r} with sweetword {index}: {reason} "
              "(password database likely stolen)", file=sys.stderr, flush=True)
        return False


def make_service() -> Honeychecker:
    return Honeychecker()
