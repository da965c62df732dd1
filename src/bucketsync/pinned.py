"""Syncs with pins: a pull of a lockfile's versions (`lock=`) or of a past time
(`at=`), `write_lock=` after any sync, and `fetch(url, version=...)`.

A pinned pull is an ordinary sync whose S3 side is a `VersionStore`: its listing is
the lockfile, and its HEADs and GETs name each entry's version and ETag. The
planner, the comparison and the transfer are the ones every sync uses, so files
already holding the pinned content cost nothing, downloads are verified and
atomic, and each key becomes a path through the same checks as a listed key (a
key that would escape the folder is an error for that key, nothing is written).
A pinned pull does not vouch for the folder as current (`max_age`): it is not.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from . import api, errors
from .cachedir import cache_dir, endpoint_host
from .errors import UsageError
from .job import Job
from .location import S3Location, parse_pair, parse_s3_url
from .lockfile import FORMAT, Lock, LockEntry, output_path, parse_time
from .options import PIN_OPTIONS, S3_URL, SIDE, SyncOptions, one_line, shown
from .plan import Plan
from .report import Report, Stats
from .snapshots import after_sync, entry_of, pins_of
from .snapshots import at as lock_at
from .state import StateDB
from .stores.local import check_rel, target_path
from .stores.versions import Pin, VersionStore, head_version

_VERSION = re.compile(r"^[A-Za-z0-9._+=-]{1,1024}$")


def sync(src: str | os.PathLike[str], dst: str | os.PathLike[str], **options: Any) -> Report:
    """`api.sync` with lock=, at= or write_lock= (see there)."""
    lock, when, write_lock = (options.pop(name, None) for name in PIN_OPTIONS)
    opts = SyncOptions.from_dict(options)
    target = None if write_lock is None else _lock_path(write_lock)  # before anything moves
    with _job(src, dst, opts, lock, when) as (job, pinned):
        if target is not None:
            _may_replace(target, job.root)
        store = job.store
        assert isinstance(store, VersionStore)
        report = api.run_job(job, vouch=not store.pinned)
        if target is not None and not opts.dry_run:
            failed = {p.path for p in report.errors}
            if store.pinned:
                written = _lock_left(pinned, failed)
            else:
                seen = dict(store.seen)
                written = after_sync(store, seen, job.state, job.scope, failed, relist=job.push)
            written.save(target)
    return report


def diff(src: str | os.PathLike[str], dst: str | os.PathLike[str], **options: Any) -> Plan:
    """`api.diff` with lock= or at=: what a pinned pull would do."""
    lock, when, _ = (options.pop(name, None) for name in PIN_OPTIONS)
    opts = dataclasses.replace(SyncOptions.from_dict(options), dry_run=True)
    with _job(src, dst, opts, lock, when) as (job, _):
        return api.plan_job(job)


@contextlib.contextmanager
def _job(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    options: SyncOptions,
    lock: Any,
    when: Any,
) -> Iterator[tuple[Job, Lock | None]]:
    pair = parse_pair(SIDE("src", src), SIDE("dst", dst))
    if (lock is not None or when is not None) and pair.direction == "push":
        raise UsageError(
            "lock and at pin what a pull reads; a push takes write_lock (--write-lock)"
        )
    if lock is not None and when is not None:
        raise UsageError("give lock or at, not both")
    stats = Stats()
    plain = api.make_store(pair.remote, options, stats)
    pinned = _resolve(pair.remote, lock, when, plain)
    store = VersionStore(plain, None if pinned is None else pins_of(pinned))
    # A pinned pull keeps its own rows: they vouch for pinned content, which a current
    # copy's check (`max_age`) must never take for the prefix's latest.
    endpoint = store.endpoint if pinned is None else f"{store.endpoint}#pinned"
    with StateDB() as state:
        scope = state.scope(pair.local, endpoint, pair.remote.bucket, pair.remote.prefix)
        yield Job(pair, options, store, state, scope, stats), pinned


def _resolve(location: S3Location, lock: Any, when: Any, store: Any) -> Lock | None:
    """The lock a pull is pinned to: given, loaded from a path, or listed as of a time."""
    if lock is not None:
        found = lock_arg(lock)
        found.check_for(location)
        return found
    if when is not None:
        return lock_at(store, time_arg(when))
    return None


def lock_arg(lock: Any) -> Lock:
    """A Lock, or the path of a lockfile."""
    if isinstance(lock, Lock):
        return lock
    if isinstance(lock, str | os.PathLike):
        return Lock.load(lock)
    raise UsageError(f"lock must be a Lock or the path of a lockfile, not {shown(lock)}")


def time_arg(when: Any) -> datetime:
    """A datetime, an ISO 8601 time, a Lock, or a lockfile's path (its creation time)."""
    if isinstance(when, Lock):
        return when.created
    if isinstance(when, datetime):
        return when if when.tzinfo else when.astimezone()
    if isinstance(when, str):
        with contextlib.suppress(ValueError):
            return parse_time(when)
    if isinstance(when, str | os.PathLike) and Path(when).is_file():
        return Lock.load(when).created
    raise UsageError(
        f"at must be an ISO 8601 time (2026-01-31T12:00:00Z) or a lockfile, not {shown(when)}"
    )


