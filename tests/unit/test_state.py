"""The state database: concurrent opening, and the records round trip."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from queue import Queue

from bucketsync.entries import LocalFile
from bucketsync.state import StateDB, make_record


def _open_and_close(folder: str, results: Queue[str]) -> None:
    os.environ["BUCKETSYNC_STATE_DIR"] = folder
    try:
        StateDB().close()
        results.put("ok")
    except Exception as e:  # reported to the parent
        results.put(repr(e))


def test_processes_opening_a_new_database_together(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    for trial in range(3):
        results: Queue[str] = context.Queue()  # type: ignore[assignment]
        folder = str(tmp_path / f"state{trial}")
        workers = [
            context.Process(target=_open_and_close, args=(folder, results)) for _ in range(4)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert [results.get(timeout=5) for _ in workers] == ["ok"] * 4


def test_records_stream_sorted_and_scopes_stamp(tmp_path: Path) -> None:
    with StateDB(tmp_path / "s.sqlite3") as db:
        scope = db.scope(tmp_path, "http://x", "b", "p/")
        files = [LocalFile(rel, 1, 2, 3, 4, 5) for rel in ["b", "a/z", "a", "\u00e9"]]
        db.save(scope, [make_record(f, {"crc64nvme": "C"}, "e", 1, racy=False) for f in files])
        assert [r.rel for r in db.records(scope)] == ["a", "a/z", "b", "\u00e9"]
        record = db.get(scope, "a")
        assert record is not None and db.verified_at(scope, record) == record.verified_at
        db.stamp(scope, record.verified_at + 100)
        assert db.verified_at(scope, record) == record.verified_at + 100
        db.forget(scope, ["a"])
        assert db.get(scope, "a") is None
