"""The public entry points: `sync` and `diff` (the notebook API builds on them)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import ListingOrderError, UsageError
from .job import Job, SyncOptions
from .location import S3Location, parse_pair
from .locking import folder_lock
from .plan import Plan
from .planner import Planned, make_plan
from .progress import Progress
from .report import Report, Stats
from .state import StateDB
from .stores.s3 import ClientSettings, Connection, S3Store
from .transfer import execute


def sync(src: str | Path, dst: str | Path, **options: Any) -> Report:
    """Make DST hold what SRC holds, moving only files whose content differs.

    Exactly one side is an ``s3://bucket/prefix`` URL, the other a local folder.
    Options: delete, dry_run, include, exclude, jobs, endpoint_url, profile,
    compare ("content", "size", "size-mtime"), progress, follow_symlinks,
    connect_timeout, read_timeout, max_attempts, lock_timeout. Two syncs of one
    local folder never run at once: the second waits (up to `lock_timeout` s).
    """
    opts = _options(options)
    started, started_at = time.monotonic(), time.time()
    with open_job(src, dst, opts) as job, _exclusive(job):
        planned = _plan(job)
        report = Report(planned.plan, dry_run=opts.dry_run, errors=list(planned.plan.problems))
        if not opts.dry_run:
            _transfer(job, report)
            _sweep(job, planned, report, started_at)
        _finish(job, report, started)
    return report


def _exclusive(job: Job) -> contextlib.AbstractContextManager[None]:
    """The folder's lock for a sync that changes things; nothing for a dry run."""
    if job.options.dry_run:
        return contextlib.nullcontext()
    return folder_lock(job.root, job.options.lock_timeout)


def diff(src: str | Path, dst: str | Path, **options: Any) -> Plan:
    """The plan `sync` would carry out, with a reason for each action; moves nothing."""
    opts = _options({**options, "dry_run": True})
    with open_job(src, dst, opts) as job:
        return _plan(job).plan


def _options(options: dict[str, Any]) -> SyncOptions:
    for name in ("include", "exclude", "filter_rules"):
        if isinstance(options.get(name), str):
            options[name] = (options[name],)
        elif name in options:
            options[name] = tuple(options[name])
    try:
        return SyncOptions(**options)
    except TypeError as e:
        raise UsageError(str(e)) from e


@contextlib.contextmanager
def open_job(src: str | Path, dst: str | Path, options: SyncOptions) -> Iterator[Job]:
    """Parse the two sides, make the S3 client and open the state database."""
    pair = parse_pair(src, dst)
    stats = Stats()
    store = make_store(pair.remote, options, stats)
    with StateDB() as state:
        scope = state.scope(pair.local, store.endpoint, pair.remote.bucket, pair.remote.prefix)
        yield Job(pair, options, store, state, scope, stats)


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
    try:
        planned = make_plan(job)
    except ListingOrderError:
        job.presorted = True
        planned = make_plan(job)
    job.state.save(job.scope, planned.records)
    return planned


def _sweep(job: Job, planned: Planned, report: Report, started: float) -> None:
    """Vouch with one stamp for every pair a complete sync left recorded identical.

    Rows the sync could not confirm (a side gone, a failed transfer) are dropped
    first, so the stamp covers only pairs it saw equal or made equal; `max_age`
    then counts the sync as a check without a write per file.
    """
    if job.options.filters or job.options.compare != "content":
        return
    job.state.forget(job.scope, [*planned.stale, *(e.path for e in report.errors)])
    job.state.stamp(job.scope, started)


def _transfer(job: Job, report: Report) -> None:
    plan = report.plan
    progress = Progress(plan.bytes, len(plan), job.options.progress)
    try:
        outcome = execute(job, plan, progress)
    finally:
        progress.close()
    job.state.save(job.scope, outcome.records)
    job.state.forget(job.scope, outcome.forgotten)
    report.uploaded = outcome.done["upload"]
    report.downloaded = outcome.done["download"]
    report.deleted = outcome.done["delete"]
    report.errors.extend(outcome.problems)


def _finish(job: Job, report: Report, started: float) -> None:
    report.bytes_hashed = job.stats.bytes_hashed
    report.bytes_transferred = job.stats.bytes_transferred
    report.requests = job.stats.requests.as_dict()
    report.seconds = time.monotonic() - started
