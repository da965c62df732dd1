"""The bucketsync:// fsspec filesystem on moto and rclone serve s3.

fsspec's AbstractFileSystem contract for the methods bucketsync implements, the
libraries that read through it (pandas, pyarrow, xarray, dask), and what each read
costs in requests.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

fsspec = pytest.importorskip("fsspec")

from bucketsync.filesystem import BucketsyncFileSystem  # noqa: E402
from s3env import S3Env  # noqa: E402

CSV = b"day,price\n1,10\n2,11\n"


@pytest.fixture(autouse=True)
def fresh_instances() -> Iterator[None]:
    """fsspec keeps one instance per options and thread; every test starts anew."""
    BucketsyncFileSystem.clear_instance_cache()
    yield
    BucketsyncFileSystem.clear_instance_cache()


def _fs(**options: Any) -> Any:
    return fsspec.filesystem("bucketsync", **options)


def _sent(fs: Any, call: Callable[[], object]) -> dict[str, int]:
    """The requests `call` sent through fs, by kind (only kinds with any)."""
    before = fs.requests
    call()
    after = fs.requests
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def _tree(s3: S3Env) -> None:
    s3.put("data/a.csv", CSV)
    s3.put("data/b.csv", b"day,price\n3,12\n")
    s3.put("data/sub/c.txt", b"c")
    s3.put("top.txt", b"top")


# ---- the entry point and the AbstractFileSystem contract ---------------------------


def test_entry_point_registers_the_protocol() -> None:
    assert "bucketsync" in fsspec.available_protocols()
    assert fsspec.get_filesystem_class("bucketsync") is BucketsyncFileSystem


def test_ls_shapes(s3: S3Env) -> None:
    _tree(s3)
    fs = _fs()
    b = s3.bucket
    assert fs.ls(f"bucketsync://{b}/data", detail=False) == [
        f"{b}/data/a.csv",
        f"{b}/data/b.csv",
        f"{b}/data/sub",
    ]
    detail = {e["name"]: e for e in fs.ls(f"{b}/data", detail=True)}
    assert detail[f"{b}/data/a.csv"]["type"] == "file"
    assert detail[f"{b}/data/a.csv"]["size"] == len(CSV)
    assert detail[f"{b}/data/sub"]["type"] == "directory"
    assert fs.ls(b, detail=False) == [f"{b}/data", f"{b}/top.txt"]
    assert fs.ls(f"{b}/top.txt", detail=False) == [f"{b}/top.txt"]  # a file lists itself
    with pytest.raises(FileNotFoundError):
        fs.ls(f"{b}/nothing-here")


def test_info_exists_isdir_isfile(s3: S3Env) -> None:
    _tree(s3)
    fs = _fs()
    b = s3.bucket
    info = fs.info(f"{b}/data/a.csv")
    assert (info["name"], info["size"], info["type"]) == (f"{b}/data/a.csv", len(CSV), "file")
    assert fs.info(f"{b}/data")["type"] == "directory"
    assert fs.info(f"{b}/data/sub")["type"] == "directory"
    assert fs.info(b)["type"] == "directory"
    with pytest.raises(FileNotFoundError):
        fs.info(f"{b}/data/missing.csv")
    assert fs.exists(f"{b}/data/a.csv") and fs.exists(f"{b}/data") and fs.exists(b)
    assert not fs.exists(f"{b}/data/missing.csv")
    assert fs.isdir(f"{b}/data") and not fs.isdir(f"{b}/data/a.csv")
    assert fs.isfile(f"{b}/data/a.csv") and not fs.isfile(f"{b}/data")
    assert fs.size(f"{b}/data/b.csv") == len(b"day,price\n3,12\n")


def test_find_and_glob(s3: S3Env) -> None:
    _tree(s3)
    fs = _fs()
    b = s3.bucket
    assert fs.find(f"{b}/data") == [f"{b}/data/a.csv", f"{b}/data/b.csv", f"{b}/data/sub/c.txt"]
    assert fs.find(b, withdirs=True) == [
        f"{b}/data",
        f"{b}/data/a.csv",
        f"{b}/data/b.csv",
        f"{b}/data/sub",
        f"{b}/data/sub/c.txt",
        f"{b}/top.txt",
    ]
    assert fs.find(f"{b}/data", maxdepth=1) == [f"{b}/data/a.csv", f"{b}/data/b.csv"]
    detail = fs.find(f"{b}/data", detail=True)
    assert detail[f"{b}/data/sub/c.txt"]["size"] == 1
    assert fs.glob(f"bucketsync://{b}/data/*.csv") == [f"{b}/data/a.csv", f"{b}/data/b.csv"]
    assert fs.glob(f"{b}/**/*.txt") == [f"{b}/data/sub/c.txt", f"{b}/top.txt"]
    assert fs.find(f"{b}/top.txt") == [f"{b}/top.txt"]


def test_cat_and_open_read(s3: S3Env) -> None:
    _tree(s3)
    fs = _fs()
    b = s3.bucket
    assert fs.cat(f"{b}/data/a.csv") == CSV
    assert fs.cat_file(f"{b}/data/a.csv", start=4, end=9) == CSV[4:9]
    assert fs.cat([f"{b}/top.txt", f"{b}/data/sub/c.txt"]) == {
        f"{b}/top.txt": b"top",
        f"{b}/data/sub/c.txt": b"c",
    }
    with fs.open(f"{b}/data/a.csv", "rb") as f:
        assert f.read() == CSV
    with fs.open(f"{b}/data/a.csv", "r") as f:  # text mode, wrapped by fsspec
        assert f.readline() == "day,price\n"
    with pytest.raises(FileNotFoundError):
        fs.cat(f"{b}/data/missing.csv")


def test_open_local_gives_the_cached_copy(s3: S3Env, tmp_path: Path) -> None:
    _tree(s3)
    path = fsspec.open_local(f"bucketsync://{s3.bucket}/data/a.csv")
    host = s3.endpoint_url.split("://", 1)[1]
    assert Path(path) == tmp_path / "cache" / host / s3.bucket / "data" / "a.csv"
    assert Path(path).read_bytes() == CSV


def test_open_write_uploads_on_close(s3: S3Env) -> None:
    fs = _fs()
    b = s3.bucket
    data = bytes(range(256)) * 1000
    with fs.open(f"bucketsync://{b}/out/new.bin", "wb") as f:
        f.write(data[:1000])
        f.write(data[1000:])
    assert s3.get("out/new.bin") == data
    assert fs.cat(f"{b}/out/new.bin") == data
    with fs.open(f"{b}/out/new.bin", "wb") as f:  # same size, other content
        f.write(data[::-1])
    assert s3.get("out/new.bin") == data[::-1]
    assert fs.info(f"{b}/out/new.bin")["size"] == len(data)


def test_a_failed_write_uploads_nothing(s3: S3Env) -> None:
    fs = _fs()
    with pytest.raises(RuntimeError), fs.open(f"{s3.bucket}/out/x.bin", "wb") as f:
        f.write(b"half")
        raise RuntimeError("stop")
    assert s3.keys("out/") == []


def test_get_is_a_pull(s3: S3Env, tmp_path: Path) -> None:
    _tree(s3)
    fs = _fs()
    b = s3.bucket
    target = tmp_path / "copy"
    fs.get(f"{b}/data/", str(target), recursive=True)
    assert (target / "a.csv").read_bytes() == CSV
    assert (target / "sub" / "c.txt").read_bytes() == b"c"
    inode = (target / "a.csv").stat().st_ino
    s3.put("data/b.csv", b"day,price\n3,13\n")  # same size, new content
    fs.get(f"{b}/data/", str(target), recursive=True)  # a pull: only what differs moves
    assert (target / "a.csv").stat().st_ino == inode
    assert (target / "b.csv").read_bytes() == b"day,price\n3,13\n"
    one = tmp_path / "one"
    one.mkdir()
    fs.get(f"{b}/top.txt", str(one) + "/")
    assert (one / "top.txt").read_bytes() == b"top"
    fs.get(f"{b}/top.txt", str(tmp_path / "renamed.txt"))
    assert (tmp_path / "renamed.txt").read_bytes() == b"top"
    globbed = tmp_path / "globbed"
    fs.get(f"{b}/data/*.csv", str(globbed) + "/")
    assert sorted(p.name for p in globbed.iterdir()) == ["a.csv", "b.csv"]


def test_get_of_one_file_replaces_a_different_local_file(moto_s3: S3Env, tmp_path: Path) -> None:
    """A get of one file is a pull as a get of two is: the source wins. It was a
    `Mirror.path()`, which keeps a newer local file as a change to push, silently."""
    moto_s3.put("d/a.csv", b"remote-a")
    moto_s3.put("d/b.csv", b"remote-b")
    b = moto_s3.bucket
    out = tmp_path / "out"
    out.mkdir()
    for name in ("a.csv", "b.csv"):
        (out / name).write_bytes(b"local!!!")
        os.utime(out / name, (time.time() + 60, time.time() + 60))  # newer than the objects
    fs = _fs()
    fs.get(f"{b}/d/a.csv", str(out / "a.csv"))
    fs.get([f"{b}/d/b.csv"], [str(out / "b.csv")])
    assert (out / "a.csv").read_bytes() == b"remote-a"
    assert (out / "b.csv").read_bytes() == b"remote-b"


def test_a_read_after_put_sees_the_put_within_reuse_check(moto_s3: S3Env, tmp_path: Path) -> None:
    """put() uploads from the user's folder, not the cached copy: the copy checked a
    moment before is checked again, not served stale for reuse_check seconds, and the
    folder's listing shows what the put added."""
    moto_s3.put("d/k.csv", b"old")
    b = moto_s3.bucket
    fs = _fs()  # reuse_check: 2 s
    assert fs.cat(f"{b}/d/k.csv") == b"old"
    assert fs.ls(f"{b}/d", detail=False) == [f"{b}/d/k.csv"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "k.csv").write_bytes(b"new, mine")
    (mine / "other.csv").write_bytes(b"other")
    fs.put(str(mine / "k.csv"), f"{b}/d/k.csv")
    assert fs.cat(f"{b}/d/k.csv") == b"new, mine"
    (mine / "k.csv").write_bytes(b"newer, two")
    fs.put(str(mine) + "/", f"{b}/d/", recursive=True)
    assert fs.cat(f"{b}/d/k.csv") == b"newer, two"
    assert fs.ls(f"{b}/d", detail=False) == [f"{b}/d/k.csv", f"{b}/d/other.csv"]


