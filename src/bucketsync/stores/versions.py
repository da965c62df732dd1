"""Object versions: ListObjectVersions, and a store pinned to named versions.

`VersionStore` is an `S3Store` the rest of a sync uses unchanged (the planner lists
it, the checker HEADs it, the transfer GETs from it). Given pins (from a lockfile
or from `--at`), its listing is the pins, and its HEAD and GET name each pin's
`VersionId` and its ETag (`If-Match`): on an unversioned bucket the ETag alone pins
the content, and an object that no longer has it is an error for that file,
"changed since the lockfile was written", never a silent newer copy. The bytes are
checked against the pin's CRC64NVME when it has one. Without pins it lists the
latest versions (remembering them, for a lockfile of what a pull read) and keeps
the version id each PUT answers with (for a lockfile of what a push wrote).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import botocore.exceptions as bexc

from .. import errors
from ..compare import RemoteFacts
from ..entries import RemoteObject, datetime_ns
from ..keyrange import EVERYTHING, KeyRange
from .crt import CrtTransport
from .errors import translated
from .s3 import METADATA_CRC64, S3Store, remote_facts

NULL_VERSION = "null"  # S3's version id of an object written while versioning was off
_PAGE = 1000  # objects a page of the latest versions holds, as a ListObjectsV2 page


class Pin(NamedTuple):
    """One object at one version: what a lockfile entry says."""

    key: str
    size: int
    etag: str
    version_id: str | None
    crc64nvme: str | None = None
    last_modified_ns: int = 0


@dataclass(frozen=True)
class Version:
    """One entry of ListObjectVersions: an object version or a delete marker."""

    key: str
    version_id: str | None
    last_modified_ns: int
    is_latest: bool
    deleted: bool = False  # a delete marker
    size: int = 0
    etag: str = ""
    checksum_algorithm: str | None = None

    def pin(self, crc64nvme: str | None = None) -> Pin:
        return Pin(
            self.key, self.size, self.etag, self.version_id, crc64nvme, self.last_modified_ns
        )


class VersionsUnsupported(errors.UsageError):
    """The server does not list object versions (rclone serve s3, for one)."""


class Changed(errors.RemoteChanged):
    """A pinned object no longer holds the pinned content."""


def _version_id(value: Any) -> str | None:
    return None if value in (None, "", NULL_VERSION) else str(value)


def list_versions(store: S3Store, start_after: str = "") -> Iterator[Version]:
    """Every version and delete marker below the store's prefix (of the keys after
    `start_after`, relative): keys in order, each key's versions newest first (as S3
    lists them). Pages are requested as they are read."""
    location = store.location
    paginator = store.client.get_paginator("list_object_versions")
    kwargs = {"Bucket": store.bucket, "Prefix": location.prefix}
    if start_after:
        kwargs["KeyMarker"] = location.prefix + start_after
    pages = paginator.paginate(**kwargs)
    with translated(str(location)):
        try:
            for page in pages:
                yield from _page_versions(page)
        except bexc.ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("NotImplemented", "MethodNotAllowed") or status in (405, 501):
                raise VersionsUnsupported(
                    f"{location}: the server does not list object versions ({code or status})"
                ) from e
            raise


def _page_versions(page: Mapping[str, Any]) -> list[Version]:
    found = [
        Version(
            key=item["Key"],
            version_id=_version_id(item.get("VersionId")),
            last_modified_ns=datetime_ns(item.get("LastModified")),
            is_latest=bool(item.get("IsLatest")),
            size=int(item.get("Size", 0)),
            etag=str(item.get("ETag") or "").strip('"'),
            checksum_algorithm=(item.get("ChecksumAlgorithm") or [None])[0],
        )
        for item in page.get("Versions", ())
    ]
    found += [
        Version(
            key=item["Key"],
            version_id=_version_id(item.get("VersionId")),
            last_modified_ns=datetime_ns(item.get("LastModified")),
            is_latest=bool(item.get("IsLatest")),
            deleted=True,
        )
        for item in page.get("DeleteMarkers", ())
    ]
    # A page gives versions and markers apart: merge them back, newest first per key.
    found.sort(key=lambda v: (v.key, not v.is_latest, -v.last_modified_ns))
    return found


def latest(versions: Iterable[Version]) -> Iterator[Version]:
    """The current version of each key that has one (not a delete marker)."""
    return (v for v in versions if v.is_latest and not v.deleted)


def as_of(versions: Iterable[Version], when_ns: int) -> Iterator[Version]:
    """The version of each key that was current at `when_ns`: the newest not after it;
    a key whose newest such entry is a delete marker (or that has none) is absent."""
    key: str | None = None
    chosen: Version | None = None
    for version in versions:
        if version.key != key:
            if chosen is not None and not chosen.deleted:
                yield chosen
            key, chosen = version.key, None
        if version.last_modified_ns <= when_ns and (
            chosen is None or version.last_modified_ns > chosen.last_modified_ns
        ):
            chosen = version
    if chosen is not None and not chosen.deleted:
        yield chosen


def head_version(
    store: S3Store, key: str, version_id: str | None, what: str = ""
) -> tuple[RemoteFacts, int]:
    """One HEAD of a version (the current one for None): its facts and its size."""
    kwargs: dict[str, Any] = {"Bucket": store.bucket, "Key": key, "ChecksumMode": "ENABLED"}
    if version_id is not None:
        kwargs["VersionId"] = version_id
    with translated(what or key):
        response = store.client.head_object(**kwargs)
    return remote_facts(response), int(response.get("ContentLength") or 0)


def versioning_status(store: S3Store) -> str | None:
    """ "Enabled", "Suspended", or None: never enabled (or the server cannot tell)."""
    with translated(f"s3://{store.bucket}"):
        try:
            status = store.client.get_bucket_versioning(Bucket=store.bucket).get("Status")
        except bexc.ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchBucket", "AccessDenied", "InvalidAccessKeyId"):
                raise
            return None
    return str(status) if status else None


class VersionStore(S3Store):
    """An S3Store pinned to versions (`pins`), or one that remembers versions seen."""

    def __init__(self, store: S3Store, pins: Iterable[Pin] | None = None) -> None:
        super().__init__(store.connection, store.location)
        self.pinned = pins is not None
        self._pins = {p.key: p for p in pins or ()}
        prefix = self.location.prefix
        self._pinned_objects = [
            RemoteObject(p.key[len(prefix) :], p.key, p.size, p.etag, p.last_modified_ns)
            for p in sorted(self._pins.values(), key=lambda p: p.key)
        ]
        self.seen: dict[str, Pin] = {}  # listed (unpinned) or written by a PUT
        self._seen_lock = threading.Lock()

    # --- listing -----------------------------------------------------------------------

    def pages(self, span: KeyRange = EVERYTHING) -> Iterator[list[RemoteObject]]:
        """The pinned objects of `span`, as one page; or the latest versions of `span`,
        remembered, a page at a time (the range listing of a sync reads these)."""
        if self.pinned:
            yield [o for o in self._pinned_objects if o.rel in span]
            return
        yield from self._listed(span)

    def _listed(self, span: KeyRange) -> Iterator[list[RemoteObject]]:
        """The latest versions of `span`; a plain listing if the server has none."""
        prefix = self.location.prefix
        try:
            versions = list_versions(self, span.lo or "")
            first = next(versions, None)
        except VersionsUnsupported:
            for plain in S3Store.pages(self, span):
                for obj in plain:
                    self._see(Pin(obj.key, obj.size, obj.etag, None, None, obj.last_modified_ns))
                yield plain
            return
        page: list[RemoteObject] = []
        for version in latest(itertools.chain([first] if first else [], versions)):
            rel = version.key[len(prefix) :]
            if span.past(rel):
                break
            if rel not in span:  # a server that ignores KeyMarker
                continue
            self._see(version.pin())
            page.append(RemoteObject(
                rel, version.key, version.size, version.etag, version.last_modified_ns,
                version.checksum_algorithm,
            ))  # fmt: skip
            if span.reached(rel):
                break  # not a request more than the range needs
            if len(page) == _PAGE:
                yield page
                page = []
        yield page

    def _see(self, pin: Pin) -> None:
        with self._seen_lock:
            self.seen[pin.key] = pin

    # --- pinned reads --------------------------------------------------------------------

    def _pin(self, key: str) -> Pin | None:
        return self._pins.get(key) if self.pinned else None

    def _native(self) -> CrtTransport | None:
        return None  # every request here goes through botocore, which names VersionId

    def can_send(self) -> bool:
        return False

    def first_page(self, span: KeyRange) -> None:
        """None: a first listing here is `pages`, the versions' own (ranges.first_listing)."""
        return None

    def head(self, key: str, *, part_number: int | None = None) -> RemoteFacts:
        pin = self._pin(key)
        if pin is None:
            return super().head(key, part_number=part_number)
        if pin.crc64nvme:  # the lockfile says what the content is: no request needed
            return RemoteFacts(pin.etag, metadata_crc64nvme=pin.crc64nvme)
        kwargs = self._pinned_args(pin)
        if part_number is not None:
            kwargs["PartNumber"] = part_number
        with self._changed(pin):
            response = self.client.head_object(**kwargs)
        facts = remote_facts(response, part_request=part_number is not None)
        if part_number is None and facts.etag != pin.etag:
            raise self._changed_error(pin, f"ETag now {facts.etag}")
        return facts

    def get(
        self,
        key: str,
        etag: str,
        byte_range: tuple[int, int] | None = None,
        size: int | None = None,
    ) -> Any:
        pin = self._pin(key)
        if pin is None:
            return super().get(key, etag, byte_range, size)
        kwargs = self._pinned_args(pin)
        if byte_range is not None:
            kwargs["Range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
        with self._changed(pin):
            response: dict[str, Any] = dict(self.client.get_object(**kwargs))
        if str(response.get("ETag") or "").strip('"') != pin.etag:
            # A server that ignores If-Match (rclone serve s3) sends the new content.
            response["Body"].close()
            raise self._changed_error(pin, f"ETag now {str(response.get('ETag')).strip(chr(34))}")
        if pin.crc64nvme and byte_range is None:
            # Check the bytes against the lockfile's CRC64NVME, whatever the server says.
            response["ChecksumCRC64NVME"] = pin.crc64nvme
            response["ChecksumType"] = "FULL_OBJECT"
            response.setdefault("Metadata", {})[METADATA_CRC64] = pin.crc64nvme
        return response

    def _pinned_args(self, pin: Pin) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": pin.key,
            "IfMatch": f'"{pin.etag}"',
            "ChecksumMode": "ENABLED",
        }
        if pin.version_id is not None:
            kwargs["VersionId"] = pin.version_id
        return kwargs

    @contextlib.contextmanager
    def _changed(self, pin: Pin) -> Iterator[None]:
        """Around a pinned request: a failed condition or a missing object or version is
        `Changed`, with a message that says the lockfile no longer describes the object."""
        try:
            with translated(pin.key):
                yield
        except (errors.RemoteChanged, errors.ObjectNotFound) as e:
            gone = isinstance(e, errors.ObjectNotFound)
            if pin.version_id is not None:
                raise Changed(
                    f"{pin.key}: version {pin.version_id} of the lockfile"
                    f" {'no longer exists' if gone else 'has another ETag'}"
                ) from e
            why = "deleted" if gone else "its ETag is no longer the pinned one"
            raise self._changed_error(pin, why) from e

    def _changed_error(self, pin: Pin, why: str) -> Changed:
        if pin.version_id is not None:
            return Changed(
                f"{pin.key}: version {pin.version_id} is not the one the lockfile pins ({why})"
            )
        return Changed(
            f"{pin.key}: changed since the lockfile was written ({why}); the bucket is not"
            " versioned, so the pinned content cannot be fetched"
        )

    # --- writes: keep the version each PUT made (`_native` is None: botocore's PUTs) ----

    def _written(self, key: str, size: int, crc64nvme: str, response: Mapping[str, Any]) -> str:
        etag = super()._written(key, size, crc64nvme, response)
        self._see(Pin(key, size, etag, _version_id(response.get("VersionId")), crc64nvme))
        return etag
