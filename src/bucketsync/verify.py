"""`check`: do a local folder and an S3 prefix hold the same content? Changes nothing.

It walks, lists and marches as the sync's planner does (`planner.merged`) and
settles each pair with the sync's own equality function (`checker.check`, which
asks `compare.decide`), so `check` and `sync` never disagree. The verdicts map to
statuses: equal -> same, not equal -> differ, source only -> missing, destination
only -> extra, and "nothing usable on the object" (rule 7) -> unknown, which
`download` settles by streaming the object through a hasher (no file written).

What it writes: nothing in the folder (no temporary files, no sweep of old ones)
and nothing in the bucket. The state database gets the rows of pairs it proved
identical (as a sync's plan would record them), so a later sync or check of them is
free; with `no_state` the database is neither read nor written.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from . import cancel
from .api import make_store
from .checker import check as check_pair
from .checkreport import CheckReport, PathCheck, Status
from .entries import LocalFile, Record, RemoteObject
from .errors import BucketsyncError, LocalFolderError, UsageError
from .hashing import READ_SIZE, Hasher, hash_file
from .job import Job
from .location import parse_pair
from .options import (
    ATTEMPTS,
    BOOL,
    COMPARE,
    DEFAULT_JOBS,
    JOBS,
    OPTIONAL_BOOL,
    PATTERNS,
    PROFILE,
    RULES,
    SIDE,
    TIMEOUT,
    URL,
    Check,
    SyncOptions,
)
from .plan import Plan
from .planner import merged, sorted_if_needed
from .report import Stats
from .state import StateDB, is_racy, make_record
from .stores.body import DirectBody
from .stores.local import check_rel, local_file, target_path

SETTLE_HINT = "; --download settles it"
NOT_SETTLED = "could not settle"  # checker.check's verdict when its rounds ran out
UNCHANGED = "unchanged since the last verified sync"  # as compare.decide says it


@dataclass(frozen=True)
class CheckOptions:
    """The options of `check`: those of `sync` that concern comparing, and its own."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    filter_rules: tuple[tuple[str, str], ...] = ()
    jobs: int = DEFAULT_JOBS
    endpoint_url: str | None = None
    profile: str | None = None
    compare: str = "content"
    follow_symlinks: bool = False
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 5
    progress: bool | None = None  # accepted as in sync; check shows no progress bar
    download: bool = False  # settle `unknown` by streaming and hashing the object
    no_state: bool = False  # neither trust nor write the state database: hash everything

    def __post_init__(self) -> None:
        for name, check in _CHECKS.items():
            object.__setattr__(self, name, check(name, getattr(self, name)))
        if self.filter_rules and (self.include or self.exclude):
            raise UsageError("give filter_rules, or include and exclude, not both")

    @classmethod
    def from_dict(cls, options: dict[str, Any]) -> CheckOptions:
        unknown = [name for name in options if name not in _CHECKS]
        if unknown:
            names = ", ".join(map(repr, unknown))
            raise UsageError(f"unknown option {names}; the options are {', '.join(_CHECKS)}")
        return cls(**options)

    def sync_options(self) -> SyncOptions:
        """The sync's options for the shared machinery: a dry run that moves nothing.

        `delete` makes the walk's errors problems in either direction (a pull without
        it would only note them), so an unreadable path is never taken for absent.
        """
        shared = {f.name: getattr(self, f.name) for f in fields(SyncOptions) if f.name in _CHECKS}
        return SyncOptions(**{**shared, "dry_run": True, "delete": True, "progress": False})


_CHECKS: dict[str, Check[Any]] = {
    "include": PATTERNS,
    "exclude": PATTERNS,
    "filter_rules": RULES,
    "jobs": JOBS,
    "endpoint_url": URL,
    "profile": PROFILE,
    "compare": COMPARE,
    "follow_symlinks": BOOL,
    "connect_timeout": TIMEOUT,
    "read_timeout": TIMEOUT,
    "max_attempts": ATTEMPTS,
    "progress": OPTIONAL_BOOL,
    "download": BOOL,
    "no_state": BOOL,
}
assert set(_CHECKS) == {f.name for f in fields(CheckOptions)}


