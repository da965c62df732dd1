"""The local file layer keeps the user's trust: it removes only temporary files it can
prove are its own (and none in a dry run), gives new files the umask's mode without
execute bits, keeps a replaced file's mode, never hangs on a FIFO swapped in for a
file, and never writes through a symbolic link that aliases part of the folder."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import bucketsync
import bucketsync.api
import bucketsync.cli
from reliability_figures import Figures
from reliakit import read_tree, temp_files, write_tree
from s3env import S3Env

SECTION = "awkward local input"
LOOKALIKE = ".notes.bucketsync-tmp-0123456789ab"
RESERVED = "name reserved for bucketsync temporary files; skipped"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextlib.contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


# --- temporary-file names -----------------------------------------------------------------


def test_a_user_file_named_like_a_temp_file_survives_every_walk(
    moto_s3: S3Env, tmp_path: Path, figures: Figures
) -> None:
    src = tmp_path / "src"
    write_tree(src, {"a": b"a", LOOKALIKE: b"my notes", f"sub/{LOOKALIKE}": b"more notes"})
    url = moto_s3.url("p")
    plan = bucketsync.diff(src, url)
    dry = bucketsync.sync(src, url, dry_run=True, progress=False)
    push = bucketsync.sync(src, url, progress=False)
    pull = bucketsync.sync(url, src, delete=True, progress=False)
    for warnings in (plan.warnings, dry.plan.warnings, push.plan.warnings, pull.plan.warnings):
        assert f"{LOOKALIKE}: {RESERVED}" in warnings
        assert f"sub/{LOOKALIKE}: {RESERVED}" in warnings
    assert (src / LOOKALIKE).read_bytes() == b"my notes"
    assert (src / "sub" / LOOKALIKE).read_bytes() == b"more notes"
    assert push.ok and pull.ok and moto_s3.keys() == ["p/a"]
    figures.add(SECTION, cases=1, files_lost=0)


def _orphan_of_a_killed_run(folder: Path) -> Path:
    """A temporary file claimed by bucketsync in a process then killed by SIGKILL."""
    code = (
        "import sys, time\nfrom pathlib import Path\n"
        "from bucketsync.stores.local import claim_temp, write_all\n"
        "temp, fd = claim_temp(Path(sys.argv[1]))\nwrite_all(fd, b'partial')\n"
        "print(temp, flush=True)\ntime.sleep(60)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(folder / "f")], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    temp = Path(holder.stdout.readline().strip())
    holder.kill()
    holder.wait()
    return temp


def test_an_orphan_is_removed_by_a_sync_but_not_by_diff_or_a_dry_run(
    moto_s3: S3Env, tmp_path: Path
) -> None:
    dst = tmp_path / "dst"
    write_tree(dst, {"f": b"old"})
    moto_s3.put("p/f", b"new")
    orphan = _orphan_of_a_killed_run(dst)
    assert orphan.exists() and orphan.parent == dst
    url = moto_s3.url("p")
    plan = bucketsync.diff(url, dst)
    assert orphan.exists(), "diff removed a file"
    assert bucketsync.cli.main(["sync", url, str(dst), "--dry-run", "--quiet"]) == 0
    assert orphan.exists(), "--dry-run removed a file"
    assert not any(RESERVED in w for w in plan.warnings), "our own orphan is no user file"
    assert bucketsync.sync(url, dst, progress=False).ok
    assert not orphan.exists() and not temp_files(dst) and read_tree(dst) == {"f": b"new"}


# --- file modes ---------------------------------------------------------------------------


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600)])
def test_pulled_files_follow_the_umask_without_execute_bits(
    moto_s3: S3Env, tmp_path: Path, mask: int, expected: int
) -> None:
    moto_s3.put("p/new.txt", b"n")
    moto_s3.put("p/sub/deep.txt", b"d")
    dst = tmp_path / "dst"
    with _umask(mask):
        assert bucketsync.sync(moto_s3.url("p"), dst, progress=False).ok
    assert _mode(dst / "new.txt") == expected
    assert _mode(dst / "sub" / "deep.txt") == expected
    assert _mode(dst / "sub") == 0o777 & ~mask  # folders keep mkdir's default


def test_a_replaced_file_keeps_its_mode(moto_s3: S3Env, tmp_path: Path) -> None:
    dst = tmp_path / "dst"
    write_tree(dst, {"private": b"old secret", "script": b"old"})
    os.chmod(dst / "private", 0o600)
    os.chmod(dst / "script", 0o750)
    moto_s3.put("p/private", b"new secret")
    moto_s3.put("p/script", b"new")
    with _umask(0o022):
        report = bucketsync.sync(moto_s3.url("p"), dst, progress=False)
    assert report.ok and report.downloaded == 2
    assert (dst / "private").read_bytes() == b"new secret" and _mode(dst / "private") == 0o600
    assert _mode(dst / "script") == 0o750


def test_mirror_writes_create_and_keep_modes(moto_s3: S3Env, tmp_path: Path) -> None:
    local = tmp_path / "m"
    write_tree(local, {"kept.txt": b"one\n"})
    os.chmod(local / "kept.txt", 0o600)
    moto_s3.put("p/kept.txt", b"one\n")
    m = bucketsync.Mirror(moto_s3.url("p"), local)
    with _umask(0o022):
        with m.open("new.txt", "w") as f:
            f.write("fresh")
        with m.open("kept.txt", "a") as f:
            f.write("two\n")
    assert _mode(local / "new.txt") == 0o644 and (local / "new.txt").read_text() == "fresh"
    assert _mode(local / "kept.txt") == 0o600
    assert (local / "kept.txt").read_text() == "one\ntwo\n"
