"""The state database's tables of transfers in flight: a version 1 database is upgraded
in place (its records kept), and the rows a resume reads back are the rows written."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from bucketsync.entries import LocalFile
from bucketsync.state import _TABLES, SCHEMA_VERSION, StateDB, make_record

IN_FLIGHT = ("uploads", "upload_parts", "downloads", "download_ranges")


def _tables(path: Path) -> tuple[int, set[str]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    return version, names


def test_a_version_1_database_gains_the_tables_and_keeps_its_records(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(_TABLES["scopes"])
        db.execute(_TABLES["records"])
        db.execute("PRAGMA user_version=1")
        db.commit()
    with StateDB(path) as state:
        scope = state.scope(tmp_path, "http://x", "b", "p/")
        record = make_record(LocalFile("a", 1, 2, 3, 4, 5), {"crc64nvme": "C"}, "e", 1, racy=False)
        state.save(scope, [record])
    with StateDB(path) as state:
        assert [r.rel for r in state.records(scope)] == ["a"]
    version, names = _tables(path)
    assert version == SCHEMA_VERSION == 2
    assert names >= set(IN_FLIGHT)
    assert not list(tmp_path.glob("*.other-schema-*")) and not list(tmp_path.glob("*.corrupt-*"))


def test_rows_in_flight_round_trip(tmp_path: Path) -> None:
    with StateDB(tmp_path / "state.sqlite3") as state:
        state.write(
            "INSERT INTO upload_parts VALUES (?, ?, ?, ?, ?)",
            [("u1", 1, '"e1"', f"{2**64 - 1:016x}", 5), ("u1", 2, '"e2"', "00", 3)],
        )
        rows = state.read("SELECT number, crc FROM upload_parts WHERE upload_id=?", ("u1",))
    assert sorted(rows) == [(1, "ffffffffffffffff"), (2, "00")]
