"""The notebook API against real servers: Mirror, fetch() and their freshness checks."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import bucketsync
from bucketsync.stores import s3 as s3_store
from faultproxy import FaultProxy, Faults
from s3env import S3Env
from s3servers import S3Server, start_moto, start_rclone

MIB = 1024 * 1024


def _total(requests: dict[str, int]) -> int:
    return sum(requests.values())


def _sent(mirror: bucketsync.Mirror, call: Callable[[], object]) -> dict[str, int]:
    """The requests `call` sent, by kind (only kinds with any)."""
    before = mirror.requests
    call()
    return {k: v - before[k] for k, v in mirror.requests.items() if v != before[k]}


def _age_records(when: float = 0.0) -> None:
    """Pretend every pair in the state database was last verified at `when`."""
    db = sqlite3.connect(Path(os.environ["BUCKETSYNC_STATE_DIR"]) / "state.sqlite3")
    with db:
        db.execute("UPDATE records SET verified_at=?", (when,))
    db.close()


# --- freshness and request counts ----------------------------------------------------------


def test_path_downloads_once_then_checks_with_one_conditional_get(s3: S3Env) -> None:
    s3.put("EOD/prices.csv", b"a,b\n1,2\n")
    m = bucketsync.Mirror(s3.url("EOD/"))
    assert _sent(m, lambda: m.path("prices.csv")) == {"get": 1}
    path = m.path("prices.csv")
    assert path.read_bytes() == b"a,b\n1,2\n" and m.downloads == 1
    for _ in range(3):
        assert _sent(m, lambda: m.path("prices.csv")) == {"get": 1}
    assert m.downloads == 1, "an unchanged object is not downloaded again"


def test_remote_same_size_change_is_seen(s3: S3Env) -> None:
    s3.put("x.bin", b"1" * 1000)
    m = bucketsync.Mirror(s3.url())
    path = m.path("x.bin")
    s3.put("x.bin", b"2" * 1000)  # same size; the local file is untouched
    assert _sent(m, lambda: m.path("x.bin")) == {"get": 1}, "one request checks and downloads"
    assert path.read_bytes() == b"2" * 1000 and m.downloads == 2


def test_server_sees_one_request_per_path_call(s3: S3Env) -> None:
    s3.put("k.txt", b"content")
    with FaultProxy(s3.endpoint_url, Faults()) as proxy:
        m = bucketsync.Mirror(s3.url(), endpoint_url=proxy.endpoint_url)
        for expected in (1, 2, 3):
            m.path("k.txt")
            assert proxy.stats["requests"] == expected
        assert {method for method, _, _ in proxy.log} == {"GET"}
        m.path("k.txt", max_age=60)
        assert proxy.stats["requests"] == 3


def test_max_age_sends_nothing_within_the_age(s3: S3Env) -> None:
    s3.put("k.txt", b"v1")
    m = bucketsync.Mirror(s3.url(), max_age=60)
    m.path("k.txt")
    s3.put("k.txt", b"v2")
    assert _sent(m, lambda: m.path("k.txt")) == {}
    assert m.path("k.txt").read_bytes() == b"v1", "within max_age the copy is trusted"
    assert _sent(m, lambda: m.path("k.txt", max_age=None)) == {"get": 1}
    assert m.path("k.txt").read_bytes() == b"v2"
    _age_records(0.0)
    assert _sent(m, lambda: m.path("k.txt")) == {"get": 1}, "an old check does not count"


def test_a_pull_counts_as_a_check(s3: S3Env) -> None:
    s3.put("p/a.txt", b"a")
    s3.put("p/b.txt", b"b")
    m = bucketsync.Mirror(s3.url("p"))
    m.pull()
    _age_records(0.0)
    report = m.pull()
    assert report.unchanged == 2 and report.downloaded == 0
    fresh = bucketsync.Mirror(s3.url("p"), max_age=60)  # as a later process would
    assert _sent(fresh, lambda: fresh.path("a.txt")) == {}
    _age_records(0.0)
    bucketsync.sync(s3.url("p"), m.local)  # a plain sync of the folder counts too
    assert _sent(fresh, lambda: fresh.path("b.txt")) == {}


def test_local_file_unknown_to_the_state_database(s3: S3Env) -> None:
    s3.put("a.txt", b"same")
    m = bucketsync.Mirror(s3.url())
    m.local.mkdir(parents=True)
    (m.local / "a.txt").write_bytes(b"same")
    os.utime(m.local / "a.txt", (0, 0))  # older than the object: not a local edit
    time.sleep(0.05)  # a file changed within ~20 ms of its check is racily clean: not recorded
    assert _sent(m, lambda: m.path("a.txt")) == {"list": 1}, "compared by hashing, kept"
    assert m.downloads == 0
    assert _sent(m, lambda: m.path("a.txt")) == {"get": 1}, "now recorded: conditional GET"
    (m.local / "b.txt").write_bytes(b"old!")
    os.utime(m.local / "b.txt", (0, 0))
    s3.put("b.txt", b"new!")
    assert m.path("b.txt").read_bytes() == b"new!" and m.downloads == 1


def test_missing_object_and_unsafe_keys(s3: S3Env) -> None:
    m = bucketsync.Mirror(s3.url("p"))
    with pytest.raises(bucketsync.ObjectNotFound):
        m.path("nothing.txt")
    with pytest.raises(FileNotFoundError):
        bucketsync.fetch(s3.url("p/nothing.txt"))
    for key in ("../escape", "/abs", "a//b", ""):
        with pytest.raises(bucketsync.UnsafeKey):
            m.path(key)
    assert not m.local.exists()


def test_a_folder_removed_or_swapped_between_calls_is_checked_again(
    moto_s3: S3Env, tmp_path: Path
) -> None:
    """A Mirror's folders are checked on every download, not once per Mirror: a folder
    removed since (by clear() or a user) is made again, and one swapped for a symbolic
    link to elsewhere is refused, with nothing written there."""
    moto_s3.put("d/a.csv", b"v1")
    m = bucketsync.Mirror(moto_s3.url(), tmp_path / "mirror")
    assert m.path("d/a.csv").read_bytes() == b"v1"
    bucketsync.Mirror(moto_s3.url(), tmp_path / "mirror").clear()
    assert not (m.local / "d").exists()
    assert m.path("d/a.csv").read_bytes() == b"v1"  # was FileNotFoundError on the temp file

    outside = tmp_path / "outside"
    outside.mkdir()
    (m.local / "d" / "a.csv").unlink()
    (m.local / "d").rmdir()
    (m.local / "d").symlink_to(outside)
    with pytest.raises(bucketsync.UnsafeKey):
        m.path("d/a.csv")
    assert list(outside.iterdir()) == []


def test_rclone_304_without_the_parser_fix_falls_back_to_head(rclone_s3: S3Env) -> None:
    rclone_s3.put("k.txt", b"x", ChecksumAlgorithm="CRC32")  # checksum headers on the 304
    m = bucketsync.Mirror(rclone_s3.url())
    m.path("k.txt")
    store = m._open().store
    store.client.meta.events.unregister("before-parse.s3.GetObject", s3_store._bodiless_304)
    assert _sent(m, lambda: m.path("k.txt")) == {"get": 1, "head": 1}
    assert m.downloads == 1


# --- fetch() and the cache folder ----------------------------------------------------------


def test_fetch_returns_a_readable_cache_path(s3: S3Env) -> None:
    s3.put("EOD/2024/prices.parquet", b"PAR1")
    path = bucketsync.fetch(s3.url("EOD/2024/prices.parquet"))
    host = s3.endpoint_url.split("//", 1)[1]
    expected = Path(os.environ["BUCKETSYNC_CACHE_DIR"], host, s3.bucket, "EOD/2024/prices.parquet")
    assert path == expected and path.read_bytes() == b"PAR1"
    assert bucketsync.Mirror(s3.url("EOD/2024")).path("prices.parquet") == path
    s3.put("EOD/2024/prices.parquet", b"PAR2")
    assert bucketsync.fetch(s3.url("EOD/2024/prices.parquet"), max_age=60).read_bytes() == b"PAR1"
    assert bucketsync.fetch(s3.url("EOD/2024/prices.parquet")).read_bytes() == b"PAR2"
    with pytest.raises(bucketsync.UsageError):
        bucketsync.fetch(s3.url("EOD/"))


# --- offline ---------------------------------------------------------------------------------

STARTERS: dict[str, Callable[[Path], S3Server]] = {
    "moto": lambda _root: start_moto(),
    "rclone": start_rclone,
}


@pytest.fixture(params=sorted(STARTERS))
def private_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[S3Server]:
    """A server of this test's own, which the test may stop."""
    server = STARTERS[request.param](tmp_path / "server")
    try:
        server.client().create_bucket(Bucket="offline")
        yield server
    finally:
        server.stop()


