"""Build the plan: merge the local walk, the S3 listing and the state database.

The three streams are sorted the same way, so the merge holds one entry of each
at a time; pairs that need a HEAD or a hash are checked on a bounded thread pool.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import TypeVar

from . import cancel, ranges
from .checker import Checked, check
from .entries import LocalFile, Record, RemoteObject
from .errors import BucketsyncError, ListingOrderError, side_of
from .job import Job
from .march import march
from .plan import Action, ActionKind, Note, Plan, Problem, Side
from .resume import kept_temps
from .stores.local import check_rel, walk

Pair = tuple[LocalFile | None, RemoteObject | None]
T = TypeVar("T")


def sorted_if_needed(job: Job, make: Callable[[Job], T]) -> T:
    """`make(job)`, which marches the listing; again with the listing sorted in memory
    when the server does not sort it. The first try's thread pool, left by the error,
    set the job's cancel flag to stop its checks: cleared, or the second try's stop too."""
    try:
        return make(job)
    except ListingOrderError:
        job.presorted = True
        job.cancel.reset()
        return make(job)


@dataclass
class Planned:
    """The plan, the state rows learned while making it, and rows now known stale."""

    plan: Plan
    records: list[Record] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # a side is gone: the pair is no more


def make_plan(job: Job) -> Planned:
    planned = Planned(Plan(job.pair))
    conflicts = FolderConflicts()
    way = InTheWay()
    unread: list[str] = []
    window: deque[tuple[Pair, Future[Checked]]] = deque()
    limit = job.options.jobs * 8
    with cancel.pool(job.cancel, job.options.jobs, "bucketsync-check") as pool:
        for (local, remote), record in _merged(job, planned.plan, unread):
            _see_shapes(job, planned.plan, conflicts, way, (local, remote))
            if local is None or remote is None:
                if record is not None:
                    planned.stale.append(record.rel)
                _one_sided(job, planned.plan, local, remote)
            elif record and record.local_matches(local) and record.remote_matches(remote):
                planned.plan.unchanged += 1
            else:
                window.append(((local, remote), pool.submit(check, job, local, remote, record)))
                while len(window) > limit:
                    _settle(job, planned, *window.popleft())
        while window:
            _settle(job, planned, *window.popleft())
    conflicts.apply(planned.plan)
    _spare_unread(planned.plan, unread)
    way.apply(planned.plan, job.push, job.options.delete)
    return planned


def _see_shapes(
    job: Job, plan: Plan, conflicts: FolderConflicts, way: InTheWay, pair: Pair
) -> None:
    """Feed a pair to the checks for a path that is a file here and a folder there."""
    local, remote = pair
    if not job.push and remote is not None and _is_safe(remote.rel):
        conflicts.see(remote.rel, plan)
    if local is None or remote is None:
        source = local if job.push else remote
        way.see(_pair_rel(pair), source is not None)


def _merged(job: Job, plan: Plan, unread: list[str]) -> Iterator[tuple[Pair, Record | None]]:
    for pair, record in marched(job, plan, unread):
        if pair is not None:
            yield pair, record


def marched(job: Job, plan: Plan, unread: list[str]) -> Iterator[tuple[Pair | None, Record | None]]:
    """The walk, the listing and the state rows merged by path, filtered: a row whose
    path is on neither side comes with no pair. The walk's errors go to the plan (and
    their paths to `unread`)."""
    filters = job.options.filters
    # A pull without --delete only compares with the local tree: what its walk skips is
    # left alone, so a note; a key that lands there fails (or not) on its own.
    asked = job.push or job.options.delete

    def problem(rel: str, message: str, is_error: bool) -> None:
        if is_error:
            unread.append(rel)
        if is_error and asked:
            plan.problems.append(Problem(rel, message))
        else:
            plan.warnings.append(Note(rel, message))

    locals_: Iterable[LocalFile] = walk(
        job.root,
        problem,
        follow_symlinks=job.options.follow_symlinks,
        sweep=not job.options.dry_run,
        span=job.key_range,
        keep=kept_temps(job),
    )
    remotes: Iterable[RemoteObject] = _usable_remote(_listing(job), plan)
    records: Iterable[Record] = job.state.records(job.scope, job.key_range)
    if filters:  # most syncs have none: skip a generator step per file
        locals_ = (f for f in locals_ if filters.accepts(f.rel))
        remotes = (r for r in remotes if filters.accepts(r.rel))
        records = (r for r in records if filters.accepts(r.rel))
    pairs = march(locals_, remotes, _rel, _rel)
    return march(pairs, records, _pair_rel, _rel)


def _listing(job: Job) -> Iterable[RemoteObject]:
    """The job's slice of the listing: key ranges side by side, or, from a server that
    does not sort, the whole slice sorted in memory."""
    if job.presorted:
        return sorted(ranges.ordered(job.store, [job.key_range], 1), key=_rel)
    return ranges.listing(job)


merged = _merged  # the walk, listing and state rows, merged: `check` (verify.py) reads them too


def _rel(item: LocalFile | RemoteObject | Record) -> str:
    return item.rel


def _pair_rel(pair: Pair) -> str:
    local, remote = pair
    item = local if local is not None else remote
    assert item is not None
    return item.rel


def _usable_remote(objects: Iterable[RemoteObject], plan: Plan) -> Iterator[RemoteObject]:
    """Skip the prefix's own marker and folder markers (`dir/`, no content)."""
    for obj in objects:
        if not obj.rel or obj.rel.endswith("/"):
            if obj.size:  # no file can hold it; left alone on either side, so a note
                reason = "key ends with '/' and holds data; skipped"
                plan.warnings.append(Note(obj.rel, reason, "remote"))
            continue
        yield obj


