"""The equality function, step by step, on plain data."""

from __future__ import annotations

import hashlib

from bucketsync.compare import Facts, RemoteFacts, decide, md5_from_metadata, verification
from bucketsync.entries import LocalFile, Record, RemoteObject

MD5 = hashlib.md5(b"hello").hexdigest()
CRC = "AAAAAAAAAAE="
LOCAL = LocalFile("a.txt", 5, mtime_ns=10**18, ctime_ns=10**18, ino=7, dev=1)
REMOTE = RemoteObject("a.txt", "p/a.txt", 5, MD5, last_modified_ns=10**18)


def _record(**changes: object) -> Record:
    fields: dict[str, object] = {
        "rel": "a.txt",
        "fingerprint": LOCAL.fingerprint,
        "racy": False,
        "crc64nvme": CRC,
        "md5": MD5,
        "etag": REMOTE.etag,
        "remote_size": 5,
        "verified_at": 0.0,
    }
    fields.update(changes)
    return Record(**fields)  # type: ignore[arg-type]


def test_size_difference_decides_first() -> None:
    remote = RemoteObject("a.txt", "p/a.txt", 6, MD5, 0)
    verdict = decide(Facts(LOCAL, remote, _record()))
    assert verdict.same is False
    assert "size differs" in verdict.reason


def test_unchanged_record_needs_no_work() -> None:
    verdict = decide(Facts(LOCAL, REMOTE, _record()))
    assert verdict.same is True
    assert not verdict.need_head and not verdict.need_hash


def test_racy_record_is_not_trusted() -> None:
    verdict = decide(Facts(LOCAL, REMOTE, _record(racy=True)))
    assert verdict.same is None
    assert verdict.need_hash == {"crc64nvme"}


def test_local_edit_with_same_size_and_mtime_is_hashed_and_found() -> None:
    edited = LocalFile("a.txt", 5, LOCAL.mtime_ns, LOCAL.ctime_ns + 1, 7, 1)
    facts = Facts(edited, REMOTE, _record())
    assert decide(facts).need_hash == {"crc64nvme"}
    verdict = decide(Facts(edited, REMOTE, _record(), digests={"crc64nvme": "other"}))
    assert verdict.same is False
    assert "CRC64NVME" in verdict.reason


def test_remote_change_uses_cached_local_crc_after_a_head() -> None:
    remote = RemoteObject("a.txt", "p/a.txt", 5, "0" * 32, 0)
    assert decide(Facts(LOCAL, remote, _record())).need_head
    head = RemoteFacts(etag="0" * 32, metadata_crc64nvme=CRC)
    verdict = decide(Facts(LOCAL, remote, _record(), head=head))
    assert verdict.same is True


def test_small_plain_md5_is_settled_without_a_request() -> None:
    first = decide(Facts(LOCAL, REMOTE))
    assert first.need_hash == {"crc64nvme", "md5"} and not first.need_head
    verdict = decide(Facts(LOCAL, REMOTE, digests={"crc64nvme": CRC, "md5": MD5}))
    assert verdict.same is True


def test_md5_mismatch_asks_the_server_before_deciding() -> None:
    facts = Facts(LOCAL, REMOTE, digests={"crc64nvme": CRC, "md5": "f" * 32})
    assert decide(facts).need_head
    head = RemoteFacts(etag=MD5)
    assert decide(Facts(LOCAL, REMOTE, digests=facts.digests, head=head)).same is False


def test_sse_kms_etag_is_not_an_md5() -> None:
    head = RemoteFacts(etag=MD5, encrypted_etag=True)
    facts = Facts(LOCAL, REMOTE, digests={"crc64nvme": CRC, "md5": "f" * 32}, head=head)
    verdict = decide(facts)
    assert verdict.same is False
    assert "no usable checksum" in verdict.reason


def test_native_full_object_checksum_wins() -> None:
    head = RemoteFacts(etag=MD5, checksums={"crc64nvme": CRC}, checksum_type="FULL_OBJECT")
    verdict = decide(Facts(LOCAL, REMOTE, head=head, digests={"crc64nvme": CRC}))
    assert verdict.same is True and "CRC64NVME" in verdict.reason


def test_crc32c_full_object_is_used() -> None:
    head = RemoteFacts(etag="x" * 34, checksums={"crc32c": "abcd"})
    assert decide(Facts(LOCAL, REMOTE, head=head)).need_hash == {"crc64nvme", "crc32c"}
    digests = {"crc64nvme": CRC, "crc32c": "abcd"}
    assert decide(Facts(LOCAL, REMOTE, head=head, digests=digests)).same is True


def test_multipart_etag_needs_the_part_size() -> None:
    size = 20 * 1024 * 1024
    local = LocalFile("big", size, 0, 0, 1, 1)
    remote = RemoteObject("big", "big", size, "abc-3", 0)
    assert decide(Facts(local, remote)).need_head
    no_parts = RemoteFacts(etag="abc-3")
    assert decide(Facts(local, remote, head=no_parts)).same is False
    head = RemoteFacts(etag="abc-3", parts_count=3, first_part_size=8 * 1024 * 1024)
    assert decide(Facts(local, remote, head=head)).need_hash == {"crc64nvme", "etag:8388608"}
    digests = {"crc64nvme": CRC, "etag:8388608": "abc-3"}
    assert decide(Facts(local, remote, head=head, digests=digests)).same is True


def test_composite_checksum_without_suffix_is_still_composite() -> None:
    size = 20 * 1024 * 1024
    local = LocalFile("big", size, 0, 0, 1, 1)
    remote = RemoteObject("big", "big", size, "abc-3", 0)
    head = RemoteFacts(
        etag="abc-3", checksums={"crc32": "AAAA"}, parts_count=3, first_part_size=8 * 1024 * 1024
    )
    assert decide(Facts(local, remote, head=head)).need_hash == {"crc64nvme", "crc32:8388608"}
    digests = {"crc64nvme": CRC, "crc32:8388608": "AAAA-3"}
    assert decide(Facts(local, remote, head=head, digests=digests)).same is True


def test_nothing_usable_means_changed_never_size_only() -> None:
    size = 20 * 1024 * 1024
    local = LocalFile("big", size, 0, 0, 1, 1)
    remote = RemoteObject("big", "big", size, "opaque-etag", 0)
    verdict = decide(Facts(local, remote, head=RemoteFacts(etag="opaque-etag")))
    assert verdict.same is False


def test_explicit_size_modes() -> None:
    assert decide(Facts(LOCAL, REMOTE, mode="size")).same is True
    newer = LocalFile("a.txt", 5, REMOTE.last_modified_ns + 5 * 10**9, 0, 7, 1)
    assert decide(Facts(newer, REMOTE, mode="size-mtime", push=True)).same is False
    assert decide(Facts(newer, REMOTE, mode="size-mtime", push=False)).same is True


def test_rclone_md5chksum_metadata() -> None:
    assert md5_from_metadata("XUFAKrxLKna5cZ2REBfFkg==") == MD5
    assert md5_from_metadata("not base64!") is None
    head = RemoteFacts(etag="x-2", metadata_md5=MD5)
    assert verification(5, "x-2", head) == ("md5", MD5, "MD5 (md5chksum metadata)")
