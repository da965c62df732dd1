"""Wrong results of issue 11: a skipped foreign key failing a push, a destination that
cannot be created failing file by file, and a file where a folder now is (or the
reverse) needing two pulls. Each case checks the exit code, the stderr lines, and
the bytes on disk and in the bucket.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import bucketsync
from bucketsync.entries import RemoteObject
from bucketsync.keyrange import EVERYTHING, KeyRange
from bucketsync.stores.s3 import S3Store
from reliakit import (
    bucket_tree,
    cli,
    error_lines,
    one_line_error,
    read_tree,
    temp_files,
    without_root_powers,
    write_tree,
)
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


@pytest.mark.parametrize("delete", [False, True], ids=["plain", "delete"])
def test_local_paths_a_pull_leaves_alone_are_notes(
    moto_s3: S3Env, tmp_path: Path, delete: bool
) -> None:
    """A pull reads the local walk only to compare: a local name that cannot be a key, or
    an unreadable folder with no key below it, is a note; with --delete, which would
    have to delete them, an error."""
    dst = tmp_path / "dst"
    write_tree(dst, {"closed/mine": b"mine", "a.txt": b"old a"})
    bad = os.path.join(os.fsencode(dst), b"bad\xff")
    with open(bad, "wb") as f:
        f.write(b"not a key")
    moto_s3.put("p/a.txt", b"new a")
    os.chmod(dst / "closed", 0)
    flags = ["--delete"] if delete else []
    try:
        done = cli(
            moto_s3.env,
            "sync",
            moto_s3.url("p"),
            str(dst),
            "--no-progress",
            *flags,
            preexec=without_root_powers,
        )
    finally:
        os.chmod(dst / "closed", 0o755)
    errors = error_lines(done)
    if delete:
        assert done.returncode == 1 and len(errors) == 2, done.stderr
    else:
        assert done.returncode == 0 and errors == [], done.stderr
        assert note_lines(done.stderr), done.stderr
    assert read_tree(dst) == {
        "closed/mine": b"mine",
        "a.txt": b"new a",
        os.fsdecode(b"bad\xff"): b"not a key",
    }


# --- a destination that cannot be created, a source that cannot be read -----------------


def _put_many(s3: S3Env, n: int) -> None:
    for i in range(n):
        s3.put(f"p/f{i:03}", f"file {i}".encode())


@pytest.mark.parametrize("command", ["sync", "sync --dry-run", "diff"])
def test_a_pull_below_a_regular_file_is_one_error(
    moto_s3: S3Env, tmp_path: Path, command: str
) -> None:
    _put_many(moto_s3, 30)
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"a plain file")
    dst = blocker / "dst"
    done = cli(moto_s3.env, *command.split(), moto_s3.url("p"), str(dst), "--no-progress")
    line = one_line_error(done, 2)
    assert str(dst) in line and "Not a directory" in line, line
    assert blocker.read_bytes() == b"a plain file"


def test_a_pull_into_proc_is_one_error(moto_s3: S3Env, tmp_path: Path) -> None:
    _put_many(moto_s3, 30)
    dst = Path("/proc/bucketsync-no-such-folder/dst")
    done = cli(moto_s3.env, "sync", moto_s3.url("p"), str(dst), "--no-progress")
    line = one_line_error(done, 2)
    assert str(dst) in line, line
    assert not dst.parent.exists()


def test_a_pull_below_a_read_only_folder_is_one_error(moto_s3: S3Env, tmp_path: Path) -> None:
    _put_many(moto_s3, 30)
    parent = tmp_path / "locked"
    parent.mkdir()
    os.chmod(parent, 0o555)
    try:
        done = cli(
            moto_s3.env,
            "sync",
            moto_s3.url("p"),
            str(parent / "dst"),
            "--no-progress",
            preexec=without_root_powers,
        )
    finally:
        os.chmod(parent, 0o755)
    line = one_line_error(done, 2)
    assert str(parent / "dst") in line and "Permission denied" in line, line
    assert list(parent.iterdir()) == []


def test_the_api_raises_one_error_with_exit_code_2(moto_s3: S3Env, tmp_path: Path) -> None:
    _put_many(moto_s3, 3)
    (tmp_path / "blocker").write_bytes(b"x")
    with pytest.raises(bucketsync.BucketsyncError) as caught:
        bucketsync.sync(moto_s3.url("p"), tmp_path / "blocker" / "dst", progress=False)
    assert caught.value.exit_code == 2 and isinstance(caught.value, OSError)


@pytest.mark.parametrize("delete", [False, True], ids=["plain", "delete"])
def test_a_push_from_an_unreadable_folder_is_one_error(
    moto_s3: S3Env, tmp_path: Path, delete: bool
) -> None:
    moto_s3.put("p/kept", b"kept")
    src = tmp_path / "src"
    write_tree(src, {"a": b"a", "b/c": b"c"})
    os.chmod(src, 0)
    flags = ["--delete"] if delete else []
    try:
        done = cli(
            moto_s3.env,
            "sync",
            str(src),
            moto_s3.url("p"),
            "--no-progress",
            *flags,
            preexec=without_root_powers,
        )
    finally:
        os.chmod(src, 0o755)
    line = one_line_error(done, 2)
    assert str(src) in line and "Permission denied" in line, line
    assert bucket_tree(moto_s3, "p/") == {"kept": b"kept"}


# --- a file where the source now has a folder, and the reverse ---------------------------

FILE_TO_FOLDER = ({"a": b"old file a", "z": b"z"}, {"a/b": b"new b", "a/c": b"new c", "z": b"z"})
FOLDER_TO_FILE = (
    {"a/x": b"old x", "a/sub/y": b"old y", "a.txt": b"t"},
    {"a": b"new file a", "a.txt": b"t"},
)
SHAPES = {"file-to-folder": FILE_TO_FOLDER, "folder-to-file": FOLDER_TO_FILE}


def _pull_shape(s3: S3Env, tmp_path: Path, shape: str) -> tuple[Path, dict[str, bytes]]:
    local, remote = SHAPES[shape]
    dst = tmp_path / "dst"
    write_tree(dst, local)
    for rel, data in remote.items():
        s3.put(f"p/{rel}", data)
    return dst, remote


@pytest.mark.parametrize("shape", SHAPES)
def test_pull_delete_replaces_a_file_by_a_folder_in_one_run(
    s3: S3Env, tmp_path: Path, shape: str
) -> None:
    dst, remote = _pull_shape(s3, tmp_path, shape)
    done = cli(s3.env, "sync", s3.url("p"), str(dst), "--delete", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert error_lines(done) == []
    assert read_tree(dst) == remote
    assert not temp_files(dst)
    assert sorted(p.name for p in dst.iterdir()) == sorted({r.split("/")[0] for r in remote})
    again = bucketsync.diff(s3.url("p"), dst, delete=True)
    assert not again and not again.problems


@pytest.mark.parametrize("shape", SHAPES)
def test_the_plan_shows_the_deletes_that_clear_the_way_first(
    moto_s3: S3Env, tmp_path: Path, shape: str
) -> None:
    dst, _ = _pull_shape(moto_s3, tmp_path, shape)
    before = read_tree(dst)
    done = cli(moto_s3.env, "sync", moto_s3.url("p"), str(dst), "--delete", "--dry-run")
    assert done.returncode == 0, done.stderr
    kinds = [line.split()[0] for line in done.stdout.splitlines()[:-1]]
    assert kinds == sorted(kinds, key=lambda k: k != "delete"), done.stdout
    plan = bucketsync.diff(moto_s3.url("p"), dst, delete=True)
    clearing = [a for a in plan if a.clears]
    assert clearing and plan.actions[: len(clearing)] == clearing
    assert read_tree(dst) == before


@pytest.mark.parametrize("shape", SHAPES)
def test_without_delete_the_conflict_is_an_error_that_names_delete(
    moto_s3: S3Env, tmp_path: Path, shape: str
) -> None:
    dst, remote = _pull_shape(moto_s3, tmp_path, shape)
    before = read_tree(dst)
    done = cli(moto_s3.env, "sync", moto_s3.url("p"), str(dst), "--no-progress")
    errors = error_lines(done)
    assert done.returncode == 1, done.stderr
    blocked = [rel for rel in remote if rel not in before]
    assert len(errors) == len(blocked), errors
    assert all("--delete" in e for e in errors), errors
    assert read_tree(dst) == before
    assert not temp_files(dst)


def _push_shape(s3: S3Env, tmp_path: Path, shape: str) -> tuple[Path, dict[str, bytes]]:
    remote, local = SHAPES[shape]  # the pull's destination is now the bucket
    for rel, data in remote.items():
        s3.put(f"p/{rel}", data)
    src = tmp_path / "src"
    write_tree(src, local)
    return src, local


@pytest.mark.parametrize("shape", SHAPES)
def test_push_delete_clears_the_way_first(s3: S3Env, tmp_path: Path, shape: str) -> None:
    """rclone serve s3 keeps objects as files, so `a` and `a/b` cannot both exist there:
    the deletes in the way go first, and one push is enough on every server."""
    src, local = _push_shape(s3, tmp_path, shape)
    done = cli(s3.env, "sync", str(src), s3.url("p"), "--delete", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert error_lines(done) == []
    assert bucket_tree(s3, "p/") == local
    assert not bucketsync.diff(src, s3.url("p"), delete=True)


@pytest.mark.parametrize("shape", SHAPES)
def test_push_without_delete_keeps_both_on_s3(moto_s3: S3Env, tmp_path: Path, shape: str) -> None:
    """S3 holds `a` and `a/b` side by side: without --delete a push adds, and nothing fails."""
    src, local = _push_shape(moto_s3, tmp_path, shape)
    remote = SHAPES[shape][0]
    report = bucketsync.sync(src, moto_s3.url("p"), progress=False)
    assert report.ok and not report.plan.problems, report.errors
    assert bucket_tree(moto_s3, "p/") == {**remote, **local}


# --- a server that does not sort its listing --------------------------------------------


@pytest.fixture
def unsorted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first listing comes back in reverse order (as from a server that does not sort
    its keys); the sync then lists again and sorts in memory."""
    real = S3Store.pages
    listed: list[bool] = []

    def pages(self: S3Store, span: KeyRange = EVERYTHING) -> Iterator[list[RemoteObject]]:
        objects = [obj for page in real(self, span) for obj in page]
        if not listed:
            objects.reverse()
        listed.append(True)
        yield objects

    monkeypatch.setattr(S3Store, "pages", pages)


@pytest.mark.parametrize("command", ["sync", "check", "bisync"])
def test_an_unsorted_listing_with_pairs_to_hash_is_planned_again(
    moto_s3: S3Env, tmp_path: Path, unsorted_once: None, command: str
) -> None:
    """The pairs' content is only known by hashing: the second plan must hash them, not
    stop as if interrupted (the first plan's pool, left by the error, set the cancel flag)."""
    root = tmp_path / "d"
    write_tree(root, {f"f{i}": b"local %d" % i for i in range(5)})
    for i in range(5):
        moto_s3.put(f"p/f{i}", b"remot %d" % i)
    if command == "sync":
        report = bucketsync.sync(moto_s3.url("p"), root, progress=False)
        assert report.downloaded == 5 and not report.errors
        assert read_tree(root) == {f"f{i}": b"remot %d" % i for i in range(5)}
    elif command == "check":
        assert bucketsync.check(moto_s3.url("p"), root).differ == 5
    else:
        report = bucketsync.bisync(root, moto_s3.url("p"), progress=False)
        assert report.conflicts == 5
