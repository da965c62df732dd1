"""The state database: concurrent opening, and the records round trip."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sqlite3
from pathlib import Path
from queue import Queue

import pytest

from bucketsync.entries import LocalFile
from bucketsync.state import _TABLES, SCHEMA_VERSION, StateDB, make_record


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


def _make_db(path: Path, *statements: str) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db:
        for statement in statements:
            db.execute(statement)
        db.commit()


def _version(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def _saved_record(db: StateDB, root: Path) -> int:
    scope = db.scope(root, "http://x", "b", "p/")
    db.save(
        scope, [make_record(LocalFile("a", 1, 2, 3, 4, 5), {"crc64nvme": "C"}, "e", 1, racy=False)]
    )
    return scope


@pytest.mark.parametrize(
    "statements",
    [
        ("CREATE TABLE records (key TEXT PRIMARY KEY, etag TEXT)",),
        ("CREATE TABLE scopes (id INTEGER PRIMARY KEY, path TEXT)",),
        ("CREATE TABLE records (scope INTEGER, rel TEXT)",),
        (*_TABLES.values(), "PRAGMA user_version=99"),
        (*_TABLES.values(), "PRAGMA user_version=-1"),
    ],
    ids=["records-other-columns", "scopes-other-columns", "records-no-key", "future", "negative"],
)
def test_a_database_of_another_schema_is_moved_aside(
    tmp_path: Path, statements: tuple[str, ...]
) -> None:
    path = tmp_path / "state.sqlite3"
    _make_db(path, *statements)
    with StateDB(path) as db:
        scope = _saved_record(db, tmp_path)
        assert [r.rel for r in db.records(scope)] == ["a"]
    aside = {p.name.partition(".other-schema-")[0]: p for p in tmp_path.glob("*.other-schema-*")}
    assert set(aside) <= {"state.sqlite3", "state.sqlite3-wal", "state.sqlite3-shm"}
    with contextlib.closing(sqlite3.connect(aside["state.sqlite3"])) as old:
        assert old.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] >= 1, "kept"
    assert _version(path) == SCHEMA_VERSION


def test_a_database_of_this_layout_without_a_version_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with StateDB(path) as db:
        scope = _saved_record(db, tmp_path)
    _make_db(path, "PRAGMA user_version=0")  # as written before the schema had a version
    with StateDB(path) as db:
        assert [r.rel for r in db.records(scope)] == ["a"]
    assert _version(path) == SCHEMA_VERSION and not list(tmp_path.glob("*.sqlite3.*"))


def test_a_database_from_before_sweep_stamps_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    old_scopes = _TABLES["scopes"].replace("swept_at REAL NOT NULL DEFAULT 0,", "")
    _make_db(path, old_scopes, _TABLES["records"])
    with StateDB(path) as db:
        scope = _saved_record(db, tmp_path)
        db.stamp(scope, 5.0)
    assert _version(path) == SCHEMA_VERSION and not list(tmp_path.glob("*.sqlite3.*"))
