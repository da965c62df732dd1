"""Key ranges on real servers: a listing cut into ranges, and a sync run as N ranges."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bucketsync import api
from bucketsync.job import SyncSpec
from bucketsync.keyrange import EVERYTHING
from bucketsync.options import SyncOptions
from bucketsync.ranges import listing, ordered
from bucketsync.report import Report
from bucketsync.result import report_of
from bucketsync.state import StateDB
from latencyproxy import ProxyProcess
from s3env import S3Env

# No key is also a folder of another: rclone serve s3 keeps keys as files.
NAMES = ["a", "a-c", "a0", "ab", "b/c", "b/d/e", "é", "é0/x", "\uff5a", "\U0001f600", "~"]
FILES = NAMES + [f"d{n // 10}/f{n:03}" for n in range(40)]


def make_tree(root: Path, names: list[str]) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode() * 3)


def test_a_listing_in_ranges_returns_every_key_once_in_order(s3: S3Env, tmp_path: Path) -> None:
    for name in FILES:
        s3.put(f"p/{name}", b"x")
    whole = s3.keys("p/")
    rels = [k[2:] for k in whole]
    with api.open_job(tmp_path, s3.url("p"), SyncOptions()) as job:
        for cuts in (["a"], ["a0", "d2/f020", "é"], rels[::3], ["0", "\U0010ffff"]):
            listed = [o.key for o in ordered(job.store, EVERYTHING.split(cuts), 4)]
            assert listed == whole, cuts
        assert job.store.folders() == ["b/", "d0/", "d1/", "d2/", "d3/", "é0/"]


def test_a_first_listing_of_a_big_prefix_is_listed_in_ranges(
    s3: S3Env, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing known yet: one page, then the rest cut at the folders after it. Every key
    comes back once, in order: the page's last key, keys in and around the folders cut
    at (a file before a folder's keys, non-ASCII names after them)."""
    names = [*NAMES, *(f"d{n // 100:02}/f{n:04}" for n in range(1150)), "d05-", "d050/x"]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda name: s3.put(f"p/{name}", b"x"), names))
    whole = s3.keys("p/")
    assert len(whole) == len(names) > 1000
    with api.open_job(tmp_path, s3.url("p"), SyncOptions(jobs=4)) as job:
        with caplog.at_level(logging.DEBUG, logger="bucketsync.ranges"):
            listed = [o.key for o in listing(job)]
        assert job.store.counter is not None
        lists = job.store.counter.as_dict()["list"]
    assert listed == whole
    assert "in 4 key range(s) after one page" in caplog.text
    assert lists <= 1 + 1 + 4 + 1  # the first page, the folders, a page or two a range
    pulled = api.sync(s3.url("p"), tmp_path / "pulled")
    assert pulled.downloaded == len(names) and pulled.ok, pulled.errors
    assert sorted(files(tmp_path / "pulled")) == sorted(names)


def test_a_first_listing_that_fits_in_a_page_costs_one_request(s3: S3Env, tmp_path: Path) -> None:
    for name in FILES:
        s3.put(f"p/{name}", b"x")
    with api.open_job(tmp_path, s3.url("p"), SyncOptions()) as job:
        assert [o.key for o in listing(job)] == s3.keys("p/")
        assert job.store.counter is not None and job.store.counter.as_dict()["list"] == 1


def run(local: Path, src: str | Path, dst: str | Path, ranges: int, **options: Any) -> Report:
    spec = api.make_spec(src, dst, SyncOptions(**options))
    del local
    return api.run(dataclasses.replace(spec, ranges=ranges))


def counts(report: Report) -> dict[str, Any]:
    summary = report.to_dict()
    summary["summary"].pop("seconds")
    summary["summary"].pop("requests")
    return summary | {"source": None, "destination": None}