def _lock_path(path: Any) -> Path:
    """The path write_lock names, if the lockfile may be written there: nothing yet, or
    a lockfile (rewritten); never a folder, a link or a file of other content."""
    if not isinstance(path, str | os.PathLike) or not os.fspath(path):
        raise UsageError(f"write_lock must be a file path, not {shown(path)}")
    return output_path(path)


def _may_replace(target: Path, root: Path) -> None:
    """Refuse a write_lock inside the folder it pins (a push would upload it, a pull
    delete it) or naming a file that is not a lockfile (never overwritten)."""
    if target.resolve().is_relative_to(root.resolve()):
        raise UsageError(
            f"write_lock {shown(str(target))} is inside the folder it would pin: write it elsewhere"
        )
    head = b""
    with contextlib.suppress(FileNotFoundError), open(target, "rb") as f:
        head = f.read(4096)
        if FORMAT.encode() not in head:
            raise UsageError(
                f"write_lock: {one_line(str(target))} exists and is not a bucketsync lockfile:"
                " not overwritten (name a new file, or remove it first)"
            )


def _lock_left(pinned: Lock | None, failed: set[str]) -> Lock:
    """After a pinned pull: the pinned lock, less the entries that failed."""
    assert pinned is not None
    prefix = pinned.prefix
    kept = tuple(e for e in pinned if e.key[len(prefix) :] not in failed)
    return dataclasses.replace(pinned, entries=kept)


# --- one object at one version -------------------------------------------------------------


def fetch_version(url: str, version: str, **options: Any) -> Path:
    """The local path of one version of an object, in a folder of its own.

    ``<cache>/<endpoint host>/.versions/<bucket>/<key>/<version>/<name>``: bucket
    names cannot start with '.', so no object's current copy lands there, and
    copies of two versions never overwrite each other. One HEAD finds the version's
    size and ETag; a copy already there and verified costs no GET.
    """
    location = parse_s3_url(S3_URL("url", url), as_folder=False)
    if not isinstance(version, str) or not _VERSION.match(version) or version in (".", ".."):
        raise UsageError(f"version must be an S3 version id, not {shown(version)}")
    folder, _, name = location.prefix.rpartition("/")
    if not name:
        raise UsageError(f"not the URL of an object (s3://bucket/key): {url!r}")
    check_rel(location.prefix)
    parent = S3Location(location.bucket, f"{folder}/" if folder else "")
    opts = SyncOptions.from_dict(options)
    plain = api.make_store(parent, opts, Stats())
    entry = _head_version(plain, location.prefix, version)
    root = _versions_folder(plain.endpoint, location, version)
    lock = Lock(parent.bucket, parent.prefix, "", datetime.now().astimezone(), (entry,), True)
    report = sync(f"s3://{parent.bucket}/{parent.prefix}", root, lock=lock, **options)
    if report.errors:
        raise report_error(report)
    return root / name


