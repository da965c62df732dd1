"""Two-way sync: `bisync(local, url)`, the engine behind `bucketsync bisync` and `Mirror.sync()`.

Each path is compared with its ancestor, the state row of the versions last known
identical (see `threeway`): a change on one side goes to the other, deletes too; a
change on both sides to different content is a conflict, resolved by `conflict`.

The engine runs one direction per job, so the plan is carried out in three steps
by the ordinary executor: the downloads and local deletes (pull job; each only while
the local file is as walked), then the uploads (push job; conditional on the object
as listed), then the uploads of keep-both copies. Remote deletes are sent one by one
with ``If-Match`` (servers that ignore it delete anyway). Everything each step did is
recorded in the state database as it finishes (an interrupted step too), so a run cut
short converges on the next.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from . import cancel, errors, guard
from .api import _readable, make_store
from .bisync_plan import BiPlanned, make_bi_plan
from .entries import LocalFile
from .job import Job
from .location import S3Location, SyncPair, is_s3_url, parse_s3_url
from .locking import folder_lock
from .options import SIDE, SyncOptions, one_of
from .plan import Action, Plan, Problem
from .progress import Progress, shown
from .report import Report, Stats
from .state import StateDB
from .stores.local import local_file, target_path
from .threeway import CONFLICT_MODES, ConflictMode
from .transfer import Outcome, execute

CONFLICT = one_of(CONFLICT_MODES)


def bisync(local: str | os.PathLike[str], url: str | os.PathLike[str], **options: Any) -> Report:
    """Make a local folder and an S3 prefix hold the same files, taking changes from both.

    The two sides may come in either order. Each path is compared with the versions
    last known identical (the state database): a change on one side (an edit, a new
    file, a delete) goes to the other; a change on both to different content is a
    conflict, settled by `conflict`: "skip" (default; reported, neither side touched),
    "local", "remote", "newer", or "keep-both" (the remote version is kept beside the
    local file as ``NAME.conflict-remote-YYYYMMDDTHHMMSSZ.EXT``). `max_delete`: more
    deletes than this on a side, and none are done. Other options as for `sync`
    (not `delete`: deletes always go both ways). A side that is missing or empty while
    the state database knew files there raises `SideVanished` and changes nothing.
    """
    options = dict(options)
    mode: ConflictMode = CONFLICT("conflict", options.pop("conflict", "skip"))
    if "delete" in options:
        raise errors.UsageError("bisync always carries deletes both ways: drop the delete option")
    opts = SyncOptions.from_dict(options)
    return run_bisync(local, url, opts, mode)


def run_bisync(
    a: str | os.PathLike[str], b: str | os.PathLike[str], opts: SyncOptions, mode: ConflictMode
) -> Report:
    started = time.monotonic()
    root, remote = _sides(SIDE("local", a), SIDE("url", b))
    stats = Stats()
    store = make_store(remote, opts, stats)
    with StateDB() as state:
        scope = state.scope(root, store.endpoint, remote.bucket, remote.prefix)
        push = Job(SyncPair("push", root, remote), opts, store, state, scope, stats)
        pull = Job(SyncPair("pull", root, remote), opts, store, state, scope, stats)
        pull.keep_local_edits = True
        with _exclusive(push):
            report = _run(push, pull, mode)
    report.bytes_hashed = stats.bytes_hashed
    report.bytes_transferred = stats.bytes_transferred
    report.resumed = set(stats.resumed)
    report.requests = stats.requests.as_dict()
    report.seconds = time.monotonic() - started
    return report


def _sides(a: str, b: str) -> tuple[Path, S3Location]:
    if is_s3_url(a) == is_s3_url(b):
        raise errors.UsageError("one side must be an s3:// URL, the other a local folder")
    local, url = (b, a) if is_s3_url(a) else (a, b)
    root = Path(local)
    if root.exists() and not root.is_dir():
        raise errors.UsageError(f"not a folder: {root}")
    return root, parse_s3_url(url)


def _exclusive(job: Job) -> contextlib.AbstractContextManager[None]:
    if job.options.dry_run:
        return contextlib.nullcontext()
    return folder_lock(job.root, job.options.lock_timeout, show=shown(job.options.progress))


def _run(push: Job, pull: Job, mode: ConflictMode) -> Report:
    _check_root(push)
    planned = make_bi_plan(push, mode)
    _refuse_vanished(push, planned)
    push.state.save(push.scope, planned.records)
    plan = planned.plan
    guard.withhold_deletes(plan, push.options.max_delete, {})
    report = Report(plan, dry_run=push.options.dry_run, errors=list(plan.problems))
    if push.options.dry_run:
        return report
    push.state.forget(push.scope, [rel for rel in planned.stale if rel])
    done: Counter[str] = Counter()
    # Downloads first: a keep-both copy of the remote version must land before the
    # local version replaces that object.
    moves = [a for a in plan if a.action == "download" or _is(a, "delete", "local")]
    if moves:
        _make_root(pull)
    _step(pull, report, done, _unchanged_locally(pull, report, moves), skip=planned.copies)
    uploads = _copies_kept(push, report, planned, [a for a in plan if a.action == "upload"])
    _step(push, report, done, uploads)
    _delete_remote(push, report, done, [a for a in plan if _is(a, "delete", "remote")])
    _upload_copies(push, report, done, planned)
    report.uploaded, report.downloaded = done["upload"], done["download"]
    report.deleted = done["delete"]
    return report


def _is(action: Action, kind: str, side: str) -> bool:
    return action.action == kind and action.side == side


def _check_root(job: Job) -> None:
    """An existing folder must be readable; a missing one is made when first needed,
    unless the state database knew files there (then `_refuse_vanished` stops it)."""
    if not job.root.exists():
        return
    try:
        _readable(job.root)
    except OSError as e:
        message = f"{job.root}: cannot read the folder: {e.strerror or e}"
        raise errors.LocalFolderError(message) from None


def _make_root(job: Job) -> None:
    try:
        job.root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        message = f"{job.root}: cannot create the folder: {e.strerror or e}"
        raise errors.LocalFolderError(message) from None


def _refuse_vanished(job: Job, planned: BiPlanned) -> None:
    """A side with nothing on it while the ancestor knew files there: an unmounted folder
    or a wrong prefix, not a deliberate delete of everything. Nothing is done."""
    if not planned.seen_records or not (planned.seen_local or planned.seen_remote):
        return  # nothing known, or nothing left on either side: nothing to delete
    known = f"the state database knew {planned.seen_records} file(s) there"
    if not planned.seen_local:
        what = "missing" if not job.root.exists() else "empty"
        raise errors.SideVanished(
            f"{job.root}: the local folder is {what} but {known}; nothing was done"
            " (bucketsync sync s3://... LOCAL restores it; sync --delete LOCAL s3://...,"
            " empties the prefix on purpose)"
        )
    if not planned.seen_remote:
        raise errors.SideVanished(
            f"{job.store.location}: the prefix holds nothing but {known}; nothing was done"
            " (check the URL; bucketsync sync LOCAL s3://... restores it)"
        )


def _step(
    job: Job,
    report: Report,
    done: Counter[str],
    actions: list[Action],
    skip: dict[str, str] | None = None,
) -> None:
    """Carry out one direction's part of the plan with the ordinary executor; record what
    it did, also when interrupted (the KeyboardInterrupt goes on once that is recorded)."""
    if not actions:
        return
    plan = Plan(job.pair, actions=actions)
    progress = Progress(plan.bytes, len(plan), job.options.progress)
    outcome = Outcome()
    try:
        execute(job, plan, progress, outcome)
    finally:
        progress.close()
        _record(job, report, done, outcome, skip or {})


def _record(
    job: Job, report: Report, done: Counter[str], outcome: Outcome, skip: dict[str, str]
) -> None:
    # A keep-both copy's record would pair it with its original's object: not saved.
    job.state.save(job.scope, [r for r in outcome.records if r.rel not in skip])
    job.state.forget(job.scope, outcome.forgotten)
    done.update(outcome.done)
    report.errors.extend(outcome.problems)


def _unchanged_locally(job: Job, report: Report, actions: list[Action]) -> list[Action]:
    """Downloads and local deletes whose local file is still as walked: a file edited
    since would be lost, so it is left alone (the next run sees the edit)."""
    kept = []
    for action in actions:
        try:
            now = _stat(job, action.path)
        except errors.BucketsyncError as e:
            report.errors.append(Problem(action.path, str(e)))
            continue
        before = action.local.fingerprint if action.local else None
        if (now.fingerprint if now else None) == before:
            kept.append(action)
        else:
            message = "changed locally during the sync; left alone (sync again)"
            report.errors.append(Problem(action.path, message))
    return kept


def _stat(job: Job, rel: str) -> LocalFile | None:
    try:
        return local_file(rel, os.stat(target_path(job.root, rel)))
    except (FileNotFoundError, NotADirectoryError):
        return None


def _delete_remote(job: Job, report: Report, done: Counter[str], actions: list[Action]) -> None:
    """Delete objects, each only while it is the version listed (If-Match)."""
    if not actions:
        return
    with cancel.pool(job.cancel, job.options.jobs, "bucketsync-delete") as pool:
        results = list(pool.map(lambda a: _delete_one(job, a), actions))
    gone = [a.path for a, error in zip(actions, results, strict=True) if error is None]
    for action, error in zip(actions, results, strict=True):
        if error is not None:
            report.errors.append(Problem(action.path, f"cannot delete: {error}", "remote"))
    job.state.forget(job.scope, gone)
    done["delete"] += len(gone)


def _delete_one(job: Job, action: Action) -> str | None:
    remote = action.remote
    assert remote is not None
    try:
        job.store.delete_if(remote.key, remote.etag)
    except errors.RemoteChanged:
        return "changed on the server since it was listed; not deleted (sync again)"
    except errors.ObjectNotFound:
        return None
    except errors.BucketsyncError as e:
        return str(e)
    return None


def _copies_kept(
    job: Job, report: Report, planned: BiPlanned, uploads: list[Action]
) -> list[Action]:
    """Keep-both uploads whose remote version's copy landed; the others wait (reported).
    A copy that failed (a problem names it) did not land, whatever is at its name."""
    if not planned.copies:
        return uploads
    failed = {p.path for p in report.errors}
    missing = {
        path for copy, path in planned.copies.items() if copy in failed or _stat(job, copy) is None
    }
    for path in sorted(missing):
        message = "not uploaded: the remote version's keep-both copy did not land (sync again)"
        report.errors.append(Problem(path, message))
    return [a for a in uploads if a.path not in missing]


def _upload_copies(push: Job, report: Report, done: Counter[str], planned: BiPlanned) -> None:
    """Keep-both copies that landed locally go up too (only where no object is)."""
    failed = {p.path for p in report.errors}
    landed = []
    for copy in planned.copies:
        local = _stat(push, copy) if copy not in failed else None
        if local is not None:
            landed.append(Action("upload", copy, "keep-both copy", local.size, local, None))
    _step(push, report, done, landed)