def check(src: str | os.PathLike[str], dst: str | os.PathLike[str], **options: Any) -> CheckReport:
    """Compare SRC with DST, path by path, and change nothing on either side.

    Exactly one side is an ``s3://bucket/prefix`` URL, the other a local folder (a
    missing folder is fine as DST: every path is then missing). Each path gets a
    status: same, differ, missing (only on SRC), extra (only on DST) or unknown (no
    usable checksum on the object, or the path could not be read), with a reason.
    Options: include, exclude, filter_rules, jobs, endpoint_url, profile, compare,
    follow_symlinks, connect_timeout, read_timeout, max_attempts; `download=True`
    settles unknown pairs by streaming the object through a hasher (nothing is
    written); `no_state=True` trusts nothing recorded and hashes every pair.
    """
    opts = CheckOptions.from_dict(options)
    started = time.monotonic()
    with _open_job(src, dst, opts) as job:
        _check_root(job)
        paths, skipped = sorted_if_needed(job, lambda job: _run(job, opts))
    return CheckReport(
        source=job.pair.source,
        destination=job.pair.destination,
        paths=tuple(paths),
        skipped=tuple(skipped),
        downloaded=opts.download,
        used_state=not opts.no_state,
        bytes_hashed=job.stats.bytes_hashed,
        bytes_downloaded=job.stats.bytes_transferred,
        requests=job.stats.requests.as_dict(),
        seconds=time.monotonic() - started,
    )


@contextlib.contextmanager
def _open_job(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], opts: CheckOptions
) -> Iterator[Job]:
    """The sync's job for the pair; with no_state, an empty in-memory database."""
    pair = parse_pair(SIDE("src", src), SIDE("dst", dst))
    sync_opts = opts.sync_options()
    stats = Stats()
    store = make_store(pair.remote, sync_opts, stats)
    with StateDB(Path(":memory:") if opts.no_state else None) as state:
        scope = state.scope(pair.local, store.endpoint, pair.remote.bucket, pair.remote.prefix)
        yield Job(pair, sync_opts, store, state, scope, stats)


def _check_root(job: Job) -> None:
    """Fail once if an existing local folder cannot be read (a missing one holds nothing)."""
    root = job.root
    if not job.push and not root.exists():
        return
    try:
        with os.scandir(root) as entries:
            next(entries, None)
    except OSError as e:
        raise LocalFolderError(f"{root}: cannot read the folder: {e.strerror or e}") from None


Slot = PathCheck | Future[tuple[PathCheck, Record | None]]


def _run(job: Job, opts: CheckOptions) -> tuple[list[PathCheck], list[tuple[str, str]]]:
    """Every path's status, in order, and the paths skipped on purpose."""
    plan = Plan(job.pair)
    unread: list[str] = []
    window: deque[Slot] = deque()  # in listing order; at most `limit` ahead of the output
    limit = job.options.jobs * 8
    paths: list[PathCheck] = []
    records: list[Record] = []
    # Left by an interrupt or a listing out of order: the queued checks are dropped, the
    # running ones stop at their next read.
    with cancel.pool(job.cancel, job.options.jobs, "bucketsync-check") as pool:
        for (local, remote), record in merged(job, plan, unread):
            if local is None or remote is None:
                window.append(_one_sided(job, local, remote))
            elif record and record.local_matches(local) and record.remote_matches(remote):
                window.append(PathCheck(local.rel, "same", UNCHANGED))
            else:
                window.append(pool.submit(_pair, job, opts, (local, remote), record))
            while len(window) > limit:
                paths.append(_settled(window.popleft(), records))
        while window:
            paths.append(_settled(window.popleft(), records))
    if not opts.no_state:
        job.state.save(job.scope, records)
    paths = _unreadable(paths, plan, unread)
    return paths, [(n.path, n.reason) for n in plan.skipped]


def _settled(slot: Slot, records: list[Record]) -> PathCheck:
    if isinstance(slot, PathCheck):
        return slot
    path, record = slot.result()
    if record is not None:
        records.append(record)
    return path