def _head_version(store: Any, key: str, version: str) -> LockEntry:
    what = f"s3://{store.bucket}/{key} (version {version})"
    facts, size = head_version(store, key, version, what)
    return entry_of(Pin(key, size, facts.etag, version, facts.crc64nvme, facts.last_modified_ns))


def _versions_folder(endpoint: str, location: S3Location, version: str) -> Path:
    folder = cache_dir() / endpoint_host(endpoint) / ".versions" / location.bucket
    return folder.joinpath(*location.prefix.split("/"), version)


def report_error(report: Report) -> Exception:
    problem = report.errors[0]
    return errors.TransferError(f"{problem.path}: {problem.error}")


def folder_for(endpoint: str, lock: Lock) -> Path:
    """The default folder of a pinned Mirror: one per pinned content."""
    pins = "\n".join(f"{e.key}\0{e.etag}\0{e.version_id}" for e in lock)
    digest = hashlib.sha256(pins.encode()).hexdigest()[:16]
    folder = cache_dir() / endpoint_host(endpoint) / ".pinned" / lock.bucket
    prefix = lock.prefix.rstrip("/")
    return (folder.joinpath(*prefix.split("/")) if prefix else folder) / digest


__all__ = ["diff", "fetch_version", "sync"]


# --- a read-only Mirror of a pinned version -------------------------------------------------


class MirrorPin:
    """What makes a Mirror pinned: a lock, or a time resolved to one on first use."""

    def __init__(self, location: S3Location, lock: Any, when: Any) -> None:
        if lock is not None and when is not None:
            raise UsageError("give lock or at, not both")
        self.location = location
        self._lock: Lock | None = None
        self._when = None if when is None else time_arg(when)
        if lock is not None:
            self._lock = lock_arg(lock)
            self._lock.check_for(location)
        self._ready: set[str] = set()  # keys this Mirror already made current

    def lock(self, options: dict[str, Any]) -> Lock:
        if self._lock is None:
            assert self._when is not None
            store = api.make_store(self.location, SyncOptions.from_dict(options), Stats())
            self._lock = lock_at(store, self._when)
        return self._lock

    def folder(self, options: dict[str, Any]) -> Path:
        """The default folder: one per pinned content, apart from the current copies."""
        store = api.make_store(self.location, SyncOptions.from_dict(options), Stats())
        return folder_for(store.endpoint, self.lock(options))

    def pull(self, local: Path, options: dict[str, Any]) -> Report:
        return api.sync(str(self.location), local, lock=self.lock(options), **options)

    def diff(self, local: Path, options: dict[str, Any]) -> Plan:
        return api.diff(str(self.location), local, lock=self.lock(options), **options)

    def path(self, local: Path, rel: str, options: dict[str, Any]) -> Path:
        """The local copy of one pinned object, pulled (verified) on first use."""
        lock = self.lock(options)
        entry = lock.get(lock.prefix + rel)
        if entry is None:
            raise errors.ObjectNotFound(f"{lock.url}{rel}: not in the lockfile")
        path = target_path(local, rel)
        if rel in self._ready and path.is_file():
            return path
        one = dataclasses.replace(lock, entries=(entry,))
        report = api.sync(str(self.location), local, lock=one, **{**options, "delete": False})
        if report.errors:
            raise report_error(report)
        self._ready.add(rel)
        return path

    def state(self) -> dict[str, Any]:
        """For pickling: the lock if known, else the time."""
        return {"lock": self._lock} if self._lock is not None else {"at": self._when}

    @staticmethod
    def refuse(what: str) -> UsageError:
        return UsageError(f"a Mirror pinned with lock= or at= is read-only: {what} refused")
