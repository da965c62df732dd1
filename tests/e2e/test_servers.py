"""The local S3 servers and their fixtures, on each server.

Observed with moto 5.2.5, rclone 1.75.2 and LocalStack 2026.3.0; docs/servers.md has more.
A test that pins down a server's deviation from S3 says so: if it starts failing after an
upgrade, the server changed, and docs/servers.md should change with it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from s3env import S3Env
from s3servers import start_rclone

MiB = 1024 * 1024


@pytest.fixture(
    params=["moto_s3", "rclone_s3", pytest.param("localstack", marks=pytest.mark.localstack)],
    ids=["moto", "rclone", "localstack"],
)
def any_s3(request: pytest.FixtureRequest) -> S3Env:
    """A fresh bucket on each of the three servers."""
    env: S3Env = request.getfixturevalue(request.param)
    return env


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_round_trip(any_s3: S3Env) -> None:
    """A PUT's ETag is the quoted MD5 of the body everywhere; GET returns the bytes."""
    data = os.urandom(1000)
    assert any_s3.put("dir/file.bin", data) == f'"{md5(data)}"'
    assert any_s3.get("dir/file.bin") == data
    assert any_s3.head("dir/file.bin")["ContentLength"] == 1000
    assert any_s3.keys() == ["dir/file.bin"]
    assert any_s3.url("dir/") == f"s3://{any_s3.bucket}/dir/"


# rclone stores keys as files: "a" and "a/b" cannot both exist (PUT gives 500 and leaves its
# listing wrong), so no key here is also a folder of another.
KEYS = ["a-c", "a.txt", "a/b", "a0", "ab", "B", "A", "z", "~", "é", "\uff5a", "\U0001f600"]


def test_listing_is_utf8_byte_order(any_s3: S3Env) -> None:
    """All three list in UTF-8 byte order ("a-c" < "a/b" < "a0"; U+FF5A < U+1F600)."""
    for key in KEYS:
        any_s3.put(key, b"x")
    listed = any_s3.client.list_objects_v2(Bucket=any_s3.bucket)["Contents"]
    assert [obj["Key"] for obj in listed] == sorted(KEYS, key=lambda k: k.encode())


def test_paginated_listing(any_s3: S3Env) -> None:
    """Pages of two keys, across folders, give every key once, in order."""
    keys = ["a-c", "a.txt", "a/b", "a/c/d", "a0", "b"]
    for key in keys:
        any_s3.put(key, b"x")
    pages = any_s3.client.get_paginator("list_objects_v2").paginate(
        Bucket=any_s3.bucket, PaginationConfig={"PageSize": 2}
    )
    assert [obj["Key"] for page in pages for obj in page["Contents"]] == keys


def test_localstack_pagination_drops_non_ascii_keys(localstack: S3Env) -> None:
    """LocalStack bug: continuation compares URL-encoded keys, so pages after a boundary
    before a non-ASCII key lose it ("é" encodes as "%C3%A9" < "~"), or fail with 500."""
    for key in ["z", "~", "é"]:
        localstack.put(key, b"x")
    first = localstack.client.list_objects_v2(Bucket=localstack.bucket, MaxKeys=1)
    token = first["NextContinuationToken"]
    rest = localstack.client.list_objects_v2(
        Bucket=localstack.bucket, MaxKeys=1, ContinuationToken=token
    )
    assert [obj["Key"] for obj in rest["Contents"]] == ["~"]
    assert rest["IsTruncated"] is False  # "é" is never listed
    assert localstack.keys() == ["z", "~", "é"]  # one page of 1000: fine


def multipart_upload(env: S3Env, key: str, parts: list[bytes]) -> str:
    """Upload ``parts`` as a multipart upload; returns CompleteMultipartUpload's ETag."""
    client, bucket = env.client, env.bucket
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    done = []
    for number, part in enumerate(parts, 1):
        response = client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=part
        )
        done.append({"PartNumber": number, "ETag": response["ETag"]})
    complete = client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    etag: str = complete["ETag"]
    return etag