def test_offline_uses_the_cached_copy_with_a_warning(private_server: S3Server) -> None:
    private_server.client().put_object(Bucket="offline", Key="k.txt", Body=b"cached")
    url, endpoint = "s3://offline/", private_server.endpoint_url
    m = bucketsync.Mirror(url, endpoint_url=endpoint, max_attempts=1)
    path = m.path("k.txt")
    private_server.stop()
    with pytest.warns(bucketsync.OfflineWarning, match="cannot reach"):
        assert m.path("k.txt") == path and path.read_bytes() == b"cached"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert m.path("k.txt", offline="ignore") == path
        assert m.path("k.txt", max_age=60) == path, "a recent check needs no server"
    with pytest.raises(bucketsync.EndpointError):
        m.path("k.txt", offline="error")
    with pytest.raises(ConnectionError):
        m.path("never-fetched.txt")
    strict = bucketsync.Mirror(url, endpoint_url=endpoint, max_attempts=1, offline="error")
    with pytest.raises(bucketsync.EndpointError):
        strict.path("k.txt")


# --- several processes, torn files ---------------------------------------------------------


def _child_path(mirror: bucketsync.Mirror, key: str, barrier: Any, out: Any) -> None:
    barrier.wait()
    path = mirror.path(key)
    out.put((mirror.downloads, _total(mirror.requests), path.stat().st_size))