def _one_sided(job: Job, local: LocalFile | None, remote: RemoteObject | None) -> PathCheck:
    on_source = (local if job.push else remote) is not None
    item = local if local is not None else remote
    assert item is not None
    status: Status = "missing" if on_source else "extra"
    reason = "only on the source" if on_source else "only on the destination"
    if remote is not None and not job.push:
        try:
            check_rel(remote.rel)
        except BucketsyncError as e:
            reason += f"; the key cannot be a local path ({e})"
    return PathCheck(item.rel, status, reason)


def _pair(
    job: Job, opts: CheckOptions, pair: tuple[LocalFile, RemoteObject], record: Record | None
) -> tuple[PathCheck, Record | None]:
    """One pair's status, by the sync's equality function; errors make it unknown."""
    local, remote = pair
    try:
        checked = check_pair(job, local, remote, record)
        verdict = checked.verdict
        if verdict.same:
            return PathCheck(local.rel, "same", verdict.reason), checked.record
        if not (verdict.unsettled or verdict.reason.startswith(NOT_SETTLED)):
            return PathCheck(local.rel, "differ", verdict.reason), None
        if not opts.download:
            return PathCheck(local.rel, "unknown", verdict.reason + SETTLE_HINT), None
        known = checked.digests.get("crc64nvme")
        return _download(job, local, remote, record, known)
    except BucketsyncError as e:
        return PathCheck(local.rel, "unknown", f"cannot compare: {e}"), None
    except OSError as e:
        return PathCheck(local.rel, "unknown", f"cannot read: {e.strerror or e}"), None


def _download(
    job: Job, local: LocalFile, remote: RemoteObject, record: Record | None, known: str | None
) -> tuple[PathCheck, Record | None]:
    """Stream the object (pinned to the listed ETag) through a hasher; keep nothing."""
    theirs = _remote_crc64(job, remote)
    if theirs is None:
        return PathCheck(local.rel, "unknown", "the download ended early"), None
    if known is None and record is not None and record.local_matches(local):
        known = record.crc64nvme
    path = target_path(job.root, local.rel)
    if not known:
        follow = job.options.follow_symlinks
        digests = hash_file(path, ["crc64nvme"], job.cancel.check, follow_symlinks=follow)
        job.stats.hashed(local.size)
        known = digests["crc64nvme"]
    if local_file(local.rel, os.stat(path)).fingerprint != local.fingerprint:
        return PathCheck(local.rel, "unknown", "the local file changed while it was checked"), None
    if known != theirs:
        return PathCheck(local.rel, "differ", "content differs (downloaded and hashed)"), None
    racy = is_racy(local, time.time_ns())
    new = make_record(local, {"crc64nvme": known}, remote.etag, remote.size, racy=racy)
    return PathCheck(local.rel, "same", "CRC64NVME of the downloaded bytes matches"), new


def _remote_crc64(job: Job, remote: RemoteObject) -> str | None:
    """The CRC64NVME of the object's bytes as a GET streams them; None if cut short."""
    response = job.store.get(remote.key, remote.etag)
    body = DirectBody(response["Body"], remote.key)
    hasher = Hasher(["crc64nvme"])
    buffer = bytearray(min(READ_SIZE, remote.size + 1))
    view = memoryview(buffer)
    while n := body.readinto(view):
        hasher.update(view[:n])
        job.stats.transferred(n)
        job.cancel.check()
    if hasher.bytes != remote.size:
        return None
    return hasher.values()["crc64nvme"]


def _unreadable(paths: list[PathCheck], plan: Plan, unread: list[str]) -> list[PathCheck]:
    """The walk's errors as unknown paths; what lies at or below them is unknown too
    (the walk could not see it, so it is not known to be absent)."""
    if not unread and not plan.problems:
        return paths
    errors = {p.path: p.error for p in plan.problems}
    hidden = tuple(f"{rel}/" for rel in unread if rel != ".")
    everything = "." in unread
    out = []
    for p in paths:
        below = everything or p.path in errors or p.path.startswith(hidden)
        if below and p.status in ("missing", "extra"):
            p = PathCheck(p.path, "unknown", "at or below a local path that could not be read")
        out.append(p)
    seen = {p.path for p in out}
    out.extend(PathCheck(rel, "unknown", error) for rel, error in errors.items() if rel not in seen)
    return sorted(out, key=lambda p: p.path)