def _one_sided(job: Job, plan: Plan, local: LocalFile | None, remote: RemoteObject | None) -> None:
    source, dest = (local, remote) if job.push else (remote, local)
    kind: ActionKind = "upload" if job.push else "download"
    if source is not None:
        if _safe(plan, source.rel, job.push):
            plan.actions.append(Action(kind, source.rel, "new file", source.size, local, remote))
    elif dest is not None and job.options.delete:
        plan.actions.append(
            Action(
                "delete", dest.rel, "only on the destination (--delete)", dest.size, local, remote
            )
        )


def _spare_unread(plan: Plan, unread: list[str]) -> None:
    """Delete nothing at or below a local path the walk could not read: it may be there."""
    if not unread or not any(a.action == "delete" for a in plan.actions):
        return
    if "." in unread:
        spared = [a for a in plan.actions if a.action == "delete"]
    else:
        prefixes = tuple(f"{rel}/" for rel in unread)
        hidden = set(unread)
        spared = [
            a
            for a in plan.actions
            if a.action == "delete" and (a.path in hidden or a.path.startswith(prefixes))
        ]
    if not spared:
        return
    gone = set(map(id, spared))
    plan.actions = [a for a in plan.actions if id(a) not in gone]
    side: Side = "remote" if plan.pair.direction == "push" else "local"
    reason = "not deleted: below a local path that could not be read"
    plan.warnings.extend(Note(a.path, reason, side) for a in spared)


def _is_safe(rel: str) -> bool:
    try:
        check_rel(rel)
    except BucketsyncError:
        return False
    return True


def _safe(plan: Plan, rel: str, push: bool) -> bool:
    """A key must map to a path inside the folder before anything is planned for it."""
    if push:
        return True
    try:
        check_rel(rel)
    except BucketsyncError as e:
        plan.problems.append(Problem(rel, str(e), "remote"))
        return False
    return True


def _settle(job: Job, planned: Planned, pair: Pair, future: Future[Checked]) -> None:
    local, remote = pair
    assert local is not None and remote is not None
    try:
        checked = future.result()
    except BucketsyncError as e:
        planned.plan.problems.append(Problem(local.rel, str(e), side_of(e)))
        return
    except OSError as e:
        planned.plan.problems.append(Problem(local.rel, f"cannot read: {e.strerror or e}"))
        return
    if checked.record is not None:
        planned.records.append(checked.record)
    if checked.verdict.same:
        planned.plan.unchanged += 1
        return
    if not _safe(planned.plan, local.rel, job.push):
        return
    kind: ActionKind = "upload" if job.push else "download"
    source = local if job.push else remote
    planned.plan.actions.append(
        Action(
            kind,
            local.rel,
            checked.verdict.reason,
            source.size,
            local,
            remote,
            digests=checked.digests,
        )
    )


