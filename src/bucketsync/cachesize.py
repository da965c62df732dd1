"""A bounded cache: its size, and the eviction of the least recently used copies.

The cap is `max_size=` (of `Mirror`, `fetch`, the bucketsync:// filesystem), else
``$BUCKETSYNC_CACHE_MAX``, else none. It bounds the cache folder (`cache_dir()`),
not a folder a Mirror was given. A copy is removed only if all of these hold:

- it is a copy bucketsync synced and still the version synced (`cleanup.is_unchanged`):
  a local change not pushed, a file never synced, a temporary file stay;
- no sync of a folder holding it runs (its folder locks are free), and no fetch of
  it (its key lock is free);
- no process holds it open for reading through bucketsync (`cacheuse.exclusive`).

Cost: after a download, the running total of the use log (one SQL sum) says whether
the cache may be past its cap; only then, when no walk ever brought the log in line
with the folder (a cache from before the cap), and every `WALK_EVERY` downloads of a
process (to see what others added without a row, e.g. by a sync) is the cache walked.
A pull (or a two-way sync) into the cache walks it once when it downloaded anything.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from .cachedir import cache_dir, key_lock
from .cacheuse import due, exclusive, note_use, use_log
from .cleanup import is_unchanged
from .entries import Record
from .errors import StateError
from .locking import lock_path
from .options import Check
from .state import StateDB
from .stores.local import is_temp_name

log = logging.getLogger("bucketsync")
MAX_ENV = "BUCKETSYNC_CACHE_MAX"
WALK_EVERY = 100  # downloads of a process between two walks, whatever the total says
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50}
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*")
_DURATION = re.compile(r"(\d+(?:\.\d*)?)([smhdw])")

UNSYNCED = "not a copy bucketsync synced"
CHANGED = "changed here since it was synced, not pushed"
SYNCING = "a sync of its folder is running"
FETCHING = "being fetched"
READING = "open for reading"
RACED = "changed during the check"


def _size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(value)
    if isinstance(value, int):
        if value < 0:
            raise ValueError(value)
        return value
    match = _SIZE.fullmatch(value.lower())
    if not match or match[2] not in _UNITS:
        raise ValueError(value)
    return int(float(match[1]) * _UNITS[match[2]])


def _duration(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(value)
    if isinstance(value, str):
        text = value.replace(" ", "").lower()
        if re.fullmatch(r"\d+(\.\d*)?", text):
            text += "s"  # a plain number: seconds
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(value)
        value = sum(float(n) * _SECONDS[u] for n, u in parts)
    if not math.isfinite(value) or value < 0:
        raise ValueError(value)
    return float(value)


_SIZE_TEXT = (
    "a size: bytes, or a number with a unit (decimal kB MB GB TB, binary KiB MiB GiB TiB),"
    " e.g. 20GB or 500MiB"
)
SIZE = Check(_SIZE_TEXT, _size, none=f"${MAX_ENV}, else no limit")  # max_size=
_ENV_SIZE = Check(_SIZE_TEXT, _size)
DURATION = Check(
    "a duration: seconds, or numbers with units s m h d w, e.g. 7d, 12h, 30m or 1h30m",
    _duration,
)


def cap(max_size: int | None) -> int | None:
    """The cap in bytes: `max_size` if given, else $BUCKETSYNC_CACHE_MAX, else None."""
    if max_size is not None:
        return max_size
    configured = os.environ.get(MAX_ENV, "").strip()
    return _ENV_SIZE(MAX_ENV, configured) if configured else None


# ---- the cache as it is on disk ---------------------------------------------------------


@dataclass(frozen=True)
class Copy:
    """A file of the cache: its path, size and last use (seconds since the epoch)."""

    path: Path
    size: int
    used_at: float


@dataclass(frozen=True)
class Survey:
    """The cache folder walked: every file in it (temporary ones in `size` only)."""

    root: Path
    copies: tuple[Copy, ...]
    size: int


def survey() -> Survey:
    """Walk the cache folder; a copy with no recorded use was last used when it was
    written (its ctime). Brings the use log in line with what is there."""
    root = cache_dir().resolve()
    used = use_log().used()
    rows, size = [], 0
    for path, st in _files(str(root)):
        size += st.st_size
        if not is_temp_name(os.path.basename(path)):
            rows.append((path, st.st_size, used.get(path, st.st_ctime)))
    use_log().walked(rows)
    return Survey(root, tuple(Copy(Path(p), n, at) for p, n, at in rows), size)


def _files(folder: str) -> Iterator[tuple[str, os.stat_result]]:
    """The regular files below folder, never through a symbolic link."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return  # gone, or unreadable: nothing of it can be counted or removed
    for entry in entries:
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                yield from _files(entry.path)
            elif entry.is_file(follow_symlinks=False):
                yield entry.path, entry.stat(follow_symlinks=False)


def choose(
    copies: Iterable[Copy], size: int, max_size: int | None, before: float | None
) -> list[Copy]:
    """The copies to remove, least recently used first: those used before `before`, and
    more until `size` is at most `max_size` (if every one of them goes)."""
    chosen = []
    for copy in sorted(copies, key=lambda c: (c.used_at, str(c.path))):
        over = max_size is not None and size > max_size
        if over or (before is not None and copy.used_at < before):
            chosen.append(copy)
            size -= copy.size
        elif before is None:
            break
    return chosen


# ---- eviction -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pruned:
    """What an eviction removed, and what it had to keep, with the reasons."""

    root: Path
    size_before: int
    size: int
    removed: tuple[Copy, ...]
    kept: tuple[tuple[Copy, str], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cache_dir": str(self.root),
            "size_before": self.size_before,
            "size": self.size,
            "removed": [{"path": str(c.path), "size": c.size} for c in self.removed],
            "kept": [{"path": str(c.path), "size": c.size, "reason": r} for c, r in self.kept],
        }