def test_two_processes_download_a_key_once(s3: S3Env) -> None:
    s3.put("big.bin", os.urandom(8 * MIB))
    m = bucketsync.Mirror(s3.url())  # pickled into each child
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    children = [ctx.Process(target=_child_path, args=(m, "big.bin", barrier, out)) for _ in "ab"]
    for child in children:
        child.start()
    results = [out.get(timeout=60) for _ in children]
    for child in children:
        child.join(10)
        assert child.exitcode == 0
    assert sorted(r[0] for r in results) == [0, 1], "one process downloaded, one waited"
    assert [r[2] for r in results] == [8 * MIB] * 2
    assert max(r[1] for r in results) == 1, "the waiting one trusted the fresh check"
    assert m.path("big.bin").read_bytes() == s3.get("big.bin")


def test_a_check_counts_in_a_later_process(moto_s3: S3Env) -> None:
    moto_s3.put("k.txt", b"k")
    bucketsync.Mirror(moto_s3.url()).path("k.txt")
    ctx = multiprocessing.get_context("spawn")
    later, barrier, out = bucketsync.Mirror(moto_s3.url(), max_age=60), ctx.Barrier(1), ctx.Queue()
    child = ctx.Process(target=_child_path, args=(later, "k.txt", barrier, out))
    child.start()
    downloads, requests, size = out.get(timeout=60)
    child.join(10)
    assert (downloads, requests, size) == (0, 0, 1)


def test_threads_share_a_mirror(moto_s3: S3Env) -> None:
    for i in range(4):
        moto_s3.put(f"k{i}", bytes([i]) * 1000)
    m = bucketsync.Mirror(moto_s3.url())
    keys = [f"k{i % 4}" for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(m.path, keys))
    assert [p.read_bytes()[0] for p in paths] == [i % 4 for i in range(16)]
    assert m.downloads == 4, "each key downloaded once"


def test_readers_never_see_a_torn_file(moto_s3: S3Env) -> None:
    versions = [bytes([n]) * (2 * MIB) for n in range(3)]
    moto_s3.put("v.bin", versions[0])
    m = bucketsync.Mirror(moto_s3.url())
    path = m.path("v.bin")
    stop, seen, torn = threading.Event(), set(), []

    def read() -> None:
        while not stop.is_set():
            data = path.read_bytes()
            seen.add(data[:1])
            if data not in versions:
                torn.append(len(data))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in (1, 2, 1, 2):
            moto_s3.put("v.bin", versions[n])
            m.path("v.bin")
    finally:
        stop.set()
        reader.join()
    assert not torn and len(seen) >= 2


