"""The SQLite state database: pairs last known identical, so a re-run is cheap.

A row says: the local file with this fingerprint and the remote object with this
ETag held the same content, whose CRC64NVME (and maybe MD5) is stored. Rows are
read back as a stream sorted like the listings, so the sync merges them in
without a query per file. Deleting the database only costs one re-hash.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .entries import LocalFile, Record
from .errors import StateError
from .keyrange import EVERYTHING, KeyRange

STATE_DIR_ENV = "BUCKETSYNC_STATE_DIR"
RACY_WINDOW_NS = 20_000_000  # timestamps closer than this to a read may hide a later write
COARSE_RACY_WINDOW_NS = 2_000_000_000  # for file systems with whole-second timestamps

SCHEMA_VERSION = 2  # in PRAGMA user_version; 0: a database from before it was set
# Versions a database may have and still be adopted: 1 lacks the tables of transfers in
# flight (resume.py), which are made on opening.
ADOPTED_VERSIONS = (0, 1, SCHEMA_VERSION)
_TABLES = {
    "scopes": """
CREATE TABLE scopes (
    id INTEGER PRIMARY KEY,
    local_root TEXT NOT NULL, endpoint TEXT NOT NULL, bucket TEXT NOT NULL, prefix TEXT NOT NULL,
    swept_at REAL NOT NULL DEFAULT 0,
    UNIQUE (local_root, endpoint, bucket, prefix)
)""",
    "records": """
CREATE TABLE records (
    scope INTEGER NOT NULL, rel TEXT NOT NULL,
    dev INTEGER, ino INTEGER, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, racy INTEGER,
    crc64nvme TEXT NOT NULL, md5 TEXT, etag TEXT NOT NULL, remote_size INTEGER NOT NULL,
    verified_at REAL NOT NULL,
    PRIMARY KEY (scope, rel)
) WITHOUT ROWID""",
    # Transfers in flight, kept so that the next sync resumes them (resume.py).
    "uploads": """
CREATE TABLE uploads (
    scope INTEGER NOT NULL, rel TEXT NOT NULL, key TEXT NOT NULL, upload_id TEXT NOT NULL,
    part_size INTEGER NOT NULL, crc64nvme TEXT NOT NULL,
    dev INTEGER, ino INTEGER, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER,
    PRIMARY KEY (scope, rel)
) WITHOUT ROWID""",
    "upload_parts": """
CREATE TABLE upload_parts (
    upload_id TEXT NOT NULL, number INTEGER NOT NULL, etag TEXT NOT NULL, crc TEXT NOT NULL,
    length INTEGER NOT NULL,
    PRIMARY KEY (upload_id, number)
) WITHOUT ROWID""",
    "downloads": """
CREATE TABLE downloads (
    scope INTEGER NOT NULL, rel TEXT NOT NULL, temp TEXT NOT NULL, etag TEXT NOT NULL,
    size INTEGER NOT NULL, step INTEGER NOT NULL,
    PRIMARY KEY (scope, rel)
) WITHOUT ROWID""",
    "download_ranges": """
