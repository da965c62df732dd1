"""The pieces crash safety rests on: locked temporary files, and a state database that
survives damage without mistaking a busy or unwritable file for a damaged one."""

from __future__ import annotations

from pathlib import Path

import pytest

from bucketsync.atomic import AtomicFile
from bucketsync.errors import StateError
from bucketsync.state import StateDB
from bucketsync.stores.local import claim_temp, release_temp, temp_path, walk
from reliakit import held_temp, integrity


def _walk(root: Path) -> list[str]:
    return [f.rel for f in walk(root, lambda *a: None, sweep=True)]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder apart from the state folder (which holds the temporary names' key)."""
    folder = tmp_path / "d"
    folder.mkdir()
    return folder


def test_a_temp_file_in_use_survives_a_walk_and_an_orphan_does_not(folder: Path) -> None:
    (folder / "real").write_text("x")
    held, fd = claim_temp(folder / "a")
    orphan = temp_path(folder / "b")
    orphan.write_text("left by a killed run")
    assert _walk(folder) == ["real"]
    assert held.exists() and not orphan.exists()
    release_temp(held, fd)
    assert not held.exists()


def test_a_temp_file_of_another_process_is_removed_once_it_dies(folder: Path) -> None:
    with held_temp(folder / "f") as temp:
        _walk(folder)
        assert temp.exists(), "removed while its writer was alive"
    _walk(folder)
    assert not temp.exists(), "an orphan of a killed process stayed"


def test_an_open_atomic_file_survives_a_walk(folder: Path) -> None:
    with AtomicFile(folder, folder / "out.txt", "w") as f:
        f.write("hello")
        assert _walk(folder) == []
    assert (folder / "out.txt").read_text() == "hello"


def test_a_damaged_database_is_moved_aside_with_its_wal(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"not a database" * 100)
    Path(f"{path}-wal").write_bytes(b"a stale write-ahead log" * 100)
    with StateDB(path) as db:
        assert db.scope(tmp_path, "e", "b", "p") == 1
    aside = {p.name.partition(".corrupt-")[0] for p in tmp_path.glob("*.corrupt-*")}
    assert {"state.sqlite3", "state.sqlite3-wal"} <= aside and integrity(path) == "ok"


def test_an_unusable_database_is_an_error_not_a_reset(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    path.mkdir()  # sqlite cannot open a folder: OperationalError, not damage
    with pytest.raises(StateError, match="cannot open the state database"):
        StateDB(path)
    assert path.is_dir() and not list(tmp_path.glob("*corrupt*"))
