"""The invariant checker (tests/invariants.py) finds what it is there to find.

Every end-to-end test is judged by it, and a checker that finds nothing passes them all,
so each rule is broken here once, on purpose, by a fake sync, and the Monitor must name
it; the same calls done right must pass.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bucketsync.location import parse_pair
from bucketsync.plan import Action, Plan
from invariants import Call, Monitor

REMOTE = "s3://bucket/prefix"
TEMP = ".x.bucketsync-tmp-0123456789ab"  # the name of one of bucketsync's temporary files


@pytest.fixture(autouse=True)
def _no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # the bucket is not listed here


def _run(
    tmp_path: Path,
    do: Callable[[Path], object],
    downloads: tuple[str, ...] = (),
    push: bool = False,
    dry: bool = False,
) -> list[str]:
    """The violations the Monitor finds in a sync of tmp_path/dst that does `do` and
    returns a plan of these downloads."""
    local = tmp_path / "dst"
    local.mkdir()
    (tmp_path / "beside").write_bytes(b"the user's")
    src, dst = (str(local), REMOTE) if push else (REMOTE, str(local))
    pair = parse_pair(src, dst)

    def fake_sync(src: Any, dst: Any, **options: Any) -> Any:
        do(local)
        actions = [Action("download", rel, "test", 1) for rel in downloads]
        return SimpleNamespace(plan=Plan(pair, actions))

    monitor = Monitor(tmp_path)
    monitor.wrap_sync(fake_sync)(src, dst, dry_run=dry)
    return monitor.take()


def _names(violations: list[str]) -> list[str]:
    return [v.split()[0] for v in violations]


def test_a_pull_that_writes_what_it_planned_passes(tmp_path: Path) -> None:
    def write(local: Path) -> None:
        (local / "sub").mkdir()
        (local / "sub" / "a").write_bytes(b"a")

    assert _run(tmp_path, write, downloads=("sub/a",)) == []


def test_a_change_outside_the_folder_of_a_pull_is_found(tmp_path: Path) -> None:
    found = _run(tmp_path, lambda local: (local.parent / "beside").write_bytes(b"lost"))
    assert _names(found) == ["[outside]"], found


def test_a_push_that_changes_a_local_file_is_found(tmp_path: Path) -> None:
    found = _run(tmp_path, lambda local: (local / "new").write_bytes(b"n"), push=True)
    assert _names(found) == ["[outside]"], found


def test_a_file_the_plan_does_not_name_is_found(tmp_path: Path) -> None:
    def write(local: Path) -> None:
        (local / "a").write_bytes(b"a")
        (local / "b").write_bytes(b"b")

    found = _run(tmp_path, write, downloads=("a",))
    assert _names(found) == ["[plan]"] and "b:" in found[0], found


def test_a_download_with_the_execute_bit_is_found(tmp_path: Path) -> None:
    def write(local: Path) -> None:
        (local / "a").write_bytes(b"a")
        os.chmod(local / "a", 0o755)

    found = _run(tmp_path, write, downloads=("a",))
    assert _names(found) == ["[modes]"], found


def test_a_temporary_file_left_behind_is_found(tmp_path: Path) -> None:
    found = _run(tmp_path, lambda local: (local / TEMP).write_bytes(b"half"))
    assert _names(found) == ["[temp]"], found


def test_a_dry_run_that_changes_anything_is_found(tmp_path: Path) -> None:
    found = _run(tmp_path, lambda local: (local / "a").write_bytes(b"a"), dry=True)
    assert _names(found) == ["[dry]"], found


@pytest.mark.parametrize("push", [False, True], ids=["pull", "push"])
def test_an_object_the_plan_does_not_name_is_found(tmp_path: Path, push: bool) -> None:
    src, dst = (str(tmp_path), REMOTE) if push else (REMOTE, str(tmp_path))
    pair = parse_pair(src, dst)
    call = Call("sync", pair, False, [], plan=Plan(pair, [Action("upload", "a", "test", 1)]))
    after = {"a": ('"1"', 1), "b": ('"2"', 1)}
    found = Monitor(tmp_path).check_remote(call, {}, after)
    named = [text.split("'")[1] for _, text in found]
    assert named == (["b"] if push else ["a", "b"])
    assert {name for name, _ in found} == {"plan"}
