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
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import FolderBusy
from .state import state_dir
from .text import printable

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
    lock = FileLock(path, timeout=-1 if timeout is None else timeout)
    try:
        if not _try(lock):
            _waiting(folder, show)
            lock.acquire()
    except Timeout as e:
        raise FolderBusy(
            f"another bucketsync is syncing {folder}; gave up waiting after {timeout:g} s"
        ) from e
    try:
        yield
    finally:
        lock.release()


def _try(lock: FileLock) -> bool:
    """Take the lock if it is free at once."""
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False
    return True


def _waiting(folder: Path, show: bool) -> None:
    message = f"waiting for another sync of {printable(str(folder))} to finish..."
    log.info(message, extra={"shown": show})
    if show:
        print(f"bucketsync: {message}", file=sys.stderr, flush=True)
