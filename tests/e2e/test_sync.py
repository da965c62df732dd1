"""End-to-end syncs against real S3 servers on 127.0.0.1 (moto and rclone serve s3)."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bucketsync
from bucketsync.entries import RemoteObject
from bucketsync.state import RACY_WINDOW_NS
from bucketsync.stores.s3 import S3Store
from s3env import S3Env

KIB = 1024


def _tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    # Files written within RACY_WINDOW_NS of a sync's read are hashed again by the next
    # sync (git's racy-clean rule); these tests count hashed bytes, so let them settle.
    time.sleep(2 * RACY_WINDOW_NS / 1e9)


def _read_tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


FILES = {
    "a.txt": b"alpha\n",
    "data/big.bin": os.urandom(300 * KIB),
    "data/nested/deep/file.csv": b"x,y\n1,2\n",
    "unicod\u00e9/\u00fc.txt": b"umlaut",
    "empty": b"",
    "with space.txt": b"spaced",
}


def test_push_then_pull_round_trip(s3: S3Env, tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src, FILES)
    report = bucketsync.sync(src, s3.url("p"))
    assert report.uploaded == len(FILES) and report.ok
    stored = {k: s3.get(k) for k in s3.keys()}  # noqa: SIM118 (keys() lists the bucket)
    assert stored == {f"p/{k}": v for k, v in FILES.items()}
    report = bucketsync.sync(s3.url("p"), dst)
    assert report.downloaded == len(FILES) and report.ok
    assert _read_tree(dst) == FILES


def test_unchanged_resync_sends_only_listings_and_hashes_nothing(s3: S3Env, tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src, FILES)
    bucketsync.sync(src, s3.url("p"))
    again = bucketsync.sync(src, s3.url("p"))
    assert again.unchanged == len(FILES) and not again.plan
    assert again.bytes_hashed == 0
    assert again.requests == {"list": 1, "head": 0, "get": 0, "put": 0, "delete": 0, "other": 0}
    bucketsync.sync(s3.url("p"), dst)
    pull_again = bucketsync.sync(s3.url("p"), dst)
    assert pull_again.unchanged == len(FILES) and pull_again.bytes_hashed == 0
    assert pull_again.requests["list"] == 1 and sum(pull_again.requests.values()) == 1


def _edit_same_size_keep_mtime(path: Path) -> None:
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_same_size_edit_with_old_mtime_is_pushed(s3: S3Env, tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src, FILES)
    bucketsync.sync(src, s3.url("p"))
    _edit_same_size_keep_mtime(src / "data/big.bin")
    report = bucketsync.sync(src, s3.url("p"))
    assert [a.path for a in report.plan] == ["data/big.bin"]
    assert "CRC64NVME" in report.plan.actions[0].reason
    assert s3.get("p/data/big.bin") == (src / "data/big.bin").read_bytes()
    assert report.bytes_hashed == len(FILES["data/big.bin"]), "hashed once, not again to upload"


def test_same_size_edit_with_old_mtime_is_pulled_back(s3: S3Env, tmp_path: Path) -> None:
    dst = tmp_path / "dst"
    for rel, data in FILES.items():
        s3.put(f"p/{rel}", data)
    bucketsync.sync(s3.url("p"), dst)
    _edit_same_size_keep_mtime(dst / "a.txt")
    report = bucketsync.sync(s3.url("p"), dst)
    assert [a.path for a in report.plan] == ["a.txt"]
    assert (dst / "a.txt").read_bytes() == FILES["a.txt"]


def test_remote_same_size_change_is_pulled(s3: S3Env, tmp_path: Path) -> None:
    dst = tmp_path / "dst"
    s3.put("p/x.bin", b"1" * 1000)
    bucketsync.sync(s3.url("p"), dst)
    s3.put("p/x.bin", b"2" * 1000)
    report = bucketsync.sync(s3.url("p"), dst)
    assert report.downloaded == 1
    assert (dst / "x.bin").read_bytes() == b"2" * 1000


def test_identical_files_without_state_are_not_transferred(s3: S3Env, tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src, FILES)
    for rel, data in FILES.items():
        s3.put(f"p/{rel}", data)  # written by another tool: plain MD5 ETags, no checksum
    report = bucketsync.sync(src, s3.url("p"))
    assert report.unchanged == len(FILES) and report.requests["put"] == 0
    assert report.requests["head"] == 0, "small files with MD5 ETags are settled by hashing"
    again = bucketsync.sync(src, s3.url("p"))
    assert again.bytes_hashed == 0 and sum(again.requests.values()) == 1


def test_deleting_the_state_database_changes_no_result(s3: S3Env, tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src, FILES)
    bucketsync.sync(src, s3.url("p"))
    for db in Path(os.environ["BUCKETSYNC_STATE_DIR"]).glob("state.sqlite3*"):
        db.unlink()
    report = bucketsync.sync(src, s3.url("p"))
    assert report.unchanged == len(FILES) and report.requests["put"] == 0
    assert report.bytes_hashed == sum(len(v) for v in FILES.values())


def test_delete_and_dry_run(s3: S3Env, tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src, {"keep.txt": b"k"})
    s3.put("p/stale.txt", b"old")
    dry = bucketsync.sync(src, s3.url("p"), delete=True, dry_run=True)
    assert {(a.action, a.path) for a in dry.plan} == {
        ("upload", "keep.txt"),
        ("delete", "stale.txt"),
    }
    assert s3.keys() == ["p/stale.txt"], "a dry run changes nothing"
    bucketsync.sync(src, s3.url("p"))
    assert s3.keys() == ["p/keep.txt", "p/stale.txt"], "without --delete nothing is deleted"
    report = bucketsync.sync(src, s3.url("p"), delete=True)
    assert report.deleted == 1 and s3.keys() == ["p/keep.txt"]
    dst = tmp_path / "dst"
    _tree(dst, {"local-only.txt": b"l"})
    report = bucketsync.sync(s3.url("p"), dst, delete=True)
    assert _read_tree(dst) == {"keep.txt": b"k"}


def test_include_exclude_later_rules_win(s3: S3Env, tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src, {"a.csv": b"1", "b.txt": b"2", "tmp/c.csv": b"3"})
    rules = (("exclude", "*"), ("include", "*.csv"), ("exclude", "tmp/*"))
    report = bucketsync.sync(src, s3.url(), filter_rules=rules)
    assert report.uploaded == 1 and s3.keys() == ["a.csv"]
    report = bucketsync.sync(src, s3.url(), exclude=["*.txt"])
    assert s3.keys() == ["a.csv", "tmp/c.csv"]


def test_large_file_in_parallel_parts(s3: S3Env, tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    data = os.urandom(70 * 1024 * KIB)
    _tree(src, {"big.bin": data})
    push = bucketsync.sync(src, s3.url())
    assert push.ok and push.requests["put"] >= 5, "uploaded as parts"
    pull = bucketsync.sync(s3.url(), dst)
    assert pull.ok and pull.requests["get"] >= 5, "downloaded as ranges"
    assert (dst / "big.bin").read_bytes() == data
    again = bucketsync.sync(s3.url(), dst)
    assert again.bytes_hashed == 0 and sum(again.requests.values()) == 1


def test_multipart_objects_from_other_tools_are_recognised(s3: S3Env, tmp_path: Path) -> None:
    from boto3.s3.transfer import TransferConfig

    src = tmp_path / "src"
    sizes = {"aws-8mib.bin": 8, "rclone-5mib.bin": 5}
    files = {name: os.urandom(3 * part * 1024 * KIB + 100) for name, part in sizes.items()}
    _tree(src, files)
    for name, part in sizes.items():
        config = TransferConfig(
            multipart_threshold=part * 1024 * KIB, multipart_chunksize=part * 1024 * KIB
        )
        s3.client.upload_file(str(src / name), s3.bucket, name, Config=config)
    report = bucketsync.sync(src, s3.url())
    assert report.unchanged == 2, [(a.path, a.reason) for a in report.plan]
    assert report.requests["put"] == 0 and report.requests["get"] == 0
    assert report.requests["head"] <= 2, "at most one HEAD per object"
    assert report.bytes_hashed == sum(len(v) for v in files.values()), "each file hashed once"


def test_a_complete_sync_vouches_only_for_pairs_it_saw_equal(s3: S3Env, tmp_path: Path) -> None:
    dst = tmp_path / "dst"
    s3.put("p/kept.txt", b"kept")
    s3.put("p/gone.txt", b"gone")
    bucketsync.sync(s3.url("p"), dst)
    s3.client.delete_object(Bucket=s3.bucket, Key="p/gone.txt")
    bucketsync.sync(s3.url("p"), dst)  # no --delete: the local copy of gone.txt stays
    mirror = bucketsync.Mirror(s3.url("p"), local=dst)
    assert mirror.path("kept.txt", max_age=3600).read_bytes() == b"kept"
    assert sum(mirror.requests.values()) == 0, "the sync counts as a check"
    mirror.path("gone.txt", max_age=3600)  # a local-only file is kept, as Mirror documents
    assert sum(mirror.requests.values()) == 1, "a pair the sync could not confirm is checked"


def test_small_transfers_leave_no_requests_in_memory(rclone_s3: S3Env, tmp_path: Path) -> None:
    """Small files go through awscrt's client; once a sync returns, none of its requests
    is still alive (each was once kept, with its callbacks, until the process ended)."""
    from awscrt.s3 import S3Request

    def alive() -> int:
        gc.collect()
        return sum(isinstance(o, S3Request) for o in gc.get_objects())

    files = {f"d{i % 3}/f{i:03d}": os.urandom(100 + i) for i in range(300)}
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src, files)
    before = alive()
    pushed = bucketsync.sync(src, rclone_s3.url("m"))
    pulled = bucketsync.sync(rclone_s3.url("m"), dst)
    assert pushed.uploaded == pulled.downloaded == len(files)
    assert _read_tree(dst) == files
    assert alive() - before < 10


def test_a_server_that_does_not_sort_still_gets_content_checks(
    moto_s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first plan meets the unsorted listing (ListingOrderError) and is made again,
    sorted in memory: the checks of that second plan must run, not find the first
    plan's stop flag still set."""
    src = tmp_path / "src"
    _tree(src, FILES)
    for rel, data in FILES.items():
        if data:  # same size, other bytes, no record: each pair is hashed to be compared
            moto_s3.put(f"p/{rel}", bytes(b ^ 1 for b in data))
    pages = S3Store.pages

    def unsorted(self: S3Store, *args: Any, **kwargs: Any) -> Iterator[list[RemoteObject]]:
        for page in pages(self, *args, **kwargs):
            yield page[::-1]

    monkeypatch.setattr(S3Store, "pages", unsorted)
    report = bucketsync.sync(src, moto_s3.url("p"))
    assert not report.errors and report.uploaded == len(FILES)
