"""Resuming large transfers after SIGKILL (issue 18).

A `bucketsync sync` in a worker process (crash_worker.py: multipart and ranged above
2 MiB, 1 MiB parts; 5 MiB on LocalStack, which refuses smaller ones) moves a 48 MiB
file through the counting proxy, slowed so that the kill, at a seeded number of part
uploads or range GETs, lands mid-transfer. The next
run of the same worker must send at most what was missing plus one part or range
(counted as body bytes through the proxy), land byte-identical content with the same
checksum as a fresh upload, and leave no temporary file, open upload or in-flight row.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import bucketsync
from bucketsync.hashing import crc64_text, crc64nvme
from faultproxy import FaultProxy, Faults
from reliability_figures import Figures
from reliakit import MIB, read_tree, state_db, temp_files, write_tree
from s3env import S3Env

WORKER = str(Path(__file__).with_name("crash_worker.py"))
SIZE = 48 * MIB + 12_345
PART_MIB = {"localstack": 5}  # the worker's part size where 1 MiB is refused; ranges are
# 1 to 4 parts
SEED = 18_2026
TRIALS = 3  # kills per direction and server
SLOW = Faults(rate=6_000_000)  # bytes a second per connection: about 2 s for the file
SLACK = 256 * 1024  # request and response bodies besides the data (XML of listings, parts)
SERVERS = ["moto_s3", "rclone_s3", "localstack"]


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let moto (in this process) accept the worker's 1 MiB multipart parts."""
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", MIB)


def data_of(seed: str) -> bytes:
    return random.Random(seed).randbytes(SIZE)


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    worker = subprocess.Popen(
        [sys.executable, WORKER, *args, "--no-progress"],
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


def kill_when(
    env: dict[str, str],
    args: list[str],
    condition: Callable[[], bool],
    signum: int = signal.SIGKILL,
) -> None:
    """Run the sync; send it `signum` once `condition` holds (it must not finish first)."""
    worker = start(env, *args)
    deadline = time.monotonic() + 60
    while not condition():
        assert worker.poll() is None, f"the sync ended before the kill: {worker.stderr}"
        assert time.monotonic() < deadline, "the sync never got under way"
        time.sleep(0.005)
    worker.send_signal(signum)
    worker.communicate(timeout=60)
    assert worker.returncode == (-9 if signum == signal.SIGKILL else 130)


def settled(proxy: FaultProxy) -> FaultProxy:
    """The proxy once the server has answered the requests the killed run left in flight
    (their bytes must not count as the next run's, and the parts they carry must be in)."""
    deadline = time.monotonic() + 60
    while proxy.stats["answered"] < proxy.stats["requests"] and time.monotonic() < deadline:
        time.sleep(0.05)
    return proxy


def rerun(env: dict[str, str], args: list[str]) -> dict[str, Any]:
    """The same sync again, to the end: its JSON report."""
    worker = start(env, *args, "--json")
    out, err = worker.communicate(timeout=300)
    assert worker.returncode == 0, err
    report: dict[str, Any] = json.loads(out)
    return report


def counter(proxy: FaultProxy, method: str, marker: str) -> Callable[[], int]:
    """Counts the requests of `method` whose target has `marker`, from now on."""
    seen = len(proxy.log)
    return lambda: sum(1 for m, target, _ in proxy.log[seen:] if m == method and marker in target)


def rows(env: dict[str, str], query: str) -> list[tuple[Any, ...]]:
    """Rows of the worker's state database (the record of transfers in flight)."""
    with sqlite3.connect(state_db(env)) as db:
        return db.execute(query).fetchall()


def ranges_written(env: dict[str, str]) -> int:
    """How many ranges the running download has recorded as written."""
    try:
        return len(rows(env, "SELECT offset FROM download_ranges"))
    except sqlite3.Error:  # no database, or no table yet
        return 0


def action(report: dict[str, Any], rel: str) -> dict[str, Any]:
    (found,) = [a for a in report["actions"] if a["path"] == rel]
    return found


def open_uploads(s3: S3Env) -> list[Any] | None:
    """Multipart uploads open in the bucket; None where the server cannot list them."""
    try:
        return list(s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []))
    except Exception:  # rclone serve s3 has no ListMultipartUploads
        return None


def checksums(s3: S3Env, key: str) -> dict[str, Any]:
    head = s3.head(key, ChecksumMode="ENABLED")
    fields = ("ETag", "ContentLength", "ChecksumCRC64NVME", "ChecksumType", "Metadata")
    return {name: head.get(name) for name in fields}


