"""The SQLite state database: pairs last known identical, so a re-run is cheap.

A row says: the local file with this fingerprint and the remote object with this
ETag held the same content, whose CRC64NVME (and maybe MD5) is stored. Rows are
read back as a stream sorted like the listings, so the sync merges them in
without a query per file. Deleting the database only costs one re-hash.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import platformdirs

from .entries import LocalFile, Record
from .errors import StateError

STATE_DIR_ENV = "BUCKETSYNC_STATE_DIR"
RACY_WINDOW_NS = 20_000_000  # timestamps closer than this to a read may hide a later write
COARSE_RACY_WINDOW_NS = 2_000_000_000  # for file systems with whole-second timestamps

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scopes (
    id INTEGER PRIMARY KEY,
    local_root TEXT NOT NULL, endpoint TEXT NOT NULL, bucket TEXT NOT NULL, prefix TEXT NOT NULL,
    swept_at REAL NOT NULL DEFAULT 0,
    UNIQUE (local_root, endpoint, bucket, prefix)
);
CREATE TABLE IF NOT EXISTS records (
    scope INTEGER NOT NULL, rel TEXT NOT NULL,
    dev INTEGER, ino INTEGER, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, racy INTEGER,
    crc64nvme TEXT NOT NULL, md5 TEXT, etag TEXT NOT NULL, remote_size INTEGER NOT NULL,
    verified_at REAL NOT NULL,
    PRIMARY KEY (scope, rel)
) WITHOUT ROWID;
"""
_COLUMNS = (
    "rel, dev, ino, size, mtime_ns, ctime_ns, racy, crc64nvme, md5, etag, remote_size, verified_at"
)


def state_dir() -> Path:
    """The folder of the state database: $BUCKETSYNC_STATE_DIR, else the user cache."""
    configured = os.environ.get(STATE_DIR_ENV)
    return Path(configured) if configured else platformdirs.user_cache_path("bucketsync")


def is_racy(local: LocalFile, read_at_ns: int) -> bool:
    """True when the file's timestamps are too close to the read to prove a later write."""
    coarse = local.mtime_ns % 1_000_000_000 == 0 and local.ctime_ns % 1_000_000_000 == 0
    window = COARSE_RACY_WINDOW_NS if coarse else RACY_WINDOW_NS
    return read_at_ns - max(local.mtime_ns, local.ctime_ns) < window


def make_record(
    local: LocalFile, digests: dict[str, str], etag: str, remote_size: int, *, racy: bool
) -> Record:
    """A record for a pair just found or made identical."""
    return Record(
        rel=local.rel,
        fingerprint=local.fingerprint,
        racy=racy,
        crc64nvme=digests["crc64nvme"],
        md5=digests.get("md5"),
        etag=etag,
        remote_size=remote_size,
        verified_at=time.time(),
    )


