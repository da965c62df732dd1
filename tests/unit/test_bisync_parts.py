"""Pieces of the two-way sync that need no server: keep-both names, --max-delete."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bucketsync.bisync_plan import conflict_name
from bucketsync.entries import RemoteObject
from bucketsync.guard import withhold_deletes
from bucketsync.location import S3Location, SyncPair
from bucketsync.plan import Action, Plan

WHEN = 1_772_366_400 * 10**9  # 2026-03-01T12:00:00Z


def _job(root: Path, taken: tuple[str, ...] = ()) -> Any:
    location = S3Location("bucket", "p/")
    store = SimpleNamespace(location=location, stat=lambda key: object() if key in taken else None)
    return SimpleNamespace(root=root, store=store)


def _remote(rel: str) -> RemoteObject:
    return RemoteObject(rel, "p/" + rel, 1, "e", WHEN)


def test_conflict_names(tmp_path: Path) -> None:
    job = _job(tmp_path)
    stamp = "conflict-remote-20260301T120000Z"
    assert conflict_name(job, _remote("data.csv")) == f"data.{stamp}.csv"
    assert conflict_name(job, _remote("d/a.tar.gz")) == f"d/a.tar.{stamp}.gz"
    assert conflict_name(job, _remote("README")) == f"README.{stamp}"
    assert conflict_name(job, _remote(".bashrc")) == f".bashrc.{stamp}"


def test_a_conflict_name_never_takes_an_existing_one(tmp_path: Path) -> None:
    stamp = "conflict-remote-20260301T120000Z"
    (tmp_path / f"data.{stamp}.csv").write_text("mine")
    job = _job(tmp_path, (f"p/data.{stamp}-2.csv",))
    assert conflict_name(job, _remote("data.csv")) == f"data.{stamp}-3.csv"


def _plan(deletes: dict[str, str]) -> Plan:
    pair = SyncPair("push", Path("x"), S3Location("bucket", ""))
    plan = Plan(pair, [Action("upload", "u", "new", 1)])
    for rel, side in deletes.items():
        plan.actions.append(Action("delete", rel, "gone", 1, side=side))  # type: ignore[arg-type]
    return plan


def test_max_delete_over_the_limit_on_one_side_withholds_every_delete() -> None:
    plan = _plan({"a": "local", "b": "local", "c": "remote"})
    assert withhold_deletes(plan, 1, {}) == 3
    assert [(a.action, a.path) for a in plan] == [("upload", "u")]
    assert len(plan.problems) == 1 and "--max-delete 1" in plan.problems[0].error
    assert {n.path for n in plan.skipped} == {"a", "b", "c"}


def test_max_delete_within_the_limit_or_unset_changes_nothing() -> None:
    plan = _plan({"a": "local", "c": "remote"})
    assert withhold_deletes(plan, 1, {}) == 0 and withhold_deletes(plan, None, {}) == 0
    assert len(plan) == 3 and not plan.problems
