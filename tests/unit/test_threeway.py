"""The three-way classifier, cell by cell, and how each conflict mode resolves."""

from __future__ import annotations

import pytest

from bucketsync.entries import LocalFile, Record, RemoteObject
from bucketsync.threeway import CONFLICT_MODES, classify, resolve

LOCAL = LocalFile("a.txt", 3, 1_000_000_000, 1_000_000_000, 7, 1)
EDITED = LOCAL._replace(mtime_ns=2_000_000_000, ctime_ns=2_000_000_000)
REMOTE = RemoteObject("a.txt", "p/a.txt", 3, "e1", 1_500_000_000)
CHANGED = REMOTE._replace(etag="e2")
ROW = Record("a.txt", LOCAL.fingerprint, False, "crc", None, "e1", 3, 0.0)
RACY = ROW._replace(racy=True)

# (local, remote, ancestor) -> (outcome, if_same, if_differ, reason or differ_reason)
CELLS = [
    ("no row, local only", LOCAL, None, None, "upload", None, None, "new locally"),
    ("no row, remote only", None, REMOTE, None, "download", None, None, "new remotely"),
    (
        "no row, both",
        LOCAL,
        REMOTE,
        None,
        "compare",
        "record",
        "conflict",
        "created locally, created remotely, with different content",
    ),
    ("deleted on both", None, None, ROW, "forget", None, None, "deleted on both sides"),
    ("unchanged", LOCAL, REMOTE, ROW, "unchanged", None, None, "unchanged since the last sync"),
    ("edited locally", EDITED, REMOTE, ROW, "compare", "record", "upload", "edited locally"),
    ("racy row", LOCAL, REMOTE, RACY, "compare", "record", "upload", "edited locally"),
    ("edited remotely", LOCAL, CHANGED, ROW, "compare", "record", "download", "edited remotely"),
    (
        "edited on both",
        EDITED,
        CHANGED,
        ROW,
        "compare",
        "record",
        "conflict",
        "edited locally, edited remotely, with different content",
    ),
    ("deleted locally", None, REMOTE, ROW, "delete-remote", None, None, "deleted locally"),
    (
        "deleted locally, edited remotely",
        None,
        CHANGED,
        ROW,
        "conflict",
        None,
        None,
        "deleted locally, edited remotely",
    ),
    ("deleted remotely", LOCAL, None, ROW, "delete-local", None, None, "deleted remotely"),
    (
        "edited locally, deleted remotely",
        EDITED,
        None,
        ROW,
        "compare",
        "delete-local",
        "conflict",
        "edited locally, deleted remotely",
    ),
]


@pytest.mark.parametrize(
    ("local", "remote", "row", "outcome", "if_same", "if_differ", "reason"),
    [c[1:] for c in CELLS],
    ids=[c[0] for c in CELLS],
)
def test_every_cell(
    local: LocalFile | None,
    remote: RemoteObject | None,
    row: Record | None,
    outcome: str,
    if_same: str | None,
    if_differ: str | None,
    reason: str,
) -> None:
    verdict = classify(local, remote, row)
    assert verdict.outcome == outcome
    assert verdict.if_same == if_same and verdict.if_differ == if_differ
    if outcome == "compare":
        assert verdict.differ_reason == reason
        assert verdict.settle(True).outcome == if_same
        differ = verdict.settle(False)
        assert differ.outcome == if_differ and differ.reason == reason
    else:
        assert verdict.reason == reason


def test_a_missing_object_is_compared_with_the_ancestor() -> None:
    verdict = classify(EDITED, None, ROW)
    assert verdict.against == "ancestor"
    assert "deleted remotely" in verdict.settle(True).reason
    assert classify(EDITED, CHANGED, ROW).against == "remote"


def test_same_content_on_both_sides_is_recorded_with_what_changed() -> None:
    settled = classify(EDITED, CHANGED, ROW).settle(True)
    assert settled.outcome == "record"
    assert settled.reason == "edited on both sides to the same content"


NEWER_LOCAL = LOCAL._replace(mtime_ns=9_000_000_000)
OLDER_LOCAL = LOCAL._replace(mtime_ns=1)

RESOLVED = [
    ("skip", LOCAL, REMOTE, "conflict"),
    ("skip", None, REMOTE, "conflict"),
    ("local", LOCAL, REMOTE, "upload"),
    ("local", None, REMOTE, "delete-remote"),
    ("local", LOCAL, None, "upload"),
    ("remote", LOCAL, REMOTE, "download"),
    ("remote", LOCAL, None, "delete-local"),
    ("remote", None, REMOTE, "download"),
    ("newer", NEWER_LOCAL, REMOTE, "upload"),
    ("newer", OLDER_LOCAL, REMOTE, "download"),
    ("newer", LOCAL._replace(mtime_ns=REMOTE.last_modified_ns), REMOTE, "download"),
    ("newer", None, REMOTE, "download"),
    ("newer", LOCAL, None, "upload"),
    ("keep-both", LOCAL, REMOTE, "keep-both"),
    ("keep-both", None, REMOTE, "download"),
    ("keep-both", LOCAL, None, "upload"),
]


@pytest.mark.parametrize(("mode", "local", "remote", "expected"), RESOLVED)
def test_each_conflict_mode(
    mode: str, local: LocalFile | None, remote: RemoteObject | None, expected: str
) -> None:
    resolution, why = resolve(mode, local, remote)  # type: ignore[arg-type]
    assert resolution == expected
    assert f"--conflict {mode}" in why


def test_modes_cover_every_choice() -> None:
    assert {m for m, *_ in RESOLVED} == set(CONFLICT_MODES)
