"""The front end's own data: the ``person`` table (username only) in db ``person``."""

from __future__ import annotations

from sqlalchemy import String, bindparam, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from zoobar import db


class PersonBase(DeclarativeBase):
    pass


class Person(PersonBase):
    __tablename__ = "person"
    username: Mapped[str] = mapped_column(String, primary_key=True)


person_db = db.Database("person", PersonBase)
_EXISTS = select(Person.username).where(Person.username == bindparam("username"))


def add(username: str) -> None:
    with person_db.session() as s:
        if s.get(Person, username) is None:
            s.add(Person(username=username))


def exists(username: str) -> bool:
    return bool(person_db.read(_EXISTS, username=username))