def prune(
    max_size: int | None = None, older_than: float | None = None, *, spare: Path | None = None
) -> Pruned:
    """Remove least recently used copies until the cache holds at most `max_size` bytes,
    and every copy not used for `older_than` seconds; never one that must stay, nor
    `spare` (the copy a fetch is about to return)."""
    found = survey()
    before = None if older_than is None else time.time() - older_than
    size, left = found.size, [c for c in found.copies if c.path != spare]
    removed: list[Copy] = []
    kept: list[tuple[Copy, str]] = []
    with StateDB() as state:
        owners = _Owners(state)
        while chosen := choose(left, size, max_size, before):
            for copy in chosen:
                reason = _evict(copy, owners, found.root)
                if reason is None:
                    removed.append(copy)
                    size -= copy.size
                else:
                    kept.append((copy, reason))
            gone = {c.path for c in chosen}
            left = [c for c in left if c.path not in gone]
    use_log().forget(str(c.path) for c in removed)
    return Pruned(found.root, found.size, size, tuple(removed), tuple(kept))


class _Owners:
    """The scopes of the state database whose folder holds a path, deepest first."""

    def __init__(self, state: StateDB) -> None:
        self.state = state
        roots = [(scope, Path(root)) for scope, root in state.roots()]
        self.roots = sorted(roots, key=lambda r: len(r[1].parts), reverse=True)

    def of(self, path: Path) -> list[tuple[int, Path]]:
        return [(scope, root) for scope, root in self.roots if path.is_relative_to(root)]

    def record(self, path: Path) -> tuple[int, Path, Record] | None:
        for scope, root in self.of(path):
            record = self.state.get(scope, path.relative_to(root).as_posix())
            if record is not None:
                return scope, root, record
        return None


def _evict(copy: Copy, owners: _Owners, top: Path) -> str | None:
    """Remove one copy if it may go; else the reason it stays."""
    owned = owners.record(copy.path)
    if owned is None:
        return UNSYNCED
    scope, _, record = owned
    with contextlib.ExitStack() as held:
        for folder in {r for _, r in owners.of(copy.path)}:
            lock_path(folder).parent.mkdir(parents=True, exist_ok=True)
            if not _take(held, FileLock(lock_path(folder))):
                return SYNCING
        if not _take(held, key_lock(cache_dir() / copy.path.relative_to(top))):  # as fetch names it
            return FETCHING
        try:
            reason = _unlink(copy.path, record)
        except FileNotFoundError:
            reason = None  # gone already
        except OSError as e:
            return f"could not be removed: {e.strerror or e}"
        if reason is not None:
            return reason
        owners.state.forget(scope, [record.rel])
    _remove_empty(copy.path.parent, top)
    return None


def _unlink(path: Path, record: Record) -> str | None:
    """Unlink the copy unless a reader holds it or it is not the version synced."""
    with exclusive(path) as st:
        if st is None:
            return READING
        now = os.lstat(path)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            return RACED
        if not is_unchanged(record, path, st):
            return CHANGED
        os.unlink(path)
    return None


def _take(held: contextlib.ExitStack, lock: FileLock) -> bool:
    """Take a lock now, or say it is held elsewhere."""
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False
    held.callback(lock.release)
    return True


def _remove_empty(folder: Path, top: Path) -> None:
    """Remove folder and its parents below top while they are empty."""
    while folder != top and folder.is_relative_to(top):
        try:
            os.rmdir(folder)
        except OSError:
            return
        folder = folder.parent


# ---- after downloads --------------------------------------------------------------------

_DOWNLOADS: dict[Path, int] = {}  # downloads into each cache folder by this process
_EVICTING = threading.Lock()


def used(path: Path, max_size: int | None, *, added: bool) -> None:
    """After `Mirror.path()`: note the use of a copy in the cache, and after a download
    (`added`) remove least recently used copies if the cache is past its cap."""
    if not (added or due(path)):
        return  # a use noted less than a minute ago: no write, no check
    root = cache_dir().resolve()
    path = path.resolve()
    if not path.is_relative_to(root):
        return  # a Mirror's own folder is not the cache
    limit = cap(max_size) if added else None
    try:
        note_use(path)
        if limit is None:
            return
        count = _DOWNLOADS[root] = _DOWNLOADS.get(root, 0) + 1
        uses = use_log()
        if count % WALK_EVERY and uses.total() <= limit and uses.walked_at() is not None:
            return
    except (OSError, sqlite3.Error) as e:  # a use not noted costs only LRU order
        log.warning("bucketsync: the use of %s could not be noted: %s", path, e)
        return
    _evict_now(limit, path)


def pulled(folder: Path, max_size: int | None) -> None:
    """After a pull that downloaded into folder: evict if the cache is past its cap."""
    limit = cap(max_size)
    if limit is not None and folder.resolve().is_relative_to(cache_dir().resolve()):
        _evict_now(limit)


def _evict_now(limit: int, spare: Path | None = None) -> None:
    """Evict down to limit; a failure (a folder or database that cannot be read or
    written) is logged: the copy asked for is there, and that is what the caller wants."""
    if not _EVICTING.acquire(blocking=False):  # one eviction at a time in a process
        return
    try:
        prune(limit, spare=spare)
    except (OSError, sqlite3.Error, StateError) as e:
        log.warning("bucketsync: the cache could not be pruned: %s", e)
    finally:
        _EVICTING.release()
