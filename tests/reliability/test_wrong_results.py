"""Wrong results of issue 11: a skipped foreign key failing a push, a destination that
cannot be created failing file by file, and a file where a folder now is (or the
reverse) needing two pulls. Each case checks the exit code, the stderr lines, and
the bytes on disk and in the bucket.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import bucketsync
from reliakit import bucket_tree, cli, error_lines, read_tree, write_tree
from s3env import S3Env

NOTE = "bucketsync: note:"


def note_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(NOTE)]


# --- a key ending with '/' that holds data ----------------------------------------------


@pytest.mark.parametrize("delete", [False, True], ids=["plain", "delete"])
def test_a_data_holding_folder_key_is_a_note_on_push(
    moto_s3: S3Env, tmp_path: Path, delete: bool
) -> None:
    moto_s3.put("k/datadir/", b"someone else's bytes")
    src = tmp_path / "src"
    write_tree(src, {"a.txt": b"a", "sub/b.txt": b"b"})
    flags = ["--delete"] if delete else []
    done = cli(moto_s3.env, "sync", str(src), moto_s3.url("k"), "--no-progress", *flags)
    assert done.returncode == 0, done.stderr
    assert error_lines(done) == []
    assert any("datadir/" in n and "holds data" in n for n in note_lines(done.stderr))
    assert bucket_tree(moto_s3, "k/") == {
        "datadir/": b"someone else's bytes",
        "a.txt": b"a",
        "sub/b.txt": b"b",
    }


def test_a_data_holding_folder_key_is_a_note_on_pull(moto_s3: S3Env, tmp_path: Path) -> None:
    moto_s3.put("k/datadir/", b"data in a folder marker")
    moto_s3.put("k/a.txt", b"a")
    dst = tmp_path / "dst"
    done = cli(moto_s3.env, "sync", moto_s3.url("k"), str(dst), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert error_lines(done) == []
    assert any(
        "datadir/" in n and "key ends with '/' and holds data; skipped" in n
        for n in note_lines(done.stderr)
    )
    assert read_tree(dst) == {"a.txt": b"a"}
    report = bucketsync.sync(moto_s3.url("k"), dst, progress=False)
    assert report.ok and any("datadir/" in w for w in report.plan.warnings)
