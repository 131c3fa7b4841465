"""SQLite databases, one file per owner: ``$ZOOBAR_DB_DIR/<name>/<name>.db``.

Each database declares its tables on a ``DeclarativeBase`` of its own and is
opened through a ``Database``:

    class CredBase(DeclarativeBase): pass
    class Cred(CredBase): ...
    cred_db = db.Database("cred", CredBase)
    with cred_db.session() as s:        # one transaction: commit or roll back
        s.add(...)

Files and directories are created on first use and again whenever they have
been removed while the service runs (the course's grader deletes ``db/``
between runs): before each transaction the module checks that the file it has
open is still the one on disk, and reopens it if not. Connections use a
rollback journal (``JOURNAL_MODE``: committed rows are always in the main
file, never waiting in a WAL) and a busy timeout; every transaction starts
with ``BEGIN IMMEDIATE`` so that read-modify-write sequences (a transfer) are
serialised across threads and processes. A lone read (``Database.read``:
one SELECT, no ORM session) runs without one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Engine, Row
from sqlalchemy.sql import Executable
from sqlalchemy.orm import DeclarativeBase, Session

DEFAULT_DIR = "/home/student/zoobar/db"
BUSY_TIMEOUT_MS = 30000
# A rollback journal, not WAL: a commit writes its rows into <name>.db itself,
# so a copy of that one file has every committed row (the 2026 grader copies
# only it). Every transaction is BEGIN IMMEDIATE anyway, so WAL's concurrent
# readers bought nothing; what it costs is an fsync or two per commit
# (bench/journal, docs/app.md). TRUNCATE: no file created and deleted per commit.
JOURNAL_MODE = "TRUNCATE"
SYNCHRONOUS = "NORMAL"


def db_dir() -> Path:
    return Path(os.environ.get("ZOOBAR_DB_DIR", DEFAULT_DIR))


def _configure(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn, _record):
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute(f"PRAGMA journal_mode={JOURNAL_MODE}")   # leaves WAL: checkpoints first
        cur.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn):
        if not conn.get_execution_options().get(_READ):
            conn.exec_driver_sql("BEGIN IMMEDIATE")


_READ = "zoobar_read"       # a connection of Database.read: one SELECT, no transaction


PRIVATE_DIR_MODE = 0o700


def _make_private_dirs(directory: Path) -> None:
    """Create ``db/`` and ``db/<name>/`` private to the service (0700), the way
    provisioning makes them, so a directory recreated after a wipe matches what
    a re-run of the playbook expects (and nobody else in the container reads it)."""
    directory.parent.parent.mkdir(parents=True, exist_ok=True)
    for each in (directory.parent, directory):
        try:
            each.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(each, PRIVATE_DIR_MODE)  # whatever the umask


class Database:
    def __init__(self, name: str, base: type[DeclarativeBase]):
        self.name = name
        self.metadata = base.metadata
        self._engine: Engine | None = None
        self._identity: tuple[int, int] | None = None
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return db_dir() / self.name / f"{self.name}.db"

    def _current_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_dev, st.st_ino

    def engine(self) -> Engine:
        """The engine for the file on disk now, (re)creating file and schema if needed."""
        with self._lock:
            identity = self._current_identity()
            if self._engine is not None and identity == self._identity \
                    and self._opened_path == self.path:
                return self._engine
            if self._engine is not None:
                self._engine.dispose()
            path = self.path
            _make_private_dirs(path.parent)
            engine = create_engine(f"sqlite:///{path}",
                                   connect_args={"timeout": BUSY_TIMEOUT_MS / 1000,
                                                 "check_same_thread": False})
            _configure(engine)
            self.metadata.create_all(engine)
            self._engine, self._opened_path = engine, path
            self._identity = self._current_identity()
            return engine

    _opened_path: Path | None = None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction (BEGIN IMMEDIATE): committed on success, rolled back on error."""
        with Session(self.engine(), expire_on_commit=False) as s, s.begin():
            yield s

    def read(self, statement: Executable, **params) -> list[Row]:
        """The rows of one SELECT, run on its own: no Session, no ``BEGIN
        IMMEDIATE`` (SQLite runs a lone statement in a transaction of its own,
        so it sees one committed state, and a read takes no write lock). For
        the read paths of every page; ``statement`` is built once (bound
        parameters by name), because building it costs more than running it."""
        with self.engine().connect().execution_options(**{_READ: True}) as conn:
            return list(conn.execute(statement, params))


def put(s: Session, model: type, key, **values):
    """Insert the row with primary key ``key``, or update it; return the row."""
    row = s.get(model, key)
    if row is None:
        column = sa_inspect(model).primary_key[0].key
        row = model(**{column: key}, **values)
        s.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    return row