def test_multipart_etag(any_s3: S3Env) -> None:
    """moto and LocalStack: ETag is MD5 of the parts' MD5s + "-2", and HEAD PartNumber=1
    gives the part's length and PartsCount. rclone answers the complete call with that same
    "-2" ETag but then stores and reports the whole-file MD5, and ignores PartNumber."""
    parts = [os.urandom(5 * MiB), b"tail"]
    data = b"".join(parts)
    multipart = md5(b"".join(hashlib.md5(p).digest() for p in parts)) + "-2"
    assert multipart_upload(any_s3, "big", parts) == f'"{multipart}"'
    assert any_s3.get("big") == data
    head = any_s3.head("big")
    first = any_s3.head("big", PartNumber=1)
    if any_s3.server.name == "rclone":
        assert head["ETag"] == f'"{md5(data)}"'
        assert first["ContentLength"] == len(data)
        assert "PartsCount" not in first
    else:
        assert head["ETag"] == f'"{multipart}"'
        assert (first["ContentLength"], first["PartsCount"]) == (5 * MiB, 2)


def test_conditional_put(any_s3: S3Env) -> None:
    """moto and LocalStack honour If-None-Match: * and If-Match (412); rclone ignores both."""
    etag = any_s3.put("k", b"1", IfNoneMatch="*")
    honoured = any_s3.server.name != "rclone"
    for condition in ({"IfNoneMatch": "*"}, {"IfMatch": '"0123456789abcdef0123456789abcdef"'}):
        if honoured:
            with pytest.raises(ClientError) as caught:
                any_s3.put("k", b"2", **condition)
            assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
        else:
            any_s3.put("k", b"2", **condition)
    assert any_s3.get("k") == (b"1" if honoured else b"2")
    any_s3.put("k", b"3", IfMatch=any_s3.head("k")["ETag"])
    assert any_s3.get("k") == b"3"
    assert etag == f'"{md5(b"1")}"'


def test_metadata_key_case(any_s3: S3Env) -> None:
    """User metadata names come back lower-case, except rclone's Go-canonical "Mixed-Case"."""
    any_s3.put("k", b"x", Metadata={"mixed-case": "v", "crc64nvme": "c"})
    want = {"mixed-case": "v", "crc64nvme": "c"}
    if any_s3.server.name == "rclone":
        want = {"Mixed-Case": "v", "Crc64nvme": "c"}
    assert any_s3.head("k")["Metadata"] == want


def test_isolated_env_and_subprocess(s3: S3Env, tmp_path: Path) -> None:
    """The environment holds only fake AWS settings; ``s3.env`` reaches the server from a
    subprocess through boto3's default chain (no endpoint or keys passed in code)."""
    assert os.environ["AWS_ENDPOINT_URL"] == s3.endpoint_url
    assert os.environ["BUCKETSYNC_STATE_DIR"] == str(tmp_path / "state")
    assert os.environ["BUCKETSYNC_CACHE_DIR"] == str(tmp_path / "cache")
    assert not Path(os.environ["AWS_CONFIG_FILE"]).exists()
    assert s3.env["BUCKETSYNC_STATE_DIR"] == str(tmp_path / "state")
    s3.put("from-test", b"x")
    code = "import boto3, sys; print(boto3.client('s3').list_objects_v2(Bucket=sys.argv[1])"
    code += "['Contents'][0]['Key'])"
    out = subprocess.run(
        [sys.executable, "-c", code, s3.bucket], env=s3.env, capture_output=True, check=True
    )
    assert out.stdout.decode().strip() == "from-test"


def test_rclone_stop_leaves_nothing(tmp_path: Path) -> None:
    """stop() ends the server's whole process group; it stores buckets as folders."""
    with start_rclone(tmp_path) as server:
        server.client().create_bucket(Bucket="folder-bucket")
        assert (tmp_path / "data" / "folder-bucket").is_dir()
        assert server.process is not None
        pgid = server.process.pid
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