CREATE TABLE download_ranges (
    temp TEXT NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL, crc TEXT NOT NULL,
    PRIMARY KEY (temp, offset)
) WITHOUT ROWID""",
}
_COLUMNS = (
    "rel, dev, ino, size, mtime_ns, ctime_ns, racy, crc64nvme, md5, etag, remote_size, verified_at"
)


def state_dir() -> Path:
    """The folder of the state database: $BUCKETSYNC_STATE_DIR, else the user cache."""
    configured = os.environ.get(STATE_DIR_ENV)
    if configured:
        return Path(configured)
    import platformdirs  # with tempfile and shutil: not at start-up when configured

    return platformdirs.user_cache_path("bucketsync")


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
                return _connect(self.path, on_damage=self._move_aside)
            except sqlite3.OperationalError:
                raise  # locked, unwritable, disk full: the file itself may be fine
            except sqlite3.DatabaseError:  # moved aside: it only costs a re-hash
                return _connect(self.path)
        except sqlite3.Error as e:
            raise StateError(f"cannot open the state database {self.path}: {e}") from e

    def _move_aside(self, error: sqlite3.DatabaseError) -> None:
        """Rename a damaged database, or one of another schema, with its WAL and
        shared-memory files (a stale WAL would be replayed into a new database of the
        same name), to `<name>.corrupt-<time>` or `<name>.other-schema-<time>`."""
        why = "other-schema" if isinstance(error, OtherSchema) else "corrupt"
        aside = f".{why}-{int(time.time())}"
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

    def roots(self) -> list[tuple[int, str]]:
        """Every scope's id and local folder."""
        return [(int(i), str(r)) for i, r in self._db.execute("SELECT id, local_root FROM scopes")]

    def verified_at(self, scope: int, record: Record) -> float:
        """When the pair of `record` was last confirmed: its own check, or a complete sync."""
        row = self._db.execute("SELECT swept_at FROM scopes WHERE id=?", (scope,)).fetchone()
        return max(record.verified_at, float(row[0]) if row else 0.0)

    def records(self, scope: int, span: KeyRange = EVERYTHING) -> Iterator[Record]:
        """The scope's records in `span`, sorted by relative path (code-point order)."""
        where, args = _span_where(span)
        cursor = self._db.execute(
            f"SELECT {_COLUMNS} FROM records WHERE scope=?{where} ORDER BY rel", (scope, *args)
        )
        for row in cursor:
            yield _record(row)

    def count(self, scope: int, span: KeyRange = EVERYTHING) -> int:
        """How many records the scope has in `span`."""
        where, args = _span_where(span)
        query = f"SELECT count(*) FROM records WHERE scope=?{where}"
        return int(self._db.execute(query, (scope, *args)).fetchone()[0])

    def quantiles(
        self, scope: int, span: KeyRange, pieces: int, total: int | None = None
    ) -> list[str]:
        """Keys that cut the scope's records in `span` into `pieces` runs of about equal
        size (fewer when there are fewer records); `total`, their count if known. Each
        cut skips `step` rows of the index inside SQLite (OFFSET): no row is fetched
        into Python but the cuts."""
        total = self.count(scope, span) if total is None else total
        step = total // pieces if pieces > 1 else 0
        if step == 0:
            return []
        cuts: list[str] = []
        while len(cuts) < pieces - 1:
            where, args = _span_where(KeyRange(cuts[-1] if cuts else span.lo, span.hi))
            row = self._db.execute(
                f"SELECT rel FROM records WHERE scope=?{where} ORDER BY rel LIMIT 1 OFFSET ?",
                (scope, *args, step - 1),
            ).fetchone()
            if row is None:
                break
            cuts.append(row[0])
        return cuts

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

    def write(self, sql: str, rows: Iterable[tuple[object, ...]] = ((),)) -> None:
        """Run one statement for each row of arguments, in one transaction."""
        with self._lock, self._db:
            self._db.executemany(sql, list(rows))

    def read(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """The rows of one query."""
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def __enter__(self) -> StateDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _connect(
    path: Path, on_damage: Callable[[sqlite3.DatabaseError], None] | None = None
) -> sqlite3.Connection:
    """A connection to the database, made and checked; `on_damage` runs when it is
    damaged or of another schema, before the connection closes (closing it first
    would let SQLite checkpoint or delete a stale WAL)."""
    db = sqlite3.connect(path, timeout=60, check_same_thread=False, isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout=60000")
        _while_locked(lambda: _set_up(db))
    except sqlite3.DatabaseError as e:
        if on_damage is not None and not isinstance(e, sqlite3.OperationalError):
            on_damage(e)
        db.close()
        raise
    except BaseException:
        db.close()
        raise
    db.isolation_level = "DEFERRED"
    return db


def _set_up(db: sqlite3.Connection) -> None:
    if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("BEGIN IMMEDIATE")  # one process at a time creates or adopts the tables
    try:
        _create_or_adopt(db)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class OtherSchema(sqlite3.DatabaseError):
    """The database has another schema version, or tables of another shape."""


def _create_or_adopt(db: sqlite3.Connection) -> None:
    """Make the missing tables; adopt tables of this layout; refuse any other schema.

    A database from before the schema version was set (user_version 0) holds the
    same tables, perhaps without `swept_at`: it is adopted, so nothing is re-hashed;
    one of version 1 gains the tables of transfers in flight.
    """
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version not in ADOPTED_VERSIONS:
        raise OtherSchema(f"schema version {version}, not {SCHEMA_VERSION}")
    for table, create in _TABLES.items():
        shape = _shape(db, table)
        if not shape:
            db.execute(create)
        elif table == "scopes" and shape == _SHAPES[table][:-1]:  # from before stamps
            db.execute("ALTER TABLE scopes ADD COLUMN swept_at REAL NOT NULL DEFAULT 0")
        elif shape != _SHAPES[table]:
            raise OtherSchema(f"the table {table} has other columns")
    if version != SCHEMA_VERSION:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def _shape(db: sqlite3.Connection, table: str) -> tuple[tuple[str, int], ...]:
    """A table's columns as (name, position in the primary key); empty if no table."""
    return tuple((row[1], row[5]) for row in db.execute(f"PRAGMA table_info({table})"))


def _expected_shapes() -> dict[str, tuple[tuple[str, int], ...]]:
    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        for create in _TABLES.values():
            db.execute(create)
        return {table: _shape(db, table) for table in _TABLES}


_SHAPES = _expected_shapes()


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


def _span_where(span: KeyRange) -> tuple[str, tuple[str, ...]]:
    """The SQL condition (BINARY collation: UTF-8 byte order) and arguments of a range."""
    where, args = "", tuple[str, ...]()
    if span.lo is not None:
        where, args = " AND rel > ?", (span.lo,)
    if span.hi is not None:
        where, args = f"{where} AND rel <= ?", (*args, span.hi)
    return where, args


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