def rows(local: Path, s3: S3Env, prefix: str) -> list[tuple[Any, ...]]:
    with StateDB() as state:
        scope = state.scope(local, s3.endpoint_url, s3.bucket, prefix)
        return [(r.rel, r.crc64nvme, r.etag, r.remote_size) for r in state.records(scope)]


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_sync_run_as_ranges_equals_one_range(s3: S3Env, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    make_tree(tree, FILES)
    for ranges, prefix in ((1, "one/"), (4, "four/")):
        run(tree, tree, s3.url(prefix), ranges)
    (tree / "a0").write_bytes(b"A0A")  # same size, new content
    (tree / "d1/f012").unlink()
    make_tree(tree, ["b/new", "é0/y"])
    one = run(tree, tree, s3.url("one/"), 1, delete=True)
    four = run(tree, tree, s3.url("four/"), 4, delete=True)
    assert counts(one) == counts(four) and one.uploaded == 3 and one.deleted == 1
    assert rows(tree, s3, "one/") == rows(tree, s3, "four/")
    pulled = {n: tmp_path / f"pull{n}" for n in (1, 4)}
    reports = [
        run(pulled[n], s3.url(f"{'one' if n == 1 else 'four'}/"), pulled[n], n) for n in (1, 4)
    ]
    assert counts(reports[0]) == counts(reports[1])
    assert files(pulled[1]) == files(pulled[4]) == files(tree)
    assert rows(pulled[1], s3, "one/") == rows(pulled[4], s3, "four/") == rows(tree, s3, "one/")


def test_ranges_run_as_units_add_up_to_the_sync(s3: S3Env, tmp_path: Path) -> None:
    """What a cluster would do: each range planned and moved on its own, its result
    saved by the process that owns the state database."""
    tree, units, whole = tmp_path / "tree", tmp_path / "units", tmp_path / "whole"
    make_tree(tree, FILES)
    api.sync(tree, s3.url("p"))
    spec = api.make_spec(s3.url("p"), units, SyncOptions())
    results = []
    for span in EVERYTHING.split(["a0", "d1/f015", "é"]):
        with api.open_resources(dataclasses.replace(spec, key_range=span)) as job:
            result = api.run_range(job)
            api.save_range(job, result)
            results.append(result)
    report = report_of(results, dry_run=False)
    expected = api.sync(s3.url("p"), whole)
    assert counts(report) == counts(expected)
    assert files(units) == files(whole) == files(tree)
    assert rows(units, s3, "p/") == rows(whole, s3, "p/")
    again = api.sync(s3.url("p"), units)
    assert again.unchanged == len(FILES) and again.bytes_hashed == 0


def test_a_no_change_resync_lists_in_ranges_through_a_slow_link(
    rclone_s3: S3Env, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tree = tmp_path / "tree"
    names = [f"k{n:05}" for n in range(4500)] + ["é/x", "\U0001f600"]
    make_tree(tree, names)
    port = int(rclone_s3.endpoint_url.rsplit(":", 1)[1])
    with ProxyProcess(port, 5.0) as proxy:
        first = api.sync(tree, rclone_s3.url("p"), endpoint_url=proxy.url)
        assert first.uploaded == len(names)
        with caplog.at_level(logging.DEBUG, logger="bucketsync.ranges"):
            again = api.sync(tree, rclone_s3.url("p"), endpoint_url=proxy.url)
    assert again.unchanged == len(names) and not again.plan.actions
    assert again.bytes_hashed == 0 and again.requests["head"] == 0
    assert "in 2 key range(s)" in caplog.text
    assert again.requests["list"] <= 5 + 2  # the pages, and at most one more per range
    # the pull side: the same keys, listed in ranges, land once each
    pulled = tmp_path / "pulled"
    with ProxyProcess(port, 5.0) as proxy:
        spec = api.make_spec(rclone_s3.url("p"), pulled, SyncOptions(endpoint_url=proxy.url))
        report = api.run(dataclasses.replace(spec, ranges=3))
    assert report.downloaded == len(names) and files(pulled) == files(tree)


def test_spec_carries_no_credentials(s3: S3Env, tmp_path: Path) -> None:
    spec = api.make_spec(tmp_path, s3.url("p"), SyncOptions())
    assert isinstance(spec, SyncSpec)
    text = repr(spec)
    assert "secret" not in text.lower() and "AWS_SECRET" not in text


def test_a_resync_after_a_multipart_upload_sends_no_head(
    s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rclone lists a multipart object with another ETag than its upload returned: the
    record keeps the listed one, so the next sync costs the listing alone."""
    monkeypatch.setattr("bucketsync.transfer.MULTIPART_THRESHOLD", 6 * 1024 * 1024)
    monkeypatch.setattr("bucketsync.transfer.PART_SIZE", 5 * 1024 * 1024)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "big").write_bytes(bytes(range(256)) * 45_000)  # about 11 MiB: 3 parts
    os.utime(tree / "big", (1_700_000_000, 1_700_000_000))
    time.sleep(0.1)  # its ctime well before the upload reads it: not racily clean
    assert api.sync(tree, s3.url("p")).uploaded == 1
    again = api.sync(tree, s3.url("p"))
    assert again.unchanged == 1 and again.bytes_hashed == 0, again.requests
    assert again.requests["head"] == 0 and again.requests["list"] == 1
