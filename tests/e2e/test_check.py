"""`bucketsync check` on real servers: every status, either direction, --download,
--no-state, filters, exit codes, and nothing written anywhere.

Objects with no usable checksum are made as other tools make them: SSE-KMS (its ETag
is no MD5 on AWS) put without a checksum, and (moto) a multipart upload of uneven
parts, whose part size cannot be learned from part 1.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

import bucketsync
from bucketsync.stores.tempnames import temp_path
from s3env import S3Env

BUCKETSYNC = str(Path(sys.executable).with_name("bucketsync"))
MiB = 1024 * 1024


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BUCKETSYNC, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def plain_client(s3: S3Env) -> Any:
    """A boto3 client that sends no checksum unless one is required (as older tools)."""
    server = s3.server
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name=server.region,
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def put_unknowable(s3: S3Env, key: str, data: bytes) -> None:
    """An object whose ETag is no MD5 (SSE-KMS) and with no checksum at all."""
    plain_client(s3).put_object(
        Bucket=s3.bucket, Key=key, Body=data, ServerSideEncryption="aws:kms"
    )


def tree(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every entry below root (temporary files too): content and mtime."""
    out: dict[str, tuple[bytes, int]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        data = path.read_bytes() if path.is_file() else b"<dir>"
        out[str(path.relative_to(root))] = (data, st.st_mtime_ns)
    return out


def bucket(s3: S3Env) -> list[tuple[str, str, str]]:
    """Every object (key, ETag, last modified) and every open multipart upload."""
    pages = s3.client.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket)
    objects = [
        (o["Key"], o["ETag"], str(o["LastModified"]))
        for page in pages
        for o in page.get("Contents", [])
    ]
    try:
        uploads = s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", [])
    except ClientError:  # rclone serve s3 has no ListMultipartUploads
        uploads = []
    return objects + [(u["Key"], "upload", u["UploadId"]) for u in uploads]


def statuses(report: bucketsync.CheckReport) -> dict[str, str]:
    return {p.path: p.status for p in report.paths}


def setup_every_outcome(s3: S3Env, local: Path) -> bytes:
    """Local and remote sides with one path of each status; returns the unknown's data."""
    local.mkdir()
    (local / "same.txt").write_bytes(b"same")
    (local / "sub").mkdir()
    (local / "sub" / "differ.txt").write_bytes(b"local")
    (local / "only-local.txt").write_bytes(b"x")
    unknown = os.urandom(5 * MiB)  # above 4 MiB: the ETag is not tried as an MD5 first
    (local / "unknown.bin").write_bytes(unknown)
    s3.put("p/same.txt", b"same")
    s3.put("p/sub/differ.txt", b"other")
    s3.put("p/only-remote.txt", b"y")
    put_unknowable(s3, "p/unknown.bin", unknown)
    return unknown


PUSH = {
    "same.txt": "same",
    "sub/differ.txt": "differ",
    "only-local.txt": "missing",
    "only-remote.txt": "extra",
    "unknown.bin": "unknown",
}


def test_every_outcome_changes_nothing(s3: S3Env, tmp_path: Path) -> None:
    local = tmp_path / "local"
    setup_every_outcome(s3, local)
    orphan = temp_path(local / "same.txt")  # a killed sync's temporary file: a sync sweeps it
    orphan.write_bytes(b"half")
    os.utime(orphan, (0, 0))
    before = (tree(local), bucket(s3))
    report = bucketsync.check(local, s3.url("p/"))
    assert statuses(report) == PUSH
    assert [p.path for p in report.paths] == sorted(PUSH)
    counts = (report.same, report.differ, report.missing, report.extra, report.unknown)
    assert counts == (1, 1, 1, 1, 1)
    assert not report.ok and report.exit_code == 1
    reasons = {p.path: p.reason for p in report.paths}
    assert "no usable checksum" in reasons["unknown.bin"]
    assert "--download" in reasons["unknown.bin"]
    assert report.requests["put"] == report.requests["delete"] == report.requests["get"] == 0
    # and with --download: the GET is hashed as it streams, no file is written
    settled = bucketsync.check(local, s3.url("p/"), download=True)
    assert statuses(settled) == {**PUSH, "unknown.bin": "same"}
    assert settled.requests["get"] == 1 and settled.bytes_downloaded == 5 * MiB
    assert (tree(local), bucket(s3)) == before