def worker_env(s3: S3Env, server: str) -> tuple[dict[str, str], int]:
    """The worker's environment on this server, and its part size."""
    mib = PART_MIB.get(server, 1)
    return {**s3.env, "PART_MIB": str(mib)}, mib * MIB


def killed_push(
    s3: S3Env,
    proxy: FaultProxy,
    src: Path,
    after_parts: int,
    env: dict[str, str] | None = None,
    signum: int = signal.SIGKILL,
) -> list[str]:
    args = ["sync", str(src), s3.url("p"), "--endpoint-url", proxy.endpoint_url, "--jobs", "4"]
    proxy.set_faults(SLOW)
    parts = counter(proxy, "PUT", "partNumber=")
    kill_when(env or s3.env, args, lambda: parts() >= after_parts, signum)
    settled(proxy).set_faults(Faults())
    return args


def killed_pull(
    s3: S3Env,
    proxy: FaultProxy,
    dst: Path,
    after_ranges: int,
    env: dict[str, str] | None = None,
    signum: int = signal.SIGKILL,
) -> list[str]:
    args = ["sync", s3.url("p"), str(dst), "--endpoint-url", proxy.endpoint_url, "--jobs", "4"]
    proxy.set_faults(SLOW)
    kill_when(env or s3.env, args, lambda: ranges_written(env or s3.env) >= after_ranges, signum)
    settled(proxy).set_faults(Faults())
    return args


