"""One sync of a local folder at a time, across processes: a lock file per folder.

The lock files live in the state folder (named by a hash of the folder's real
path), so nothing is added to the synced folder and a read-only folder can be
locked too. The operating system drops the lock when its process dies, even by
SIGKILL, so a killed sync never blocks the next one.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import FolderBusy
from .state import state_dir
from .text import printable

try:  # POSIX: flock directly (filelock's import is a noticeable part of start-up)
    import fcntl
except ImportError:  # pragma: no cover - Windows: filelock's portable locks
    fcntl = None  # type: ignore[assignment]

POLL = 0.05  # seconds between tries while waiting with a timeout
log = logging.getLogger("bucketsync")


def lock_path(folder: Path) -> Path:
    """The lock file of a local folder."""
    real = os.path.realpath(folder)
    digest = hashlib.sha256(os.fsencode(real)).hexdigest()[:32]
    return state_dir() / "locks" / f"{digest}.lock"


@contextlib.contextmanager
def folder_lock(folder: Path, timeout: float | None = None, show: bool = False) -> Iterator[None]:
    """Hold the folder's lock; wait for it up to `timeout` seconds (None: no limit).

    A wait is logged (INFO, logger "bucketsync") and, when `show`, said on stderr.
    """
    path = lock_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover
        with _portable_lock(path, folder, timeout, show):
            yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try(fd):
            _waiting(folder, show)
            _wait(fd, folder, timeout)
        yield
    finally:
        os.close(fd)  # closing the file releases its lock


def _try(fd: int) -> bool:
    """Take the lock if it is free at once."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _wait(fd: int, folder: Path, timeout: float | None) -> None:
    """Take the lock, waiting for it up to `timeout` seconds (None: no limit)."""
    if timeout is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    deadline = time.monotonic() + timeout
    while not _try(fd):
        if time.monotonic() >= deadline:
            raise _busy(folder, timeout)
        time.sleep(POLL)


@contextlib.contextmanager
def _portable_lock(
    path: Path, folder: Path, timeout: float | None, show: bool
) -> Iterator[None]:  # pragma: no cover - where there is no fcntl
    from filelock import FileLock, Timeout

    lock = FileLock(path, timeout=-1 if timeout is None else timeout)
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            _waiting(folder, show)
            lock.acquire()
    except Timeout as e:
        raise _busy(folder, timeout or 0) from e
    try:
        yield
    finally:
        lock.release()


def _busy(folder: Path, timeout: float) -> FolderBusy:
    return FolderBusy(
        f"another bucketsync is syncing {folder}; gave up waiting after {timeout:g} s"
    )


def _waiting(folder: Path, show: bool) -> None:
    message = f"waiting for another sync of {printable(str(folder))} to finish..."
    log.info(message, extra={"shown": show})
    if show:
        print(f"bucketsync: {message}", file=sys.stderr, flush=True)