def test_either_direction_and_the_cli(s3: S3Env, tmp_path: Path) -> None:
    local = tmp_path / "local"
    setup_every_outcome(s3, local)
    before = (tree(local), bucket(s3))
    done = cli(s3.env, "check", s3.url("p/"), str(local), "--json")
    assert done.returncode == 1, done.stderr
    out = json.loads(done.stdout)
    swapped = {"missing": "extra", "extra": "missing"}
    expected = {path: swapped.get(status, status) for path, status in PUSH.items()}
    assert {p["path"]: p["status"] for p in out["paths"]} == expected
    assert all(set(p) == {"path", "status", "reason"} for p in out["paths"])
    assert [out[k] for k in ("same", "differ", "missing", "extra", "unknown")] == [1, 1, 1, 1, 1]
    assert out["requests"]["get"] == 0
    text = cli(s3.env, "check", s3.url("p/"), str(local))
    assert text.returncode == 1
    lines = text.stdout.splitlines()
    assert "differ  sub/differ.txt (content differs" in text.stdout
    assert "missing only-remote.txt (only on the source)" in lines
    assert "extra   only-local.txt (only on the destination)" in lines
    assert any(line.startswith("unknown unknown.bin (no usable checksum") for line in lines)
    assert not any("same.txt" in line for line in lines)
    assert lines[-1].startswith("1 same, 1 differ, 1 missing, 1 extra, 1 unknown;")
    downloaded = cli(s3.env, "check", s3.url("p/"), str(local), "--download", "--json")
    assert json.loads(downloaded.stdout)["unknown"] == 0
    assert (tree(local), bucket(s3)) == before


def test_a_pull_check_of_a_missing_folder_creates_nothing(s3: S3Env, tmp_path: Path) -> None:
    s3.put("p/a", b"a")
    report = bucketsync.check(s3.url("p/"), tmp_path / "not-there")
    assert statuses(report) == {"a": "missing"}
    assert not (tmp_path / "not-there").exists()


