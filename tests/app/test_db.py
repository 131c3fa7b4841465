"""zoobar.db: per-owner SQLite files, recreated when removed, a rollback journal (every
committed row in the main file), immediate transactions."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import threading

import pytest
from sqlalchemy import Integer, String, bindparam, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from zoobar import db


class NoteBase(DeclarativeBase):
    pass


class Note(NoteBase):
    __tablename__ = "note"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(String)


@pytest.fixture
def notes(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOOBAR_DB_DIR", str(tmp_path / "db"))
    return db.Database("notes", NoteBase)


def add(database, text):
    with database.session() as s:
        s.add(Note(text=text))


def texts(database):
    with database.session() as s:
        return [n.text for n in s.scalars(select(Note).order_by(Note.id))]


def test_file_lives_at_db_dir_name_name_db(notes, tmp_path):
    add(notes, "hello")
    assert (tmp_path / "db/notes/notes.db").is_file()


def test_removed_directory_is_recreated_and_writes_land_in_the_new_file(notes, tmp_path):
    add(notes, "before")
    shutil.rmtree(tmp_path / "db")
    add(notes, "after")
    with sqlite3.connect(tmp_path / "db/notes/notes.db") as conn:
        assert conn.execute("SELECT text FROM note").fetchall() == [("after",)]


def test_recreated_directories_are_private_to_the_service(notes, tmp_path):
    add(notes, "before")
    shutil.rmtree(tmp_path / "db")
    add(notes, "after")
    for directory in (tmp_path / "db", tmp_path / "db/notes"):
        assert directory.stat().st_mode & 0o777 == 0o700, directory


def test_replaced_file_is_reopened(notes, tmp_path):
    add(notes, "old")
    path = tmp_path / "db/notes/notes.db"
    for suffix in ("", "-journal", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE note (id INTEGER PRIMARY KEY, text VARCHAR)")
        conn.execute("INSERT INTO note (text) VALUES ('other')")
    assert texts(notes) == ["other"]


def test_journal_mode_is_a_rollback_journal(notes, tmp_path):
    add(notes, "x")
    with notes.engine().connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "truncate"
    with contextlib.closing(sqlite3.connect(tmp_path / "db/notes/notes.db")) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() != ("wal",)   # not persistent WAL


def copy_of_main_file_alone(path, tmp_path):
    """What the 2026 grader reads: ``<name>.db`` copied out alone, no -wal or -journal."""
    copy = tmp_path / "copy" / path.name
    copy.parent.mkdir()
    shutil.copyfile(path, copy)
    return copy


def test_committed_rows_are_in_a_copy_of_the_main_file_alone(notes, tmp_path):
    for i in range(50):
        add(notes, f"row {i}")          # the service keeps its connections open meanwhile
    copy = copy_of_main_file_alone(tmp_path / "db/notes/notes.db", tmp_path)
    with contextlib.closing(sqlite3.connect(copy)) as conn:
        assert conn.execute("SELECT count(*) FROM note").fetchone() == (50,)


def test_a_database_left_in_wal_mode_is_converted_on_open(tmp_path, monkeypatch):
    path = tmp_path / "db/notes/notes.db"
    path.parent.mkdir(parents=True)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE note (id INTEGER PRIMARY KEY, text VARCHAR)")
        conn.execute("INSERT INTO note (text) VALUES ('from the wal days')")
        conn.commit()
    monkeypatch.setenv("ZOOBAR_DB_DIR", str(tmp_path / "db"))
    notes = db.Database("notes", NoteBase)
    add(notes, "now")
    copy = copy_of_main_file_alone(path, tmp_path)
    with contextlib.closing(sqlite3.connect(copy)) as conn:
        assert [r[0] for r in conn.execute("SELECT text FROM note ORDER BY id")] == \
            ["from the wal days", "now"]


def test_failed_transaction_is_rolled_back(notes):
    with pytest.raises(RuntimeError), notes.session() as s:
        s.add(Note(text="lost"))
        s.flush()
        raise RuntimeError("abort")
    assert texts(notes) == []


def test_concurrent_read_modify_write_transactions_do_not_lose_updates(notes):
    add(notes, "0")

    def bump():
        for _ in range(25):
            with notes.session() as s:
                note = s.get(Note, 1)
                note.text = str(int(note.text) + 1)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert texts(notes) == ["200"]


TEXTS = select(Note.text).where(Note.id >= bindparam("least")).order_by(Note.id)


def test_a_lone_read_sees_committed_rows_and_takes_no_write_lock(notes, tmp_path):
    add(notes, "committed")
    # Another process's transaction holds the write lock with a row not yet
    # committed: the read neither waits for it (a read in BEGIN IMMEDIATE
    # would, for the 30 s busy timeout) nor sees its row.
    with contextlib.closing(sqlite3.connect(tmp_path / "db/notes/notes.db",
                                            isolation_level=None)) as writer:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO note (text) VALUES ('pending')")
        found = []
        reader = threading.Thread(target=lambda: found.append(notes.read(TEXTS, least=1)))
        reader.start()
        reader.join(10)
        assert not reader.is_alive(), "the read waited for the writer's lock"
        writer.execute("COMMIT")
    assert [row.text for row in found[0]] == ["committed"]
    assert [row.text for row in notes.read(TEXTS, least=1)] == ["committed", "pending"]
    assert [row.text for row in notes.read(TEXTS, least=2)] == ["pending"]


def test_a_lone_read_after_a_wipe_reads_the_new_file(notes, tmp_path):
    add(notes, "before")
    shutil.rmtree(tmp_path / "db")
    assert notes.read(TEXTS, least=1) == []
    add(notes, "after")
    assert [row.text for row in notes.read(TEXTS, least=1)] == ["after"]


def test_transactions_still_begin_immediate_after_lone_reads(notes, tmp_path):
    # The read's connection goes back to the pool; the next session on it
    # must still take the write lock at its start.
    notes.read(TEXTS, least=1)
    with notes.session() as s:
        s.get(Note, 1)              # a read: only BEGIN IMMEDIATE takes the lock here
        with contextlib.closing(sqlite3.connect(tmp_path / "db/notes/notes.db",
                                                timeout=0)) as other:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
