"""Ctrl-C (SIGINT) and SIGTERM during a pull or a push, over a slowed link.

The sync must stop within about a second whatever it has in flight (ranged downloads,
multipart uploads, small files on awscrt), record in the state database what finished,
remove the temporary files of unfinished small downloads, keep (recorded) those of
ranged downloads and the multipart uploads under way for the next sync to resume, and
exit 130 (SIGINT) or 143 (SIGTERM) with one line on stderr. A second sync then moves
only what the first did not finish, and hashes nothing the first recorded. The API
raises KeyboardInterrupt, after recording, when the main thread is interrupted.
"""

from __future__ import annotations

import _thread
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

import bucketsync
from faultproxy import FaultProxy, Faults
from reliability_figures import Figures
from reliakit import (
    KIB,
    MIB,
    bucket_tree,
    cli,
    in_flight,
    kept_partials,
    read_tree,
    temp_files,
    write_tree,
)
from s3env import S3Env

WORKER = str(Path(__file__).with_name("crash_worker.py"))  # multipart above 2 MiB
STOP_WITHIN = 5.0  # seconds from the signal to the exit: generous, this is a hang test
# (a read that will not end is left after cancel.GRACE, 3 s: allow 2 s more for it)
EXIT_CODES: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}
Files = dict[str, bytes]


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let moto (in this process) accept the worker's 1 MiB multipart parts."""
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", MIB)


