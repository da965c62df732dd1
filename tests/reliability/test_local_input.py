"""Awkward local input: symbolic links out of the folder, unreadable files and folders, a
read-only target, files that change while they are uploaded, and a full disk.

Each must end with a clear error for the paths concerned, the rest synced, and nothing
half-written at a final path. Root bypasses file permissions, so the permission tests
run the command line without the capabilities that do that (see `without_root_powers`).
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from pathlib import Path

import pytest

import bucketsync
from bucketsync.hashing import crc64_text, crc64nvme
from bucketsync.stores.s3 import S3Store
from reliability_figures import Figures
from reliakit import (
    MIB,
    bucket_tree,
    cli,
    error_lines,
    read_tree,
    temp_files,
    tmpfs,
    without_root_powers,
    write_tree,
)
from s3env import S3Env

SECTION = "awkward local input"


def crc64(data: bytes) -> str:
    return crc64_text(crc64nvme(data))


def test_symlinks_out_of_the_folder_are_not_followed_by_default(
    moto_s3: S3Env, tmp_path: Path
) -> None:
    outside, src = tmp_path / "outside", tmp_path / "src"
    write_tree(outside, {"secret.txt": b"secret", "dir/deep.txt": b"deep"})
    write_tree(src, {"inside.txt": b"inside"})
    (src / "link.txt").symlink_to(outside / "secret.txt")
    (src / "linkdir").symlink_to(outside / "dir", target_is_directory=True)
    report = bucketsync.sync(src, moto_s3.url("p"), progress=False)
    assert report.ok and moto_s3.keys() == ["p/inside.txt"]
    assert any("symbolic link not followed" in w for w in report.plan.warnings)
    report = bucketsync.sync(src, moto_s3.url("p"), follow_symlinks=True, progress=False)
    assert report.ok
    assert bucket_tree(moto_s3, "p/") == {
        "inside.txt": b"inside",
        "link.txt": b"secret",
        "linkdir/deep.txt": b"deep",
    }


def test_a_symlink_loop_is_walked_once(moto_s3: S3Env, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_tree(src, {"a/file": b"f"})
    (src / "a" / "loop").symlink_to(src, target_is_directory=True)
    report = bucketsync.sync(src, moto_s3.url("p"), follow_symlinks=True, progress=False)
    assert report.ok and moto_s3.keys() == ["p/a/file"]
    assert any("loop" in w for w in report.plan.warnings)


def test_pull_never_writes_through_a_symlink(moto_s3: S3Env, tmp_path: Path) -> None:
    outside, dst = tmp_path / "outside", tmp_path / "dst"
    write_tree(outside, {"victim": b"keep me"})
    dst.mkdir()
    (dst / "file").symlink_to(outside / "victim")
    (dst / "dir").symlink_to(outside, target_is_directory=True)
    for key in ("p/file", "p/dir/victim", "p/dir/new/deeper", "p/fine"):
        moto_s3.put(key, b"from the bucket")
    report = bucketsync.sync(moto_s3.url("p"), dst, progress=False)
    assert report.downloaded == 1 and len(report.errors) == 3
    assert read_tree(outside) == {"victim": b"keep me"} and not (outside / "new").exists()
    assert (dst / "file").is_symlink()
    report = bucketsync.sync(moto_s3.url("p"), dst, follow_symlinks=True, progress=False)
    assert not (dst / "file").is_symlink() and (dst / "file").read_bytes() == b"from the bucket"
    assert read_tree(outside) == {"victim": b"keep me"}


def test_unreadable_file_and_folder(moto_s3: S3Env, tmp_path: Path, figures: Figures) -> None:
    """Reported by name, the rest pushed, and --delete spares what could not be read."""
    src = tmp_path / "src"
    write_tree(src, {"ok.txt": b"ok", "secret.txt": b"s", "closed/in.txt": b"in"})
    bucketsync.sync(src, moto_s3.url("p"), progress=False)
    write_tree(src, {"ok.txt": b"ok, changed"})
    (src / "secret.txt").write_bytes(b"s2")
    os.chmod(src / "secret.txt", 0)
    os.chmod(src / "closed", 0)
    try:
        done = cli(
            moto_s3.env,
            "sync",
            str(src),
            moto_s3.url("p"),
            "--delete",
            "--quiet",
            preexec=without_root_powers,
        )
    finally:
        os.chmod(src / "closed", 0o755)
        os.chmod(src / "secret.txt", 0o644)
    errors = error_lines(done)
    assert done.returncode == 1, done.stderr
    assert any("secret.txt" in e and "Permission denied" in e for e in errors), errors
    assert any("closed" in e and "Permission denied" in e for e in errors), errors
    assert bucket_tree(moto_s3, "p/") == {
        "ok.txt": b"ok, changed",
        "secret.txt": b"s",
        "closed/in.txt": b"in",  # not deleted: the folder could not be read
    }
    figures.add(SECTION, cases=1, files_reported=len(errors), files_lost=0)


def test_read_only_target_folder(moto_s3: S3Env, tmp_path: Path, figures: Figures) -> None:
    dst = tmp_path / "dst"
    write_tree(dst, {"a": b"old a", "sub/b": b"old b"})
    for key, data in {"p/a": b"new a!", "p/sub/b": b"new b!", "p/c": b"c"}.items():
        moto_s3.put(key, data)
    for folder in (dst / "sub", dst):
        os.chmod(folder, 0o555)
    try:
        done = cli(
            moto_s3.env, "sync", moto_s3.url("p"), str(dst), "--quiet", preexec=without_root_powers
        )
    finally:
        for folder in (dst, dst / "sub"):
            os.chmod(folder, 0o755)
    errors = error_lines(done)
    assert done.returncode == 1 and len(errors) == 3, done.stderr
    assert all("Permission denied" in e for e in errors), errors
    assert read_tree(dst) == {"a": b"old a", "sub/b": b"old b"} and not temp_files(dst)
    figures.add(SECTION, cases=1, files_reported=len(errors), files_lost=0)


@pytest.mark.no_invariants("outside", reason="the test rewrites the source during the push")
def test_a_file_changed_during_upload_is_sent_again(
    moto_s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, figures: Figures
) -> None:
    """The upload of the old bytes is verified, detected as stale, and replaced."""
    src = tmp_path / "src"
    write_tree(src, {"f": b"version 1"})
    bucketsync.sync(src, moto_s3.url("p"), progress=False)
    (src / "f").write_bytes(b"version 2")
    calls: list[str] = []

    def then_edit(method: Callable[..., object]) -> Callable[..., object]:
        def sent(self: S3Store, key: str, *args: object, **kwargs: object) -> object:
            result = method(self, key, *args, **kwargs)
            calls.append(key)
            if len(calls) == 1:
                (src / "f").write_bytes(b"version 3, longer")
            return result

        return sent

    # The first PUT goes out on awscrt's pipeline (send_small_put), its retry on put().
    originals = {name: getattr(S3Store, name) for name in ("put", "send_small_put")}
    for name, method in originals.items():
        monkeypatch.setattr(S3Store, name, then_edit(method))
    report = bucketsync.sync(src, moto_s3.url("p"), progress=False)
    assert report.ok, report.errors
    assert len(calls) == 2 and moto_s3.get("p/f") == b"version 3, longer"
    for name, method in originals.items():
        monkeypatch.setattr(S3Store, name, method)
    again = bucketsync.sync(src, moto_s3.url("p"), progress=False)
    # Version 3 was written a moment before the retry read it: recorded as racy, it is
    # hashed once more (git's racy-clean rule), and found equal.
    assert again.ok and not again.plan and again.bytes_hashed <= len(b"version 3, longer")
    figures.add(SECTION, cases=1, changes_during_upload_detected=1)


@pytest.mark.no_invariants("outside", reason="the test rewrites the source during the push")
def test_a_file_that_keeps_changing_is_reported(
    moto_s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, figures: Figures
) -> None:
    monkeypatch.setattr("bucketsync.transfer.MULTIPART_THRESHOLD", 2 * MIB)
    monkeypatch.setattr("bucketsync.transfer.PART_SIZE", MIB)
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", MIB)
    src = tmp_path / "src"
    original = os.urandom(3 * MIB)
    write_tree(src, {"big": original, "small": b"s"})
    put_part, n = S3Store.put_part, iter(range(10**6))

    def part_then_edit(self: S3Store, *args: object, **kwargs: object) -> object:
        entry = put_part(self, *args, **kwargs)  # type: ignore[arg-type]
        with open(src / "big", "r+b") as f:
            f.seek(2 * MIB + 7)
            f.write(next(n).to_bytes(8, "big"))
        return entry

    monkeypatch.setattr(S3Store, "put_part", part_then_edit)
    report = bucketsync.sync(src, moto_s3.url("p"), progress=False)
    assert [e.path for e in report.errors] == ["big"]
    assert "changed while it was being uploaded" in report.errors[0].error
    landed = moto_s3.keys()
    if "p/big" in landed:  # an attempt that read one version throughout may land
        data, head = moto_s3.get("p/big"), moto_s3.head("p/big")
        assert crc64(data) == head["Metadata"]["crc64nvme"], "an object mixing two versions"
        start = 2 * MIB + 7
        assert data[:start] == original[:start] and data[start + 8 :] == original[start + 8 :]
    figures.add(SECTION, cases=1, changes_during_upload_detected=1)


def _big_and_small(s3: S3Env) -> dict[str, bytes]:
    files = {"big.bin": os.urandom(3 * MIB), **{f"s{i}": os.urandom(10_000) for i in range(5)}}
    for rel, data in files.items():
        s3.put(f"p/{rel}", data)
    return files


def test_disk_full_on_a_small_tmpfs(moto_s3: S3Env, tmp_path: Path, figures: Figures) -> None:
    files = _big_and_small(moto_s3)
    dst = tmp_path / "small"
    with tmpfs(dst, "1m") as mounted:
        if not mounted:
            pytest.skip("cannot mount a tmpfs here (test_file_size_limit covers a full disk)")
        report = bucketsync.sync(moto_s3.url("p"), dst, progress=False)
        got = read_tree(dst)
        assert "big.bin" in {e.path for e in report.errors}
        assert any("No space left" in e.error for e in report.errors)
        assert all(files[rel] == data for rel, data in got.items()), "a partial file"
        assert not temp_files(dst)
    figures.add(SECTION, cases=1, disk_full_runs=1, partial_files=0)


def _file_size_limit() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (MIB, MIB))  # Python ignores SIGXFSZ


def test_file_size_limit_ulimit_f(moto_s3: S3Env, tmp_path: Path, figures: Figures) -> None:
    files = _big_and_small(moto_s3)
    dst = tmp_path / "dst"
    done = cli(moto_s3.env, "sync", moto_s3.url("p"), str(dst), "--quiet", preexec=_file_size_limit)
    errors = error_lines(done)
    assert done.returncode == 1 and len(errors) == 1, done.stderr
    assert "big.bin" in errors[0] and "File too large" in errors[0]
    assert read_tree(dst) == {k: v for k, v in files.items() if k != "big.bin"}
    assert not temp_files(dst)
    figures.add(SECTION, cases=1, disk_full_runs=1, partial_files=0)
