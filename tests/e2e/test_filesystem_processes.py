"""bucketsync:// read from several processes: worker processes of a pool and of a Dask
LocalCluster. Requests are counted where they arrive, by a proxy in front of the server."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

fsspec = pytest.importorskip("fsspec")
pd = pytest.importorskip("pandas")

from faultproxy import FaultProxy, Faults  # noqa: E402
from s3env import S3Env  # noqa: E402

CSV = b"day,price\n1,10\n2,11\n"


@pytest.fixture
def proxy(s3: S3Env) -> Iterator[FaultProxy]:
    """A proxy that forwards everything and logs each request."""
    with FaultProxy(s3.endpoint_url, Faults()) as running:
        yield running


def _gets(proxy: FaultProxy, bucket: str, key: str) -> int:
    """GET requests of one object that reached the server."""
    path = f"/{bucket}/{key}"
    return sum(
        1 for method, target, _ in proxy.log if method == "GET" and target.split("?")[0] == path
    )


def _lists(proxy: FaultProxy) -> int:
    return sum(1 for method, target, _ in proxy.log if method == "GET" and "list-type=2" in target)


def _read_inode(url: str, options: dict[str, Any]) -> tuple[int, int]:
    """In a worker process: read url with pandas, and say which copy it read."""
    frame = pd.read_csv(url, storage_options=options)
    path = fsspec.open_local(url, **options)
    return len(frame), os.stat(path).st_ino


def test_two_processes_download_a_file_once(s3: S3Env, proxy: FaultProxy) -> None:
    s3.put("shared/prices.csv", CSV)
    url = f"bucketsync://{s3.bucket}/shared/prices.csv"
    options = {"endpoint_url": proxy.endpoint_url}
    spawn = multiprocessing.get_context("spawn")
    with (  # two pools of one process each: two processes for sure
        ProcessPoolExecutor(1, mp_context=spawn) as one,
        ProcessPoolExecutor(1, mp_context=spawn) as two,
    ):
        futures = [pool.submit(_read_inode, url, options) for pool in (one, two)]
        results = [future.result() for future in futures]
    assert [rows for rows, _ in results] == [2, 2]
    assert results[0][1] == results[1][1]  # one copy: the second process got a 304
    # at most one check per process; one in all when the second waited on the first's
    # lock and found the copy verified meanwhile
    assert 1 <= _gets(proxy, s3.bucket, "shared/prices.csv") <= 2


@pytest.mark.slow
def test_dask_local_cluster_reads_each_file_with_one_request(s3: S3Env, proxy: FaultProxy) -> None:
    dd = pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    for n in range(3):
        s3.put(f"days/{n}.csv", f"day,price\n{n},{10 + n}\n".encode())
    url = f"bucketsync://{s3.bucket}/days/*.csv"
    options: dict[str, Any] = {"endpoint_url": proxy.endpoint_url}
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        frame = dd.read_csv(url, storage_options=options).compute()
        assert sorted(frame["day"]) == [0, 1, 2]
        assert _lists(proxy) == 1  # the glob
        for n in range(3):
            # the workers' read, plus the sample read of the first file for the columns
            assert _gets(proxy, s3.bucket, f"days/{n}.csv") <= (2 if n == 0 else 1)
        proxy.log.clear()
        cached = {**options, "max_age": 300}
        again = dd.read_csv(url, storage_options=cached).compute()
        assert sorted(again["day"]) == [0, 1, 2]
        assert _lists(proxy) == 1  # the glob lists again; the files cost nothing
        assert all(_gets(proxy, s3.bucket, f"days/{n}.csv") == 0 for n in range(3))
