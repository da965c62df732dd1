"""The bounded cache against real servers: eviction past the cap, what it must spare (a
file another process holds open, a local change, a running sync), and `bucketsync cache`."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import bucketsync
from bucketsync import cachesize
from bucketsync.locking import folder_lock
from s3env import S3Env

MIB = 2**20
BUCKETSYNC = str(Path(sys.executable).with_name("bucketsync"))


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BUCKETSYNC, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _blobs(s3: S3Env, names: str, size: int = MIB) -> dict[str, bytes]:
    blobs = {name: bytes([i + 1]) * size for i, name in enumerate(names)}
    for name, data in blobs.items():
        s3.put(f"data/{name}", data)
    return blobs


def _age_use(path: Path, days: float) -> None:
    """Pretend the copy at path was last used `days` ago (as another process would see it)."""
    db = sqlite3.connect(Path(os.environ["BUCKETSYNC_STATE_DIR"]) / "cache.sqlite3")
    with db:
        done = db.execute(
            "UPDATE uses SET used_at=? WHERE path=?",
            (time.time() - days * 86400, str(path.resolve())),
        )
        assert done.rowcount == 1
    db.close()


def _hold_open(url: str, options: dict[str, Any], opened: Any, release: Any, out: Any) -> None:
    """In another process: open url through fsspec, say so, wait, then read it whole."""
    import fsspec

    with fsspec.open(url, "rb", **options) as f:
        opened.set()
        release.wait(60)
        out.put(hashlib.sha256(f.read()).hexdigest())


def test_eviction_spares_a_file_open_elsewhere_and_a_local_change(s3: S3Env) -> None:
    pytest.importorskip("fsspec")
    blobs = _blobs(s3, "abcd")
    m = bucketsync.Mirror(s3.url("data/"))
    spawn = multiprocessing.get_context("spawn")
    opened, release, out = spawn.Event(), spawn.Event(), spawn.Queue()
    url = f"bucketsync://{s3.bucket}/data/a"
    reader = spawn.Process(
        target=_hold_open, args=(url, {"endpoint_url": s3.endpoint_url}, opened, release, out)
    )
    reader.start()
    try:
        assert opened.wait(60), "the reader opened a"
        m.path("b")
        edited = b"\xee" * MIB
        with m.open("b", "wb") as f:  # a local change, not pushed
            f.write(edited)
        for name in "cd":  # the cap is passed: a (open) and b (changed) must stay
            path = bucketsync.fetch(s3.url(f"data/{name}"), max_size="2.5MiB")
            assert path.read_bytes() == blobs[name], "the copy just fetched is there"
        folder = m.local
        assert (folder / "a").read_bytes() == blobs["a"]
        assert (folder / "b").read_bytes() == edited
        assert not (folder / "c").exists(), "the least recently used copy that may go, went"
        assert (folder / "d").read_bytes() == blobs["d"]
    finally:
        release.set()
        digest = out.get(timeout=60)
        reader.join(30)
    assert reader.exitcode == 0
    assert digest == hashlib.sha256(blobs["a"]).hexdigest(), "the reader read a whole"
    # a, closed now, goes at the next eviction; the local change still stays
    pruned = cachesize.prune(int(2.5 * MIB))
    assert [c.path.name for c in pruned.removed] == ["a"]
    assert (folder / "b").read_bytes() == edited and (folder / "d").exists()
    assert m.path("c").read_bytes() == blobs["c"], "an evicted copy is fetched again"


def test_a_file_open_through_mirror_open_stays_until_closed(moto_s3: S3Env) -> None:
    blobs = _blobs(moto_s3, "ab")
    m = bucketsync.Mirror(moto_s3.url("data/"))
    m.path("b")
    with m.open("a", "rb") as held:
        pruned = cachesize.prune(0)
        assert [(c.path.name, why) for c, why in pruned.kept] == [("a", cachesize.READING)]
        assert [c.path.name for c in pruned.removed] == ["b"]
        assert held.read() == blobs["a"]
    assert [c.path.name for c in cachesize.prune(0).removed] == ["a"]
    assert not m.local.exists(), "emptied folders go too"


def test_nothing_goes_while_a_sync_of_the_folder_runs(moto_s3: S3Env) -> None:
    _blobs(moto_s3, "ab")
    m = bucketsync.Mirror(moto_s3.url("data/"))
    m.pull()
    with folder_lock(m.local):  # what a sync of the folder holds
        pruned = cachesize.prune(0)
    assert not pruned.removed
    assert sorted((c.path.name, why) for c, why in pruned.kept) == [
        ("a", cachesize.SYNCING),
        ("b", cachesize.SYNCING),
    ]
    assert sorted(p.name for p in m.local.iterdir()) == ["a", "b"]


def test_a_pull_into_the_cache_keeps_it_under_the_cap(
    moto_s3: S3Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = _blobs(moto_s3, "abc")
    monkeypatch.setenv(cachesize.MAX_ENV, "2MiB")
    path = bucketsync.fetch(moto_s3.url("data/a"))  # the least recently used copy
    assert path.read_bytes() == blobs["a"]
    other = bucketsync.Mirror(moto_s3.url("data/"))
    other.pull()  # 3 MiB into a 2 MiB cache: the least recently used goes
    info = cachesize.survey()
    assert info.size <= 2 * MIB
    assert len(info.copies) == 2


def test_cache_info_and_prune_on_the_command_line(s3: S3Env) -> None:
    blobs = _blobs(s3, "abc", size=1000)
    m = bucketsync.Mirror(s3.url("data/"))
    for name in "abc":
        m.path(name)
    with m.open("c", "wb") as f:  # a local change: prune must keep it
        f.write(b"mine")
    done = cli(s3.env, "cache", "info", "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    root = Path(os.environ["BUCKETSYNC_CACHE_DIR"]).resolve()
    assert info["cache_dir"] == str(root) and info["max_size"] is None
    assert (info["size"], info["copies"]) == (2004, 3)
    (bucket,) = info["buckets"]
    assert bucket["bucket"] == s3.bucket and (bucket["size"], bucket["copies"]) == (2004, 3)
    assert bucket["endpoint"] == s3.endpoint_url.split("//")[1]
    human = cli(s3.env, "cache", "info")
    assert human.returncode == 0 and "2.0 KiB in 3 copies" in human.stdout, human.stdout

    done = cli(s3.env, "cache", "prune", "--older-than", "1h", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["removed"] == [], "every copy was used within the hour"
    _age_use(m.local / "a", days=8)
    done = cli(s3.env, "cache", "prune", "--older-than", "7d", "--json")
    assert done.returncode == 0, done.stderr
    assert [Path(r["path"]).name for r in json.loads(done.stdout)["removed"]] == ["a"]
    assert m.path("a").read_bytes() == blobs["a"], "fetched again"

    done = cli(s3.env, "cache", "prune", "--max-size", "0", "--json")
    assert done.returncode == 1, "the local change kept the cache past the cap"
    pruned = json.loads(done.stdout)
    assert sorted(Path(r["path"]).name for r in pruned["removed"]) == ["a", "b"]
    assert [(Path(k["path"]).name, k["reason"]) for k in pruned["kept"]] == [
        ("c", cachesize.CHANGED)
    ]
    assert (pruned["size_before"], pruned["size"], pruned["complete"]) == (2004, 4, False)
    assert (m.local / "c").read_bytes() == b"mine"
    assert not (m.local / "a").exists() and not (m.local / "b").exists()
    assert blobs["a"] == s3.get("data/a"), "the bucket is untouched"

    done = cli(s3.env, "cache", "prune", "--max-size", "1kB")
    assert done.returncode == 0 and "removed 0 copies" in done.stdout, done.stdout


@pytest.mark.parametrize(
    ("args", "env", "text"),
    [
        (("prune", "--max-size", "20G"), {}, "argument --max-size: must be a size"),
        (("prune", "--older-than", "soon"), {}, "argument --older-than: must be a duration"),
        (("prune",), {}, "nothing to prune by"),
        (("prune",), {cachesize.MAX_ENV: "lots"}, "BUCKETSYNC_CACHE_MAX must be a size"),
        (("info",), {cachesize.MAX_ENV: "-1GB"}, "BUCKETSYNC_CACHE_MAX must be a size"),
        (("tidy",), {}, "invalid choice: 'tidy'"),
    ],
)
def test_cache_command_bad_input_is_one_line_exit_2(
    args: tuple[str, ...], env: dict[str, str], text: str, isolated_env: None
) -> None:
    environment = {k: v for k, v in os.environ.items() if k != cachesize.MAX_ENV}
    done = cli({**environment, **env}, "cache", *args)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bucketsync: error:"), done.stderr
    assert text in lines[0]


def test_a_bad_cap_is_a_usage_error_in_python(
    moto_s3: S3Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(bucketsync.UsageError, match=r"^max_size must be a size"):
        bucketsync.Mirror(moto_s3.url(), max_size="big")
    monkeypatch.setenv(cachesize.MAX_ENV, "20 gigs")
    with pytest.raises(bucketsync.UsageError, match=r"^BUCKETSYNC_CACHE_MAX must be a size"):
        bucketsync.fetch(moto_s3.url("k"))


def test_the_filesystem_takes_max_size_in_storage_options(moto_s3: S3Env) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("fsspec")
    for n in range(3):
        moto_s3.put(f"days/{n}.csv", f"day,price\n{n},{10 + n}\n".encode() + b"#" * 1000)
    options = {"endpoint_url": moto_s3.endpoint_url, "max_size": "2.1kB"}
    for n in range(3):
        frame = pd.read_csv(f"bucketsync://{moto_s3.bucket}/days/{n}.csv", storage_options=options)
        assert frame["price"][0] == 10 + n
    copies = sorted(c.path.name for c in cachesize.survey().copies)
    assert copies == ["1.csv", "2.csv"], "the least recently used went"
    with pytest.raises(bucketsync.UsageError, match=r"^max_size must be a size"):
        pd.read_csv(f"bucketsync://{moto_s3.bucket}/days/0.csv", storage_options={"max_size": "2x"})


def test_a_use_log_that_cannot_be_written_does_not_fail_a_fetch(
    moto_s3: S3Env, caplog: pytest.LogCaptureFixture
) -> None:
    moto_s3.put("k", b"content")
    (Path(os.environ["BUCKETSYNC_STATE_DIR"]) / "cache.sqlite3").mkdir(parents=True)
    path = bucketsync.fetch(moto_s3.url("k"), max_size="1MB")
    assert path.read_bytes() == b"content"
    assert "could not be noted" in caplog.text