def test_put_is_a_push(s3: S3Env, tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "deep").mkdir(parents=True)
    (source / "x.csv").write_bytes(b"x,y\n1,2\n")
    (source / "deep" / "y.bin").write_bytes(b"\0" * 1000)
    fs = _fs()
    b = s3.bucket
    fs.put(str(source) + "/", f"{b}/up/", recursive=True)
    assert s3.keys("up/") == ["up/deep/y.bin", "up/x.csv"]
    assert s3.get("up/deep/y.bin") == b"\0" * 1000
    fs.put(str(source / "x.csv"), f"{b}/single.csv")
    assert s3.get("single.csv") == b"x,y\n1,2\n"
    fs.put(str(source / "x.csv"), f"{b}/other-name.csv")
    assert s3.get("other-name.csv") == b"x,y\n1,2\n"
    assert fs.exists(f"{b}/up/x.csv")  # the listing cache was refreshed


# ---- requests: one per file read, none within max_age ----------------------------


def test_open_costs_one_request_and_none_within_max_age(s3: S3Env) -> None:
    _tree(s3)
    b = s3.bucket
    fs = _fs(reuse_check=0)
    read = lambda: fs.cat(f"{b}/data/a.csv")  # noqa: E731
    assert _sent(fs, read) == {"get": 1}  # first: a GET
    assert _sent(fs, read) == {"get": 1}  # then: a conditional GET (304)
    s3.put("data/a.csv", CSV.replace(b"10", b"99"))
    assert _sent(fs, read) == {"get": 1}  # changed: the new content, one GET
    assert fs.cat(f"{b}/data/a.csv") == CSV.replace(b"10", b"99")
    cached = _fs(max_age=60)
    assert _sent(cached, lambda: cached.cat(f"{b}/data/a.csv")) == {}


