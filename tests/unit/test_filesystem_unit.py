"""The bucketsync:// filesystem without a server: options, registration, paths, chaining."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Any

import pytest

import bucketsync
from bucketsync.fsparts import groups

fsspec = pytest.importorskip("fsspec")

from bucketsync.filesystem import BucketsyncFileSystem  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_instances() -> Iterator[None]:
    BucketsyncFileSystem.clear_instance_cache()
    yield
    BucketsyncFileSystem.clear_instance_cache()


def test_the_entry_point_names_the_class() -> None:
    (spec,) = [e for e in entry_points(group="fsspec.specs") if e.name == "bucketsync"]
    assert spec.value == "bucketsync.filesystem:BucketsyncFileSystem"
    assert spec.load() is BucketsyncFileSystem


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"jbos": 4}, "jbos"),
        ({"delete": True}, "delete"),
        ({"include": ["*.csv"]}, "include"),
        ({"max_age": -1}, "max_age"),
        ({"max_age": "soon"}, "max_age"),
        ({"offline": "maybe"}, "offline"),
        ({"jobs": 0}, "jobs"),
        ({"reuse_check": -2}, "reuse_check"),
    ],
)
def test_a_bad_option_is_a_usage_error_naming_it(options: dict[str, Any], named: str) -> None:
    with pytest.raises(bucketsync.UsageError, match=named):
        fsspec.filesystem("bucketsync", skip_instance_cache=True, **options)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"reuse_check": 10**400}, "reuse_check"),
        ({"reuse_check": float("nan")}, "reuse_check"),
        ({"listings_expiry_time": "soon"}, "listings_expiry_time"),
        ({"max_paths": "many"}, "max_paths"),
        ({"target_protocol": "s3", "target_options": "x"}, "target_options"),
        ({"target_protocol": "s3", "target_options": {"client_kwargs": 3}}, "client_kwargs"),
    ],
)
def test_a_wrong_type_is_a_usage_error_not_a_crash(options: dict[str, Any], named: str) -> None:
    """Each of these was a TypeError, ValueError, OverflowError or AttributeError from deep
    inside (or, for NaN, accepted as "check every time")."""
    with pytest.raises(bucketsync.UsageError, match=named):
        fsspec.filesystem("bucketsync", skip_instance_cache=True, **options)


def test_good_options_are_kept() -> None:
    fs = BucketsyncFileSystem(
        endpoint_url="http://127.0.0.1:9",
        profile="p",
        max_age=30,
        offline="ignore",
        jobs=4,
        read_timeout=5,
        max_attempts=2,
        listings_expiry_time=1,
    )
    assert (fs.max_age, fs.offline, fs.reuse_check) == (30.0, "ignore", 2.0)
    assert fs._options["endpoint_url"] == "http://127.0.0.1:9"
    assert fs._options["jobs"] == 4
    assert fs.dircache.listings_expiry_time == 1


def test_paths_lose_their_protocol() -> None:
    strip = BucketsyncFileSystem._strip_protocol
    assert strip("bucketsync://bkt/a/b.csv") == "bkt/a/b.csv"
    assert strip("bucketsync://bkt/a/") == "bkt/a"
    assert strip("s3://bkt/a") == "bkt/a"
    assert strip("bkt/a") == "bkt/a"
    assert BucketsyncFileSystem().unstrip_protocol("bkt/a") == "bucketsync://bkt/a"


def test_the_instance_pickles_with_its_options() -> None:
    import pickle

    fs = BucketsyncFileSystem(max_age=5, jobs=3)
    again = pickle.loads(pickle.dumps(fs))
    assert (again.max_age, again._options["jobs"]) == (5.0, 3)


def test_pairs_group_into_one_sync_below_the_deepest_common_folder() -> None:
    pairs = [
        ("bkt/data/a.csv", "/t/x/a.csv"),
        ("bkt/data/sub/c.txt", "/t/x/sub/c.txt"),
        ("bkt/top.txt", "/t/renamed.txt"),
    ]
    assert list(groups(pairs)) == [
        ("", "/t/renamed.txt", ["bkt/top.txt"]),
        ("bkt/data", "/t/x", ["a.csv", "sub/c.txt"]),
    ]
    # names that happen to match above the target never widen the sync
    assert list(groups([("bkt/home/me/a.csv", "/home/me/a.csv")])) == [
        ("bkt/home/me", "/home/me", ["a.csv"])
    ]
    flattened = [("bkt/d1/a.csv", "/t/a.csv"), ("bkt/d2/b.csv", "/t/sub/b.csv")]
    assert list(groups(flattened)) == [
        ("bkt/d1", "/t", ["a.csv"]),
        ("bkt/d2", "/t/sub", ["b.csv"]),
    ]


class _FakeS3(fsspec.AbstractFileSystem):  # type: ignore[misc]
    """Stands in for s3fs, which is not a dependency, to test the chaining plumbing."""

    protocol = ("s3",)


def test_chaining_onto_s3_takes_the_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        import s3fs  # noqa: F401
    except ImportError:
        registry = sys.modules["fsspec.registry"]._registry  # fsspec.registry is the mapping
        monkeypatch.setitem(registry, "s3", _FakeS3)
    fs, path = fsspec.core.url_to_fs(
        "bucketsync::s3://bkt/data/a.csv",
        s3={"client_kwargs": {"endpoint_url": "http://127.0.0.1:9"}},
        bucketsync={"max_age": 7},
    )
    assert isinstance(fs, BucketsyncFileSystem)
    assert path == "bkt/data/a.csv"
    assert fs._options["endpoint_url"] == "http://127.0.0.1:9"
    assert fs.max_age == 7.0


def test_importing_bucketsync_does_not_need_fsspec() -> None:
    code = (
        "import sys; sys.modules['fsspec'] = None\n"
        "import bucketsync\n"
        "assert 'bucketsync.filesystem' not in sys.modules\n"
        "try:\n"
        "    import bucketsync.filesystem\n"
        "except bucketsync.MissingDependency as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().count("\n") == 0
    assert "pip install 'bucketsync[fsspec]'" in out.stdout


def test_importing_bucketsync_does_not_import_fsspec() -> None:
    code = "import sys, bucketsync; print('fsspec' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
