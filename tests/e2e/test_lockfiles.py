"""Lockfiles, `--lock`, `--at`, `--write-lock` and `fetch(version=)` on real servers:
moto with versioning on and off, rclone serve s3 (no versions, ignores If-Match)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import pytest

import bucketsync
from bucketsync import api, snapshots
from bucketsync.location import parse_s3_url
from bucketsync.lockfile import FORMAT, Lock
from bucketsync.options import SyncOptions
from bucketsync.report import Stats
from s3env import S3Env

BUCKETSYNC = str(Path(sys.executable).with_name("bucketsync"))
FIRST = {"a.csv": b"alpha,1\n", "d/b.bin": b"\x00" * 3000, "d/c.txt": b"see"}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BUCKETSYNC, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def versioned(s3: S3Env) -> S3Env:
    s3.client.put_bucket_versioning(Bucket=s3.bucket, VersioningConfiguration={"Status": "Enabled"})
    return s3


def put_all(s3: S3Env, files: dict[str, bytes], prefix: str = "p/", **extra: str) -> None:
    for rel, data in files.items():
        s3.put(prefix + rel, data, **extra)


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def change(s3: S3Env) -> None:
    """Overwrite one object, delete one, add one: the prefix moves on."""
    s3.put("p/a.csv", b"alpha,2\nbeta,3\n")
    s3.client.delete_object(Bucket=s3.bucket, Key="p/d/c.txt")
    s3.put("p/new.txt", b"new")


def take(s3: S3Env, prefix: str = "p/", checksums: str = "auto") -> tuple[Lock, dict[str, int]]:
    stats = Stats()
    options = SyncOptions(endpoint_url=s3.endpoint_url)
    store = api.make_store(parse_s3_url(s3.url(prefix)), options, stats)
    lock = snapshots.take(store, checksums)  # type: ignore[arg-type]
    return lock, stats.requests.as_dict()


# --- snapshot -----------------------------------------------------------------------------


def test_snapshot_versioned_lists_and_heads_only(moto_s3: S3Env, tmp_path: Path) -> None:
    s3 = versioned(moto_s3)
    put_all(s3, FIRST)
    s3.put("p/a.csv", b"alpha,1\n", ChecksumAlgorithm="CRC64NVME")  # a second version
    s3.put("elsewhere", b"x")
    lock, requests = take(s3, checksums="all")
    assert requests["get"] == 0 and requests["put"] == 0 and requests["other"] == 0
    assert requests["list"] == 1 and requests["head"] == 3  # one HEAD per object, by version
    assert [e.key for e in lock] == ["p/a.csv", "p/d/b.bin", "p/d/c.txt"]
    assert all(e.version_id for e in lock) and lock.versioned
    current = s3.head("p/a.csv")
    assert lock.get("p/a.csv").version_id == current["VersionId"]  # type: ignore[union-attr]
    assert lock.get("p/a.csv").crc64nvme is not None  # type: ignore[union-attr]
    assert lock.get("p/d/c.txt").size == 3  # type: ignore[union-attr]
    _, none = take(s3, checksums="none")
    assert none == {**none, "list": 1, "head": 0, "get": 0, "other": 0}
    # moto's ListObjectVersions names no checksum algorithm (S3's does): auto sends no HEAD
    auto, requests = take(s3)
    assert requests["get"] == 0 and requests["head"] <= 3
    assert [(e.key, e.version_id, e.etag) for e in auto] == [
        (e.key, e.version_id, e.etag) for e in lock
    ]


def test_snapshot_cli_unversioned(s3: S3Env, tmp_path: Path) -> None:
    put_all(s3, FIRST)
    out = tmp_path / "data.lock"
    done = cli(s3.env, "snapshot", s3.url("p"), "-o", str(out))
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    assert document["format"] == FORMAT == "bucketsync-lock/1"
    assert document["bucket"] == s3.bucket and document["prefix"] == "p/"
    assert document["endpoint"] == s3.endpoint_url.split("//")[1]
    datetime.fromisoformat(document["created"].replace("Z", "+00:00"))
    entries = document["entries"]
    assert [e["key"] for e in entries] == sorted("p/" + k for k in FIRST)
    for e in entries:
        assert {"key", "size", "etag", "version_id", "crc64nvme"} <= set(e)
        assert e["version_id"] is None and not e["etag"].startswith('"')
    stdout = cli(s3.env, "snapshot", s3.url("p"))
    assert stdout.returncode == 0 and json.loads(stdout.stdout)["entries"] == entries
    _, requests = take(s3)
    assert requests["get"] == 0


def test_lock_round_trips(moto_s3: S3Env, tmp_path: Path) -> None:
    s3 = versioned(moto_s3)
    put_all(s3, FIRST, ChecksumAlgorithm="CRC64NVME")
    lock = bucketsync.snapshot(s3.url("p"), checksums="all")
    path = lock.save(tmp_path / "x.lock")
    again = Lock.load(path)
    assert again == lock and list(again) == list(lock) and again.created == lock.created
    assert all(e.crc64nvme for e in again)
    frame = again.to_pandas()
    assert list(frame["key"]) == [e.key for e in lock]


# --- replay -------------------------------------------------------------------------------


def test_lock_restores_pinned_bytes_after_changes(moto_s3: S3Env, tmp_path: Path) -> None:
    s3 = versioned(moto_s3)
    put_all(s3, FIRST)
    lockfile = tmp_path / "data.lock"
    assert cli(s3.env, "snapshot", s3.url("p"), "-o", str(lockfile)).returncode == 0
    change(s3)
    s3.client.delete_object(Bucket=s3.bucket, Key="p/d/b.bin")
    s3.put("p/d/b.bin", b"recreated")  # deleted, then made again
    local = tmp_path / "local"
    (local / "d").mkdir(parents=True)
    (local / "stray.txt").write_text("not pinned")
    done = cli(s3.env, "sync", s3.url("p"), str(local), "--lock", str(lockfile), "--delete")
    assert done.returncode == 0, done.stderr
    assert tree(local) == FIRST  # byte for byte, and nothing else
    # Unchanged: no GET, nothing hashed.
    report = bucketsync.sync(s3.url("p"), local, lock=lockfile, delete=True)
    assert report.requests["get"] == 0 and report.bytes_hashed == 0 and report.ok
    assert report.unchanged == len(FIRST)
    # A plain sync brings the current objects back; the lock then restores the pin.
    bucketsync.sync(s3.url("p"), local, delete=True)
    assert tree(local)["a.csv"] == b"alpha,2\nbeta,3\n"
    report = bucketsync.sync(s3.url("p"), local, lock=Lock.load(lockfile), delete=True)
    assert report.ok and tree(local) == FIRST


def test_diff_against_a_lock(moto_s3: S3Env, tmp_path: Path) -> None:
    s3 = versioned(moto_s3)
    put_all(s3, FIRST)
    lock = bucketsync.snapshot(s3.url("p"))
    local = tmp_path / "l"
    bucketsync.sync(s3.url("p"), local, lock=lock)
    (local / "a.csv").write_bytes(b"edited!!")
    plan = bucketsync.diff(s3.url("p"), local, lock=lock)
    assert [(a.action, a.path) for a in plan.actions] == [("download", "a.csv")]
    lockfile = lock.save(tmp_path / "l.lock")
    done = cli(s3.env, "diff", s3.url("p"), str(local), "--lock", str(lockfile), "--exit-code")
    assert done.returncode == 1 and "a.csv" in done.stdout


def test_unversioned_changed_object_is_an_error(s3: S3Env, tmp_path: Path) -> None:
    put_all(s3, FIRST)
    lockfile = tmp_path / "data.lock"
    assert cli(s3.env, "snapshot", s3.url("p"), "-o", str(lockfile)).returncode == 0
    s3.put("p/a.csv", b"alpha,9\n")  # same size, other content
    local = tmp_path / "local"
    done = cli(s3.env, "sync", s3.url("p"), str(local), "--lock", str(lockfile))
    assert done.returncode == 1, done.stderr
    assert "changed since the lockfile was written" in done.stderr
    assert "a.csv" in done.stderr and "Traceback" not in done.stderr
    assert not (local / "a.csv").exists()  # never a silent newer copy
    assert tree(local) == {k: v for k, v in FIRST.items() if k != "a.csv"}


def test_at_time_with_delete_markers(moto_s3: S3Env, tmp_path: Path) -> None:
    s3 = versioned(moto_s3)
    put_all(s3, FIRST)
    time.sleep(1.1)  # LastModified has one-second (moto) or millisecond resolution
    pinned_at = datetime.now(timezone.utc)
    lock = bucketsync.snapshot(s3.url("p"))
    lockfile = lock.save(tmp_path / "then.lock")
    time.sleep(1.1)
    change(s3)
    local = tmp_path / "at"
    done = cli(s3.env, "sync", s3.url("p"), str(local), "--at", pinned_at.isoformat(), "--delete")
    assert done.returncode == 0, done.stderr
    assert tree(local) == FIRST
    # A lockfile's creation time works too; after the change, c.txt's delete marker wins.
    report = bucketsync.sync(s3.url("p"), tmp_path / "at2", at=lockfile)
    assert report.ok and tree(tmp_path / "at2") == FIRST
    now = bucketsync.sync(s3.url("p"), tmp_path / "now", at=datetime.now(timezone.utc))
    assert now.ok and set(tree(tmp_path / "now")) == {"a.csv", "d/b.bin", "new.txt"}
    before = bucketsync.sync(s3.url("p"), tmp_path / "before", at="2000-01-01T00:00:00Z")
    assert before.ok and tree(tmp_path / "before") == {}


def test_at_on_unversioned_bucket_exits_2(s3: S3Env, tmp_path: Path) -> None:
    put_all(s3, FIRST)
    done = cli(s3.env, "sync", s3.url("p"), str(tmp_path / "x"), "--at", "2026-01-01T00:00:00Z")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "versioned bucket" in lines[0]
    assert not (tmp_path / "x").exists()


@pytest.mark.no_invariants("outside", reason="--write-lock writes the lockfile asked for")
def test_write_lock_after_push_has_version_ids(moto_s3: S3Env, tmp_path: Path) -> None:
    s3 = versioned(moto_s3)
    src = tmp_path / "src"
    for rel, data in FIRST.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    lockfile = tmp_path / "pushed.lock"
    done = cli(s3.env, "sync", str(src), s3.url("p"), "--write-lock", str(lockfile))
    assert done.returncode == 0, done.stderr
    lock = Lock.load(lockfile)
    assert [e.key for e in lock] == sorted("p/" + k for k in FIRST)
    for entry in lock:
        head = s3.head(entry.key)
        assert entry.version_id == head["VersionId"] and entry.crc64nvme
        assert entry.etag == head["ETag"].strip('"')
    (src / "a.csv").write_bytes(b"second")
    bucketsync.sync(src, s3.url("p"), write_lock=tmp_path / "second.lock")
    second = Lock.load(tmp_path / "second.lock")
    assert second.get("p/a.csv") != lock.get("p/a.csv")
    assert second.get("p/d/c.txt") == lock.get("p/d/c.txt")
    out = tmp_path / "out"
    assert bucketsync.sync(s3.url("p"), out, lock=lockfile).ok and tree(out) == FIRST


@pytest.mark.no_invariants("outside", reason="--write-lock writes the lockfile asked for")
def test_write_lock_after_pull(s3: S3Env, tmp_path: Path) -> None:
    put_all(s3, FIRST)
    local = tmp_path / "l"
    report = bucketsync.sync(s3.url("p"), local, write_lock=tmp_path / "pulled.lock")
    assert report.ok
    lock = Lock.load(tmp_path / "pulled.lock")
    assert [e.key for e in lock] == sorted("p/" + k for k in FIRST)
    assert all(e.crc64nvme for e in lock)  # from the pull's own verified records
    again = bucketsync.sync(s3.url("p"), local, lock=lock)
    assert again.ok and again.requests["get"] == 0


def test_fetch_version_keeps_both_copies(moto_s3: S3Env) -> None:
    s3 = versioned(moto_s3)
    s3.put("p/x.txt", b"old")
    old_version = s3.head("p/x.txt")["VersionId"]
    s3.put("p/x.txt", b"new!")
    old = bucketsync.fetch(s3.url("p/x.txt"), version=old_version)
    new = bucketsync.fetch(s3.url("p/x.txt"))
    assert old.read_bytes() == b"old" and new.read_bytes() == b"new!" and old != new
    assert bucketsync.fetch(s3.url("p/x.txt"), version=old_version).read_bytes() == b"old"
    assert new.read_bytes() == b"new!"
    with pytest.raises(bucketsync.UsageError):
        bucketsync.fetch(s3.url("p/x.txt"), version="../../etc")
    with pytest.raises(bucketsync.NotFound):
        bucketsync.fetch(s3.url("p/x.txt"), version="no-such-version")


def test_pinned_mirror_reads_old_bytes_and_refuses_push(moto_s3: S3Env, tmp_path: Path) -> None:
    s3 = versioned(moto_s3)
    put_all(s3, FIRST)
    lock = bucketsync.snapshot(s3.url("p"))
    time.sleep(1.1)  # moto's LastModified counts whole seconds: `at` needs them apart
    change(s3)
    mirror = bucketsync.Mirror(s3.url("p"), lock=lock)
    assert mirror.path("a.csv").read_bytes() == FIRST["a.csv"]
    with mirror.open("d/c.txt", "rb") as f:
        assert f.read() == b"see"
    with pytest.raises(bucketsync.ObjectNotFound):
        mirror.path("new.txt")
    with pytest.raises(bucketsync.UsageError, match="read-only"):
        mirror.push()
    with pytest.raises(bucketsync.UsageError, match="read-only"):
        mirror.open("a.csv", "w")
    assert mirror.pull().ok and tree(mirror.local) == FIRST
    current = bucketsync.Mirror(s3.url("p"))
    assert current.path("a.csv").read_bytes() == b"alpha,2\nbeta,3\n"
    assert mirror.local != current.local
    at = bucketsync.Mirror(s3.url("p"), at=lock.created)
    assert at.path("a.csv").read_bytes() == FIRST["a.csv"]


def test_lock_of_another_prefix_is_a_usage_error(moto_s3: S3Env, tmp_path: Path) -> None:
    put_all(moto_s3, FIRST)
    lockfile = bucketsync.snapshot(moto_s3.url("p")).save(tmp_path / "p.lock")
    done = cli(moto_s3.env, "sync", moto_s3.url("q"), str(tmp_path / "x"), "--lock", str(lockfile))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "pins" in done.stderr
    assert not (tmp_path / "x").exists()


def test_pinned_pull_does_not_vouch_for_current_copies(moto_s3: S3Env, tmp_path: Path) -> None:
    """A folder pulled at a pin, then read through a current Mirror with max_age: the
    Mirror must not take the pinned copy for the latest without asking."""
    s3 = versioned(moto_s3)
    put_all(s3, FIRST)
    lock = bucketsync.snapshot(s3.url("p"))
    local = tmp_path / "shared"
    change(s3)
    assert bucketsync.sync(s3.url("p"), local).ok  # a plain, complete sync: stamped
    assert bucketsync.sync(s3.url("p"), local, lock=lock, delete=True).ok
    assert tree(local) == FIRST
    current = bucketsync.Mirror(s3.url("p"), local=local, max_age=3600)
    current.path("a.csv")
    # Not vouched for by the pinned pull's rows: the Mirror asks the server (which then
    # sees a local file unlike the version last synced, and keeps it as a local change).
    assert sum(current.requests.values()) >= 1
    assert bucketsync.sync(s3.url("p"), local).ok
    assert tree(local)["a.csv"] == b"alpha,2\nbeta,3\n"


def test_localstack_lock_and_at_restore_pinned_bytes(localstack: S3Env, tmp_path: Path) -> None:
    s3 = versioned(localstack)
    put_all(s3, FIRST, ChecksumAlgorithm="CRC64NVME")
    lock = bucketsync.snapshot(s3.url("p"))
    assert all(e.crc64nvme and e.version_id for e in lock)  # LocalStack lists the algorithm
    time.sleep(1.1)  # --at compares whole seconds of LastModified
    change(s3)
    report = bucketsync.sync(s3.url("p"), tmp_path / "lock", lock=lock, delete=True)
    assert report.ok and tree(tmp_path / "lock") == FIRST
    again = bucketsync.sync(s3.url("p"), tmp_path / "lock", lock=lock, delete=True)
    assert again.requests["get"] == 0 and again.bytes_hashed == 0
    at = bucketsync.sync(s3.url("p"), tmp_path / "at", at=lock.created)
    assert at.ok and tree(tmp_path / "at") == FIRST
    old_version = lock.get("p/a.csv").version_id  # type: ignore[union-attr]
    old = bucketsync.fetch(s3.url("p/a.csv"), version=old_version)
    assert old.read_bytes() == FIRST["a.csv"]
    assert bucketsync.fetch(s3.url("p/a.csv")).read_bytes() == b"alpha,2\nbeta,3\n"


@pytest.mark.no_invariants("outside", reason="--write-lock writes the lockfile asked for")
def test_write_lock_after_push_unversioned_rclone(rclone_s3: S3Env, tmp_path: Path) -> None:
    src = tmp_path / "src"
    for rel, data in FIRST.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    report = bucketsync.sync(src, rclone_s3.url("p"), write_lock=tmp_path / "w.lock")
    assert report.ok
    lock = Lock.load(tmp_path / "w.lock")
    assert [e.key for e in lock] == sorted("p/" + k for k in FIRST)
    assert all(e.version_id is None and e.crc64nvme for e in lock) and not lock.versioned
    out = tmp_path / "out"
    assert bucketsync.sync(rclone_s3.url("p"), out, lock=lock).ok and tree(out) == FIRST


@pytest.mark.no_invariants("outside", reason="--write-lock writes the lockfile asked for")
def test_max_delete_holds_with_write_lock_and_lock(moto_s3: S3Env, tmp_path: Path) -> None:
    """--max-delete withholds every delete of a pinned pull or a --write-lock push too
    (those took their own path and deleted past the limit)."""
    s3 = versioned(moto_s3)
    put_all(s3, FIRST)
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.csv").write_bytes(FIRST["a.csv"])
    report = bucketsync.sync(
        src, s3.url("p"), delete=True, max_delete=1, write_lock=tmp_path / "w.lock"
    )
    assert any("--max-delete 1" in e.error for e in report.errors), report.errors
    assert sorted(s3.keys("p/")) == sorted("p/" + k for k in FIRST)
    local = tmp_path / "l"
    for rel, data in {**FIRST, "x": b"1", "y": b"2"}.items():
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_bytes(data)
    lock = bucketsync.snapshot(s3.url("p"))
    pulled = bucketsync.sync(s3.url("p"), local, lock=lock, delete=True, max_delete=1)
    assert any("--max-delete 1" in e.error for e in pulled.errors), pulled.errors
    assert (local / "x").exists() and (local / "y").exists()


def test_write_lock_never_replaces_a_file_that_is_not_a_lockfile(
    moto_s3: S3Env, tmp_path: Path
) -> None:
    """A --write-lock naming someone's data file (or a folder, or a bad value) is refused
    before the sync moves anything; it used to be found out after, or overwritten."""
    put_all(moto_s3, FIRST)
    data = tmp_path / "data.csv"
    data.write_bytes(b"precious,1\n")
    local = tmp_path / "l"
    for bad in (data, tmp_path, 5, ""):
        with pytest.raises(bucketsync.errors.UsageError) as caught:
            bucketsync.sync(moto_s3.url("p"), local, write_lock=bad)
        assert "write_lock" in str(caught.value), caught.value
        assert not local.exists(), bad
    assert data.read_bytes() == b"precious,1\n"
    done = cli(moto_s3.env, "sync", moto_s3.url("p"), str(local), "--write-lock", str(data))
    assert done.returncode == 2 and "not a bucketsync lockfile" in done.stderr, done.stderr
    assert data.read_bytes() == b"precious,1\n" and not local.exists()


@pytest.mark.no_invariants("outside", reason="--write-lock writes the lockfile asked for")
def test_write_lock_replaces_a_lockfile(moto_s3: S3Env, tmp_path: Path) -> None:
    put_all(moto_s3, FIRST)
    target = tmp_path / "w.lock"
    bucketsync.snapshot(moto_s3.url("p")).save(target)
    moto_s3.put("p/new.txt", b"new")
    assert bucketsync.sync(moto_s3.url("p"), tmp_path / "l", write_lock=target).ok
    assert "p/new.txt" in Lock.load(target)


@pytest.mark.parametrize("checksums", ["all", "none"])
def test_a_pinned_version_deleted_is_an_error_for_that_file(
    moto_s3: S3Env, tmp_path: Path, checksums: str
) -> None:
    """The version a lockfile pins is gone (deleted by version id) before the GET: that
    file is an error saying so; the others are pulled; nothing stands at its path."""
    s3 = versioned(moto_s3)
    put_all(s3, FIRST)
    lock = bucketsync.snapshot(s3.url("p"), checksums=checksums)
    gone = lock.get("p/a.csv")
    assert gone is not None and gone.version_id
    s3.client.delete_object(Bucket=s3.bucket, Key="p/a.csv", VersionId=gone.version_id)
    local = tmp_path / "l"
    report = bucketsync.sync(s3.url("p"), local, lock=lock)
    assert [(p.path, "no longer exists" in p.error) for p in report.errors] == [("a.csv", True)]
    assert tree(local) == {k: v for k, v in FIRST.items() if k != "a.csv"}


@pytest.mark.parametrize("server", ["moto_s3", "localstack"])
def test_latest_versions_listed_by_ranges_list_each_range_once(
    server: str, request: pytest.FixtureRequest
) -> None:
    """A --write-lock pull listed in key ranges lists each range's versions, not the whole
    prefix once per range; every key still comes once, in order, and is remembered."""
    from bucketsync.keyrange import KeyRange
    from bucketsync.ranges import ordered
    from bucketsync.stores.versions import VersionStore

    s3 = versioned(request.getfixturevalue(server))
    keys = [f"k{n:04d}" for n in range(2100)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.client.put_object(Bucket=s3.bucket, Key="p/" + k), keys))
    stats = Stats()
    plain = api.make_store(
        parse_s3_url(s3.url("p")), SyncOptions(endpoint_url=s3.endpoint_url), stats
    )
    store = VersionStore(plain)
    listed = [o.rel for o in ordered(store, KeyRange().split([keys[999]]), 2)]
    assert listed == keys and sorted(store.seen) == ["p/" + k for k in keys]
    assert stats.requests.as_dict()["list"] == 3  # 1 page, then 2 (was 3 pages per range)
