"""`Mirror.clear()` and `LocalObjectCache.close()` remove only the copies they own.

Owned: the Mirror's scope has a state record for the file and the file is still the
recorded version. A file never synced, a local change not pushed (unless
``force=True``) and anything behind a symbolic link stay, and are reported kept.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import pytest

import bucketsync
from s3env import S3Env


def _clear(call: Any) -> tuple[Any, list[warnings.WarningMessage]]:
    """Run a clean-up; its result and the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, caught


def _kept(result: Any, root: Path) -> dict[str, str]:
    return {Path(p).relative_to(root).as_posix(): reason for p, reason in result.kept}


def _removed(result: Any, root: Path) -> set[str]:
    return {Path(p).relative_to(root).as_posix() for p, _ in result.removed}


def _kept_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if w.category.__name__ == "KeptWarning"]


def _rows(m: bucketsync.Mirror) -> list[str]:
    job = m._open()
    return [r.rel for r in job.state.records(job.scope)]


def test_clear_keeps_a_file_the_mirror_never_synced(
    s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s3.put("t1/a.txt", b"a")
    s3.put("t1/project/data.csv", b"1,2\n")
    m = bucketsync.Mirror(s3.url("t1"), "clr")
    m.pull()
    thesis = tmp_path / "clr/project/thesis.tex"
    thesis.write_text("\\chapter{Four years}\n")
    cleared, caught = _clear(m.clear)
    assert thesis.read_text() == "\\chapter{Four years}\n", "a file never synced is kept"
    assert (
        not (tmp_path / "clr/a.txt").exists() and not (tmp_path / "clr/project/data.csv").exists()
    )
    root = tmp_path / "clr"
    assert _removed(cleared, root) == {"a.txt", "project/data.csv"}
    assert _kept(cleared, root) == {"project/thesis.tex": "not synced by this Mirror"}
    [message] = _kept_warnings(caught)
    assert "kept 1 " in message and "project/thesis.tex (not synced by this Mirror)" in message
    assert caught[0].filename == __file__, "the warning points at the caller"
    assert _rows(m) == [], "the rows of removed copies are forgotten"


def test_an_unpushed_write_survives_clear_until_forced(moto_s3: S3Env, tmp_path: Path) -> None:
    moto_s3.put("p/a.txt", b"synced")
    moto_s3.put("p/b.txt", b"b")
    m = bucketsync.Mirror(moto_s3.url("p"), tmp_path / "m")
    m.pull()
    with m.open("a.txt", "w") as f:
        f.write("my edit, not pushed")
    with m.open("new.txt", "w") as f:
        f.write("a new file, not pushed")
    cleared, caught = _clear(m.clear)
    assert (m.local / "a.txt").read_text() == "my edit, not pushed"
    assert (m.local / "new.txt").read_text() == "a new file, not pushed"
    assert not (m.local / "b.txt").exists()
    kept = _kept(cleared, m.local)
    assert kept["a.txt"].startswith("changed here since it was synced")
    assert kept["new.txt"] == "not synced by this Mirror"
    assert "a.txt (changed here" in _kept_warnings(caught)[0]
    assert _rows(m) == ["a.txt"], "the row of a kept copy stays"

    cleared, _ = _clear(lambda: m.clear(force=True))
    assert not (m.local / "a.txt").exists(), "force=True removes a local change"
    assert (m.local / "new.txt").exists(), "a file never synced stays even with force"
    assert _removed(cleared, m.local) == {"a.txt"} and _rows(m) == []


def test_an_in_place_edit_with_size_and_mtime_restored_is_kept(
    moto_s3: S3Env, tmp_path: Path
) -> None:
    moto_s3.put("p/a.txt", b"aaaa")
    moto_s3.put("p/touched.txt", b"same content")
    m = bucketsync.Mirror(moto_s3.url("p"), tmp_path / "m")
    m.pull()
    edited, touched = m.local / "a.txt", m.local / "touched.txt"
    before = edited.stat()
    with open(edited, "r+b") as f:
        f.write(b"bbbb")
    os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.utime(touched, (1, 1))  # a new fingerprint, the recorded content: still a copy
    cleared, caught = _clear(m.clear)
    assert edited.read_bytes() == b"bbbb", "the hash shows the edit"
    assert not touched.exists(), "the hash shows an unchanged copy"
    assert set(_kept(cleared, m.local)) == {"a.txt"} and len(_kept_warnings(caught)) == 1
    cleared, _ = _clear(lambda: m.clear(force=True))
    assert not edited.exists() and not m.local.exists(), "an emptied folder is removed"


def test_folders_go_only_when_the_clean_up_emptied_them(moto_s3: S3Env, tmp_path: Path) -> None:
    for key in ("p/d1/a.txt", "p/d1/sub/b.txt", "p/d2/c.txt"):
        moto_s3.put(key, b"x")
    m = bucketsync.Mirror(moto_s3.url("p"), tmp_path / "m")
    m.pull()
    (m.local / "d2/mine.txt").write_text("mine")
    (m.local / "empty").mkdir()
    cleared, _ = _clear(m.clear)
    assert not (m.local / "d1").exists(), "a folder of owned copies only is removed"
    assert sorted(p.name for p in (m.local / "d2").iterdir()) == ["mine.txt"]
    assert (m.local / "empty").is_dir(), "a folder empty before is not the clean-up's"
    assert _removed(cleared, m.local) == {"d1/a.txt", "d1/sub/b.txt", "d1/sub", "d1", "d2/c.txt"}
    assert set(_kept(cleared, m.local)) == {"d2/mine.txt"}, (
        "an empty folder holds nothing to report"
    )


def test_a_symbolic_link_out_of_the_folder_is_not_followed(moto_s3: S3Env, tmp_path: Path) -> None:
    moto_s3.put("p/link/x.txt", b"x")
    moto_s3.put("p/y.txt", b"y")
    m = bucketsync.Mirror(moto_s3.url("p"), tmp_path / "m")
    m.pull()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_bytes(b"x")  # the very content recorded for link/x.txt
    (outside / "y.txt").write_bytes(b"y")
    (m.local / "link/x.txt").unlink()
    (m.local / "link").rmdir()
    (m.local / "link").symlink_to(outside)
    (m.local / "y.txt").unlink()
    (m.local / "y.txt").symlink_to(outside / "y.txt")
    cleared, caught = _clear(m.clear)
    assert (outside / "x.txt").read_bytes() == b"x" and (outside / "y.txt").read_bytes() == b"y"
    assert (m.local / "link").is_symlink() and (m.local / "y.txt").is_symlink()
    kept = _kept(cleared, m.local)
    assert kept["link"] == kept["y.txt"] == "a symbolic link (not followed)"
    assert kept["link/x.txt"] == "below a symbolic link (not followed)"
    assert cleared.removed == () and _kept_warnings(caught)


def test_legacy_close_removes_only_its_own_prefix(
    s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("EOD/a.csv", "EOD/2024/b.csv", "t1/k.txt", "other/f.csv"):
        s3.put(key, b"data of " + key.encode())
    mine = bucketsync.LocalObjectCache(s3.bucket, "EOD/")
    mine.sync()
    theirs = bucketsync.Mirror(s3.url("t1"))
    theirs.path("k.txt")
    with theirs.open("k.txt", "w") as f:
        f.write("another Mirror's edit, not pushed")
    fetched = bucketsync.fetch(s3.url("other/f.csv"))
    cleared, caught = _clear(mine.close)
    assert (theirs.local / "k.txt").read_text() == "another Mirror's edit, not pushed"
    assert fetched.read_bytes() == b"data of other/f.csv", "a fetch() copy of another prefix"
    assert not Path(mine.get_path("a.csv")).exists()
    assert not Path(mine.path, "EOD").exists(), "its own emptied folder is removed"
    assert Path(mine.path).is_dir(), "the bucket's folder holds other copies"
    assert _removed(cleared, Path(mine.path)) == {"EOD/a.csv", "EOD/2024/b.csv", "EOD/2024", "EOD"}
    assert cleared.kept == () and not _kept_warnings(caught)


def test_legacy_close_keeps_an_unpushed_edit_in_its_prefix(s3: S3Env, tmp_path: Path) -> None:
    s3.put("EOD/a.csv", b"a")
    cache = bucketsync.LocalObjectCache(s3.bucket, "EOD/", path=str(tmp_path / "c"))
    path = Path(cache.download_obj("EOD/a.csv"))
    path.write_bytes(b"edited in the cache")
    cleared, caught = _clear(cache.close)
    assert path.read_bytes() == b"edited in the cache"
    assert len(cleared.kept) == 1 and _kept_warnings(caught)[0].startswith("close() kept 1 path")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with cache:
            pass
    assert path.exists() and caught[0].filename == __file__, "the warning points at the with"
    _clear(lambda: cache.close(force=True))
    assert not (tmp_path / "c").exists(), "force=True: the emptied cache folder goes"


def test_clear_checks_its_force_argument(moto_s3: S3Env, tmp_path: Path) -> None:
    m = bucketsync.Mirror(moto_s3.url("p"), tmp_path / "m")
    with pytest.raises(bucketsync.UsageError, match="force"):
        m.clear(force="no")  # type: ignore[arg-type]


def test_the_warning_escapes_names_and_shortens_a_long_list(moto_s3: S3Env, tmp_path: Path) -> None:
    m = bucketsync.Mirror(moto_s3.url("p"), tmp_path / "m")
    m.local.mkdir()
    names = [f"mine-{i:02}.txt" for i in range(11)]
    names += ["evil\x1b[2J\nname.txt", ".a.txt.bucketsync-tmp-0123456789ab"]
    for name in names:
        (m.local / name).write_text("mine")
    cleared, caught = _clear(m.clear)
    assert sorted(p.name for p in m.local.iterdir()) == sorted(names)
    kept = _kept(cleared, m.local)
    assert kept[".a.txt.bucketsync-tmp-0123456789ab"].startswith("a temporary file")
    [message] = _kept_warnings(caught)
    assert "kept 13 paths" in message and "and 3 more" in message
    assert "evil\\x1b[2J\\nname.txt (not synced by this Mirror)" in message
    assert "\x1b" not in message and "\n" not in message


def test_the_warning_tells_a_backslash_from_an_escape(moto_s3: S3Env, tmp_path: Path) -> None:
    """As in all human output, a backslash shows as two: a file named ``a\\x1b`` (four
    characters after the a) is not shown as one holding ESC."""
    m = bucketsync.Mirror(moto_s3.url("p"), tmp_path / "m")
    m.local.mkdir()
    (m.local / "back\\x1b.txt").write_text("mine")
    (m.local / "esc\x1b.txt").write_text("mine")
    _, caught = _clear(m.clear)
    [message] = _kept_warnings(caught)
    assert "back\\\\x1b.txt (not synced" in message and "esc\\x1b.txt (not synced" in message
