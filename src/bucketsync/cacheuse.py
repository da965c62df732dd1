"""What the bounded cache needs to know about its copies: when each was last used, and
which are open for reading.

Last use is a row per copy in ``cache.sqlite3``, next to the state database (atime
says nothing on noatime or relatime mounts): (path, size, used_at). A download writes
its row at once; a use of a copy already there at most once a minute per process
(`TOUCH_EVERY`), so a loop of `fetch()` calls within `max_age` stays cheap. The sizes
of the rows are the running total that tells, after a download, whether the cache
grew past its cap without walking it. Losing the file costs only the LRU order.

A reader holds a shared `flock` on the copy it opened (`Mirror.open()`, and the
bucketsync:// filesystem's `open`, so every fsspec read) until it closes it; eviction
takes an exclusive one without waiting and leaves a copy it cannot lock. The kernel
drops the locks of a process that dies, even by SIGKILL.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from .state import state_dir

USES_FILE = "cache.sqlite3"
TOUCH_EVERY = 60.0  # seconds between two writes of one copy's use by one process
_CREATE = (
    "CREATE TABLE IF NOT EXISTS uses (path TEXT PRIMARY KEY, size INTEGER NOT NULL,"
    " used_at REAL NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS walks (id INTEGER PRIMARY KEY CHECK (id = 0), at REAL NOT NULL)",
    # the running total, kept by triggers: one row, read in O(1) after each download
    "CREATE TABLE IF NOT EXISTS total (id INTEGER PRIMARY KEY CHECK (id = 0), size INTEGER)",
    "INSERT OR IGNORE INTO total VALUES (0, (SELECT coalesce(sum(size), 0) FROM uses))",
    "CREATE TRIGGER IF NOT EXISTS added AFTER INSERT ON uses"
    " BEGIN UPDATE total SET size = size + NEW.size; END",
    "CREATE TRIGGER IF NOT EXISTS resized AFTER UPDATE OF size ON uses"
    " BEGIN UPDATE total SET size = size + NEW.size - OLD.size; END",
    "CREATE TRIGGER IF NOT EXISTS removed AFTER DELETE ON uses"
    " BEGIN UPDATE total SET size = size - OLD.size; END",
)
_UPSERT = (
    "INSERT INTO uses (path, size, used_at) VALUES (?, ?, ?) ON CONFLICT(path)"
    " DO UPDATE SET size=excluded.size, used_at=max(used_at, excluded.used_at)"
)


class UseLog:
    """The rows of ``cache.sqlite3``: every copy's size and last use, shared by processes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = _connect(path)
        except sqlite3.OperationalError:
            raise  # locked, unwritable, disk full: the file itself may be fine
        except sqlite3.DatabaseError:  # damaged: it only held the order of use
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            self._db = _connect(path)

    def touch(self, rows: Iterable[tuple[str, int, float]]) -> None:
        """Set (path, size, used_at) rows; a use never moves back in time."""
        with self._lock, self._db:
            self._db.executemany(_UPSERT, list(rows))

    def used(self) -> dict[str, float]:
        """Every copy's last use, by path."""
        with self._lock:
            return dict(self._db.execute("SELECT path, used_at FROM uses").fetchall())

    def total(self) -> int:
        """The sum of the copies' sizes as last recorded."""
        with self._lock:
            return int(self._db.execute("SELECT size FROM total").fetchone()[0])

    def forget(self, paths: Iterable[str]) -> None:
        with self._lock, self._db:
            self._db.executemany("DELETE FROM uses WHERE path=?", [(p,) for p in paths])

    def walked(self, rows: Iterable[tuple[str, int, float]]) -> None:
        """After a walk of the cache: its files are these; forget the rows of others
        (a use recorded meanwhile by another process is kept: uses only move forward)."""
        rows = list(rows)
        with self._lock, self._db:
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS seen (path TEXT PRIMARY KEY)")
            self._db.execute("DELETE FROM seen")
            self._db.executemany("INSERT INTO seen VALUES (?)", [(r[0],) for r in rows])
            self._db.execute("DELETE FROM uses WHERE path NOT IN (SELECT path FROM seen)")
            self._db.executemany(_UPSERT, rows)
            self._db.execute("INSERT OR REPLACE INTO walks VALUES (0, ?)", (time.time(),))

    def walked_at(self) -> float | None:
        """When a walk last brought the rows in line with the cache (None: never)."""
        with self._lock:
            row = self._db.execute("SELECT at FROM walks").fetchone()
        return None if row is None else float(row[0])


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=60, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # a lost use costs only LRU order
        with db:
            for create in _CREATE:
                db.execute(create)
    except BaseException:
        db.close()
        raise
    return db


_LOGS: dict[Path, UseLog] = {}
_TOUCHED: dict[str, float] = {}
_LOGS_LOCK = threading.Lock()


def use_log() -> UseLog:
    """The use log of the current state folder, opened once per process."""
    path = state_dir() / USES_FILE
    with _LOGS_LOCK:
        log = _LOGS.get(path)
        if log is None:
            log = _LOGS[path] = UseLog(path)
        return log


def due(path: Path) -> bool:
    """True if this process has not noted a use of path for `TOUCH_EVERY` seconds (and
    takes it as noted now): a use costs no write the rest of the time."""
    now, key = time.monotonic(), str(path)
    with _LOGS_LOCK:
        if now - _TOUCHED.get(key, -TOUCH_EVERY) < TOUCH_EVERY:
            return False
        _TOUCHED[key] = now
        if len(_TOUCHED) > 100_000:
            _TOUCHED.clear()
    return True


def note_use(path: Path) -> None:
    """Record a use of the copy at path, now, with its size."""
    try:
        size = os.stat(path).st_size
    except OSError:
        return
    use_log().touch([(str(path), size, time.time())])


def open_held(find: Callable[[], Path], mode: str = "rb", **kwargs: Any) -> IO[Any]:
    """Open the copy that `find()` gives, holding a shared lock on it until it is closed.

    If the copy was removed or replaced between `find()` and the lock, `find()` runs
    again (twice at most; then the file opened is read, whole, as it was).
    """
    for attempt in range(3):
        path = find()
        file = open(path, mode, **kwargs)  # noqa: SIM115 - returned open
        try:
            _share(file.fileno())
            if attempt == 2 or _same(file.fileno(), path):
                return file
        except BaseException:
            file.close()
            raise
        file.close()
    raise AssertionError("unreachable")


def _same(fd: int, path: Path) -> bool:
    """True if path still names the file open as fd."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    opened = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (opened.st_dev, opened.st_ino)


if sys.platform == "win32":  # pragma: no cover - a file open there cannot be removed anyway

    def _share(fd: int) -> None:
        pass

    @contextlib.contextmanager
    def exclusive(path: Path) -> Iterator[os.stat_result | None]:
        """Windows: no lock; removing a file open elsewhere fails there by itself."""
        yield os.lstat(path)

else:
    import fcntl

    def _share(fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # waits only while an eviction checks this file
        except OSError as e:
            if e.errno not in _NO_LOCKS:
                raise
            # a file system without flock: read anyway; eviction cannot lock it either,
            # so it removes nothing there

    _NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)

    @contextlib.contextmanager
    def exclusive(path: Path) -> Iterator[os.stat_result | None]:
        """The copy's stat while no reader holds it (None if one does), and none can start."""
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield None
                return
            yield os.fstat(fd)
        finally:
            os.close(fd)
