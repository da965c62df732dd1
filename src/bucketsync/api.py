"""The public entry points: `sync` and `diff` (the notebook API builds on them)."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import guard, resume
from .errors import LocalFolderError, UsageError
from .job import Job, SyncSpec
from .location import S3Location, parse_pair
from .locking import folder_lock
from .options import SIDE, SyncOptions, pins_wanted
from .plan import Plan
from .planner import Planned, make_plan, sorted_if_needed
from .progress import Progress, shown
from .report import Report, Stats
from .result import RangeInterrupted, RangeResult
from .state import StateDB
from .stores.s3 import ClientSettings, Connection, S3Store
from .transfer import Outcome, execute


def sync(src: str | os.PathLike[str], dst: str | os.PathLike[str], **options: Any) -> Report:
    """Make DST hold what SRC holds, moving only files whose content differs.

    Exactly one side is an ``s3://bucket/prefix`` URL, the other a local folder.
    Options: delete, dry_run, include, exclude, jobs, endpoint_url, profile,
    compare ("content", "size", "size-mtime"), progress, follow_symlinks,
    connect_timeout, read_timeout, max_attempts, lock_timeout; cluster (a Dask
    scheduler's address, "local:N" or a `distributed.Client`: the sync runs as key
    ranges on its workers, see docs/cluster.md). Two syncs of one
    local folder never run at once: the second waits (up to `lock_timeout` s).
    Interrupted (Ctrl-C, a kernel interrupt), it stops within about a second,
    records what finished and raises KeyboardInterrupt.

    Pins (see pinned.py): lock (a `Lock` or a lockfile's path) pulls exactly its
    objects at their versions; at (an ISO 8601 time, a datetime, or a lockfile)
    pulls the prefix as it was then; write_lock (a path) writes the lockfile of
    what the sync left.
    """
    cluster = options.pop("cluster", None)
    if pins_wanted(options):
        from . import pinned  # with lockfiles and versions: not at start-up

        return pinned.sync(src, dst, **_no_cluster(cluster, options))
    return run_on(make_spec(src, dst, _options(options)), cluster)


def run_sync(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    opts: SyncOptions,
    *,
    spare_changed: bool = False,
    cluster: object | None = None,
) -> Report:
    """`sync` with checked options; `spare_changed` leaves alone (as a conflict) a path
    changed on both sides since they were last identical (Mirror's pull and push)."""
    return run_on(make_spec(src, dst, opts), cluster, spare_changed=spare_changed)


def run_on(spec: SyncSpec, cluster: object | None, *, spare_changed: bool = False) -> Report:
    """`run`, on a Dask cluster when one is given (an address or a Client)."""
    if cluster is None:
        return run(spec, spare_changed=spare_changed)
    from .cluster import run as on_cluster

    return on_cluster.run(spec, cluster, spare_changed=spare_changed)


def run(spec: SyncSpec, *, spare_changed: bool = False) -> Report:
    """Carry out a sync described as data (`sync` with the spec's sides and options)."""
    with open_resources(spec) as job:
        return run_job(job, spare_changed=spare_changed)


def run_job(job: Job, *, spare_changed: bool = False, vouch: bool = True) -> Report:
    """Carry out the sync of an open job (its own store, state and scope: a pinned pull's
    `VersionStore`, say); `vouch` False leaves the scope's `max_age` stamp alone."""
    opts = job.options
    started, started_at = time.monotonic(), time.time()
    with exclusive(job):
        planned = _plan(job)
        if spare_changed:
            guard.spare_changed(job, planned.plan)
        guard.withhold_deletes(planned.plan, opts.max_delete, {})
        report = Report(planned.plan, dry_run=opts.dry_run, errors=list(planned.plan.problems))
        if not opts.dry_run:
            make_root(job)
            _transfer(job, report)
            if vouch:
                _sweep(job, planned, report, started_at)
        _finish(job, report, started)
    return report


def exclusive(job: Job) -> contextlib.AbstractContextManager[None]:
    """The folder's lock for a sync that changes things; nothing for a dry run."""
    if job.options.dry_run:
        return contextlib.nullcontext()
    return folder_lock(job.root, job.options.lock_timeout, show=shown(job.options.progress))


def diff(src: str | os.PathLike[str], dst: str | os.PathLike[str], **options: Any) -> Plan:
    """The plan `sync` would carry out, with a reason for each action; moves nothing."""
    cluster = options.pop("cluster", None)
    if pins_wanted(options):
        from . import pinned  # with lockfiles and versions: not at start-up

        return pinned.diff(src, dst, **_no_cluster(cluster, options))
    opts = dataclasses.replace(_options(options), dry_run=True)
    if cluster is not None:
        return run_on(make_spec(src, dst, opts), cluster).plan
    with open_job(src, dst, opts) as job:
        return plan_job(job)


def _no_cluster(cluster: object, options: dict[str, Any]) -> dict[str, Any]:
    """The options of a pinned pull, which runs on this machine only."""
    if cluster is not None:
        raise UsageError("a pinned pull (lock, at) runs on one machine: give no cluster")
    return options


def plan_job(job: Job) -> Plan:
    """The plan of an open job's sync (a diff): what it would do, moving nothing."""
    return _plan(job).plan


def _options(options: dict[str, Any]) -> SyncOptions:
    """Checked options from keyword arguments (UsageError for a bad or unknown one)."""
    return SyncOptions.from_dict(options)


@contextlib.contextmanager
def open_job(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], options: SyncOptions
) -> Iterator[Job]:
    """Parse the two sides, make the S3 client and open the state database."""
    with open_resources(make_spec(src, dst, options)) as job:
        yield job


def make_spec(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], options: SyncOptions
) -> SyncSpec:
    """The sync of src to dst as plain data: both sides parsed and checked."""
    return SyncSpec(parse_pair(SIDE("src", src), SIDE("dst", dst)), options)


