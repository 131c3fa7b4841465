"""Owner name -> sandbox uid: stable, and collision-free by construction.

A uid is never derived from the name alone (two names could hash alike):
the first time an owner runs, a uid is *assigned* in a transaction of a small
SQLite file that only the profile service can read, whose `uid` column is
UNIQUE. The (salted) hash of the name only chooses where the search for a free uid
starts (so that assignments spread over the range); the database guarantees
that no two names ever hold the same uid, and a name keeps its uid forever.

Names are stored as bytes (UTF-8 with surrogates kept), so any string,
including ``../x``, NUL or 1000 characters, is a key like any other.

The range must belong to the sandbox alone: a map refuses to open on a host
whose user or group database holds an id of the range (local mode runs on the
host itself, where those ids are real host ids; docs/sandbox.md).
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import sqlite3
import threading


class UidRangeExhausted(RuntimeError):
    """Every uid of the reserved range has an owner."""


class UidRangeInUse(RuntimeError):
    """A user or group of this system has an id of the sandbox's range."""


def range_users(first: int, last: int) -> list[str]:
    """Users and groups of this system (NSS: /etc/passwd, /etc/group, ...) whose
    id lies in [first, last]."""
    found = [f"user {u.pw_name} (uid {u.pw_uid})" for u in pwd.getpwall()
             if first <= u.pw_uid <= last]
    found += [f"group {g.gr_name} (gid {g.gr_gid})" for g in grp.getgrall()
              if first <= g.gr_gid <= last]
    return found


def check_range_unused(first: int, last: int) -> None:
    if found := range_users(first, last):
        raise UidRangeInUse(
            f"the sandbox's ids {first}-{last} must not belong to anyone on this system, but "
            f"{', '.join(found[:5])}{' ...' if len(found) > 5 else ''} do: a profile would run"
            " as them. Move them or the sandbox's range (UID_FIRST/UID_LAST in runner.py)")


def name_key(username: str) -> bytes:
    return username.encode("utf-8", "surrogatepass")


class UidMap:
    """Assigns uids in [first, last] (inclusive) to owner names, persistently."""

    def __init__(self, path: str, first: int, last: int):
        if not 0 < first <= last:
            raise ValueError(f"bad uid range {first}-{last}")
        check_range_unused(first, last)
        self.path, self.first, self.last = path, first, last
        self._local = threading.local()         # this thread's connection (see _db)
        db = self._connect()
        try:
            db.execute("CREATE TABLE IF NOT EXISTS owner ("
                       " name BLOB PRIMARY KEY, uid INTEGER NOT NULL UNIQUE)")
            # A random salt per map: two sandbox roots on one host (tests, or
            # several sites) do not hand one name the same uid.
            db.execute("CREATE TABLE IF NOT EXISTS salt (id INTEGER PRIMARY KEY CHECK (id = 0),"
                       " value BLOB NOT NULL)")
            db.execute("INSERT OR IGNORE INTO salt VALUES (0, ?)", (os.urandom(16),))
            self.salt = db.execute("SELECT value FROM salt").fetchone()[0]
        finally:
            db.close()
        os.chmod(path, 0o600)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    def _db(self) -> sqlite3.Connection:
        """This thread's connection, kept between calls (opening the file was most
        of a call's cost: 0.14-0.23 ms of ~0.25), opened again if the file at
        `path` is no longer the one it has open (removed or replaced: a lost
        map), so that no thread goes on assigning in a file nobody else reads."""
        st = os.stat(self.path)
        held = getattr(self._local, "db", None)
        if held is not None and held[1] == (st.st_dev, st.st_ino):
            return held[0]
        if held is not None:
            held[0].close()
        db = self._connect()
        self._local.db = (db, (st.st_dev, st.st_ino))
        return db

    def _drop(self) -> None:
        """Close this thread's connection (after an error: the next call opens one)."""
        held = getattr(self._local, "db", None)
        self._local.db = None
        if held is not None:
            held[0].close()

    def lookup(self, username: str) -> int | None:
        try:
            row = self._db().execute("SELECT uid FROM owner WHERE name = ?",
                                     (name_key(username),)).fetchone()
        except BaseException:
            self._drop()
            raise
        return row[0] if row else None

    def uid_for(self, username: str) -> tuple[int, bool]:
        """-> (uid, newly_assigned). Thread- and process-safe."""
        key = name_key(username)
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")       # one assigner at a time
            row = db.execute("SELECT uid FROM owner WHERE name = ?", (key,)).fetchone()
            if row:
                db.execute("COMMIT")
                return row[0], False
            size = self.last - self.first + 1
            start = int.from_bytes(hashlib.sha256(self.salt + key).digest()[:8], "big") % size
            taken = {u for (u,) in db.execute(
                "SELECT uid FROM owner WHERE uid BETWEEN ? AND ?", (self.first, self.last))}
            for step in range(size):
                uid = self.first + (start + step) % size
                if uid not in taken:
                    db.execute("INSERT INTO owner (name, uid) VALUES (?, ?)", (key, uid))
                    db.execute("COMMIT")
                    return uid, True
            db.execute("ROLLBACK")
            raise UidRangeExhausted(f"all {size} sandbox uids are assigned")
        except BaseException:
            try:
                if db.in_transaction:
                    db.execute("ROLLBACK")
            finally:
                self._drop()
            raise
