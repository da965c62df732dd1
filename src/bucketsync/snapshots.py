"""Make lockfiles: of a prefix now (`snapshot`), as of a time (`--at`), or after a sync.

A snapshot sends listings only (ListObjectVersions, or ListObjectsV2 where the
server has no versions) plus the HEADs that learn a CRC64NVME the listing says
an object has; never a GET.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Literal

from .cachedir import endpoint_host
from .entries import RemoteObject, datetime_ns
from .errors import BucketsyncError, UsageError
from .hashing import multipart_count
from .location import S3Location, parse_s3_url
from .lockfile import Lock, LockEntry, format_time
from .options import S3_URL, SyncOptions, one_of
from .report import Stats
from .state import StateDB
from .stores.s3 import S3Store
from .stores.versions import (
    Pin,
    Version,
    VersionsUnsupported,
    as_of,
    head_version,
    latest,
    list_versions,
    versioning_status,
)

Checksums = Literal["auto", "all", "none"]
CHECKSUM_MODES: tuple[Checksums, ...] = ("auto", "all", "none")
CHECKSUMS = one_of(CHECKSUM_MODES)


def snapshot(url: str, *, checksums: Checksums = "auto", **options: Any) -> Lock:
    """A lockfile of what the prefix holds now (`Lock.save(path)` writes it).

    Lists the prefix's latest versions (ListObjectVersions, or ListObjectsV2 on a
    server without versions) and sends no GET. `checksums`: "auto" HEADs the objects
    whose listing names a CRC64NVME or whose ETag is multipart, to pin their
    CRC64NVME; "all" HEADs every object; "none" sends listings only. Options as for
    `sync()` (endpoint_url, profile, jobs, timeouts).
    """
    location = parse_s3_url(S3_URL("url", url))
    mode = CHECKSUMS("checksums", checksums)
    opts = SyncOptions.from_dict(options)
    store = make_store(location, opts, Stats())
    return take(store, mode, opts.jobs)


def make_store(location: S3Location, options: SyncOptions, stats: Stats) -> S3Store:
    from .api import make_store as make

    return make(location, options, stats)


def take(store: S3Store, checksums: Checksums = "auto", jobs: int = 16) -> Lock:
    """The lock of the store's prefix now."""
    created = datetime.now(timezone.utc)
    try:
        current = list(latest(list_versions(store)))
    except VersionsUnsupported:
        current = [_unversioned(obj) for obj in store.objects()]
    versioned = any(v.version_id is not None for v in current)
    needed = [v for v in current if _wants_head(v, checksums)]
    crcs = dict(zip((v.key for v in needed), _crcs(store, needed, jobs), strict=True))
    entries = [entry_of(v.pin(crcs.get(v.key))) for v in current]
    return lock_of(store, entries, created, versioned)


def at(store: S3Store, when: datetime) -> Lock:
    """The lock of the prefix as it was at `when` (a versioned bucket only, else
    UsageError): each key's newest version not after it; a delete marker is absent."""
    status = versioning_status(store)
    if status is None:
        raise UsageError(
            f"{store.location}: --at needs a versioned bucket, and versioning was never"
            " enabled on this one: its past versions are gone (pin it with"
            " `bucketsync snapshot` from now on)"
        )
    try:
        versions = list_versions(store)
        chosen = [v.pin() for v in as_of(versions, datetime_ns(when))]
    except VersionsUnsupported as e:
        raise UsageError(f"{e}; --at needs a versioned bucket") from e
    return lock_of(store, [entry_of(p) for p in chosen], when, True)


def lock_of(
    store: S3Store, entries: Iterable[LockEntry], created: datetime, versioned: bool
) -> Lock:
    location = store.location
    host = endpoint_host(store.endpoint)
    return Lock(location.bucket, location.prefix, host, created, tuple(entries), versioned)


def entry_of(pin: Pin) -> LockEntry:
    modified = None
    if pin.last_modified_ns:
        when = datetime.fromtimestamp(pin.last_modified_ns // 1000 / 1e6, timezone.utc)
        modified = format_time(when)
    return LockEntry(pin.key, pin.size, pin.etag, pin.version_id, pin.crc64nvme, modified)


def pins_of(lock: Lock) -> list[Pin]:
    return [Pin(e.key, e.size, e.etag, e.version_id, e.crc64nvme, e.last_modified_ns) for e in lock]


def after_sync(
    store: S3Store,
    seen: dict[str, Pin],
    state: StateDB,
    scope: int,
    failed: set[str],
    *,
    relist: bool,
) -> Lock:
    """The lock of what a sync left: for a push (`relist`), the prefix listed again with
    the version ids and ETags the PUTs answered; for a pull, the versions it listed and
    pulled. CRC64NVMEs come from the state database's rows of those very ETags."""
    created = datetime.now(timezone.utc)
    prefix = store.location.prefix
    crcs = {r.rel: (r.etag, r.crc64nvme) for r in state.records(scope)}
    if relist:
        try:
            listed = {v.key: v.pin() for v in latest(list_versions(store))}
        except VersionsUnsupported:
            listed = {o.key: _unversioned(o).pin() for o in store.objects()}
        for key, wrote in seen.items():
            old = listed.get(key)
            size = old.size if old is not None and wrote.size < 0 else wrote.size
            listed[key] = wrote._replace(
                size=size, last_modified_ns=old.last_modified_ns if old else 0
            )
        pins = list(listed.values())
    else:
        pins = [p for p in seen.values() if p.key[len(prefix) :] not in failed]
    entries = []
    for pin in pins:
        rel = pin.key[len(prefix) :]
        if not rel or (rel.endswith("/") and not pin.size):
            continue
        known = crcs.get(rel)
        if pin.crc64nvme is None and known is not None and known[0] == pin.etag:
            pin = pin._replace(crc64nvme=known[1])
        entries.append(entry_of(pin))
    return lock_of(store, entries, created, any(e.version_id for e in entries))


def _unversioned(obj: RemoteObject) -> Version:
    return Version(
        obj.key, None, obj.last_modified_ns, True, False, obj.size, obj.etag, obj.checksum_algorithm
    )


def _wants_head(version: Version, checksums: Checksums) -> bool:
    if checksums == "none":
        return False
    if checksums == "all":
        return True
    algorithm = (version.checksum_algorithm or "").upper()
    return algorithm == "CRC64NVME" or multipart_count(version.etag) is not None


def _crcs(store: S3Store, versions: list[Version], jobs: int) -> Iterator[str | None]:
    """The CRC64NVME of each version (HEAD, by version id), None where none is known."""

    def crc(version: Version) -> str | None:
        try:
            facts, _ = head_version(store, version.key, version.version_id)
        except BucketsyncError:
            return None  # deleted since the listing, say: the ETag still pins it
        return facts.crc64nvme if facts.etag == version.etag else None

    if not versions:
        return iter(())
    with ThreadPoolExecutor(max(1, min(jobs, len(versions))), "bucketsync-head") as pool:
        return iter(list(pool.map(crc, versions)))
