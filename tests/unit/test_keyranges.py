"""Key ranges as plain data: slicing, boundaries, the ordered merge, pickling."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from bucketsync.entries import Record, RemoteObject
from bucketsync.job import SyncSpec
from bucketsync.keyrange import EVERYTHING, KeyRange
from bucketsync.location import S3Location, SyncPair
from bucketsync.options import SyncOptions
from bucketsync.plan import Action, Note, Plan, Problem
from bucketsync.ranges import ordered, spread
from bucketsync.result import RangeResult, report_of
from bucketsync.state import StateDB
from bucketsync.stores.local import walk
from bucketsync.stores.s3 import S3Store

KEYS = sorted(["a", "a-c", "a/b", "a/b/c", "a0", "ab", "b", "é", "é/x", "\uff5a", "\U0001f600"])


def in_range(span: KeyRange) -> list[str]:
    return [k for k in KEYS if k in span]


def test_contains_is_open_below_and_closed_above() -> None:
    span = KeyRange("a", "a0")
    assert "a" not in span
    assert "a0" in span
    assert in_range(span) == ["a-c", "a/b", "a/b/c", "a0"]
    assert in_range(EVERYTHING) == KEYS
    assert in_range(KeyRange("a0", "a0")) == []  # an empty range


@pytest.mark.parametrize(
    "cuts",
    [["a"], ["a/b"], ["a-c", "é"], ["a0", "b", "\uff5a"], ["zz"], ["0"], KEYS],
)
def test_split_ranges_cover_every_key_once(cuts: list[str]) -> None:
    pieces = EVERYTHING.split(cuts)
    assert [k for piece in pieces for k in in_range(piece)] == KEYS
    assert pieces[0].lo is None and pieces[-1].hi is None


def test_split_ignores_cuts_outside_and_duplicates() -> None:
    span = KeyRange("a", "b")
    assert span.split(["0", "a", "a0", "a0", "b", "c"]) == [
        KeyRange("a", "a0"),
        KeyRange("a0", "b"),
    ]


@pytest.mark.parametrize(
    ("span", "folder", "meets"),
    [
        (KeyRange("a/b", None), "a/", True),  # lo inside the folder
        (KeyRange("a0", None), "a/", False),  # 'a/...' < 'a0'
        (KeyRange("a", None), "a/", True),  # 'a' < 'a/...'
        (KeyRange(None, "a"), "a/", False),  # every 'a/...' > 'a'
        (KeyRange(None, "a/"), "a/", False),
        (KeyRange(None, "a/b"), "a/", True),
        (KeyRange(None, "a-c"), "a/", False),
        (KeyRange("é", None), "é/", True),
        (KeyRange("\uff5a", None), "é/", False),
    ],
)
def test_meets_folder(span: KeyRange, folder: str, meets: bool) -> None:
    assert span.meets_folder(folder) is meets


def make_tree(root: Path) -> None:
    for key in KEYS:
        if any(other.startswith(key + "/") for other in KEYS):
            continue  # a file cannot also be a folder
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(key.encode())


@pytest.mark.parametrize("cuts", [["a"], ["a/b"], ["a-c", "é"], ["a/", "a0", "é/x"], []])
def test_walk_of_ranges_is_the_walk_in_pieces(tmp_path: Path, cuts: list[str]) -> None:
    make_tree(tmp_path)
    whole = [f.rel for f in walk(tmp_path, lambda *_: None)]
    pieces = [
        [f.rel for f in walk(tmp_path, lambda *_: None, span=s)] for s in EVERYTHING.split(cuts)
    ]
    assert [rel for piece in pieces for rel in piece] == whole
    for span, piece in zip(EVERYTHING.split(cuts), pieces, strict=True):
        assert all(rel in span for rel in piece)


def test_walk_does_not_read_folders_outside_the_range(tmp_path: Path) -> None:
    make_tree(tmp_path)
    (tmp_path / "zz").mkdir()
    (tmp_path / "zz").chmod(0)  # unreadable: reading it would report an error
    try:
        seen: list[str] = []
        rels = [
            f.rel
            for f in walk(tmp_path, lambda rel, *_: seen.append(rel), span=KeyRange(None, "b"))
        ]
    finally:
        (tmp_path / "zz").chmod(0o755)
    assert rels == ["a-c", "a/b/c", "a0", "ab", "b"]
    assert seen == []


def record(rel: str) -> Record:
    return Record(rel, (1, 2, 3, 4, 5), False, "crc", None, "etag", 3, 0.0)


def test_state_rows_of_a_range_and_quantiles(tmp_path: Path) -> None:
    with StateDB(tmp_path / "s.db") as state:
        scope = state.scope(tmp_path, "http://x", "b", "")
        state.save(scope, [record(k) for k in KEYS])
        assert [r.rel for r in state.records(scope, KeyRange("a", "a0"))] == in_range(
            KeyRange("a", "a0")
        )
        assert state.count(scope) == len(KEYS)
        cuts = state.quantiles(scope, EVERYTHING, 3)
        assert len(cuts) == 2 and cuts == sorted(cuts)
        pieces = EVERYTHING.split(cuts)
        assert [r.rel for s in pieces for r in state.records(scope, s)] == KEYS
        assert state.quantiles(scope, KeyRange("b", None), 10) == []  # 3 rows, 10 pieces: 0
        assert state.quantiles(scope, EVERYTHING, 1) == []


def test_spread() -> None:
    assert spread([], 4) == []
    assert spread(["a/", "b/"], 1) == []
    assert spread(["a/", "b/", "c/", "d/"], 2) == ["c/"]
    assert spread([f"{n:02}/" for n in range(10)], 4) == ["02/", "05/", "07/"]
    cuts = spread([f"{n:03}/" for n in range(200)], 16)  # even: 12 or 13 folders a range
    assert len(cuts) == 15 and cuts[0] == "012/" and cuts[-1] == "187/"
    assert spread(["a/", "b/"], 16) == ["a/", "b/"]  # fewer keys than pieces: cut at each


class FakeStore:
    """Pages of 2 objects from a sorted list of keys, cut by key range."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys

    def pages(self, span: KeyRange) -> Iterator[list[RemoteObject]]:
        found = [RemoteObject(k, k, 1, "e", 0) for k in self.keys if k in span]
        for n in range(0, len(found), 2):
            yield found[n : n + 2]


