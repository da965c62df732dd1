"""Plan a two-way sync: march the local walk, the listing and the state rows together.

Each path is classified against its ancestor (`threeway.classify`); paths whose
verdict hangs on content are compared on a bounded thread pool with the same
checker a one-way sync uses (or, when the object is gone, the local file's
CRC64NVME against the ancestor's). Conflicts are resolved by the chosen mode
(`threeway.resolve`). The result is data: one Plan whose uploads and downloads
are ordinary actions, whose deletes say their side, and whose conflicts are
actions of kind "conflict" with what was done about them.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timezone

from . import cancel
from .checker import check
from .entries import LocalFile, Record, RemoteObject
from .errors import BucketsyncError, side_of
from .hashing import hash_file
from .job import Job
from .plan import Action, Note, Plan, Problem
from .planner import _pair_rel, marched, sorted_if_needed
from .stores.local import check_rel, local_file, target_path
from .threeway import ConflictMode, Verdict, classify, resolve

Pair = tuple[LocalFile | None, RemoteObject | None]
Digests = dict[str, str]
CONFLICT_TAG = ".conflict-remote-"


@dataclass
class BiPlanned:
    """The plan, rows learned while making it, rows to drop, and what the march saw."""

    plan: Plan
    records: list[Record] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    copies: dict[str, str] = field(default_factory=dict)  # keep-both: copy rel -> path rel
    unread: list[str] = field(default_factory=list)
    seen_local: int = 0
    seen_remote: int = 0
    seen_records: int = 0


@dataclass(frozen=True)
class Settled:
    """A compared pair: the verdict after comparing, its digests, and a new ancestor row."""

    verdict: Verdict
    digests: Digests = field(default_factory=dict)
    record: Record | None = None


def make_bi_plan(job: Job, mode: ConflictMode) -> BiPlanned:
    """The plan of a two-way sync (`job` is its push half: local is the source)."""
    return sorted_if_needed(job, lambda job: _make(job, mode))


def _make(job: Job, mode: ConflictMode) -> BiPlanned:
    planned = BiPlanned(Plan(job.pair))
    window: deque[tuple[Pair, Record | None, Future[Settled]]] = deque()
    limit = job.options.jobs * 8
    with cancel.pool(job.cancel, job.options.jobs, "bucketsync-check") as pool:
        for (local, remote), record in _merged(job, planned):
            verdict = classify(local, remote, record)
            if verdict.outcome != "compare":
                _apply(job, planned, mode, (local, remote), Settled(verdict))
                continue
            future = pool.submit(_compare, job, local, remote, record, verdict)
            window.append(((local, remote), record, future))
            while len(window) > limit:
                _settle(job, planned, mode, *window.popleft())
        while window:
            _settle(job, planned, mode, *window.popleft())
    _spare_unread(planned)
    return planned


def _merged(job: Job, planned: BiPlanned) -> Iterator[tuple[Pair, Record | None]]:
    """The planner's merge of the walk, listing and rows; counts what each side showed,
    and rows of paths on neither side (stale)."""
    for pair, record in marched(job, planned.plan, planned.unread):
        if record is not None:
            planned.seen_records += 1
        if pair is None:
            planned.stale.append(record.rel if record else "")
            continue
        planned.seen_local += pair[0] is not None
        planned.seen_remote += pair[1] is not None
        yield pair, record


def _compare(
    job: Job,
    local: LocalFile | None,
    remote: RemoteObject | None,
    record: Record | None,
    verdict: Verdict,
) -> Settled:
    """Settle a `compare` verdict by content."""
    assert local is not None
    if verdict.against == "ancestor":
        assert record is not None
        crc = local_crc(job, local)
        return Settled(verdict.settle(crc == record.crc64nvme), {"crc64nvme": crc or ""})
    assert remote is not None
    checked = check(job, local, remote, record)
    settled = verdict.settle(bool(checked.verdict.same))
    if not checked.verdict.same and settled.outcome != "conflict":
        settled = Verdict(
            settled.outcome,
            f"{settled.reason}: {checked.verdict.reason}",
            local_change=settled.local_change,
            remote_change=settled.remote_change,
        )
    return Settled(settled, dict(checked.digests), checked.record)


def local_crc(job: Job, local: LocalFile) -> str | None:
    """The CRC64NVME of the local file as walked, or None if it changed or cannot be read."""
    path = target_path(job.root, local.rel)
    try:
        digests = hash_file(
            path, {"crc64nvme"}, job.cancel.check, follow_symlinks=job.options.follow_symlinks
        )
        if local_file(local.rel, os.stat(path)).fingerprint != local.fingerprint:
            return None
    except OSError:
        return None
    job.stats.hashed(local.size)
    return digests["crc64nvme"]


def _settle(
    job: Job,
    planned: BiPlanned,
    mode: ConflictMode,
    pair: Pair,
    record: Record | None,
    future: Future[Settled],
) -> None:
    rel = _pair_rel(pair)
    try:
        settled = future.result()
    except BucketsyncError as e:
        planned.plan.problems.append(Problem(rel, str(e), side_of(e)))
        return
    except OSError as e:
        planned.plan.problems.append(Problem(rel, f"cannot read: {e.strerror or e}"))
        return
    if settled.record is not None:
        planned.records.append(settled.record)
    _apply(job, planned, mode, pair, settled)


def _apply(job: Job, planned: BiPlanned, mode: ConflictMode, pair: Pair, settled: Settled) -> None:
    """Turn a final verdict into actions (or a count, or a row to drop)."""
    local, remote = pair
    plan, verdict, rel = planned.plan, settled.verdict, _pair_rel(pair)
    outcome: str = verdict.outcome
    reason = verdict.reason
    if outcome in ("unchanged", "record"):
        plan.unchanged += 1
        return
    if outcome == "forget":
        planned.stale.append(rel)
        return
    if outcome == "conflict":
        resolution, how = resolve(mode, local, remote)
        if resolution == "conflict":
            plan.actions.append(Action("conflict", rel, reason, 0, local, remote))
            return
        label = "delete" if resolution.startswith("delete") else resolution
        note = f"{reason}; {how}"
        plan.actions.append(Action("conflict", rel, note, 0, local, remote, resolution=label))
        reason, outcome = f"conflict ({reason}): {how}", resolution
    digests = settled.digests or None
    if outcome == "upload":
        assert local is not None
        plan.actions.append(Action("upload", rel, reason, local.size, local, remote, digests))
    elif outcome == "download" and _safe(plan, rel):
        assert remote is not None
        plan.actions.append(Action("download", rel, reason, remote.size, local, remote))
    elif outcome == "delete-local":
        assert local is not None
        plan.actions.append(Action("delete", rel, reason, local.size, local, None, side="local"))
    elif outcome == "delete-remote":
        assert remote is not None
        plan.actions.append(Action("delete", rel, reason, remote.size, None, remote, side="remote"))
    elif outcome == "keep-both":
        assert local is not None and remote is not None
        _keep_both(job, planned, local, remote, reason, digests)


def _keep_both(
    job: Job,
    planned: BiPlanned,
    local: LocalFile,
    remote: RemoteObject,
    reason: str,
    digests: Digests | None,
) -> None:
    """The remote version comes down beside the local file under a conflict name; the local
    file goes up to its path. The copy goes up too, after it landed: both sides converge."""
    plan = planned.plan
    if not _safe(plan, remote.rel):
        return
    copy = conflict_name(job, remote)
    if copy is None:
        plan.problems.append(Problem(remote.rel, "no free name for the remote version's copy"))
        return
    planned.copies[copy] = remote.rel
    plan.actions.append(
        Action("download", copy, f"{reason}: copy of {remote.rel}", remote.size, None, remote)
    )
    plan.actions.append(Action("upload", local.rel, reason, local.size, local, remote, digests))


def conflict_name(job: Job, remote: RemoteObject) -> str | None:
    """A free name for the remote version beside the local file:
    ``NAME.conflict-remote-YYYYMMDDTHHMMSSZ.EXT`` (the object's LastModified, UTC), then
    ``...Z-2.EXT`` and so on while that name is taken locally or remotely."""
    stamp = datetime.fromtimestamp(remote.last_modified_ns / 1e9 or time.time(), timezone.utc)
    tag = CONFLICT_TAG + stamp.strftime("%Y%m%dT%H%M%SZ")
    folder, slash, name = remote.rel.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    if not stem:  # no extension (or a dot file): the tag goes at the end
        stem, dot, ext = name, "", ""
    for n in range(1, 100):
        suffix = tag if n == 1 else f"{tag}-{n}"
        rel = f"{folder}{slash}{stem}{suffix}{dot}{ext}"
        if _free(job, rel):
            return rel
    return None


def _free(job: Job, rel: str) -> bool:
    try:
        path = target_path(job.root, rel)
    except BucketsyncError:
        return False
    if os.path.lexists(path):
        return False
    return job.store.stat(job.store.location.key(rel)) is None


def _safe(plan: Plan, rel: str) -> bool:
    try:
        check_rel(rel)
    except BucketsyncError as e:
        plan.problems.append(Problem(rel, str(e), "remote"))
        return False
    return True


def _spare_unread(planned: BiPlanned) -> None:
    """Delete nothing remote at or below a local path the walk could not read."""
    plan, unread = planned.plan, planned.unread
    if not unread:
        return
    prefixes = tuple(f"{rel}/" for rel in unread)
    hidden = set(unread)

    def spared(a: Action) -> bool:
        below = "." in hidden or a.path in hidden or a.path.startswith(prefixes)
        blind = (a.action == "delete" and a.side == "remote") or a.action == "download"
        return blind and below

    for a in plan.actions:
        if spared(a):
            what = "not deleted" if a.action == "delete" else "not downloaded"
            message = f"{what}: a local path there could not be read"
            plan.warnings.append(Note(a.path, message, "remote"))
    plan.actions = [a for a in plan.actions if not spared(a)]