class FolderConflicts:
    """Keys that are both a file and a folder (`a` and `a/b`): the file key loses.

    Keys arrive sorted, so a file key can only be the folder of keys that follow
    it closely; a small stack of candidates is enough.
    """

    def __init__(self) -> None:
        self._candidates: list[str] = []
        self._losers: dict[str, str] = {}

    def see(self, rel: str, plan: Plan) -> None:
        while self._candidates and not _may_contain(self._candidates[-1], rel):
            self._candidates.pop()
        for candidate in self._candidates:
            if rel.startswith(candidate + "/") and candidate not in self._losers:
                self._losers[candidate] = rel
        self._candidates.append(rel)

    def apply(self, plan: Plan) -> None:
        if not self._losers:
            return
        plan.actions = [a for a in plan.actions if a.path not in self._losers]
        for rel, child in self._losers.items():
            message = f"key is also a folder (of '{child}'); only the folder is synced"
            plan.problems.append(Problem(rel, message, "remote"))


def _may_contain(candidate: str, rel: str) -> bool:
    """True while keys sorting after `candidate` can still start with `candidate/`."""
    return rel.startswith(candidate) and (rel == candidate or rel[len(candidate)] <= "/")


class InTheWay:
    """Paths only on the destination in the way of paths only on the source.

    A file `a` on one side and `a/b` on the other: a pull cannot write `a/b` while the
    local file `a` is there, nor `a` while the local folder `a/` holds files. With
    --delete, the deletes that clear the way run first (`Action.clears`); without,
    such a download is an error. S3 holds `a` and `a/b` side by side, so a push goes
    ahead either way; with --delete it clears the way too, for servers backed by a
    file system (rclone serve s3) that cannot hold both.
    """

    def __init__(self) -> None:
        self._candidates: list[tuple[str, bool]] = []  # (rel, only on the source)
        self._blocked: dict[str, list[str]] = {}  # a source path -> destination paths in its way

    def see(self, rel: str, on_source: bool) -> None:
        """Take the next one-sided path, in listing order."""
        while self._candidates and not _may_contain(self._candidates[-1][0], rel):
            self._candidates.pop()
        for other, other_on_source in self._candidates:
            if other_on_source != on_source and rel.startswith(other + "/"):
                move, dest = (rel, other) if on_source else (other, rel)
                self._blocked.setdefault(move, []).append(dest)
        self._candidates.append((rel, on_source))

    def apply(self, plan: Plan, push: bool, delete: bool) -> None:
        """Put the deletes that clear a move's way first; refuse pulls that stay blocked."""
        if not self._blocked:
            return
        moves = {a.path for a in plan.actions if a.action != "delete"}
        deletes = {a.path for a in plan.actions if a.action == "delete"}
        clearing: dict[str, str] = {}  # a delete's path -> the move it makes way for
        refused: set[str] = set()
        for move, in_way in self._blocked.items():
            if move not in moves:
                continue
            if all(rel in deletes for rel in in_way):
                clearing.update((rel, move) for rel in in_way if rel not in clearing)
            elif not push:
                refused.add(move)
                plan.problems.append(Problem(move, _blocked_message(move, in_way[0], delete)))
        plan.actions = _clearing_first(plan.actions, clearing, refused)


def _clearing_first(
    actions: list[Action], clearing: dict[str, str], refused: set[str]
) -> list[Action]:
    """The deletes that clear a way (marked with what they clear), then the rest in order."""
    first: list[Action] = []
    rest: list[Action] = []
    for a in actions:
        if a.action == "delete" and a.path in clearing:
            move = clearing[a.path]
            first.append(replace(a, clears=move, reason=f"in the way of '{move}' (--delete)"))
        elif a.action == "delete" or a.path not in refused:
            rest.append(a)
    return first + rest


def _blocked_message(move: str, dest: str, delete: bool) -> str:
    """Why a download is refused: a local file or folder that is not to be deleted."""
    if move.startswith(dest + "/"):
        what = f"the local file '{dest}' is in the way of its folder"
    else:
        what = f"a local folder is in the way (it holds '{dest[len(move) + 1 :]}')"
    if delete:
        return f"{what}; not downloaded: part of it could not be read, so it is not deleted"
    return f"{what}; not downloaded (sync with --delete to replace it)"