@pytest.mark.parametrize("cuts", [[], ["a"], ["a/b", "a0"], KEYS, ["0", "zzz"]])
def test_ordered_listing_returns_every_key_once_in_order(cuts: list[str]) -> None:
    store = cast(S3Store, FakeStore(KEYS))
    listed = [o.rel for o in ordered(store, EVERYTHING.split(cuts), 3)]
    assert listed == KEYS


def test_ordered_listing_raises_a_range_error_in_order() -> None:
    class Broken(FakeStore):
        def pages(self, span: KeyRange) -> Iterator[list[RemoteObject]]:
            if span.lo == "b":
                raise OSError("boom")
            yield from super().pages(span)

    listed: list[str] = []
    with pytest.raises(OSError, match="boom"):
        for obj in ordered(cast(S3Store, Broken(KEYS)), EVERYTHING.split(["a0", "b"]), 2):
            listed.append(obj.rel)
    assert listed == in_range(KeyRange(None, "b"))


def test_spec_and_range_result_pickle_round_trip(tmp_path: Path) -> None:
    pair = SyncPair("push", tmp_path, S3Location("bucket", "p/"))
    spec = SyncSpec(
        pair, SyncOptions(jobs=4, delete=True, exclude=("*.tmp",)), KeyRange("a", "é"), 3
    )
    assert pickle.loads(pickle.dumps(spec)) == spec
    remote = RemoteObject("a/b", "p/a/b", 3, "etag", 1)
    plan = Plan(pair, [Action("download", "a/b", "new file", 3, None, remote)], 2)
    plan.problems.append(Problem("x", "bad", "remote"))
    plan.warnings.append(Note("l", "symbolic link not followed"))
    result = RangeResult(
        spec.key_range,
        plan,
        {"download": 1},
        [Problem("y", "failed")],
        [record("a0")],
        [record("a/b")],
        ["gone"],
        ["deleted"],
        5,
        3,
        {"list": 2, "get": 1},
    )
    back: Any = pickle.loads(pickle.dumps(result))
    assert back.records == result.records and back.plan.actions == plan.actions
    assert back.plan.skipped == plan.skipped and back.key_range == spec.key_range
    report = report_of([result, back], dry_run=False)
    assert (report.downloaded, report.unchanged, report.failed) == (2, 4, 4)
    assert report.requests == {"list": 4, "get": 2}
