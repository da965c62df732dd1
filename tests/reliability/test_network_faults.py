"""Syncs through a fault-injecting proxy: resets, truncated bodies, stalls, 500 and 503.

Every sync must complete through the retries of botocore, awscrt and bucketsync, with
every file verified against its source; a body cut short or a server that stalls must
never leave a partial file at a final path. A stalled server fails the sync with a clear
error within the configured timeouts and attempts.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bucketsync
from bucketsync import api
from bucketsync.ranged import RANGE_STREAMS
from bucketsync.report import Report
from bucketsync.stores.errors import error_for as errors_for
from bucketsync.stores.s3 import S3Store
from faultproxy import KINDS, FaultProxy, Faults
from reliability_figures import Figures
from reliakit import MIB, bucket_tree, cli, one_line_error, read_tree, temp_files, write_tree
from s3env import S3Env

FAULTS = {"reset": 0.05, "truncate": 0.05, "error_500": 0.04, "slow_down": 0.04, "stall": 0.02}


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Multipart uploads and ranged downloads above 2 MiB, in 1 MiB parts."""
    monkeypatch.setattr("bucketsync.transfer.MULTIPART_THRESHOLD", 2 * MIB)
    monkeypatch.setattr("bucketsync.transfer.PART_SIZE", MIB)
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", MIB)


@contextlib.contextmanager
def proxy(s3: S3Env, faults: Faults) -> Iterator[FaultProxy]:
    with FaultProxy(s3.endpoint_url, faults) as p:
        yield p


