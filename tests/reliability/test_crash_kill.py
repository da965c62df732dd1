"""SIGKILL during pulls and pushes, at seeded random moments.

Each trial changes the source (same-size rewrites, resizes, a deletion, new files, two
files big enough for the multipart and ranged paths), starts `bucketsync sync --delete`
in a subprocess and kills it after a random delay. Then: every final path holds the old
or the new content, never a mix or a part; nothing that should exist has vanished; the
state database passes `PRAGMA integrity_check`; a re-run succeeds, removes the temporary
files the killed run left, and leaves both sides identical.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import bucketsync
from reliability_figures import Figures
from reliakit import (
    MIB,
    bucket_tree,
    integrity,
    read_tree,
    state_db,
    temp_files,
    write_tree,
)
from s3env import S3Env

TRIALS = 13  # per direction and server: 52 in all
SEED = 5_2026
SIZES = (0, 1, 700, 4096, 65_536, 300_000)
WORKER = str(Path(__file__).with_name("crash_worker.py"))
Files = dict[str, bytes]


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let moto (in this process) accept the worker's 1 MiB multipart parts."""
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", MIB)


class Workers:
    """Worker processes started one ahead, so Python's start-up is off the clock."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self._cmd = [sys.executable, WORKER, *args]
        self._env = env
        self._spare = self._spawn()

    def _spawn(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self._cmd,
            env=self._env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def take(self) -> subprocess.Popen[str]:
        worker, self._spare = self._spare, self._spawn()
        assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
        return worker

    def close(self) -> None:
        self._spare.kill()
        self._spare.wait()


def run(worker: subprocess.Popen[str], delay: float | None) -> tuple[bool, float]:
    """Start the sync; SIGKILL it after `delay` s. Returns (killed, seconds it ran)."""
    assert worker.stdin is not None
    worker.stdin.write("go\n")
    worker.stdin.flush()
    started = time.monotonic()
    try:
        code = worker.wait(delay)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
        return True, time.monotonic() - started
    assert code in (0, 1), f"the sync failed on its own (exit {code})"
    return False, time.monotonic() - started


def initial(rng: random.Random) -> Files:
    files = {f"d{i % 3}/f{i:02d}.bin": rng.randbytes(rng.choice(SIZES)) for i in range(18)}
    files["big/a.bin"] = rng.randbytes(3 * MIB + 17)
    files["big/b.bin"] = rng.randbytes(2 * MIB + 5)
    return files


def mutate(rng: random.Random, files: Files) -> Files:
    new = dict(files)
    for rel, data in files.items():
        draw = rng.random()
        if draw < 0.35:
            new[rel] = rng.randbytes(len(data))  # same size: only content tells
        elif draw < 0.5 and not rel.startswith("big/"):
            new[rel] = rng.randbytes(rng.choice(SIZES))
    del new[rng.choice(sorted(r for r in new if not r.startswith("big/")))]
    for _ in range(2):
        new[f"d{rng.randrange(3)}/n{rng.randrange(10**6)}.bin"] = rng.randbytes(rng.choice(SIZES))
    return new


def set_remote(s3: S3Env, prefix: str, old: Files, new: Files) -> None:
    for rel, data in new.items():
        if old.get(rel) != data:
            s3.put(prefix + rel, data)
    for rel in old.keys() - new.keys():
        s3.client.delete_object(Bucket=s3.bucket, Key=prefix + rel)


def set_local(root: Path, old: Files, new: Files) -> None:
    write_tree(root, {rel: data for rel, data in new.items() if old.get(rel) != data})
    for rel in old.keys() - new.keys():
        (root / rel).unlink()


def judge(seen: Files, old: Files, new: Files) -> tuple[int, int]:
    """(corrupt, lost): paths holding neither version; paths wanted before and after, gone."""
    corrupt = sum(1 for rel, data in seen.items() if data not in (old.get(rel), new.get(rel)))
    lost = sum(1 for rel in old.keys() & new.keys() if rel not in seen)
    return corrupt, lost


@pytest.mark.slow
@pytest.mark.parametrize("server", ["moto_s3", "rclone_s3"])
@pytest.mark.parametrize("direction", ["pull", "push"])
def test_sigkill_never_corrupts(
    request: pytest.FixtureRequest,
    server: str,
    direction: str,
    tmp_path: Path,
    small_parts: None,
    figures: Figures,
) -> None:
    s3: S3Env = request.getfixturevalue(server)
    local, prefix = tmp_path / "local", "data/"
    rng = random.Random(f"{SEED}-{server}-{direction}")
    files = initial(rng)
    args = [s3.url(prefix), str(local)] if direction == "pull" else [str(local), s3.url(prefix)]
    if direction == "pull":
        set_remote(s3, prefix, {}, files)
    else:
        write_tree(local, files)
    assert bucketsync.sync(*args, delete=True, progress=False).ok
    workers = Workers(["sync", *args, "--delete", "--quiet", "--no-progress"], s3.env)
    section = f"crash: SIGKILL during {direction} ({server.removesuffix('_s3')})"
    try:
        budget = _calibrate(s3, prefix, local, direction, workers, rng, files)
        for trial in range(TRIALS):
            files = _trial(
                s3, prefix, local, direction, workers, rng, files, budget, figures, section
            )
            assert files, f"trial {trial}"
    finally:
        workers.close()
    figures.note(section, seed=f"{SEED}-{server}-{direction}", kill_window_s=round(budget, 2))


def _calibrate(
    s3: S3Env,
    prefix: str,
    local: Path,
    direction: str,
    workers: Workers,
    rng: random.Random,
    files: Files,
) -> float:
    """Time one uninterrupted sync of a typical change; kills fall within that span."""
    new = mutate(rng, files)
    _change(s3, prefix, local, direction, files, new)
    killed, seconds = run(workers.take(), None)
    assert not killed
    _change(s3, prefix, local, direction, new, files)  # back, so the trials start from files
    args = [s3.url(prefix), str(local)] if direction == "pull" else [str(local), s3.url(prefix)]
    assert bucketsync.sync(*args, delete=True, progress=False).ok
    return max(seconds, 0.3)


def _change(s3: S3Env, prefix: str, local: Path, direction: str, old: Files, new: Files) -> None:
    if direction == "pull":
        set_remote(s3, prefix, old, new)
    else:
        set_local(local, old, new)


def _trial(
    s3: S3Env,
    prefix: str,
    local: Path,
    direction: str,
    workers: Workers,
    rng: random.Random,
    old: Files,
    budget: float,
    figures: Figures,
    section: str,
) -> Files:
    new = mutate(rng, old)
    _change(s3, prefix, local, direction, old, new)
    killed, seconds = run(workers.take(), rng.uniform(0.0, budget))
    seen = read_tree(local) if direction == "pull" else bucket_tree(s3, prefix)
    corrupt, lost = judge(seen, old, new)
    orphans = len(temp_files(local))
    sound = integrity(state_db(s3.env)) == "ok"
    uploads = _abort_uploads(s3) if direction == "push" else 0
    args = [s3.url(prefix), str(local)] if direction == "pull" else [str(local), s3.url(prefix)]
    report = bucketsync.sync(*args, delete=True, progress=False)
    after = read_tree(local) if direction == "pull" else bucket_tree(s3, prefix)
    converged = report.ok and after == new and (direction == "push" or read_tree(local) == new)
    left = len(temp_files(local))
    figures.add(
        section,
        trials=1,
        killed_mid_sync=int(killed),
        finished_before_the_kill=int(not killed),
        final_paths_checked_after_kill=len(seen),
        corrupt_files=corrupt,
        lost_files=lost,
        temporary_files_left_by_kills=orphans,
        temporary_files_left_after_rerun=left,
        state_db_integrity_failures=int(not sound),
        reruns_converged=int(converged),
        files_verified_after_rerun=len(after),
        incomplete_multipart_uploads_left=uploads,
    )
    assert (corrupt, lost) == (0, 0), f"corrupt {corrupt}, lost {lost} (kill after {seconds:.2f}s)"
    assert sound, "the state database failed PRAGMA integrity_check"
    assert converged, report.errors
    assert left == 0, temp_files(local)
    return new


def _abort_uploads(s3: S3Env) -> int:
    """Multipart uploads a kill left open (S3 keeps them until aborted or expired)."""
    try:
        uploads = s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", [])
    except ClientError:  # rclone serve s3 answers NoSuchUpload when there are none
        return 0
    for up in uploads:
        s3.client.abort_multipart_upload(Bucket=s3.bucket, Key=up["Key"], UploadId=up["UploadId"])
    return len(uploads)
