"""The three-way compare of a two-way sync: one path, against its common ancestor.

The ancestor is the path's row in the state database: the local file version
and the object version last known identical. `classify` is pure: it takes what
the local walk, the listing and the database hold for one path, and returns a
`Verdict`, or says which content comparison settles it (`compare`), and what
each answer means. The table (DESIGN.md "Three-way compare"):

| ancestor | local            | remote           | verdict                            |
|----------|------------------|------------------|------------------------------------|
| none     | present          | absent           | upload (new locally)               |
| none     | absent           | present          | download (new remotely)            |
| none     | present          | present          | compare: same: record; else conflict |
| row      | absent           | absent           | forget (deleted on both sides)     |
| row      | same             | same             | unchanged                          |
| row      | changed?         | same             | compare: same: record; else upload |
| row      | same             | changed          | compare: same: record; else download |
| row      | changed?         | changed          | compare: same: record; else conflict |
| row      | absent           | same             | delete remote                      |
| row      | absent           | changed          | conflict (deleted / edited)        |
| row      | same             | absent           | delete local                       |
| row      | changed?         | absent           | vs ancestor: same: delete local; else conflict |

"same" on the local side is the fingerprint (inode, size, times; not the device) of the
row, not racy; a different fingerprint is only a possible change ("changed?"),
settled by content. On the remote side, "same" is the row's ETag and size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .entries import LocalFile, Record, RemoteObject

Outcome = Literal[
    "unchanged",  # nothing to do
    "record",  # both sides hold the same content: a new ancestor, nothing moved
    "forget",  # gone from both sides: drop the row
    "upload",  # the local version goes to the remote side
    "download",  # the remote version comes to the local side
    "delete-local",  # deleted remotely, unchanged locally
    "delete-remote",  # deleted locally, unchanged remotely
    "conflict",  # changed on both sides to different content (or edited and deleted)
    "compare",  # settled by comparing content: see `Verdict.if_same` / `if_differ`
]
Against = Literal["remote", "ancestor"]  # compare the local file with the object, or the row


@dataclass(frozen=True)
class Verdict:
    """What to do with one path, and why; for `compare`, what each answer means.

    `against` says what the local file is compared with: the remote object, or the
    ancestor's CRC64NVME (the object is gone). `local_changed` and `remote_changed`
    say what changed since the ancestor ("edited", "created", "deleted", or "").
    """

    outcome: Outcome
    reason: str
    if_same: Outcome | None = None
    if_differ: Outcome | None = None
    differ_reason: str = ""
    against: Against = "remote"
    local_change: str = ""
    remote_change: str = ""

    def settle(self, same: bool) -> Verdict:
        """The verdict once content was compared (`same`: the two hold equal bytes)."""
        assert self.outcome == "compare" and self.if_same and self.if_differ
        outcome, reason = (
            (self.if_same, _same_reason(self)) if same else (self.if_differ, self.differ_reason)
        )
        return Verdict(
            outcome, reason, local_change=self.local_change, remote_change=self.remote_change
        )


def _same_reason(verdict: Verdict) -> str:
    if verdict.against == "ancestor":
        return "deleted remotely; the local file holds the last synced content"
    if verdict.local_change and verdict.remote_change:
        return f"{_both(verdict)} to the same content"
    return "same content on both sides"


def _both(verdict: Verdict) -> str:
    if verdict.local_change == verdict.remote_change:
        return f"{verdict.local_change} on both sides"
    return f"{verdict.local_change} locally and {verdict.remote_change} remotely"


def conflict_reason(local_change: str, remote_change: str) -> str:
    """The reason of a conflict, naming what changed on each side."""
    both = f"{local_change} locally, {remote_change} remotely"
    if "deleted" in (local_change, remote_change):
        return both
    return f"{both}, with different content"


def classify(
    local: LocalFile | None, remote: RemoteObject | None, record: Record | None
) -> Verdict:
    """The verdict for one path from its local file, its object and its ancestor row."""
    if record is None:
        return _no_ancestor(local, remote)
    local_change = _local_change(local, record)
    remote_change = _remote_change(remote, record)

    def verdict(outcome: Outcome, reason: str) -> Verdict:
        return Verdict(outcome, reason, local_change=local_change, remote_change=remote_change)

    if local is None and remote is None:
        return verdict("forget", "deleted on both sides")
    if local is None:  # deleted locally
        if not remote_change:
            return verdict("delete-remote", "deleted locally")
        return verdict("conflict", conflict_reason("deleted", remote_change))
    if remote is None:  # deleted remotely
        if not local_change:
            return verdict("delete-local", "deleted remotely")
        return Verdict(
            "compare",
            "deleted remotely; the local file may have changed",
            if_same="delete-local",
            if_differ="conflict",
            differ_reason=conflict_reason("edited", "deleted"),
            against="ancestor",
            local_change=local_change,
            remote_change=remote_change,
        )
    if not local_change and not remote_change:
        return verdict("unchanged", "unchanged since the last sync")
    if not remote_change:
        return _compare("upload", "edited locally", local_change, remote_change)
    if not local_change:
        return _compare("download", "edited remotely", local_change, remote_change)
    return _compare("conflict", conflict_reason("edited", "edited"), local_change, remote_change)


def _compare(
    if_differ: Outcome, differ_reason: str, local_change: str, remote_change: str
) -> Verdict:
    return Verdict(
        "compare",
        "compare content",
        if_same="record",
        if_differ=if_differ,
        differ_reason=differ_reason,
        local_change=local_change,
        remote_change=remote_change,
    )


def _no_ancestor(local: LocalFile | None, remote: RemoteObject | None) -> Verdict:
    if local is not None and remote is None:
        return Verdict("upload", "new locally", local_change="created")
    if local is None and remote is not None:
        return Verdict("download", "new remotely", remote_change="created")
    if local is None or remote is None:
        return Verdict("unchanged", "on neither side")
    return _compare("conflict", conflict_reason("created", "created"), "created", "created")


def _local_change(local: LocalFile | None, record: Record) -> str:
    if local is None:
        return "deleted"
    return "" if record.local_matches(local) else "edited"


def _remote_change(remote: RemoteObject | None, record: Record) -> str:
    if remote is None:
        return "deleted"
    return "" if record.remote_matches(remote) else "edited"


ConflictMode = Literal["skip", "local", "remote", "newer", "keep-both"]
CONFLICT_MODES: tuple[ConflictMode, ...] = ("skip", "local", "remote", "newer", "keep-both")
Resolution = Literal["conflict", "upload", "download", "delete-local", "delete-remote", "keep-both"]


def resolve(
    mode: ConflictMode, local: LocalFile | None, remote: RemoteObject | None
) -> tuple[Resolution, str]:
    """What a conflict becomes under `mode`, and a few words on why.

    - skip: stays a conflict; neither side is touched.
    - local / remote: that side's version (or its delete) wins.
    - newer: the version with the later time wins (the local file's mtime against the
      object's LastModified; the local side on a tie is not newer, so the remote wins).
      Against a delete, the edited version wins: a delete has no time to compare.
    - keep-both: the local file keeps its path and the remote version is kept beside
      it under a conflict name (on both sides); against a delete, the edit wins.
    """
    if mode == "skip":
        return "conflict", "left alone (--conflict skip)"
    if mode == "local":
        return ("upload" if local else "delete-remote"), "the local side wins (--conflict local)"
    if mode == "remote":
        return (
            "download" if remote else "delete-local"
        ), "the remote side wins (--conflict remote)"
    if local is None or remote is None:
        how = "newer" if mode == "newer" else "keep-both"
        winner: Resolution = "upload" if remote is None else "download"
        return winner, f"the edit wins over the delete (--conflict {how})"
    if mode == "newer":
        if local.mtime_ns > remote.last_modified_ns:
            return "upload", "the local file is newer (--conflict newer)"
        return "download", "the remote object is newer (--conflict newer)"
    return "keep-both", "both kept: the remote version under a conflict name (--conflict keep-both)"