class StateDB:
    """One SQLite file shared by every sync of this user; safe across processes."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_dir() / "state.sqlite3"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StateError(f"cannot make the state folder {self.path.parent}: {e}") from e
        self._lock = threading.Lock()
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            try:
                return _connect(self.path)
            except sqlite3.OperationalError:
                raise  # locked, unwritable, disk full: the file itself may be fine
            except sqlite3.DatabaseError:
                # A damaged database only costs a re-hash: move it aside and start again.
                self._move_aside()
                return _connect(self.path)
        except sqlite3.Error as e:
            raise StateError(f"cannot open the state database {self.path}: {e}") from e

    def _move_aside(self) -> None:
        """Rename the database with its WAL and shared-memory files (a stale WAL would be
        replayed into a new database of the same name)."""
        aside = f".corrupt-{int(time.time())}"
        for suffix in ("", "-wal", "-shm"):
            path = Path(f"{self.path}{suffix}")
            if path.exists():
                path.replace(path.with_name(path.name + aside))

    def close(self) -> None:
        self._db.close()

    def scope(self, local_root: Path, endpoint: str, bucket: str, prefix: str) -> int:
        """The id of one (folder, endpoint, bucket, prefix) pairing, made on first use."""
        key = (str(local_root.resolve()), endpoint, bucket, prefix)
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO scopes (local_root, endpoint, bucket, prefix)"
                " VALUES (?, ?, ?, ?)",
                key,
            )
            row = self._db.execute(
                "SELECT id FROM scopes WHERE local_root=? AND endpoint=? AND bucket=? AND prefix=?",
                key,
            ).fetchone()
        return int(row[0])

    def stamp(self, scope: int, when: float) -> None:
        """A complete sync that started at `when` confirmed every row the scope still has."""
        with self._lock, self._db:
            self._db.execute(
                "UPDATE scopes SET swept_at=max(swept_at, ?) WHERE id=?", (when, scope)
            )

    def verified_at(self, scope: int, record: Record) -> float:
        """When the pair of `record` was last confirmed: its own check, or a complete sync."""
        row = self._db.execute("SELECT swept_at FROM scopes WHERE id=?", (scope,)).fetchone()
        return max(record.verified_at, float(row[0]) if row else 0.0)

    def records(self, scope: int) -> Iterator[Record]:
        """The scope's records, sorted by relative path (code-point order)."""
        cursor = self._db.execute(
            f"SELECT {_COLUMNS} FROM records WHERE scope=? ORDER BY rel", (scope,)
        )
        for row in cursor:
            yield _record(row)

    def get(self, scope: int, rel: str) -> Record | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM records WHERE scope=? AND rel=?", (scope, rel)
        ).fetchone()
        return _record(row) if row else None

    def save(self, scope: int, records: Iterable[Record]) -> None:
        rows = [(scope, *_row(r)) for r in records]
        with self._lock, self._db:
            self._db.executemany(
                f"INSERT OR REPLACE INTO records (scope, {_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def mark_verified(self, scope: int, rels: Iterable[str], when: float) -> None:
        """Note that these pairs were found still identical at `when` (for `max_age`)."""
        with self._lock, self._db:
            self._db.executemany(
                "UPDATE records SET verified_at=max(verified_at, ?) WHERE scope=? AND rel=?",
                [(when, scope, rel) for rel in rels],
            )

    def forget(self, scope: int, rels: Iterable[str]) -> None:
        with self._lock, self._db:
            self._db.executemany(
                "DELETE FROM records WHERE scope=? AND rel=?", [(scope, rel) for rel in rels]
            )

    def __enter__(self) -> StateDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=60, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA busy_timeout=60000")
    _while_locked(lambda: _set_up(db))
    db.isolation_level = "DEFERRED"
    return db


def _set_up(db: sqlite3.Connection) -> None:
    if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(_SCHEMA)
    columns = {row[1] for row in db.execute("PRAGMA table_info(scopes)")}
    if "swept_at" not in columns:  # a database from before complete syncs were stamped
        db.execute("ALTER TABLE scopes ADD COLUMN swept_at REAL NOT NULL DEFAULT 0")


def _while_locked(step: Callable[[], None], seconds: float = 60.0) -> None:
    """Run step, again while another process holds the lock it needs.

    Switching to WAL while another connection opens the same file answers "database
    is locked" at once, without waiting on the busy timeout: two processes starting
    together would otherwise fail.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            return step()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _record(row: tuple[Any, ...]) -> Record:
    rel, dev, ino, size, mtime_ns, ctime_ns, racy, crc, md5, etag, rsize, verified = row
    return Record(
        rel=rel,
        fingerprint=(dev, ino, size, mtime_ns, ctime_ns),
        racy=bool(racy),
        crc64nvme=crc,
        md5=md5,
        etag=etag,
        remote_size=rsize,
        verified_at=verified,
    )


def _row(r: Record) -> tuple[object, ...]:
    return (
        r.rel,
        *r.fingerprint,
        int(r.racy),
        r.crc64nvme,
        r.md5,
        r.etag,
        r.remote_size,
        r.verified_at,
    )
