"""Load: a 200,000-key sync completes with flat memory and no file-descriptor or thread
leak. The S3 side is an in-memory fake (see load_worker.py for why); the rest is real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reliability_figures import Figures
from reliakit import tmpfs

KEYS = 200_000
WORKER = str(Path(__file__).with_name("load_worker.py"))
MB = 1024 * 1024


@pytest.mark.slow
def test_200k_keys_flat_memory_no_leaks(tmp_path: Path, figures: Figures) -> None:
    root = tmp_path / "files"
    with tmpfs(root, "2g"):  # 200,000 files: minutes to create on a busy disk, 2 s here
        done = subprocess.run(
            [sys.executable, WORKER, str(root), str(KEYS)],
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    growth = out["resync_rss_late"] - out["resync_rss_early"]
    section = "load: 200,000 keys (fake S3 side)"
    figures.add(
        section,
        runs=1,
        keys=out["keys"],
        files_uploaded=out["uploaded"],
        files_pulled=out["pulled"],
    )
    figures.note(
        section,
        push_seconds=round(out["push_seconds"], 1),
        unchanged_resync_seconds=round(out["resync_seconds"], 1),
        resync_memory_growth_MiB=round(growth / MB, 1),
        first_push_memory_per_key_bytes=out["push_rss_growth"] // out["keys"],
        open_files_before_after=str(out["fds"]),
        threads_before_after=str(out["threads"]),
    )
    assert out["uploaded"] == out["puts"] == KEYS and out["first_errors"] == 0
    assert out["resync_unchanged"] == KEYS and out["resync_actions"] == 0
    assert out["resync_hashed"] == 0
    assert out["pulled"] == KEYS // 20 and out["pull_errors"] == 0
    assert len(set(out["fds"])) == 1, f"file descriptors leaked: {out['fds']}"
    assert len(set(out["threads"])) == 1, f"threads leaked: {out['threads']}"
    assert growth < 16 * MB, f"memory grew {growth / MB:.1f} MiB while 200k keys streamed by"
    assert out["push_rss_growth"] < 2048 * KEYS, "the first push holds over 2 KiB per file"
