"""The bounded cache's plain parts: sizes, durations, the cap, and the LRU choice."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path

import pytest

import bucketsync
from bucketsync.cachesize import DURATION, MAX_ENV, SIZE, Copy, cap, choose
from bucketsync.cacheuse import UseLog, exclusive, open_held
from bucketsync.errors import UsageError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("1234", 1234),
        ("20GB", 20 * 10**9),
        ("20 gb", 20 * 10**9),
        ("1.5kB", 1500),
        ("500MiB", 500 * 2**20),
        ("2GiB", 2 * 2**30),
        ("1TB", 10**12),
        ("3tib", 3 * 2**40),
        ("10B", 10),
        (".5MB", 500_000),
        (7, 7),
    ],
)
def test_sizes_in_decimal_and_binary_units(text: str | int, expected: int) -> None:
    assert SIZE("max_size", text) == expected


@pytest.mark.parametrize("bad", ["", "GB", "20G", "20 GBs", "-1", "1e3", "ten", -5, 2.5, True])
def test_a_bad_size_is_one_clear_error(bad: object) -> None:
    with pytest.raises(UsageError, match=r"^max_size must be a size: .* e\.g\. 20GB or 500MiB"):
        SIZE("max_size", bad)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        *[("7d", 7 * 86400), ("12h", 43200), ("30m", 1800), ("45s", 45), ("2w", 14 * 86400)],
        *[("1h30m", 5400), ("90", 90.0), (90, 90.0), (1.5, 1.5), ("0.5h", 1800)],
    ],
)
def test_durations(text: str | float, seconds: float) -> None:
    assert DURATION("older_than", text) == seconds


@pytest.mark.parametrize("bad", ["", "d", "7x", "7 days", "-1d", "h1", "1d2", float("inf"), -1])
def test_a_bad_duration_is_one_clear_error(bad: object) -> None:
    with pytest.raises(UsageError, match=r"^older_than must be a duration: "):
        DURATION("older_than", bad)


def test_the_cap_comes_from_max_size_else_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MAX_ENV, raising=False)
    assert cap(None) is None
    monkeypatch.setenv(MAX_ENV, "1MiB")
    assert cap(None) == 2**20
    assert cap(5) == 5, "max_size= wins over the environment"
    monkeypatch.setenv(MAX_ENV, "lots")
    with pytest.raises(UsageError, match=f"^{MAX_ENV} must be a size"):
        cap(None)


def _copies(*uses: tuple[str, int, float]) -> list[Copy]:
    return [Copy(Path(name), size, used_at) for name, size, used_at in uses]


def test_the_least_recently_used_go_first_until_the_cache_fits() -> None:
    copies = _copies(("new", 10, 300.0), ("old", 10, 100.0), ("mid", 10, 200.0))
    assert [c.path.name for c in choose(copies, 30, 15, None)] == ["old", "mid"]
    assert [c.path.name for c in choose(copies, 30, 20, None)] == ["old"]
    assert choose(copies, 30, 30, None) == [], "at the cap is not past it"
    assert [c.path.name for c in choose(copies, 30, 0, None)] == ["old", "mid", "new"]


def test_a_big_recent_copy_waits_its_turn() -> None:
    copies = _copies(("big", 100, 300.0), ("a", 1, 100.0), ("b", 1, 200.0))
    assert [c.path.name for c in choose(copies, 102, 50, None)] == ["a", "b", "big"]


def test_older_than_takes_every_copy_unused_since() -> None:
    copies = _copies(("new", 10, 300.0), ("old", 10, 100.0), ("mid", 10, 200.0))
    assert [c.path.name for c in choose(copies, 30, None, 250.0)] == ["old", "mid"]
    assert [c.path.name for c in choose(copies, 30, 100, 150.0)] == ["old"]
    both = choose(copies, 30, 5, 150.0)
    assert [c.path.name for c in both] == ["old", "mid", "new"], "the cap asks for more"


def test_ties_are_broken_by_path() -> None:
    copies = _copies(("b", 1, 1.0), ("a", 1, 1.0))
    assert [c.path.name for c in choose(copies, 2, 1, None)] == ["a"]


def test_the_use_log_keeps_a_running_total(tmp_path: Path) -> None:
    log = UseLog(tmp_path / "cache.sqlite3")
    assert (log.total(), log.walked_at()) == (0, None)
    log.touch([("/c/a", 10, 5.0), ("/c/b", 20, 6.0)])
    log.touch([("/c/a", 15, 4.0)])  # resized; a use never moves back in time
    assert log.total() == 35 and log.used() == {"/c/a": 5.0, "/c/b": 6.0}
    log.forget(["/c/b"])
    assert log.total() == 15
    log.walked([("/c/x", 7, 1.0), ("/c/a", 15, 9.0)])  # a walk found these two
    assert log.total() == 22 and log.used() == {"/c/a": 9.0, "/c/x": 1.0}
    assert log.walked_at() is not None
    again = UseLog(tmp_path / "cache.sqlite3")  # another process sees the same
    assert again.total() == 22


def test_a_damaged_use_log_is_started_again(tmp_path: Path) -> None:
    (tmp_path / "cache.sqlite3").write_bytes(b"not a database" * 100)
    log = UseLog(tmp_path / "cache.sqlite3")
    assert log.total() == 0


def test_a_mirror_keeps_its_cap_when_pickled(tmp_path: Path) -> None:
    mirror = bucketsync.Mirror("s3://bucket/prefix/", tmp_path, max_size="1.5MB")
    assert mirror.max_size == 1_500_000
    assert pickle.loads(pickle.dumps(mirror)).max_size == 1_500_000


def _blocked_on(inode: int) -> bool:
    """True if /proc/locks shows a lock request waiting on the file with this inode."""
    with open("/proc/locks") as f:
        return any("->" in line and f":{inode} " in line for line in f)


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux's /proc/locks")
def test_a_reader_that_waited_on_an_eviction_opens_the_new_copy(tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.write_bytes(b"old")
    finds: list[int] = []

    def find() -> Path:
        finds.append(1)
        return copy

    read: list[bytes] = []

    def reading() -> None:
        with open_held(find) as f:
            read.append(f.read())

    with exclusive(copy) as st:  # an eviction checking the copy
        assert st is not None
        reader = threading.Thread(target=reading)
        reader.start()
        while not _blocked_on(st.st_ino):  # the reader opened the old copy and waits
            reader.join(0.01)
        copy.unlink()  # evicted, then fetched again
        copy.write_bytes(b"new")
    reader.join(10)
    assert read == [b"new"] and len(finds) == 2, "the reader looked for the copy again"