@contextlib.contextmanager
def open_resources(spec: SyncSpec) -> Iterator[Job]:
    """What this process needs to run the spec: an S3 client made from the options (and
    the process's own credentials chain), the state database, fresh counters."""
    pair, options = spec.pair, spec.options
    stats = Stats()
    store = make_store(pair.remote, options, stats)
    with StateDB() as state:
        scope = state.scope(pair.local, store.endpoint, pair.remote.bucket, pair.remote.prefix)
        yield Job(
            pair, options, store, state, scope, stats, key_range=spec.key_range, ranges=spec.ranges
        )


def make_store(remote: S3Location, options: SyncOptions, stats: Stats) -> S3Store:
    """The S3 side of a job: a client made from the options, counting requests in stats."""
    settings = ClientSettings(
        endpoint_url=options.endpoint_url,
        profile=options.profile,
        max_connections=options.jobs * 2 + 4,
        connect_timeout=options.connect_timeout,
        read_timeout=options.read_timeout,
        max_attempts=options.max_attempts,
    )
    return S3Store(Connection(settings, stats.requests), remote)


def _plan(job: Job) -> Planned:
    planned = _planned(job)
    job.state.save(job.scope, planned.records)
    return planned


def _planned(job: Job) -> Planned:
    """The plan of the job's key range (sorted in memory if the server does not sort)."""
    check_root(job)
    return sorted_if_needed(job, make_plan)


def run_range(job: Job, *, spare_changed: bool = False, hold_deletes: bool = False) -> RangeResult:
    """Plan and carry out the job's key range; what it did, as plain data.

    Writes nothing to the state database: the process that owns it saves the result
    (`save_range`). Ranges are idempotent (downloads land by rename, uploads are
    conditional), so a range run again after a lost result does no harm.
    `spare_changed` as for `run_sync`; `hold_deletes` leaves the deletes that clear no
    way to the caller (they stay in the plan, not done). Interrupted, it raises
    `RangeInterrupted`, a KeyboardInterrupt holding what finished.
    """
    planned = _planned(job)
    if spare_changed:
        guard.spare_changed(job, planned.plan)
    outcome = Outcome()
    if not job.options.dry_run:
        make_root(job)
        plan = _doable(planned.plan, hold_deletes)
        progress = Progress(plan.bytes, len(plan), False)
        try:
            execute(job, plan, progress, outcome)
        except KeyboardInterrupt as e:
            raise RangeInterrupted(RangeResult.of(job, planned, outcome)) from e
        finally:
            progress.close()
    return RangeResult.of(job, planned, outcome)