def test_a_copy_cleared_within_reuse_check_is_fetched_again(moto_s3: S3Env) -> None:
    """The reuse window serves a check, not a file that is gone: a copy removed
    (`Mirror.clear()`, a user's rm) right after a read is fetched again, not a
    FileNotFoundError for an object that exists."""
    import bucketsync

    moto_s3.put("data/a.csv", CSV)
    b = moto_s3.bucket
    fs = _fs()  # reuse_check: 2 s
    assert fs.cat(f"{b}/data/a.csv") == CSV
    bucketsync.Mirror(f"s3://{b}/").clear()
    assert fs.cat(f"{b}/data/a.csv") == CSV


def test_pandas_reads(s3: S3Env) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    b = s3.bucket
    frame = pd.DataFrame({"day": [1, 2, 3], "price": [10.0, 11.5, 12.25]})
    s3.put("t/prices.csv", frame.to_csv(index=False).encode())
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    s3.put("t/prices.parquet", buffer.getvalue())
    fs = _fs()  # the instance pandas gets: same options, same thread

    got = _sent(
        fs,
        lambda: pd.testing.assert_frame_equal(pd.read_csv(f"bucketsync://{b}/t/prices.csv"), frame),
    )
    assert got == {"get": 1}
    got = _sent(
        fs,
        lambda: pd.testing.assert_frame_equal(
            pd.read_parquet(f"bucketsync://{b}/t/prices.parquet"), frame
        ),
    )
    assert got == {"get": 1}
    time.sleep(2.1)  # past reuse_check: the next read checks again
    again = _sent(fs, lambda: pd.read_parquet(f"bucketsync://{b}/t/prices.parquet"))
    assert again == {"get": 1}  # a conditional GET: 304

    options = {"max_age": 300}
    cached = _fs(**options)
    for url in (f"bucketsync://{b}/t/prices.csv", f"bucketsync://{b}/t/prices.parquet"):
        reader = pd.read_csv if url.endswith(".csv") else pd.read_parquet
        assert _sent(cached, lambda r=reader, u=url: r(u, storage_options=options)) == {}


