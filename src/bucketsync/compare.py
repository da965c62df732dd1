"""The one equality function: is this local file the same content as that object?

`decide` is pure: given what is known it returns a verdict, or says what it
needs to know next (a HEAD of the object, or some digests of the local file).
The caller fetches that and asks again. The order is DESIGN.md's:

1. sizes; 2. the state database; 3. CRC64NVME (native, or our metadata);
4. other full-object checksums, rclone's md5chksum; 5. a plain MD5 ETag;
6. a multipart ETag or composite checksum, recomputed with the learned part size;
7. nothing usable: changed (never a silent size-only fallback).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .entries import LocalFile, Record, RemoteObject
from .hashing import FULL_OBJECT_ALGORITHMS, is_plain_md5, multipart_count, part_sizes_fit

CompareMode = Literal["content", "size", "size-mtime"]
COMPARE_MODES: tuple[CompareMode, ...] = ("content", "size", "size-mtime")
SMALL_FILE = 4 * 1024 * 1024  # up to this size, hashing an MD5 is cheaper than a HEAD
MTIME_TOLERANCE_NS = 1_000_000_000


@dataclass(frozen=True)
class RemoteFacts:
    """What a HEAD (or GET) told about an object beyond the listing."""

    etag: str
    checksums: Mapping[str, str] = field(default_factory=dict)
    checksum_type: str | None = None
    metadata_crc64nvme: str | None = None
    metadata_md5: str | None = None
    encrypted_etag: bool = False
    parts_count: int | None = None
    first_part_size: int | None = None
    last_modified_ns: int = 0

    @property
    def crc64nvme(self) -> str | None:
        """The full-object CRC64NVME, from the server or from our metadata."""
        native = self.checksums.get("crc64nvme")
        if native and multipart_count(native) is None and self.checksum_type != "COMPOSITE":
            return native
        return self.metadata_crc64nvme


@dataclass(frozen=True)
class Facts:
    """Everything `decide` may look at for one pair."""

    local: LocalFile
    remote: RemoteObject
    record: Record | None = None
    digests: Mapping[str, str] = field(default_factory=dict)
    head: RemoteFacts | None = None
    mode: CompareMode = "content"
    push: bool = True


@dataclass(frozen=True)
class Verdict:
    """`same` is None when more is needed: a HEAD, or the digests named in `need_hash`.

    `unsettled` marks a "changed" that is no finding but a lack of evidence (rule 7:
    nothing usable on the object): a sync transfers it, `check` calls it unknown.
    """

    same: bool | None
    reason: str
    need_head: bool = False
    need_hash: frozenset[str] = frozenset()
    unsettled: bool = False


def same(reason: str) -> Verdict:
    return Verdict(True, reason)


def differ(reason: str) -> Verdict:
    return Verdict(False, reason)


def need_hash(*names: str) -> Verdict:
    return Verdict(None, "needs local digests", need_hash=frozenset(("crc64nvme", *names)))


NEED_HEAD = Verdict(None, "needs the object's checksums", need_head=True)


def decide(facts: Facts) -> Verdict:
    """Return whether the pair holds the same content, or what to find out next."""
    local, remote = facts.local, facts.remote
    if local.size != remote.size:
        return differ(f"size differs (local {local.size} B, remote {remote.size} B)")
    if facts.mode == "size":
        return same("same size (--compare size)")
    if facts.mode == "size-mtime":
        return _by_mtime(local, remote, facts.push)
    record = facts.record
    if record and record.local_matches(local) and record.remote_matches(remote):
        return same("unchanged since the last verified sync")
    return _by_crc64(facts) or _by_head(facts)


def _by_mtime(local: LocalFile, remote: RemoteObject, push: bool) -> Verdict:
    skew = local.mtime_ns - remote.last_modified_ns
    source_newer = skew > MTIME_TOLERANCE_NS if push else -skew > MTIME_TOLERANCE_NS
    if source_newer:
        return differ("source is newer (--compare size-mtime)")
    return same("same size, source not newer (--compare size-mtime)")


def _local_value(facts: Facts, name: str) -> str | None:
    """A digest of the current local file: computed now, or kept in the state database."""
    if name in facts.digests:
        return facts.digests[name]
    record = facts.record
    if record and record.local_matches(facts.local):
        return {"crc64nvme": record.crc64nvme, "md5": record.md5}.get(name)
    return None


def _by_crc64(facts: Facts) -> Verdict | None:
    record, head = facts.record, facts.head
    remote_crc = record.crc64nvme if record and record.remote_matches(facts.remote) else None
    if remote_crc is None and head is not None:
        remote_crc = head.crc64nvme
    if remote_crc is None:
        return None
    local_crc = _local_value(facts, "crc64nvme")
    if local_crc is None:
        return need_hash()
    if local_crc == remote_crc:
        return same("CRC64NVME matches")
    return differ("content differs (CRC64NVME)")


def _by_head(facts: Facts) -> Verdict:
    if facts.head is None:
        return _before_head(facts)
    evidence = _evidence(facts.remote.size, facts.remote.etag, facts.head)
    if evidence is None:
        reason = "no usable checksum on the remote object (--compare size would trust sizes)"
        return Verdict(False, reason, unsettled=True)
    name, expected, label = evidence
    value = _local_value(facts, name)
    if value is None:
        return need_hash(name)
    if _values_equal(value, expected):
        return same(f"{label} matches")
    return differ(f"content differs ({label})")


def _before_head(facts: Facts) -> Verdict:
    """A small object with a plain MD5 ETag is settled by hashing, without a request."""
    etag = facts.remote.etag
    if not is_plain_md5(etag) or facts.remote.size > SMALL_FILE:
        return NEED_HEAD
    md5 = _local_value(facts, "md5")
    if md5 is None:
        return need_hash("md5")
    if md5 == etag.lower():
        return same("MD5 matches the ETag")
    return NEED_HEAD  # the ETag may not be an MD5 (SSE-KMS): ask the server


def verification(size: int, etag: str, head: RemoteFacts) -> tuple[str, str, str] | None:
    """The best digest to check downloaded bytes against: (name, remote value, label)."""
    if head.crc64nvme:
        return "crc64nvme", head.crc64nvme, "CRC64NVME"
    return _evidence(size, etag, head)


def matches(local: str, remote: str) -> bool:
    """Whether a local digest equals the remote value it is checked against."""
    return _values_equal(local, remote)


def _evidence(size: int, etag: str, head: RemoteFacts) -> tuple[str, str, str] | None:
    """The best digest to compare after a HEAD: (digest name, remote value, label).

    `etag` is the listed one: a HEAD by part number may answer with the part's ETag.
    """
    parts = multipart_count(etag)
    for algorithm in FULL_OBJECT_ALGORITHMS[1:]:
        value = head.checksums.get(algorithm)
        if value and _is_full_object(value, head, parts):
            return algorithm, value, algorithm.upper()
    if head.metadata_md5:
        return "md5", head.metadata_md5, "MD5 (md5chksum metadata)"
    if is_plain_md5(etag) and not head.encrypted_etag:
        return "md5", etag.lower(), "MD5 ETag"
    part_size = _part_size(size, head, parts)
    if part_size is None:
        return None
    for algorithm, value in head.checksums.items():  # a composite CRC hashes faster than MD5
        return f"{algorithm}:{part_size}", value, f"composite {algorithm.upper()}"
    if not head.encrypted_etag:
        return f"etag:{part_size}", etag.lower(), f"multipart ETag, {part_size} B parts"
    return None


def _is_full_object(value: str, head: RemoteFacts, parts: int | None) -> bool:
    """A checksum on a multipart object is composite unless the server says FULL_OBJECT."""
    if multipart_count(value) is not None or head.checksum_type == "COMPOSITE":
        return False
    return parts is None or head.checksum_type == "FULL_OBJECT"


def _part_size(size: int, head: RemoteFacts, parts: int | None) -> int | None:
    part_size = head.first_part_size
    if parts is None or part_size is None or head.parts_count not in (None, parts):
        return None
    return part_size if part_sizes_fit(size, part_size, parts) else None


def _values_equal(local: str, remote: str) -> bool:
    """Compare digests; a composite value may come without its `-N` suffix (moto)."""
    if local == remote:
        return True
    return multipart_count(remote) is None and local.rpartition("-")[0] == remote


def md5_from_metadata(value: str) -> str | None:
    """rclone's md5chksum metadata (base64 of the MD5) as hex, or None if malformed."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 16 else None