def tree(seed: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    sizes = (0, 1, 1000, 64 * 1024, 400_000)
    files = {f"d{i % 4}/f{i:02d}": rng.randbytes(rng.choice(sizes)) for i in range(36)}
    files["big/one"] = rng.randbytes(3 * MIB + 1)
    files["big/two"] = rng.randbytes(2 * MIB + 123)
    return files


def record(
    figures: Figures, section: str, p: FaultProxy, sent: dict[str, bytes], got: dict[str, bytes]
) -> None:
    corrupt = sum(1 for rel, data in got.items() if sent.get(rel) not in (None, data))
    figures.add(
        section,
        syncs=1,
        requests=p.stats["requests"],
        faults_injected=sum(p.stats[k] for k in KINDS),
        **{f"faults_{k}": p.stats[k] for k in KINDS},
        files_verified=len(got),
        corrupt_files=corrupt,
        lost_files=len(sent.keys() - got.keys()),
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_push_and_pull_through_faults(
    s3: S3Env, tmp_path: Path, seed: int, small_parts: None, figures: Figures
) -> None:
    files = tree(seed)
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, files)
    section = f"network faults ({s3.server.name})"
    options = {"read_timeout": 1.0, "connect_timeout": 2.0, "progress": False}
    with proxy(s3, Faults(seed=seed, stall_seconds=2.0, **FAULTS)) as p:
        report = bucketsync.sync(src, s3.url("p"), endpoint_url=p.endpoint_url, **options)
        pushed = bucket_tree(s3, "p/")  # read directly, not through the proxy
        record(figures, section, p, files, pushed)
        assert report.ok, report.errors
        assert pushed == files
    with proxy(s3, Faults(seed=seed + 100, stall_seconds=2.0, **FAULTS)) as p:
        report = bucketsync.sync(s3.url("p"), dst, endpoint_url=p.endpoint_url, **options)
        pulled = read_tree(dst)
        record(figures, section, p, files, pulled)
        assert report.ok, report.errors
        assert pulled == files and not temp_files(dst)


def test_ranged_downloads_reuse_their_connections(
    rclone_s3: S3Env, tmp_path: Path, small_parts: None
) -> None:
    """A range read to its end hands its connection back for the next range: 12 ranges
    on 6 lanes open about 6 connections, not 12."""
    data = os.urandom(12 * MIB)
    rclone_s3.put("big.bin", data)
    with proxy(rclone_s3, Faults()) as p:
        report = bucketsync.sync(rclone_s3.url(""), tmp_path, endpoint_url=p.endpoint_url)
    assert report.ok, report.errors
    assert (tmp_path / "big.bin").read_bytes() == data
    ranged = [target for method, target, _ in p.log if method == "GET" and "big.bin" in target]
    assert len(ranged) == 12
    assert p.stats["connections"] <= RANGE_STREAMS + 2  # + listing, HEAD


@pytest.mark.parametrize("jobs", [1, 2])
def test_ranges_hashed_in_order_are_not_overwritten(
    rclone_s3: S3Env, tmp_path: Path, small_parts: None, jobs: int
) -> None:
    """An object whose only checksum is a CRC32 is hashed in order while its ranges
    arrive; a lane reading its next range never reuses a chunk still waiting to be
    hashed (that failed the check, and the download was retried)."""
    data = os.urandom(12 * MIB)
    rclone_s3.put("big.bin", data)
    for attempt in range(3):
        dst = tmp_path / str(attempt)
        with proxy(rclone_s3, Faults()) as p:
            report = bucketsync.sync(rclone_s3.url(""), dst, endpoint_url=p.endpoint_url, jobs=jobs)
        assert report.ok, report.errors
        assert (dst / "big.bin").read_bytes() == data
        gets = [target for method, target, _ in p.log if method == "GET" and "big.bin" in target]
        assert len(gets) == 12  # no download retried


@pytest.mark.parametrize("kind", ["truncate", "reset", "error_500"])
def test_bodies_that_never_arrive_whole_are_not_written(
    moto_s3: S3Env, tmp_path: Path, kind: str, figures: Figures
) -> None:
    """Every object GET fails (after the listing): the old files stay, whole."""
    old = {"small": b"old small", "large": os.urandom(9 * MIB)}
    new = {"small": b"new small!", "large": os.urandom(9 * MIB)}
    dst = tmp_path / "dst"
    write_tree(dst, old)
    for rel, data in new.items():
        moto_s3.put(f"p/{rel}", data)
    with proxy(moto_s3, Faults()) as p:
        options = api._options({"endpoint_url": p.endpoint_url, "read_timeout": 2.0})
        with api.open_job(moto_s3.url("p"), dst, options) as job:
            planned = api._plan(job)
            assert len(planned.plan) == 2
            p.set_faults(Faults(**{kind: 1.0}, only_methods=frozenset({"GET"})))
            report = Report(planned.plan, dry_run=False)
            api._transfer(job, report)
        figures.add(
            "network faults: every object GET fails",
            runs=1,
            faults_injected=sum(p.stats[k] for k in KINDS),
            files_written=report.downloaded,
            old_files_intact=sum(read_tree(dst)[rel] == data for rel, data in old.items()),
        )
    assert report.downloaded == 0 and len(report.errors) == 2
    assert read_tree(dst) == old and not temp_files(dst)


def test_a_server_that_changed_bytes_is_caught(moto_s3: S3Env, tmp_path: Path) -> None:
    """Bytes flipped on the server (its ETag and checksum unchanged): verified, refused."""
    from moto.backends import get_backend

    moto_s3.put("p/f", b"A" * 100_000, ChecksumAlgorithm="CRC64NVME")
    account = get_backend("s3")["123456789012"]["aws"]
    key = account.get_object(moto_s3.bucket, "p/f")
    key._value_buffer.seek(500)
    key._value_buffer.write(b"B")
    dst = tmp_path / "dst"
    report = bucketsync.sync(moto_s3.url("p"), dst, progress=False)
    assert report.downloaded == 0 and len(report.errors) == 1
    assert "do not match" in report.errors[0].error or "checksum" in report.errors[0].error.lower()
    assert read_tree(dst) == {} and not temp_files(dst)


def test_a_stalled_server_fails_within_the_timeouts(
    moto_s3: S3Env, tmp_path: Path, figures: Figures
) -> None:
    src = tmp_path / "src"
    write_tree(src, {"a": b"a"})
    with proxy(moto_s3, Faults(stall=1.0, stall_seconds=60)) as p:
        started = time.monotonic()
        done = cli(
            moto_s3.env,
            "sync",
            str(src),
            moto_s3.url("p"),
            "--endpoint-url",
            p.endpoint_url,
            "--read-timeout",
            "1",
            "--connect-timeout",
            "1",
            "--max-attempts",
            "2",
            timeout=60,
        )
        took = time.monotonic() - started
    line = one_line_error(done, 2)
    assert (
        "stopped answering" in line or "timed out" in line.lower() or "timeout" in line.lower()
    ), line
    figures.maximum("stall: a server that never answers", "seconds_to_fail_at_most", took)
    figures.add("stall: a server that never answers", runs=1)
    assert took < 15, f"took {took:.1f} s with a 1 s read timeout and 2 attempts"


def test_stalled_uploads_stop_the_sync_early(
    moto_s3: S3Env, tmp_path: Path, figures: Figures
) -> None:
    """The listing answers, every PUT stalls: the sync ends in about one request's budget."""
    src = tmp_path / "src"
    write_tree(src, {f"f{i:03d}": b"x" * i for i in range(200)})
    with proxy(moto_s3, Faults(stall=1.0, stall_seconds=60, only_methods=frozenset({"PUT"}))) as p:
        started = time.monotonic()
        report = bucketsync.sync(
            src,
            moto_s3.url("p"),
            endpoint_url=p.endpoint_url,
            read_timeout=1.0,
            connect_timeout=1.0,
            max_attempts=2,
            jobs=8,
            progress=False,
        )
        took = time.monotonic() - started
    assert report.uploaded == 0 and len(report.errors) == 200
    assert any("not tried" in e.error for e in report.errors)
    section = "stall: every upload stalls (200 files)"
    figures.add(section, runs=1, files_failed=len(report.errors))
    figures.maximum(section, "seconds_to_fail_at_most", took)
    assert took < 20, f"took {took:.1f} s"


def test_a_lost_answer_to_a_completed_upload_is_success(
    moto_s3: S3Env, tmp_path: Path, small_parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The completion happened but its answer was lost; the retry meets NoSuchUpload.

    The object already holds our CRC64NVME: that is success, without sending it again.
    """
    finish, start = S3Store.finish_multipart, S3Store.start_multipart
    started: list[str] = []

    def counted_start(self: S3Store, key: str, crc: str) -> str:
        started.append(key)
        return start(self, key, crc)

    def finish_then_lose_the_answer(self: S3Store, *args: Any, **kwargs: Any) -> str:
        finish(self, *args, **kwargs)
        raise errors_for("NoSuchUpload", 404, "", args[0])

    monkeypatch.setattr(S3Store, "finish_multipart", finish_then_lose_the_answer)
    monkeypatch.setattr(S3Store, "start_multipart", counted_start)
    src = tmp_path / "src"
    write_tree(src, {"big": os.urandom(3 * MIB)})
    report = bucketsync.sync(src, moto_s3.url("p"), progress=False)
    assert report.ok and report.uploaded == 1, report.errors
    assert moto_s3.get("p/big") == (src / "big").read_bytes() and len(started) == 1


@pytest.mark.parametrize("crt", [False, True], ids=["botocore", "awscrt"])
def test_a_sync_sends_each_request_max_attempts_times(
    moto_s3: S3Env, tmp_path: Path, crt: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every object GET answered 503: N GETs on botocore (the whole-file retries do not
    multiply them); on awscrt's pipeline, N more on the threaded path at most."""
    if not crt:
        monkeypatch.setenv("BUCKETSYNC_NO_CRT", "1")
    moto_s3.put("p/small", b"x" * 1000)
    attempts = 3
    with proxy(moto_s3, Faults()) as p:
        options = api._options({"endpoint_url": p.endpoint_url, "max_attempts": attempts})
        with api.open_job(moto_s3.url("p"), tmp_path / "dst", options) as job:
            planned = api._plan(job)
            p.set_faults(Faults(slow_down=1.0, only_methods=frozenset({"GET"})))
            sent = len(p.log)
            report = Report(planned.plan, dry_run=False)
            api._transfer(job, report)
        gets = len(p.log) - sent
    assert report.downloaded == 0 and len(report.errors) == 1
    assert gets == (2 * attempts if crt else attempts), gets