def large_case() -> tuple[Files, Faults, int]:
    """A few small files (they land first) and one object sent in ranges or parts:
    about 10 s on 4 connections at 1 MB/s each."""
    files = {f"s/{i}.bin": bytes([i]) * 10 * KIB for i in range(4)}
    files["big.bin"] = bytes(range(256)) * (40 * MIB // 256)
    return files, Faults(rate=1_000_000), 4


def small_case() -> tuple[Files, Faults, int]:
    """Many small files with `--jobs 2` (8 requests in flight), every request 0.15 s
    late: about 4 s."""
    files = {f"d{i % 5}/f{i:03d}.txt": f"{i} ".encode() * 300 for i in range(200)}
    return files, Faults(latency=0.15), 2


CASES = {"large": large_case, "small": small_case}
SMALL_LANDED = 30  # small files landed before the signal


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """The CLI in a worker process, started and ready (its start-up off the clock)."""
    worker = subprocess.Popen(
        [sys.executable, WORKER, *args],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
    assert worker.stdin is not None
    worker.stdin.write("go\n")
    worker.stdin.flush()
    return worker


def wait_for(condition: Callable[[], bool], worker: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert worker.poll() is None, "the sync ended before it could be interrupted"
        assert time.monotonic() < deadline, "the sync never got under way"
        time.sleep(0.05)


def interrupt(worker: subprocess.Popen[str], signum: int) -> tuple[float, str]:
    """Send the signal; the seconds until the process exited, and its stderr."""
    sent = time.monotonic()
    worker.send_signal(signum)
    try:
        _, stderr = worker.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.communicate()
        raise
    return time.monotonic() - sent, stderr


def second_sync(s3: S3Env, proxy: FaultProxy, src: str, dst: str) -> dict[str, Any]:
    """The same sync again (the same endpoint: the state database's records are kept by
    endpoint), on a link no longer slowed: its JSON summary."""
    proxy.set_faults(Faults())
    args = ("sync", src, dst, "--json", "--no-progress", "--endpoint-url", proxy.endpoint_url)
    done = cli(s3.env, *args, timeout=120)
    assert done.returncode == 0, done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)["summary"]
    return summary


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_interrupted_pull(
    moto_s3: S3Env, tmp_path: Path, case: str, signum: int, figures: Figures
) -> None:
    files, faults, jobs = CASES[case]()
    for rel, data in files.items():
        moto_s3.put(f"p/{rel}", data)
    dst = tmp_path / "dst"
    with FaultProxy(moto_s3.endpoint_url, faults) as proxy:
        args = ("sync", moto_s3.url("p"), str(dst), "--jobs", str(jobs), "--no-progress")
        worker = start(moto_s3.env, *args, "--endpoint-url", proxy.endpoint_url)

        def under_way() -> bool:
            landed = len(read_tree(dst))
            if case == "small":
                return landed >= SMALL_LANDED
            return landed >= 4 and bool(temp_files(dst))  # the large object under way

        wait_for(under_way, worker)
        took, stderr = interrupt(worker, signum)
        landed = read_tree(dst)
        _check_exit(worker, signum, took, stderr, figures, f"pull, {case}")
        assert 0 < len(landed) < len(files)
        assert all(files[rel] == data for rel, data in landed.items())
        assert set(temp_files(dst)) == kept_partials(moto_s3.env)  # kept to be resumed
        summary = second_sync(moto_s3, proxy, moto_s3.url("p"), str(dst))
    assert not temp_files(dst) and not kept_partials(moto_s3.env)
    assert summary["downloaded"] == len(files) - len(landed)
    assert summary["bytes_hashed"] == 0  # what landed was recorded: no hash, no request
    assert read_tree(dst) == files


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_interrupted_push(
    moto_s3: S3Env, tmp_path: Path, case: str, signum: int, small_parts: None, figures: Figures
) -> None:
    files, faults, jobs = CASES[case]()
    src = tmp_path / "src"
    write_tree(src, files)
    client, bucket = moto_s3.client, moto_s3.bucket
    with FaultProxy(moto_s3.endpoint_url, faults) as proxy:
        args = ("sync", str(src), moto_s3.url("p"), "--jobs", str(jobs), "--no-progress")
        worker = start(moto_s3.env, *args, "--endpoint-url", proxy.endpoint_url)

        def under_way() -> bool:
            landed = len(moto_s3.keys("p/"))
            if case == "small":
                return landed >= SMALL_LANDED
            uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
            return landed >= 4 and bool(uploads)

        wait_for(under_way, worker)
        time.sleep(0.3)  # a part or two in flight
        took, stderr = interrupt(worker, signum)
        landed = bucket_tree(moto_s3, "p/")
        _check_exit(worker, signum, took, stderr, figures, f"push, {case}")
        assert 0 < len(landed) < len(files)
        assert all(files[rel] == data for rel, data in landed.items())
        uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        ours = in_flight(moto_s3.env, "SELECT key, upload_id FROM uploads")
        assert {(u["Key"], u["UploadId"]) for u in uploads} <= set(ours)  # kept to be resumed
        summary = second_sync(moto_s3, proxy, str(src), moto_s3.url("p"))
        assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    missing = files.keys() - landed.keys()
    # A PUT already sent when the signal came may be finished by the server after the
    # bucket was read above: found unchanged by the second sync, not uploaded again.
    late = len(missing) - summary["uploaded"]
    assert 0 <= late <= jobs * 4
    # Each upload hashes its file once. An answer cut off by the signal (the object was
    # written, the sync did not hear of it) makes a file that landed unrecorded: at most
    # the requests in flight (4 per job), and never what the first sync recorded.
    unrecorded = summary["bytes_hashed"] - sum(len(files[rel]) for rel in missing)
    assert 0 <= unrecorded <= jobs * 4 * max(map(len, files.values()))
    assert bucket_tree(moto_s3, "p/") == files


def _check_exit(
    worker: subprocess.Popen[str],
    signum: int,
    took: float,
    stderr: str,
    figures: Figures,
    section: str,
) -> None:
    figures.add(f"interrupts ({section})", runs=1)
    figures.maximum(f"interrupts ({section})", "slowest_stop_s", round(took, 2))
    assert worker.returncode == EXIT_CODES[signum], (worker.returncode, stderr)
    assert took < STOP_WITHIN, f"stopped {took:.1f} s after the signal"
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bucketsync: error:"), stderr


def test_a_read_stuck_on_a_crawling_server_does_not_hold_the_exit(
    moto_s3: S3Env, tmp_path: Path, figures: Figures
) -> None:
    """A 128 KiB read at 2 kB/s takes a minute; the sync leaves it after its grace period
    (the next run removes the temporary file it was filling)."""
    files = {"big.bin": bytes(range(256)) * (3 * MIB // 256), "small": b"s"}
    for rel, data in files.items():
        moto_s3.put(f"p/{rel}", data)
    dst = tmp_path / "dst"
    with FaultProxy(moto_s3.endpoint_url, Faults(rate=2000)) as proxy:
        args = ("sync", moto_s3.url("p"), str(dst), "--no-progress")
        worker = start(moto_s3.env, *args, "--endpoint-url", proxy.endpoint_url)
        wait_for(lambda: bool(temp_files(dst)), worker)
        time.sleep(0.5)
        took, stderr = interrupt(worker, signal.SIGINT)
        figures.add("interrupts (a read stuck)", runs=1)
        figures.maximum("interrupts (a read stuck)", "slowest_stop_s", round(took, 2))
        assert worker.returncode == 130, stderr
        assert took < STOP_WITHIN + 2, f"stopped {took:.1f} s after the signal"
        assert read_tree(dst) == {"small": b"s"}
        proxy.set_faults(Faults())
        done = cli(moto_s3.env, *args, "--endpoint-url", proxy.endpoint_url)
    assert done.returncode == 0, done.stderr
    assert read_tree(dst) == files and not temp_files(dst)


def test_an_interrupt_while_checking_drops_the_queued_checks(
    moto_s3: S3Env, tmp_path: Path, figures: Figures
) -> None:
    """Same-size local copies of objects whose CRC64NVME only a HEAD tells: each check
    waits 1 s for its HEAD; the checks queued behind the running two are dropped."""
    dst = tmp_path / "dst"
    old = {f"f{i:02d}": b"old %02d" % i for i in range(40)}
    write_tree(dst, old)
    for rel in old:
        moto_s3.put(f"p/{rel}", b"new %s" % rel[1:].encode(), ChecksumAlgorithm="CRC64NVME")
    with FaultProxy(moto_s3.endpoint_url, Faults(latency=1.0)) as proxy:
        args = ("sync", moto_s3.url("p"), str(dst), "--jobs", "2", "--no-progress")
        worker = start(moto_s3.env, *args, "--endpoint-url", proxy.endpoint_url)
        wait_for(lambda: sum(m == "HEAD" for m, _, _ in proxy.log) >= 2, worker)
        took, stderr = interrupt(worker, signal.SIGINT)
    figures.add("interrupts (checks)", runs=1)
    figures.maximum("interrupts (checks)", "slowest_stop_s", round(took, 2))
    assert worker.returncode == 130, stderr
    assert took < STOP_WITHIN, f"stopped {took:.1f} s after the signal"
    assert stderr.strip() == "bucketsync: error: interrupted"
    assert read_tree(dst) == old and not temp_files(dst)


@pytest.fixture
def interrupter() -> Iterator[Callable[[Callable[[], bool]], list[float]]]:
    """Interrupts the main thread (as a notebook kernel does) once a condition holds;
    the list it returns gets the moment it did."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def arm(condition: Callable[[], bool]) -> list[float]:
        sent: list[float] = []

        def watch() -> None:
            while not stop.wait(0.05):
                if condition():
                    sent.append(time.monotonic())
                    _thread.interrupt_main()
                    return

        threads.append(threading.Thread(target=watch, daemon=True))
        threads[-1].start()
        return sent

    yield arm
    stop.set()
    for thread in threads:
        thread.join()


def test_the_api_raises_keyboard_interrupt_after_recording(
    moto_s3: S3Env,
    tmp_path: Path,
    interrupter: Callable[[Callable[[], bool]], list[float]],
    figures: Figures,
) -> None:
    files, faults, jobs = small_case()
    for rel, data in files.items():
        moto_s3.put(f"p/{rel}", data)
    dst = tmp_path / "dst"
    with FaultProxy(moto_s3.endpoint_url, faults) as proxy:
        sent = interrupter(lambda: len(read_tree(dst)) >= SMALL_LANDED)
        with pytest.raises(KeyboardInterrupt):
            bucketsync.sync(
                moto_s3.url("p"), dst, endpoint_url=proxy.endpoint_url, jobs=jobs, progress=False
            )
        took = time.monotonic() - sent[0]
        figures.add("interrupts (API)", runs=1)
        figures.maximum("interrupts (API)", "slowest_stop_s", round(took, 2))
        assert took < STOP_WITHIN, f"stopped {took:.1f} s after the interrupt"
        landed = read_tree(dst)
        assert 0 < len(landed) < len(files) and not temp_files(dst)
        proxy.set_faults(Faults())
        report = bucketsync.sync(moto_s3.url("p"), dst, endpoint_url=proxy.endpoint_url)
    assert report.downloaded == len(files) - len(landed)
    assert report.bytes_hashed == 0
    assert read_tree(dst) == files


def test_an_interrupted_bisync_records_what_finished(
    moto_s3: S3Env,
    tmp_path: Path,
    interrupter: Callable[[Callable[[], bool]], list[float]],
) -> None:
    """As a one-way sync: the downloads that landed are in the state database, so the
    next bisync moves only the rest and hashes nothing."""
    files, faults, jobs = small_case()
    for rel, data in files.items():
        moto_s3.put(f"p/{rel}", data)
    dst = tmp_path / "dst"
    with FaultProxy(moto_s3.endpoint_url, faults) as proxy:
        sent = interrupter(lambda: len(read_tree(dst)) >= SMALL_LANDED)
        with pytest.raises(KeyboardInterrupt):
            bucketsync.bisync(
                dst, moto_s3.url("p"), endpoint_url=proxy.endpoint_url, jobs=jobs, progress=False
            )
        assert time.monotonic() - sent[0] < STOP_WITHIN
        landed = read_tree(dst)
        assert 0 < len(landed) < len(files) and not temp_files(dst)
        proxy.set_faults(Faults())
        report = bucketsync.bisync(dst, moto_s3.url("p"), endpoint_url=proxy.endpoint_url)
    assert report.downloaded == len(files) - len(landed)
    assert report.bytes_hashed == 0
    assert read_tree(dst) == files


def test_an_interrupt_while_bisync_compares_drops_the_queued_checks(
    moto_s3: S3Env,
    tmp_path: Path,
    interrupter: Callable[[Callable[[], bool]], list[float]],
) -> None:
    """Same-size files on both sides, no ancestor: each compare waits 1 s for its HEAD;
    the compares queued behind the running two are dropped, nothing is changed."""
    root = tmp_path / "d"
    old = {f"f{i:02d}": b"old %02d" % i for i in range(40)}
    write_tree(root, old)
    for rel in old:
        moto_s3.put(f"p/{rel}", b"new %s" % rel[1:].encode(), ChecksumAlgorithm="CRC64NVME")
    with FaultProxy(moto_s3.endpoint_url, Faults(latency=1.0)) as proxy:
        sent = interrupter(lambda: sum(m == "HEAD" for m, _, _ in proxy.log) >= 2)
        with pytest.raises(KeyboardInterrupt):
            bucketsync.bisync(
                root, moto_s3.url("p"), endpoint_url=proxy.endpoint_url, jobs=2, progress=False
            )
        took = time.monotonic() - sent[0]
    assert took < STOP_WITHIN, f"stopped {took:.1f} s after the interrupt"
    assert read_tree(root) == old and not temp_files(root)


def test_an_interrupted_check_download_stops_mid_stream(moto_s3: S3Env, tmp_path: Path) -> None:
    """`check --download` streams an object with no usable checksum (SSE-KMS, put without
    one) at 1 MB/s: Ctrl-C stops the stream, not the end of its 20 s."""
    data = bytes(range(256)) * (20 * MIB // 256)
    root = tmp_path / "d"
    write_tree(root, {"big.bin": data})
    server = moto_s3.server
    boto3.client(
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
    ).put_object(Bucket=moto_s3.bucket, Key="p/big.bin", Body=data, ServerSideEncryption="aws:kms")
    with FaultProxy(moto_s3.endpoint_url, Faults(rate=1_000_000)) as proxy:
        args = ("check", str(root), moto_s3.url("p"), "--download")
        worker = start(moto_s3.env, *args, "--endpoint-url", proxy.endpoint_url)
        wait_for(lambda: any(m == "GET" and "big.bin" in t for m, t, _ in proxy.log), worker)
        time.sleep(1)
        took, stderr = interrupt(worker, signal.SIGINT)
    assert worker.returncode == 130, stderr
    assert took < STOP_WITHIN, f"stopped {took:.1f} s after the signal"
    assert read_tree(root) == {"big.bin": data} and not temp_files(root)
