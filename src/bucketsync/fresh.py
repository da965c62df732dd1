"""One key at a time: the freshness check behind `Mirror.path()` and `fetch()`.

- A local copy the state database vouches for (its fingerprint unchanged since it
  was verified) costs one conditional GET, ``If-None-Match: <its ETag>``: 304
  means fresh, 200 brings the new content, verified and renamed into place.
- No local copy: one plain GET.
- A local file the database does not vouch for is compared as `sync` compares it
  (its listing entry, then `checker.check`). If it differs it is replaced, unless
  it is a local change not pushed yet: the server still holds the version last
  synced, or the file is newer than the server's copy.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import time
from pathlib import Path

from . import errors
from .checker import check
from .entries import LocalFile, Record, RemoteObject
from .errors import ConflictWarning
from .hashing import hash_file
from .job import Job
from .plan import Action
from .progress import Progress
from .stores.errors import worth_resending
from .stores.local import local_file, target_path
from .stores.s3 import response_object
from .text import describe
from .transfer import ATTEMPTS, receive, transfer_one

BAR_MIN_BYTES = 16 * 1024 * 1024  # smaller files get no progress bar unless asked
_RETRY = (errors.ChecksumMismatch, errors.TransferError, errors.LocalChanged)


def vouched(job: Job, rel: str, path: Path, since: float) -> bool:
    """True if the local copy is the one last verified, at `since` or later (no request)."""
    record = job.state.get(job.scope, rel)
    if record is None or job.state.verified_at(job.scope, record) < since:
        return False
    local = _stat(rel, path)
    return local is not None and record.local_matches(local)


def refresh(job: Job, rel: str, progress: bool | None, *, overwrite: bool = False) -> bool:
    """Make the local copy of rel current; True if it was downloaded.

    A local change (a file the state database does not vouch for, newer than the
    server's copy or changed since the last sync) is kept, unless `overwrite` (a pull
    of this one file: the server's copy wins).

    A GET whose bytes did not arrive whole or verified is sent again (ATTEMPTS in all,
    each request with the retry policy's tries); a request that used up its tries is
    not. A file compared as `sync` compares it is transferred with `transfer_one`'s
    own whole-file retries, not inside these.
    """
    # A Mirror's job lives across calls: the folders checked by an earlier call may be
    # gone or swapped for a link since, so each call checks them anew.
    job = dataclasses.replace(job, folders_ready=set())
    for attempt in range(1, ATTEMPTS + 1):
        local = _stat(rel, target_path(job.root, rel))
        record = job.state.get(job.scope, rel)
        if local is not None and (record is None or not record.local_matches(local)):
            return _settle(job, local, record, progress, overwrite)
        try:
            return _get(job, rel, record.etag if local and record else None, progress)
        except _RETRY as e:
            if attempt == ATTEMPTS or not worth_resending(e):
                raise
    raise AssertionError("unreachable")


def push_key(job: Job, rel: str, progress: bool | None) -> str | None:
    """Upload rel unless the server holds the same content; the new ETag, or None."""
    local = local_file(rel, os.stat(target_path(job.root, rel)))
    remote = job.store.stat(job.store.location.key(rel))
    reason = "new file"
    if remote is not None:
        checked = check(job, local, remote, job.state.get(job.scope, rel))
        _save(job, checked.record)
        if checked.verdict.same:
            return None
        reason = checked.verdict.reason
    record = _transfer(job, Action("upload", rel, reason, local.size, local, remote), progress)
    return record.etag if record else None


def _get(job: Job, rel: str, etag: str | None, progress: bool | None) -> bool:
    """One GET, conditional when the local copy holds `etag`."""
    started = time.time()
    key = job.store.location.key(rel)
    response = job.store.get_if_changed(key, etag)
    if response is None:
        job.state.mark_verified(job.scope, [rel], started)
        return False
    remote = response_object(key, job.store.location.prefix, response)
    bar = _bar(remote.size, progress, rel)
    try:
        _save(job, receive(job, rel, remote, response, bar))
    finally:
        bar.close()
    return True


def _settle(
    job: Job, local: LocalFile, record: Record | None, progress: bool | None, overwrite: bool
) -> bool:
    """Compare a local file the state database does not vouch for, as `sync` would."""
    key = job.store.location.key(local.rel)
    remote = job.store.stat(key)
    if remote is None:
        if overwrite:
            raise errors.ObjectNotFound(f"s3://{job.store.location.bucket}/{key}: no such object")
        return False  # a local file the server does not have (yet)
    checked = check(job, local, remote, record)
    _save(job, checked.record)
    if checked.verdict.same:
        return False
    if overwrite:
        pass  # the server's copy wins
    elif record is not None:  # the ancestor: was the local copy changed since then?
        crc = checked.digests.get("crc64nvme") or _crc(job, local)
        if crc != record.crc64nvme:
            if not record.remote_matches(remote):
                _warn_conflict(job, local, remote, record, crc)
            return False  # a local change: kept until pushed or synced
    elif _local_change(local, remote, record):
        return False
    action = Action("download", local.rel, checked.verdict.reason, remote.size, local, remote)
    _transfer(job, action, progress)
    return True


def _crc(job: Job, local: LocalFile) -> str | None:
    try:
        path = target_path(job.root, local.rel)
        crc = hash_file(path, {"crc64nvme"}, follow_symlinks=job.options.follow_symlinks)
    except OSError:
        return None
    job.stats.hashed(local.size)
    return crc["crc64nvme"]


def _warn_conflict(
    job: Job, local: LocalFile, remote: RemoteObject, record: Record, crc: str | None
) -> None:
    """Changed on both sides since the last sync: the local copy is used, with a warning."""
    message = (
        f"changed locally (now CRC64NVME {crc or 'unreadable'}) and on the server (now ETag"
        f" {remote.etag}, {remote.size} B) since they were last identical (ETag {record.etag});"
        " using the local copy (Mirror.sync(conflict=...) settles it)"
    )
    text = describe(local.rel, message, "local", job.pair)
    errors.warn(text, ConflictWarning)  # about the user's line, however it got here


def _local_change(local: LocalFile, remote: RemoteObject, record: Record | None) -> bool:
    """A change made here: the server holds the version last synced, or an older one."""
    if record is not None and record.remote_matches(remote):
        return True
    return local.mtime_ns > remote.last_modified_ns


def _transfer(job: Job, action: Action, progress: bool | None) -> Record | None:
    bar = _bar(action.bytes, progress, action.path)
    try:
        record = transfer_one(job, action, bar)
    finally:
        bar.close()
    _save(job, record)
    return record


def _save(job: Job, record: Record | None) -> None:
    if record is not None:
        job.state.save(job.scope, [record])


def _bar(size: int, enabled: bool | None, rel: str) -> Progress:
    if enabled is None and size < BAR_MIN_BYTES:
        enabled = False
    return Progress(size, 1, enabled, desc=rel)


def _stat(rel: str, path: Path) -> LocalFile | None:
    """The regular file at path, or None (a folder in the way fails when writing)."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return local_file(rel, st) if stat.S_ISREG(st.st_mode) else None
