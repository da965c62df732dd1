"""The notebook API's pure parts: cache paths, atomic files, HTML and pandas views, options."""

from __future__ import annotations

import hashlib
import io
import pickle
import sys
from pathlib import Path

import platformdirs
import pytest

import bucketsync
from bucketsync.atomic import AtomicFile
from bucketsync.cachedir import cache_dir, default_folder, endpoint_host, key_lock
from bucketsync.display import HEAD, MAX_ROWS, TAIL
from bucketsync.location import S3Location, SyncPair
from bucketsync.plan import Action, Plan, Problem
from bucketsync.report import Report
from bucketsync.stores.local import TEMP_MARK


def _plan(n: int = 2) -> Plan:
    pair = SyncPair("pull", Path("/data/x"), S3Location("bkt", "EOD/"))
    actions = [Action("download", f"<f{i}>.csv", "new file", i) for i in range(n)]
    return Plan(pair, actions, unchanged=3, problems=[Problem("bad&key", "skipped")])


# --- cache folder ------------------------------------------------------------------------------


def test_cache_dir_follows_the_environment_then_platformdirs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert cache_dir() == tmp_path / "cache"  # set by the isolated_env fixture
    monkeypatch.delenv("BUCKETSYNC_CACHE_DIR")
    assert cache_dir() == platformdirs.user_cache_path("bucketsync") / "objects"


def test_default_folder_is_host_bucket_prefix(tmp_path: Path) -> None:
    assert endpoint_host("http://127.0.0.1:9000") == "127.0.0.1:9000"
    assert endpoint_host("https://user@S3.Example.com") == "s3.example.com"
    folder = default_folder("https://s3.amazonaws.com", S3Location("bkt", "EOD/2024/"))
    assert folder == tmp_path / "cache/s3.amazonaws.com/bkt/EOD/2024"
    with pytest.raises(bucketsync.UnsafeKey):
        default_folder("https://s3.amazonaws.com", S3Location("bkt", "../up/"))


def test_key_locks_are_per_path(tmp_path: Path) -> None:
    with key_lock(tmp_path / "a"):
        assert key_lock(tmp_path / "b").acquire(timeout=0.1)
        with pytest.raises(TimeoutError):
            key_lock(tmp_path / "a").acquire(timeout=0.1)


# --- atomic files ------------------------------------------------------------------------------


def test_atomic_file_lands_on_close_and_is_discarded_on_error(tmp_path: Path) -> None:
    target = tmp_path / "d/f.txt"
    with AtomicFile(tmp_path, target, "w", encoding="utf-8") as f:
        f.write("new")
        assert not target.exists()
        assert any(TEMP_MARK in p.name for p in target.parent.iterdir())
    assert target.read_text() == "new"
    with pytest.raises(KeyError), AtomicFile(tmp_path, target, "w") as f:
        f.write("partial")
        raise KeyError
    assert target.read_text() == "new"
    appended = AtomicFile(tmp_path, target, "a", seed=target)
    appended.write("+more")
    appended.close()
    appended.close()
    assert target.read_text() == "new+more"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]


def test_atomic_file_refuses_paths_outside_the_root(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root/link").symlink_to(tmp_path)
    with pytest.raises(bucketsync.UnsafeKey):
        AtomicFile(tmp_path / "root", tmp_path / "root/link/x", "w")


# --- HTML and pandas ---------------------------------------------------------------------------


def test_plan_html_escapes_and_counts() -> None:
    html = _plan()._repr_html_()
    assert "&lt;f0&gt;.csv" in html and "<f0>" not in html
    assert "2 download" in html and "3 unchanged" in html and "bad&amp;key" in html


def test_long_plans_show_head_and_tail_in_html() -> None:
    html = _plan(MAX_ROWS + 7)._repr_html_()
    assert html.count("<tr>") == HEAD + TAIL + 3  # rows shown, the gap, two headers
    assert f"… {MAX_ROWS + 7 - HEAD - TAIL} more …" in html
    assert "&lt;f0&gt;.csv" in html and f"&lt;f{MAX_ROWS + 6}&gt;.csv" in html
    assert f"&lt;f{HEAD}&gt;.csv" not in html


def test_report_html_has_the_summary_and_pickles() -> None:
    report = Report(_plan(), dry_run=False, downloaded=2, requests={"list": 1})
    html = report._repr_html_()
    assert "2 downloaded" in html and "1 request (1 list)" in html and "&lt;f1&gt;.csv" in html
    assert pickle.loads(pickle.dumps(report)).to_dict() == report.to_dict()


def test_to_pandas_without_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        _plan().to_pandas()
    with pytest.raises(bucketsync.MissingDependency):
        _plan().to_pandas()


def test_to_pandas() -> None:
    pytest.importorskip("pandas")
    frame = _plan(3).to_pandas()
    assert list(frame.columns) == ["action", "path", "reason", "bytes"]
    assert frame["bytes"].tolist() == [0, 1, 2]


# --- options and URLs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"offline": "maybe"},
        {"max_age": -1},
        {"max_age": "10"},
        {"max_age": True},
        {"no_such_option": 1},
        {"jobs": 0},
    ],
)
def test_bad_mirror_options_fail_at_once(kwargs: dict[str, object]) -> None:
    with pytest.raises(bucketsync.UsageError):
        bucketsync.Mirror("s3://bkt/p", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["s3://bkt/", "s3://bkt", "s3://bkt/dir/", "/local/path"])
def test_fetch_needs_an_object_url(url: str) -> None:
    with pytest.raises(bucketsync.UsageError):
        bucketsync.fetch(url)


def test_mirror_pickles_without_connecting(tmp_path: Path) -> None:
    m = bucketsync.Mirror("s3://bkt/p", tmp_path, max_age=3, include=["*.csv"])
    copy = pickle.loads(pickle.dumps(m))
    assert repr(copy) == repr(m) == f"Mirror('s3://bkt/p/', local={str(tmp_path)!r})"
    assert copy.local == tmp_path and copy.max_age == 3.0


def test_calculate_s3_etag_rules() -> None:
    etag = bucketsync.LocalObjectCache.calculate_s3_etag
    assert etag(io.BytesIO(b"abc")) == f'"{hashlib.md5(b"abc").hexdigest()}"'
    parts = [hashlib.md5(b"ab").digest(), hashlib.md5(b"c").digest()]
    expected = f'"{hashlib.md5(b"".join(parts)).hexdigest()}-2"'
    assert etag(io.BytesIO(b"abc"), chunk_size=2) == expected
    assert etag(io.BytesIO(b"ab"), chunk_size=2).endswith('-1"')