@pytest.mark.slow
@pytest.mark.parametrize("server", SERVERS)
def test_a_killed_push_resumes_with_the_missing_parts(
    request: pytest.FixtureRequest, server: str, tmp_path: Path, small_parts: None, figures: Figures
) -> None:
    s3: S3Env = request.getfixturevalue(server)
    env, part = worker_env(s3, server)
    parts = -(-SIZE // part)
    rng = random.Random(f"{SEED}-push-{server}")
    section = f"resume: SIGKILL during a push ({server.removesuffix('_s3')})"
    with FaultProxy(s3.endpoint_url, Faults()) as proxy:
        for trial in range(TRIALS):
            data = data_of(f"{SEED}-{server}-{trial}")
            src = tmp_path / f"src{trial}"
            write_tree(src, {"big.bin": data})
            args = killed_push(s3, proxy, src, rng.randint(2, parts * 3 // 4), env)
            ((upload_id, key),) = rows(s3.env, "SELECT upload_id, key FROM uploads")
            held = s3.client.list_parts(Bucket=s3.bucket, Key=key, UploadId=upload_id)
            missing = parts - len(held.get("Parts", []))
            before = proxy.stats["bytes_up"]
            report = rerun(env, args)
            sent = proxy.stats["bytes_up"] - before
            assert sent <= (missing + 1) * part + SLACK, (sent, missing)
            assert report["summary"]["bytes_transferred"] <= (missing + 1) * part
            assert action(report, "big.bin")["resumed"] is (missing < parts)
            assert s3.get("p/big.bin") == data
            assert not rows(s3.env, "SELECT * FROM uploads") + rows(
                s3.env, "SELECT * FROM upload_parts"
            )
            assert not open_uploads(s3)
            numbers = {p["PartNumber"] for p in held.get("Parts", [])}
            lacking = sum(min(part, SIZE - (n - 1) * part) for n in range(1, parts + 1))
            lacking -= sum(min(part, SIZE - (n - 1) * part) for n in numbers)
            figures.add(section, trials=1, file_bytes=SIZE, bytes_sent=sent, bytes_lacking=lacking)
            figures.maximum(section, "max_sent_share", round(sent / SIZE, 3))
            figures.maximum(section, "max_excess_share", round((sent - lacking) / SIZE, 3))
        resumed = checksums(s3, "p/big.bin")
        fresh = fresh_push(env, s3, proxy, tmp_path / f"src{TRIALS - 1}")
    assert resumed == fresh  # same ETag, checksums and metadata as an upload never cut
    metadata = {name.lower(): value for name, value in resumed["Metadata"].items()}
    assert metadata["crc64nvme"] == crc64_text(crc64nvme(data))


def fresh_push(env: dict[str, str], s3: S3Env, proxy: FaultProxy, src: Path) -> dict[str, Any]:
    """The checksums of the same file pushed in one go, to another prefix."""
    args = ["sync", str(src), s3.url("fresh"), "--endpoint-url", proxy.endpoint_url]
    assert not action(rerun(env, args), "big.bin")["resumed"]
    return checksums(s3, "fresh/big.bin")


@pytest.mark.slow
@pytest.mark.parametrize("server", SERVERS)
def test_a_killed_pull_resumes_with_the_missing_ranges(
    request: pytest.FixtureRequest, server: str, tmp_path: Path, figures: Figures
) -> None:
    s3: S3Env = request.getfixturevalue(server)
    env, _ = worker_env(s3, server)
    rng = random.Random(f"{SEED}-pull-{server}")
    section = f"resume: SIGKILL during a pull ({server.removesuffix('_s3')})"
    with FaultProxy(s3.endpoint_url, Faults()) as proxy:
        for trial in range(TRIALS):
            data = data_of(f"{SEED}-{server}-{trial}")
            s3.put("p/big.bin", data)
            dst = tmp_path / f"dst{trial}"
            args = killed_pull(s3, proxy, dst, rng.randint(1, 6), env)
            assert len(temp_files(dst)) == 1 and not read_tree(dst)
            ((step,),) = rows(s3.env, "SELECT step FROM downloads")
            kept = sum(n for (n,) in rows(s3.env, "SELECT length FROM download_ranges"))
            before = proxy.stats["bytes_down"]
            report = rerun(env, args)
            sent = proxy.stats["bytes_down"] - before
            assert sent <= SIZE - kept + step + SLACK, (sent, kept, step)
            assert report["summary"]["bytes_transferred"] == SIZE - kept
            assert action(report, "big.bin")["resumed"] is (kept > 0)
            assert read_tree(dst) == {"big.bin": data} and not temp_files(dst)
            assert not rows(s3.env, "SELECT * FROM downloads") + rows(
                s3.env, "SELECT * FROM download_ranges"
            )
            lacking = SIZE - kept
            figures.add(section, trials=1, file_bytes=SIZE, bytes_sent=sent, bytes_lacking=lacking)
            figures.maximum(section, "max_sent_share", round(sent / SIZE, 3))
            figures.maximum(section, "max_excess_share", round((sent - lacking) / SIZE, 3))


def test_ctrl_c_is_resumed_too(moto_s3: S3Env, tmp_path: Path, small_parts: None) -> None:
    """SIGINT stops the sync within its grace period; what it had sent is kept."""
    data = data_of("ctrl-c")
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, {"big.bin": data})
    with FaultProxy(moto_s3.endpoint_url, Faults()) as proxy:
        push = killed_push(moto_s3, proxy, src, 8, signum=signal.SIGINT)
        report = rerun(moto_s3.env, push)
        assert action(report, "big.bin")["resumed"]
        assert report["summary"]["bytes_transferred"] < SIZE
        pull = killed_pull(moto_s3, proxy, dst, 4, signum=signal.SIGINT)
        assert len(temp_files(dst)) == 1
        report = rerun(moto_s3.env, pull)
    assert action(report, "big.bin")["resumed"]
    assert report["summary"]["bytes_transferred"] < SIZE
    assert moto_s3.get("p/big.bin") == data and read_tree(dst) == {"big.bin": data}
    assert not temp_files(dst) and not open_uploads(moto_s3)


def test_a_pull_cut_off_by_the_network_is_resumed(
    moto_s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every GET refused once three ranges are in: the sync fails that file and keeps
    its partial download; the next one (the link back) resumes it. In-process API."""
    monkeypatch.setattr("bucketsync.transfer.MULTIPART_THRESHOLD", 2 * MIB)
    monkeypatch.setattr("bucketsync.transfer.PART_SIZE", MIB)
    data = data_of("network")
    moto_s3.put("p/big.bin", data)
    dst = tmp_path / "dst"
    options: dict[str, Any] = {"progress": False, "max_attempts": 1, "jobs": 2}
    with FaultProxy(moto_s3.endpoint_url, SLOW) as proxy:

        def cut() -> None:
            deadline = time.monotonic() + 60
            while ranges_written(moto_s3.env) < 3 and time.monotonic() < deadline:
                time.sleep(0.005)
            proxy.set_faults(Faults(reset=1.0, only_methods=frozenset({"GET"})))

        cutter = threading.Thread(target=cut)
        cutter.start()
        url = moto_s3.url("p")
        first = bucketsync.sync(url, dst, endpoint_url=proxy.endpoint_url, **options)
        cutter.join()
        assert not first.ok and len(temp_files(dst)) == 1
        proxy.set_faults(Faults())
        second = bucketsync.sync(url, dst, endpoint_url=proxy.endpoint_url, **options)
    assert second.ok and second.resumed == {"big.bin"}
    assert second.bytes_transferred <= SIZE - 3 * MIB
    assert read_tree(dst) == {"big.bin": data} and not temp_files(dst)


def test_a_changed_file_starts_its_upload_over(
    moto_s3: S3Env, tmp_path: Path, small_parts: None
) -> None:
    src = tmp_path / "src"
    write_tree(src, {"big.bin": data_of("old")})
    with FaultProxy(moto_s3.endpoint_url, Faults()) as proxy:
        args = killed_push(moto_s3, proxy, src, 10)
        assert open_uploads(moto_s3)
        new = data_of("new")  # the same size
        write_tree(src, {"big.bin": new})
        report = rerun(moto_s3.env, args)
    assert not action(report, "big.bin")["resumed"]
    assert report["summary"]["bytes_transferred"] == SIZE
    assert moto_s3.get("p/big.bin") == new
    assert not open_uploads(moto_s3)  # the old upload was aborted


def test_an_upload_the_server_forgot_starts_over(
    moto_s3: S3Env, tmp_path: Path, small_parts: None
) -> None:
    data = data_of("forgot")
    src = tmp_path / "src"
    write_tree(src, {"big.bin": data})
    with FaultProxy(moto_s3.endpoint_url, Faults()) as proxy:
        args = killed_push(moto_s3, proxy, src, 10)
        ((upload_id, key),) = rows(moto_s3.env, "SELECT upload_id, key FROM uploads")
        moto_s3.client.abort_multipart_upload(Bucket=moto_s3.bucket, Key=key, UploadId=upload_id)
        report = rerun(moto_s3.env, args)
    assert not action(report, "big.bin")["resumed"]
    assert report["summary"]["bytes_transferred"] == SIZE
    assert moto_s3.get("p/big.bin") == data and not open_uploads(moto_s3)


def test_a_changed_object_starts_its_download_over(moto_s3: S3Env, tmp_path: Path) -> None:
    moto_s3.put("p/big.bin", data_of("old"))
    dst = tmp_path / "dst"
    with FaultProxy(moto_s3.endpoint_url, Faults()) as proxy:
        args = killed_pull(moto_s3, proxy, dst, 5)
        assert rows(moto_s3.env, "SELECT * FROM download_ranges")
        new = data_of("new")
        moto_s3.put("p/big.bin", new)
        report = rerun(moto_s3.env, args)
    assert not action(report, "big.bin")["resumed"]
    assert report["summary"]["bytes_transferred"] == SIZE
    assert read_tree(dst) == {"big.bin": new} and not temp_files(dst)
    assert not rows(moto_s3.env, "SELECT * FROM downloads")


def test_abandoned_transfers_are_ended_by_the_next_sync(
    moto_s3: S3Env, tmp_path: Path, small_parts: None
) -> None:
    """An upload whose file is gone is aborted (ours only: another client's upload under
    the same prefix stays open); a partial download whose object is gone is removed."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, {"big.bin": data_of("gone")})
    moto_s3.put("q/big.bin", data_of("gone too"))
    other = moto_s3.client.create_multipart_upload(Bucket=moto_s3.bucket, Key="p/theirs.bin")
    with FaultProxy(moto_s3.endpoint_url, Faults()) as proxy:
        push = killed_push(moto_s3, proxy, src, 10)
        pull = ["sync", moto_s3.url("q"), str(dst), "--endpoint-url", proxy.endpoint_url]
        proxy.set_faults(SLOW)
        kill_when(moto_s3.env, pull, lambda: ranges_written(moto_s3.env) >= 2)
        proxy.set_faults(Faults())
        assert len(temp_files(dst)) == 1
        (src / "big.bin").unlink()
        write_tree(src, {"small.txt": b"small"})
        moto_s3.client.delete_object(Bucket=moto_s3.bucket, Key="q/big.bin")
        rerun(moto_s3.env, push)
        rerun(moto_s3.env, pull)
    uploads = open_uploads(moto_s3)
    assert [(u["Key"], u["UploadId"]) for u in uploads or []] == [
        ("p/theirs.bin", other["UploadId"])
    ]
    assert not temp_files(dst)
    assert not rows(moto_s3.env, "SELECT rel FROM uploads UNION ALL SELECT rel FROM downloads")