# --- open(), push(), diff(), clear() -------------------------------------------------------


def test_open_reads_and_writes_atomically_and_push_uploads(s3: S3Env) -> None:
    s3.put("notes/readme.txt", b"hello\n")
    m = bucketsync.Mirror(s3.url())
    with m.open("notes/readme.txt") as f:
        assert f.read() == "hello\n"
    with m.open("notes/readme.txt", "a") as f:
        f.write("more\n")
    with m.open("new/data.bin", "wb") as f:
        f.write(b"\x00\x01")
        assert not (m.local / "new/data.bin").exists(), "nothing lands before close"
    with pytest.raises(RuntimeError), m.open("new/data.bin", "wb") as f:
        f.write(b"half")
        raise RuntimeError("failed while writing")
    assert (m.local / "new/data.bin").read_bytes() == b"\x00\x01", "a failed write is discarded"
    assert [p.name for p in (m.local / "new").iterdir()] == ["data.bin"], "no temp file left"
    assert m.open("notes/readme.txt").read() == "hello\nmore\n", "a local change is kept"
    plan = m.diff("push")
    assert sorted((a.action, a.path) for a in plan) == [
        ("upload", "new/data.bin"),
        ("upload", "notes/readme.txt"),
    ]
    report = m.push()
    assert report.uploaded == 2 and report.ok
    assert s3.get("notes/readme.txt") == b"hello\nmore\n" and s3.get("new/data.bin") == b"\x00\x01"
    assert _sent(m, lambda: m.path("notes/readme.txt")) == {"get": 1}
    assert not m.diff() and not m.diff("push")
    with pytest.raises(bucketsync.UsageError):
        m.open("k", "r+")


def test_a_local_edit_is_kept_when_the_server_copy_changed_too(s3: S3Env) -> None:
    s3.put("k.txt", b"v1")
    m = bucketsync.Mirror(s3.url())
    path = m.path("k.txt")
    with m.open("k.txt", "w") as f:
        f.write("local")
    os.utime(path, (1, 1))  # even older than what the server will hold: never replaced
    s3.put("k.txt", b"v2")
    with pytest.warns(bucketsync.ConflictWarning, match="k.txt") as caught:
        assert m.path("k.txt").read_bytes() == b"local"
    assert caught[0].filename == __file__, "the warning points at the caller's line"


def test_clear_deletes_the_copies_and_their_state(s3: S3Env) -> None:
    s3.put("p/a.txt", b"a")
    m = bucketsync.Mirror(s3.url("p"))
    m.pull()
    assert (m.local / "a.txt").exists()
    m.clear()
    assert not m.local.exists()
    assert _sent(m, lambda: m.path("a.txt", max_age=60)) == {"get": 1}, "state forgotten too"


# --- pickling and display ------------------------------------------------------------------


def test_mirror_report_and_plan_pickle(s3: S3Env, tmp_path: Path) -> None:
    s3.put("p/a.txt", b"a")
    m = bucketsync.Mirror(s3.url("p"), tmp_path / "here", max_age=5, offline="error", jobs=2)
    report = m.pull()
    copy = pickle.loads(pickle.dumps(m))
    assert repr(copy) == repr(m) and copy.local == m.local
    assert (copy.max_age, copy.offline) == (5.0, "error")
    assert copy.path("a.txt").read_bytes() == b"a"
    again = pickle.loads(pickle.dumps(report))
    assert again.to_dict() == report.to_dict()
    plan = m.diff()
    assert pickle.loads(pickle.dumps(plan)).to_dict() == plan.to_dict()
    default = bucketsync.Mirror(s3.url("p"))
    assert pickle.loads(pickle.dumps(default)).local == default.local


def test_report_and_plan_show_as_html(s3: S3Env, tmp_path: Path) -> None:
    s3.put("p/<b>.txt", b"x")
    report = bucketsync.Mirror(s3.url("p"), tmp_path).pull()
    html = report._repr_html_()
    assert "<table" in html and "&lt;b&gt;.txt" in html and "downloaded" in html
    s3.put("p/<b>.txt", b"y")
    assert "download" in bucketsync.diff(s3.url("p"), tmp_path)._repr_html_()
