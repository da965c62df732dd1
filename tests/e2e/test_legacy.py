"""The origin notebook's LocalObjectCache, its five examples pointed at a local server."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig

from bucketsync import LocalObjectCache
from s3env import S3Env

MIB = 1024 * 1024


@pytest.fixture
def notebook_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The notebook's working folder, with its feather_files/."""
    (tmp_path / "feather_files").mkdir()
    (tmp_path / "feather_files/feather_512.fth").write_bytes(os.urandom(512 * 1024))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(LocalObjectCache, "counter", 0)
    return tmp_path


def test_the_notebooks_five_examples(s3: S3Env, notebook_dir: Path) -> None:
    bucket_name, prefix = s3.bucket, "EOD/"
    data = (notebook_dir / "feather_files/feather_512.fth").read_bytes()

    # Example 1: upload a file from the system.
    obj = LocalObjectCache(bucket_name, prefix)
    key = os.path.abspath("feather_files/feather_512.fth")
    assert obj.upload_obj(key) == s3.head("EOD/feather_512.fth")["ETag"]
    assert s3.get("EOD/feather_512.fth") == data
    assert obj.upload_obj(key) is None, "the bucket already holds this content"

    # Example 2: download a key (the tag is no longer needed).
    obj = LocalObjectCache(bucket_name, prefix)
    key = os.path.join(obj.prefix, "feather_512.fth")
    path = obj.download_obj(key, "hello")
    assert path == obj.get_path(key) == obj.get_path("feather_512.fth")
    assert path == os.path.join(obj.path, "EOD", "feather_512.fth"), "prefix joined once"
    assert Path(path).read_bytes() == data

    # Example 3: sync the prefix.
    s3.put("EOD/other.fth", b"other")
    obj = LocalObjectCache(bucket_name, prefix)
    report = obj.sync()
    assert report.downloaded == 1 and report.unchanged == 1
    assert Path(obj.get_path("other.fth")).read_bytes() == b"other"

    # Example 4: the bucket name.
    obj = LocalObjectCache(bucket_name, prefix)
    assert obj.set_bucket() == bucket_name

    # Example 5: delete the local cache.
    obj = LocalObjectCache(bucket_name, prefix)
    obj.close()
    assert not os.path.exists(obj.path)
    assert LocalObjectCache.counter == 1, "only other.fth was ever downloaded"


def test_downloading_the_same_data_ten_times_downloads_once(s3: S3Env, notebook_dir: Path) -> None:
    s3.put("EOD/feather_512.fth", (notebook_dir / "feather_files/feather_512.fth").read_bytes())
    obj = LocalObjectCache(s3.bucket, "EOD/", path=str(notebook_dir / "cache"))
    for i in range(10):
        tag = obj.calculate_s3_etag(obj.get_path("feather_512.fth")) if i else ""
        obj._get_obj(os.path.join(obj.prefix, "feather_512.fth"), tag)
    assert LocalObjectCache.counter == 1 and obj.counter == 1


def test_upload_keeps_folders_and_compares_with_the_bucket(s3: S3Env, tmp_path: Path) -> None:
    obj = LocalObjectCache(s3.bucket, "EOD/", path=str(tmp_path / "cache"))
    nested = tmp_path / "cache/EOD/2024/jan.csv"
    nested.parent.mkdir(parents=True)
    nested.write_bytes(b"jan")
    obj.upload_obj(nested)
    outside = tmp_path / "elsewhere/feb.csv"
    outside.parent.mkdir()
    outside.write_bytes(b"feb")
    obj.upload_obj(outside)
    obj.upload_obj(outside, key="2024/feb.csv")
    assert s3.keys() == ["EOD/2024/feb.csv", "EOD/2024/jan.csv", "EOD/feb.csv"]
    s3.put("EOD/feb.csv", b"changed by someone else")
    assert obj.upload_obj(outside) is not None, "compared with the bucket, not the cache"
    assert s3.get("EOD/feb.csv") == b"feb"


def test_context_manager_and_pickling(s3: S3Env, tmp_path: Path) -> None:
    s3.put("a.txt", b"a")
    with LocalObjectCache(s3.bucket, path=str(tmp_path / "c")) as obj:
        copy = pickle.loads(pickle.dumps(obj))
        assert copy.path == obj.path and copy.bucket_name == s3.bucket
        assert Path(copy.download_obj("a.txt")).read_bytes() == b"a"
        assert obj.get_path("a.txt") == copy.get_path("a.txt")
    assert not (tmp_path / "c").exists(), "the cache is deleted on exit"


def test_set_bucket_switches_buckets(s3: S3Env, tmp_path: Path) -> None:
    other = s3.bucket + "-2"
    s3.client.create_bucket(Bucket=other)
    try:
        s3.client.put_object(Bucket=other, Key="p/x.txt", Body=b"other bucket")
        obj = LocalObjectCache(s3.bucket, "p/")
        assert obj.set_bucket(other) == other and obj.bucket_name == other
        assert other in obj.path
        assert Path(obj.download_obj("p/x.txt")).read_bytes() == b"other bucket"
    finally:
        s3.client.delete_object(Bucket=other, Key="p/x.txt")
        s3.client.delete_bucket(Bucket=other)


def test_calculate_s3_etag_matches_the_server(moto_s3: S3Env, tmp_path: Path) -> None:
    config = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB)
    for name, size in (("small", 1000), ("one-part", 8 * MIB), ("three-parts", 17 * MIB)):
        path = tmp_path / name
        path.write_bytes(os.urandom(size))
        moto_s3.client.upload_file(str(path), moto_s3.bucket, name, Config=config)
        with open(path, "rb") as f:
            assert LocalObjectCache.calculate_s3_etag(f) == moto_s3.head(name)["ETag"], name
    moto_s3.put("empty", b"")
    empty = LocalObjectCache.calculate_s3_etag(io.BytesIO(b""))
    assert empty == moto_s3.head("empty")["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    assert LocalObjectCache.calculate_s3_etag(tmp_path / "small").startswith('"')
