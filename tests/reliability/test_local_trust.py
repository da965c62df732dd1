"""The local file layer keeps the user's trust: it removes only temporary files it can
prove are its own (and none in a dry run), gives new files the umask's mode without
execute bits, keeps a replaced file's mode, never hangs on a FIFO swapped in for a
file, and never writes through a symbolic link that aliases part of the folder."""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import bucketsync
import bucketsync.api
import bucketsync.cli
from bucketsync.errors import NotARegularFile
from bucketsync.hashing import hash_file
from bucketsync.stores.local import open_regular
from reliability_figures import Figures
from reliakit import held_temp, read_tree, temp_files, write_tree
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
    with held_temp(folder / "f", b"partial") as temp:
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


# --- FIFOs --------------------------------------------------------------------------------


def _within(seconds: float, work: Callable[[], Any], unblock: Path) -> Any:
    """work()'s result or exception; fails if it still runs after `seconds` (a FIFO open
    for reading waits for a writer: one is opened then, so the thread can end)."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as e:  # handed to the test
            result.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    hung = thread.is_alive()
    if hung:
        with contextlib.suppress(OSError):
            os.close(os.open(unblock, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
    assert not hung, f"still waiting on the FIFO {unblock} after {seconds} s"
    return result[0]


def test_reading_a_fifo_is_a_clear_error_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    for work in (
        lambda: hash_file(fifo, {"crc64nvme"}),
        lambda: open_regular(fifo),
        lambda: open_regular(fifo, follow_symlinks=True),
    ):
        error = _within(1.0, work, fifo)
        assert isinstance(error, NotARegularFile), error
        assert str(fifo) in str(error) and "FIFO" in str(error)


def test_a_symlink_is_refused_unless_followed(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"r")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(NotARegularFile, match="symbolic link"):
        open_regular(tmp_path / "link")
    fd = open_regular(tmp_path / "link", follow_symlinks=True)
    try:
        assert os.read(fd, 10) == b"r"
    finally:
        os.close(fd)


@pytest.mark.no_invariants("outside", reason="a FIFO is swapped into the source during the push")
def test_a_fifo_swapped_in_after_the_walk_is_reported_not_waited_for(
    moto_s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, figures: Figures
) -> None:
    src = tmp_path / "src"
    write_tree(src, {"a.txt": b"a", "b.txt": b"b", "named": b"n"})
    os.mkfifo(src / "pipe")
    execute = bucketsync.api.execute

    def swap_then_execute(job: Any, plan: Any, *rest: Any) -> Any:
        (src / "b.txt").unlink()
        os.mkfifo(src / "b.txt")  # between the plan and its transfers
        return execute(job, plan, *rest)

    monkeypatch.setattr(bucketsync.api, "execute", swap_then_execute)
    started = time.monotonic()
    report = _within(
        20.0, lambda: bucketsync.sync(src, moto_s3.url("p"), progress=False), src / "b.txt"
    )
    assert time.monotonic() - started < 20
    assert not isinstance(report, BaseException), report
    assert "pipe: not a regular file; skipped" in report.plan.warnings
    assert [e.path for e in report.errors] == ["b.txt"]
    assert "not a regular file" in report.errors[0].error
    assert moto_s3.keys() == ["p/a.txt", "p/named"]
    figures.add(SECTION, cases=1, hangs=0)


# --- symbolic links that alias part of the folder -------------------------------------------


def test_a_self_loop_never_makes_a_pull_flip_a_file(
    moto_s3: S3Env, tmp_path: Path, figures: Figures
) -> None:
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "self").symlink_to(".", target_is_directory=True)
    moto_s3.put("p/x", b"x itself")
    moto_s3.put("p/self/x", b"x through the loop")
    reports = [
        bucketsync.sync(moto_s3.url("p"), dst, follow_symlinks=True, progress=False)
        for _ in range(2)
    ]
    for report in reports:
        assert [e.path for e in report.errors] == ["self/x"]
        assert "symbolic link" in report.errors[0].error
        assert (dst / "x").read_bytes() == b"x itself"
    assert reports[0].downloaded == 1 and reports[1].downloaded == 0
    figures.add(SECTION, cases=1, files_lost=0)


def test_a_pull_never_writes_through_a_link_to_another_folder_inside(
    moto_s3: S3Env, tmp_path: Path
) -> None:
    dst = tmp_path / "dst"
    write_tree(dst, {"v2/data": b"keep"})
    (dst / "current").symlink_to("v2", target_is_directory=True)
    moto_s3.put("p/v2/data", b"keep")
    moto_s3.put("p/current/data", b"other content")
    for follow in (False, True):
        report = bucketsync.sync(moto_s3.url("p"), dst, follow_symlinks=follow, progress=False)
        assert "current/data" in {e.path for e in report.errors}
        assert (dst / "v2" / "data").read_bytes() == b"keep"


def test_a_pull_delete_never_deletes_through_a_symlink(moto_s3: S3Env, tmp_path: Path) -> None:
    outside, dst = tmp_path / "outside", tmp_path / "dst"
    write_tree(outside, {"deep.txt": b"not the folder's to delete"})
    write_tree(dst, {"v2/data": b"v2", "gone": b"g"})
    (dst / "linkdir").symlink_to(outside, target_is_directory=True)
    (dst / "current").symlink_to("v2", target_is_directory=True)
    moto_s3.put("p/v2/data", b"v2")
    url = moto_s3.url("p")
    report = bucketsync.sync(url, dst, delete=True, follow_symlinks=True, progress=False)
    assert read_tree(outside) == {"deep.txt": b"not the folder's to delete"}
    assert (dst / "v2" / "data").read_bytes() == b"v2" and not (dst / "gone").exists()
    assert {e.path for e in report.errors} == {"linkdir/deep.txt", "current/data"}
    assert report.deleted == 1
