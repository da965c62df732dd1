"""The lockfile format and the as-of choice of versions, without a server."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bucketsync.location import S3Location
from bucketsync.lockfile import FORMAT, Lock, LockEntry, LockfileError, parse_time
from bucketsync.stores.versions import Version, as_of, latest

CREATED = datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


def a_lock() -> Lock:
    entries = (
        LockEntry("p/b", 2, "e2", None, "AAAAAAAAAAA=", "2026-11-30T00:00:00.000000Z"),
        LockEntry("p/a", 1, "e1", "v1"),
        LockEntry("p/\u00e9 x", 0, "e3", "v3"),
    )
    return Lock("bkt", "p/", "host:9", CREATED, entries, True)


def test_round_trip_sorted_and_equal(tmp_path: Path) -> None:
    lock = a_lock()
    assert [e.key for e in lock] == ["p/a", "p/b", "p/\u00e9 x"]
    path = lock.save(tmp_path / "sub" / "x.lock")
    text = path.read_text(encoding="utf-8")
    assert f'"format": "{FORMAT}"' in text and text.count("\n") == len(lock) + 10
    again = Lock.load(path)
    assert again == lock and again.created == CREATED and again.get("p/b") == lock.get("p/b")
    assert "p/a" in again and len(again) == 3 and again.size == 3
    assert dataclasses.replace(again, entries=again.entries[:1]).get("p/b") is None


def test_foreign_location_is_refused() -> None:
    lock = a_lock()
    lock.check_for(S3Location("bkt", "p/"))
    for other in (S3Location("bkt", "q/"), S3Location("other", "p/"), S3Location("bkt", "")):
        with pytest.raises(LockfileError, match="pins s3://bkt/p/"):
            lock.check_for(other)


def test_times() -> None:
    assert parse_time("2026-12-01T12:00:00Z") == datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
    assert parse_time("2026-12-01T12:00:00").tzinfo is not None  # no zone: UTC
    for bad in ("", "yesterday", "2026-13-01"):
        with pytest.raises(ValueError):
            parse_time(bad)


def v(key: str, seconds: int, *, deleted: bool = False, latest: bool = False) -> Version:
    return Version(key, f"{key}@{seconds}", seconds * 10**9, latest, deleted, 1, f"e{seconds}")


def test_as_of_picks_newest_not_after_and_honours_delete_markers() -> None:
    versions = [  # as S3 lists them: keys in order, newest first
        v("a", 30, latest=True),
        v("a", 10),
        v("b", 25, deleted=True, latest=True),
        v("b", 5),
        v("c", 40, latest=True),
    ]
    chosen = lambda t: [x.version_id for x in as_of(versions, t * 10**9)]  # noqa: E731
    assert chosen(4) == []
    assert chosen(10) == ["a@10", "b@5"]
    assert chosen(26) == ["a@10"]  # b was deleted at 25
    assert chosen(50) == ["a@30", "c@40"]
    assert [x.version_id for x in latest(versions)] == ["a@30", "c@40"]