def test_pandas_writes_through(s3: S3Env) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    frame.to_csv(f"bucketsync://{s3.bucket}/w/out.csv", index=False)
    assert s3.get("w/out.csv") == frame.to_csv(index=False).encode()
    frame.to_parquet(f"bucketsync://{s3.bucket}/w/out.parquet")
    back = pd.read_parquet(io.BytesIO(s3.get("w/out.parquet")))
    pd.testing.assert_frame_equal(back, frame)


def test_xarray_open_dataset_via_open_local(s3: S3Env) -> None:
    xr = pytest.importorskip("xarray")
    pytest.importorskip("scipy")
    numpy = pytest.importorskip("numpy")
    dataset = xr.Dataset({"t": ("x", numpy.arange(5.0))}, coords={"x": numpy.arange(5)})
    s3.put("nc/temps.nc", bytes(dataset.to_netcdf(engine="scipy")))
    fs = _fs()
    url = f"bucketsync://{s3.bucket}/nc/temps.nc"
    local: list[str] = []
    assert _sent(fs, lambda: local.append(fsspec.open_local(url))) == {"get": 1}
    assert local[0].endswith("/nc/temps.nc")
    with xr.open_dataset(fsspec.open_local(url)) as opened:  # as a user writes it
        xr.testing.assert_equal(opened.load(), dataset)


def test_dask_read_csv_with_a_glob(s3: S3Env) -> None:
    dd = pytest.importorskip("dask.dataframe")
    dask = pytest.importorskip("dask")
    _tree(s3)
    fs = _fs()
    url = f"bucketsync://{s3.bucket}/data/*.csv"
    frames: list[Any] = []

    def read() -> None:
        with dask.config.set(scheduler="sync"):
            frames.append(dd.read_csv(url).compute())

    sent = _sent(fs, read)
    assert sorted(frames[0]["day"]) == [1, 2, 3]
    assert sent.get("get", 0) <= 2  # one per file
    assert sent.get("list", 0) <= 1  # the glob
    assert set(sent) <= {"get", "list"}


def test_chained_onto_s3fs(s3: S3Env) -> None:
    pytest.importorskip("s3fs")  # optional: bucketsync never needs it
    _tree(s3)
    url = f"bucketsync::s3://{s3.bucket}/data/a.csv"
    with fsspec.open(url, "rb", s3={"endpoint_url": s3.endpoint_url}) as f:
        assert f.read() == CSV
    path = fsspec.open_local(url, s3={"endpoint_url": s3.endpoint_url})
    assert path.endswith(f"/{s3.bucket}/data/a.csv")


def test_the_copy_is_the_one_fetch_and_pull_keep(s3: S3Env) -> None:
    """bucketsync:// reads the copies fetch() and Mirror.pull() verified: no request
    within max_age."""
    import bucketsync

    _tree(s3)
    fetched = bucketsync.fetch(s3.url("top.txt"))
    bucketsync.Mirror(s3.url()).pull()
    fs = _fs(max_age=60)
    local: list[str] = []
    url = f"bucketsync://{s3.bucket}/top.txt"
    assert _sent(fs, lambda: local.append(fsspec.open_local(url))) == {}
    assert Path(local[0]) == fetched
    assert _sent(fs, lambda: fs.cat(f"{s3.bucket}/data/sub/c.txt")) == {}