def test_all_same_exits_0_and_the_state_skips_hashing(s3: S3Env, tmp_path: Path) -> None:
    local = tmp_path / "local"
    local.mkdir()
    (local / "a.txt").write_bytes(b"a" * 1000)
    (local / "big.bin").write_bytes(os.urandom(6 * MiB))
    bucketsync.sync(local, s3.url("p"))
    done = cli(s3.env, "check", str(local), s3.url("p"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [done.stdout.splitlines()[-1]]  # only the summary
    assert done.stdout.startswith("2 same, 0 differ, 0 missing, 0 extra, 0 unknown")
    again = bucketsync.check(local, s3.url("p"))
    assert again.ok and again.exit_code == 0
    assert again.bytes_hashed == 0 and again.requests["head"] == 0
    assert {p.reason for p in again.paths} == {"unchanged since the last verified sync"}
    strict = bucketsync.check(local, s3.url("p"), no_state=True)
    assert strict.ok
    assert strict.bytes_hashed >= 1000 + 6 * MiB  # every file, whatever was recorded
    assert "unchanged since" not in " ".join(p.reason for p in strict.paths)
    done = cli(s3.env, "check", str(local), s3.url("p"), "--no-state", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["bytes_hashed"] >= 6 * MiB


def test_no_state_does_not_trust_the_state_database(s3: S3Env, tmp_path: Path) -> None:
    """A state row that lies (it vouches for a file version that was never compared,
    as a fingerprint collision would) fools a check with state, not one with --no-state."""
    local = tmp_path / "local"
    local.mkdir()
    path = local / "a.txt"
    path.write_bytes(b"aaaa")
    bucketsync.sync(local, s3.url("p"))
    path.write_bytes(b"bbbb")  # same size: only the content tells
    st = path.stat()
    database = Path(os.environ["BUCKETSYNC_STATE_DIR"]) / "state.sqlite3"
    with contextlib.closing(sqlite3.connect(database)) as db, db:
        changed = db.execute(
            "UPDATE records SET dev=?, ino=?, size=?, mtime_ns=?, ctime_ns=?, racy=0",
            (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns),
        ).rowcount
    assert changed == 1
    trusting = bucketsync.check(local, s3.url("p"))
    assert statuses(trusting) == {"a.txt": "same"} and trusting.bytes_hashed == 0
    strict = bucketsync.check(local, s3.url("p"), no_state=True)
    assert statuses(strict) == {"a.txt": "differ"} and strict.bytes_hashed >= 4
    # --no-state neither reads nor writes the database: the lie is still there
    assert statuses(bucketsync.check(local, s3.url("p"))) == {"a.txt": "same"}


def test_foreign_multipart_is_same_without_download(s3: S3Env, tmp_path: Path) -> None:
    """aws cli's way: 8 MiB parts; found identical from the ETag or the MD5, no GET."""
    local = tmp_path / "local"
    local.mkdir()
    data = os.urandom(20 * MiB + 5)
    (local / "big.bin").write_bytes(data)
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB)
    plain_client(s3).upload_file(str(local / "big.bin"), s3.bucket, "p/big.bin", Config=config)
    report = bucketsync.check(local, s3.url("p"))
    assert statuses(report) == {"big.bin": "same"}, report.paths
    assert report.requests["get"] == 0 and report.bytes_downloaded == 0
    (local / "big.bin").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    changed = bucketsync.check(local, s3.url("p"), no_state=True)
    assert statuses(changed) == {"big.bin": "differ"}
    assert changed.requests["get"] == 0


def test_download_settles_unknown_both_ways(s3: S3Env, tmp_path: Path) -> None:
    local = tmp_path / "local"
    local.mkdir()
    data = os.urandom(5 * MiB)
    (local / "equal.bin").write_bytes(data)
    (local / "other.bin").write_bytes(data[::-1])
    put_unknowable(s3, "p/equal.bin", data)
    put_unknowable(s3, "p/other.bin", data)
    before = (tree(local), bucket(s3))
    plain = bucketsync.check(local, s3.url("p"))
    assert statuses(plain) == {"equal.bin": "unknown", "other.bin": "unknown"}
    assert plain.requests["get"] == 0
    settled = bucketsync.check(local, s3.url("p"), download=True, jobs=1)
    assert statuses(settled) == {"equal.bin": "same", "other.bin": "differ"}
    assert settled.requests["get"] == 2 and settled.bytes_downloaded == 10 * MiB
    assert (tree(local), bucket(s3)) == before
    # what the download proved is recorded: the next check needs no GET for it
    again = bucketsync.check(local, s3.url("p"))
    assert statuses(again) == {"equal.bin": "same", "other.bin": "unknown"}
    assert again.requests["get"] == 0


def test_uneven_foreign_parts_are_unknown_until_downloaded(moto_s3: S3Env, tmp_path: Path) -> None:
    """Parts of 5 and 6 MiB: part 1's size does not explain the object, so no ETag can be
    recomputed (moto keeps the `-2` ETag; rclone would report the whole-file MD5)."""
    s3, local = moto_s3, tmp_path / "local"
    local.mkdir()
    data = os.urandom(11 * MiB)
    (local / "odd.bin").write_bytes(data)
    client = plain_client(s3)
    up = client.create_multipart_upload(Bucket=s3.bucket, Key="p/odd.bin")
    parts = []
    for number, chunk in ((1, data[: 5 * MiB]), (2, data[5 * MiB :])):
        etag = client.upload_part(
            Bucket=s3.bucket,
            Key="p/odd.bin",
            UploadId=up["UploadId"],
            PartNumber=number,
            Body=chunk,
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    client.complete_multipart_upload(
        Bucket=s3.bucket, Key="p/odd.bin", UploadId=up["UploadId"], MultipartUpload={"Parts": parts}
    )
    assert statuses(bucketsync.check(local, s3.url("p"))) == {"odd.bin": "unknown"}
    settled = bucketsync.check(local, s3.url("p"), download=True)
    assert statuses(settled) == {"odd.bin": "same"} and settled.requests["get"] == 1


def test_filters(s3: S3Env, tmp_path: Path) -> None:
    local = tmp_path / "local"
    (local / "logs").mkdir(parents=True)
    (local / "keep.txt").write_bytes(b"k")
    (local / "logs" / "a.log").write_bytes(b"l")
    s3.put("p/keep.txt", b"k")
    s3.put("p/other.log", b"o")
    report = bucketsync.check(local, s3.url("p"), exclude="*.log")
    assert statuses(report) == {"keep.txt": "same"} and report.ok
    done = cli(s3.env, "check", str(local), s3.url("p"), "--exclude", "*", "--include", "*.log")
    assert done.returncode == 1
    assert "missing logs/a.log" in done.stdout and "extra   other.log" in done.stdout
    assert "keep.txt" not in done.stdout


def test_control_characters_in_keys_are_escaped(s3: S3Env, tmp_path: Path) -> None:
    local = tmp_path / "local"
    local.mkdir()
    s3.put("p/evil\x1b[31mred", b"x")
    done = cli(s3.env, "check", str(local), s3.url("p"), "--jobs", "2")
    assert done.returncode == 1
    assert "\x1b" not in done.stdout
    assert "extra   evil\\x1b[31mred (only on the destination)" in done.stdout
    out = json.loads(cli(s3.env, "check", str(local), s3.url("p"), "--json").stdout)
    assert out["paths"] == [
        {"path": "evil\x1b[31mred", "status": "extra", "reason": "only on the destination"}
    ]


def test_bad_input_exits_2(moto_s3: S3Env, tmp_path: Path) -> None:
    s3 = moto_s3
    (tmp_path / "a").mkdir()
    cases = [
        ("check", str(tmp_path / "a"), str(tmp_path)),  # no s3:// side
        ("check", str(tmp_path / "missing"), s3.url("p")),  # a push needs its folder
        ("check", str(tmp_path / "a"), s3.url("p"), "--jobs", "0"),
        ("check", str(tmp_path / "a"), "s3://no-such-bucket-here/p"),
        ("check", str(tmp_path / "a")),
        ("check", str(tmp_path / "a"), s3.url("p"), "--delete"),  # check deletes nothing
    ]
    for args in cases:
        done = cli(s3.env, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr
    with pytest.raises(bucketsync.UsageError):
        bucketsync.check(tmp_path / "a", s3.url("p"), delete=True)
    with pytest.raises(bucketsync.UsageError):
        bucketsync.check(tmp_path / "a", s3.url("p"), download="yes")


def test_localstack_composite_and_full_object_checksums(localstack: S3Env, tmp_path: Path) -> None:
    """LocalStack keeps composite CRC32 checksums of multipart uploads (`…-N`) and full
    CRC64NVMEs: both settle the check from a HEAD, without a GET."""
    s3, local = localstack, tmp_path / "local"
    local.mkdir()
    data = os.urandom(12 * MiB)
    (local / "composite.bin").write_bytes(data)
    (local / "full.bin").write_bytes(data)
    client = plain_client(s3)
    up = client.create_multipart_upload(
        Bucket=s3.bucket, Key="p/composite.bin", ChecksumAlgorithm="CRC32"
    )
    parts = []
    for number, start in enumerate(range(0, len(data), 8 * MiB), 1):
        response = client.upload_part(
            Bucket=s3.bucket,
            Key="p/composite.bin",
            UploadId=up["UploadId"],
            PartNumber=number,
            Body=data[start : start + 8 * MiB],
            ChecksumAlgorithm="CRC32",
        )
        parts.append(
            {
                "PartNumber": number,
                "ETag": response["ETag"],
                "ChecksumCRC32": response["ChecksumCRC32"],
            }
        )
    client.complete_multipart_upload(
        Bucket=s3.bucket,
        Key="p/composite.bin",
        UploadId=up["UploadId"],
        MultipartUpload={"Parts": parts},
    )
    s3.client.upload_file(
        str(local / "full.bin"),
        s3.bucket,
        "p/full.bin",
        ExtraArgs={"ChecksumAlgorithm": "CRC64NVME"},
        Config=TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB),
    )
    report = bucketsync.check(local, s3.url("p"), no_state=True)
    assert statuses(report) == {"composite.bin": "same", "full.bin": "same"}, report.paths
    assert report.requests["get"] == 0
    # a HEAD by part number (for the part size) carries no whole-object checksum:
    # the multipart ETag, recomputed with the learned part size, settles both
    assert all("matches" in p.reason for p in report.paths), report.paths


def test_an_unreadable_local_path_is_unknown(moto_s3: S3Env, tmp_path: Path) -> None:
    """A name the walk cannot use (not UTF-8) is not taken for absent: unknown, exit 1."""
    s3, local = moto_s3, tmp_path / "local"
    local.mkdir()
    (local / "ok.txt").write_bytes(b"ok")
    os.close(os.open(os.path.join(os.fsencode(local), b"bad\xff"), os.O_CREAT | os.O_WRONLY))
    s3.put("p/ok.txt", b"ok")
    report = bucketsync.check(local, s3.url("p"))
    assert report.same == 1 and report.unknown == 1 and report.exit_code == 1
    (bad,) = [p for p in report.paths if p.status == "unknown"]
    assert "not valid UTF-8" in bad.reason
