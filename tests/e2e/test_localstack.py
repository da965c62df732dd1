"""Checksum paths only LocalStack implements like S3: full-object CRC64NVME on multipart
uploads, composite checksums (`...==-N`, ChecksumType COMPOSITE), HEAD by PartNumber,
and BadDigest on a wrong checksum."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig

import bucketsync
from bucketsync.errors import ChecksumMismatch
from bucketsync.hashing import hash_file
from bucketsync.location import S3Location
from bucketsync.stores.s3 import S3Store
from s3env import S3Env

MIB = 1024 * 1024


def test_uploads_carry_a_full_object_crc64nvme(localstack: S3Env, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "small.bin").write_bytes(os.urandom(100_000))
    (src / "big.bin").write_bytes(os.urandom(70 * MIB))
    report = bucketsync.sync(src, localstack.url("p"))
    assert report.ok and report.uploaded == 2
    for name in ("small.bin", "big.bin"):
        head = localstack.head(f"p/{name}", ChecksumMode="ENABLED")
        expected = hash_file(src / name, {"crc64nvme"})["crc64nvme"]
        assert head["ChecksumCRC64NVME"] == expected
        assert head["ChecksumType"] == "FULL_OBJECT"
        assert head["Metadata"]["crc64nvme"] == expected
    assert localstack.head("p/big.bin")["ETag"].strip('"').endswith("-5")


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA256", "CRC64NVME"])
def test_other_tools_multipart_uploads_are_recognised(
    localstack: S3Env, tmp_path: Path, algorithm: str
) -> None:
    data = os.urandom(20 * MIB + 5)
    (tmp_path / "src").mkdir()
    path = tmp_path / "src" / "obj.bin"
    path.write_bytes(data)
    config = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB)
    localstack.client.upload_file(
        str(path),
        localstack.bucket,
        "obj.bin",
        Config=config,
        ExtraArgs={"ChecksumAlgorithm": algorithm},
    )
    report = bucketsync.sync(tmp_path / "src", localstack.url())
    assert report.unchanged == 1, [(a.path, a.reason) for a in report.plan]
    assert report.requests["head"] <= 1 and report.requests["put"] == 0
    assert report.bytes_hashed == len(data)
    pulled = bucketsync.sync(localstack.url(), tmp_path / "dst")
    assert pulled.ok and (tmp_path / "dst" / "obj.bin").read_bytes() == data


def test_composite_checksum_detects_a_same_size_edit(localstack: S3Env, tmp_path: Path) -> None:
    data = bytearray(os.urandom(17 * MIB))
    (tmp_path / "src").mkdir()
    path = tmp_path / "src" / "obj.bin"
    path.write_bytes(data)
    config = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB)
    localstack.client.upload_file(
        str(path),
        localstack.bucket,
        "obj.bin",
        Config=config,
        ExtraArgs={"ChecksumAlgorithm": "CRC32"},
    )
    data[12345] ^= 1
    path.write_bytes(bytes(data))
    plan = bucketsync.diff(tmp_path / "src", localstack.url())
    assert [a.path for a in plan] == ["obj.bin"]


def test_server_rejects_bytes_that_do_not_match_the_checksum(localstack: S3Env) -> None:
    from bucketsync.stores.s3 import ClientSettings, Connection

    connection = Connection(ClientSettings(endpoint_url=localstack.endpoint_url))
    store = S3Store(connection, S3Location(localstack.bucket))
    wrong = hash_file(__file__, {"crc64nvme"})["crc64nvme"]
    with pytest.raises(ChecksumMismatch):
        store.put("k", b"not this file", wrong, {})
    assert localstack.keys() == []
