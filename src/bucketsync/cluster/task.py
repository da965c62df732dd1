"""What runs on a Dask worker: one key range of a sync, and the shared-folder check.

A task gets plain data only: the range's `SyncSpec` (sides, options, key range; the
endpoint URL but never credentials: the worker's own boto3 chain gives those) and
the state rows of its range, read by the client. The worker opens no state database
of its own: the rows go into an in-memory SQLite copy that the sync reads as it
would the real one, and that is thrown away with the task. Only the client writes
the real database.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import api
from ..entries import Record
from ..job import Job, SyncSpec
from ..report import Stats
from ..result import RangeInterrupted, RangeResult
from ..state import StateDB

STOP_POLL = 1.0  # seconds between looks at the sync's stop event


def run_range(
    spec: SyncSpec, rows: list[Record], stop: str, spare_changed: bool
) -> tuple[str, RangeResult]:
    """Run the spec's key range here; (this worker's address, what the range did).

    Deletes that clear no way are held (the client runs them once every range has
    listed). When the Dask event named `stop` is set (the client was interrupted),
    the range stops between files and returns what finished.
    """
    from distributed import get_worker

    with _job(spec, rows) as job, _watching(job, stop):
        try:
            result = api.run_range(job, spare_changed=spare_changed, hold_deletes=True)
        except RangeInterrupted as e:
            result = e.result
    return get_worker().address, result


@contextlib.contextmanager
def _job(spec: SyncSpec, rows: list[Record]) -> Iterator[Job]:
    """The spec opened with this process's S3 client and an in-memory state of `rows`."""
    pair, options = spec.pair, spec.options
    stats = Stats()
    store = api.make_store(pair.remote, options, stats)
    with StateDB(Path(":memory:")) as state:
        scope = state.scope(pair.local, store.endpoint, pair.remote.bucket, pair.remote.prefix)
        state.save(scope, rows)
        yield Job(pair, options, store, state, scope, stats, key_range=spec.key_range)


@contextlib.contextmanager
def _watching(job: Job, stop: str) -> Iterator[None]:
    """While the block runs, a thread sets the job's cancel flag once `stop` is set."""
    import distributed

    event: Any = distributed.Event(stop)  # type: ignore[no-untyped-call]
    done = threading.Event()

    def watch() -> None:
        stopped = False
        while not done.is_set():
            if not stopped:
                with contextlib.suppress(Exception):  # the scheduler busy: look again
                    stopped = bool(event.wait(STOP_POLL))
            if stopped:  # again and again: a transfer starting resets the flag
                job.cancel.set()
            done.wait(STOP_POLL / 10)

    watcher = threading.Thread(target=watch, name="bucketsync-stop-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()


def sees(path: str, token: str) -> bool:
    """Whether the file at path holds token (the client's marker in the local folder)."""
    try:
        return Path(path).read_text(encoding="ascii") == token
    except (OSError, UnicodeError):
        return False


def looks_like(path: str, expected: str) -> bool:
    """Whether this worker sees the folder at path as the client does (a diff's check)."""
    return looks(path) == expected


def looks(path: str) -> str:
    """What one machine sees of a folder: its inode and the sorted names in it."""
    try:
        names = sorted(os.listdir(path))
        return f"{os.stat(path).st_ino}:{'/'.join(names)}"
    except OSError as e:
        return f"unreadable: {e.errno}"
