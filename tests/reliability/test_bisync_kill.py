"""SIGKILL during a two-way sync, at seeded random moments, then a rerun converges.

Each trial edits, creates and deletes files on both sides (on different paths, so no
conflict is involved), starts `bucketsync bisync` in a subprocess and kills it after
a random delay. Then every path on either side holds the old or the new content,
never a mix; the state database passes `PRAGMA integrity_check`; and a rerun exits 0,
leaves no temporary file, and both sides hold exactly the merged changes: nothing lost.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

import bucketsync
from reliability_figures import Figures
from reliakit import MIB, bucket_tree, integrity, read_tree, state_db, temp_files, write_tree
from s3env import S3Env

TRIALS = 5
SEED = 15_2026
WORKER = str(Path(__file__).with_name("crash_worker.py"))
Files = dict[str, bytes]
SECTION = "crash: SIGKILL during bisync (moto)"


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", MIB)


def _changes(rng: random.Random, files: Files) -> tuple[Files, Files, Files]:
    """(local side, remote side, merged): each path changed on one side at most."""
    local, remote = dict(files), dict(files)
    for rel in sorted(files):
        draw = rng.random()
        side = local if rng.random() < 0.5 else remote
        if draw < 0.3:
            side[rel] = rng.randbytes(len(files[rel]))
        elif draw < 0.4 and not rel.startswith("big/"):
            del side[rel]
    for n in range(2):
        local[f"l{rng.randrange(10**6)}-{n}.bin"] = rng.randbytes(rng.choice((0, 10, 70_000)))
        remote[f"r{rng.randrange(10**6)}-{n}.bin"] = rng.randbytes(rng.choice((0, 10, 70_000)))
    merged = dict(files)
    for rel in files:
        for side in (local, remote):
            if side.get(rel) != files[rel]:
                if rel in side:
                    merged[rel] = side[rel]
                else:
                    merged.pop(rel, None)
    merged.update({k: v for k, v in local.items() if k not in files})
    merged.update({k: v for k, v in remote.items() if k not in files})
    return local, remote, merged


def _set(s3: S3Env, prefix: str, root: Path, old: Files, local: Files, remote: Files) -> None:
    write_tree(root, {rel: data for rel, data in local.items() if old.get(rel) != data})
    for rel in old.keys() - local.keys():
        (root / rel).unlink()
    for rel, data in remote.items():
        if old.get(rel) != data:
            s3.put(prefix + rel, data)
    for rel in old.keys() - remote.keys():
        s3.client.delete_object(Bucket=s3.bucket, Key=prefix + rel)


@pytest.mark.slow
def test_sigkill_during_bisync_then_rerun_converges(
    moto_s3: S3Env, tmp_path: Path, small_parts: None, figures: Figures
) -> None:
    s3, root, prefix = moto_s3, tmp_path / "local", "data/"
    rng = random.Random(SEED)
    files = {
        f"d{i % 3}/f{i:02d}.bin": rng.randbytes(rng.choice((1, 700, 65_536))) for i in range(12)
    }
    files["big/a.bin"] = rng.randbytes(3 * MIB + 17)
    write_tree(root, files)
    assert bucketsync.bisync(root, s3.url(prefix), progress=False).ok
    args = [sys.executable, WORKER, "bisync", str(root), s3.url(prefix), "--quiet", "--no-progress"]
    killed = 0
    for trial in range(TRIALS):
        local, remote, merged = _changes(rng, files)
        _set(s3, prefix, root, files, local, remote)
        worker = subprocess.Popen(
            args, env=s3.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
        try:
            worker.wait(rng.uniform(0.05, 1.0))
        except subprocess.TimeoutExpired:
            worker.kill()
            killed += 1
        worker.wait()
        seen = [read_tree(root), bucket_tree(s3, prefix)]
        mixed = [
            rel
            for tree in seen
            for rel, data in tree.items()
            if data not in (files.get(rel), local.get(rel), remote.get(rel))
        ]
        sound = integrity(state_db(s3.env)) == "ok"
        orphans = len(temp_files(root))
        report = bucketsync.bisync(root, s3.url(prefix), progress=False)
        after = read_tree(root)
        converged = report.ok and after == merged == bucket_tree(s3, prefix)
        lost = sum(1 for rel in merged if rel not in after)
        figures.add(
            SECTION,
            trials=1,
            killed_mid_bisync=int(worker.returncode < 0),
            paths_checked_after_kill=sum(map(len, seen)),
            corrupt_files=len(mixed),
            lost_files=lost,
            conflicts_on_rerun=report.conflicts,
            temporary_files_left_by_kills=orphans,
            temporary_files_left_after_rerun=len(temp_files(root)),
            state_db_integrity_failures=int(not sound),
            reruns_converged=int(converged),
        )
        assert not mixed, f"trial {trial}: {mixed} hold a mix"
        assert sound, "the state database failed PRAGMA integrity_check"
        assert report.ok and not report.conflicts, (trial, report.to_dict())
        assert not temp_files(root)
        assert converged, f"trial {trial}"
        files = merged
        time.sleep(0.03)
    figures.note(SECTION, seed=SEED, server="moto")
    assert killed, "at least one run was cut short"
