"""One sync of a local folder at a time, across processes: a lock file per folder.

The lock files live in the state folder (named by a hash of the folder's real
path), so nothing is added to the synced folder and a read-only folder can be
locked too. The operating system drops the lock when its process dies, even by
SIGKILL, so a killed sync never blocks the next one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import FolderBusy
from .state import state_dir


def lock_path(folder: Path) -> Path:
    """The lock file of a local folder."""
    real = os.path.realpath(folder)
    digest = hashlib.sha256(os.fsencode(real)).hexdigest()[:32]
    return state_dir() / "locks" / f"{digest}.lock"


@contextlib.contextmanager
def folder_lock(folder: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the folder's lock; wait for it up to `timeout` seconds (None: no limit)."""
    path = lock_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, timeout=-1 if timeout is None else timeout)
    try:
        lock.acquire()
    except Timeout as e:
        raise FolderBusy(
            f"another bucketsync is syncing {folder}; gave up waiting after {timeout:g} s"
        ) from e
    try:
        yield
    finally:
        lock.release()