def _doable(plan: Plan, hold_deletes: bool) -> Plan:
    """The plan's actions to carry out now: no conflict (left alone), and no delete that
    clears no way when deletes are held."""
    actions = [
        a
        for a in plan.actions
        if a.action != "conflict" and not (hold_deletes and a.action == "delete" and not a.clears)
    ]
    return plan if len(actions) == len(plan.actions) else dataclasses.replace(plan, actions=actions)


def save_range(job: Job, result: RangeResult) -> None:
    """Write a range's records to the state database: what it learned, then what it
    moved, then the paths it found gone or deleted."""
    job.state.save(job.scope, [*result.learned, *result.records])
    job.state.forget(job.scope, [*result.stale, *result.forgotten])


def check_root(job: Job) -> None:
    """Fail once, before any work, if the local folder cannot be read (a push) or,
    as far as can be told without creating it, created (a pull)."""
    try:
        if job.push:
            _readable(job.root)
        else:
            _creatable(job.root)
    except OSError as e:
        raise _folder_error(job, e) from e


def make_root(job: Job) -> None:
    """Create a pull's folder once: a folder that cannot be made is one error, not one per file."""
    if not job.push:
        try:
            job.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise _folder_error(job, e) from e


def _folder_error(job: Job, e: OSError) -> LocalFolderError:
    verb = "read" if job.push else "create"
    return LocalFolderError(f"{job.root}: cannot {verb} the folder: {e.strerror or e}")


def _readable(root: Path) -> None:
    """Raise the OSError a walk of root would meet: listing it, or reaching into it."""
    with os.scandir(root) as entries:
        first = next(entries, None)
    if first is not None:
        os.lstat(first.path)


def _creatable(root: Path) -> None:
    """Raise the OSError that creating root would meet, if its nearest ancestor shows it."""
    existing = root
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if existing == root:
        return
    if not existing.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))


def _sweep(job: Job, planned: Planned, report: Report, started: float) -> None:
    """Vouch with one stamp for every pair a complete sync left recorded identical.

    Rows the sync could not confirm (a side gone, a failed transfer) are dropped
    first, so the stamp covers only pairs it saw equal or made equal; `max_age`
    then counts the sync as a check without a write per file.
    """
    if job.options.filters or job.options.compare != "content" or not job.key_range.everything:
        return
    resume.sweep(job, (e.path for e in report.errors))
    job.state.forget(job.scope, [*planned.stale, *(e.path for e in report.errors)])
    job.state.stamp(job.scope, started)


def _transfer(job: Job, report: Report) -> None:
    """Carry out the plan and record what was done, also when interrupted (the
    KeyboardInterrupt goes on once what finished is in the state database)."""
    plan = report.plan
    if report.conflicts:  # left alone
        plan = dataclasses.replace(plan, actions=[a for a in plan if a.action != "conflict"])
    progress = Progress(plan.bytes, len(plan), job.options.progress)
    outcome = Outcome()
    try:
        execute(job, plan, progress, outcome)
    finally:
        progress.close()
        _record(job, report, outcome)


def _record(job: Job, report: Report, outcome: Outcome) -> None:
    job.state.save(job.scope, outcome.records)
    job.state.forget(job.scope, outcome.forgotten)
    report.uploaded = outcome.done["upload"]
    report.downloaded = outcome.done["download"]
    report.deleted = outcome.done["delete"]
    report.errors.extend(outcome.problems)


def _finish(job: Job, report: Report, started: float) -> None:
    report.bytes_hashed = job.stats.bytes_hashed
    report.bytes_transferred = job.stats.bytes_transferred
    report.resumed = set(job.stats.resumed)
    report.requests = job.stats.requests.as_dict()
    report.seconds = time.monotonic() - started
