"""The local walk, key safety, filters, URL parsing, and folder conflicts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bucketsync.errors import LocalFolderNotFound, UnsafeKey, UsageError
from bucketsync.filters import Filters
from bucketsync.location import parse_pair, parse_s3_url
from bucketsync.plan import Plan
from bucketsync.planner import FolderConflicts
from bucketsync.stores.local import (
    RESERVED,
    TEMP_MARK,
    check_rel,
    target_path,
    temp_path,
    walk,
)
from bucketsync.stores.tempnames import KEY_FILE, is_own_temp, is_temp_name


def _walk(root: Path, *, sweep: bool = True) -> tuple[list[str], list[tuple[str, str, bool]]]:
    notes: list[tuple[str, str, bool]] = []
    rels = [f.rel for f in walk(root, lambda *a: notes.append(a), sweep=sweep)]
    return rels, notes


def test_walk_yields_s3_order(tmp_path: Path) -> None:
    for rel in ["a", "a.txt", "b/c", "a!x", "\u00e9", "Z", "b-", "b/c.d/e"]:
        if rel == "a":
            (tmp_path / "a").mkdir()
            (tmp_path / "a" / "in").write_text("x")
            continue
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    rels, notes = _walk(tmp_path)
    assert rels == sorted(rels, key=lambda r: r.encode())
    assert set(rels) == {"a/in", "a.txt", "b/c", "a!x", "\u00e9", "Z", "b-", "b/c.d/e"}
    assert notes == []


def test_walk_skips_symlinks_and_our_temp_files(tmp_path: Path) -> None:
    root = tmp_path / "d"  # apart from the state folder, which holds the names' key
    root.mkdir()
    (root / "real").write_text("x")
    (root / "link").symlink_to("/etc/hostname")
    orphan = temp_path(root / "x")  # a killed run's: nobody holds its lock
    orphan.write_text("partial")
    assert _walk(root, sweep=False)[0] == ["real"] and orphan.exists(), "a dry walk removed it"
    rels, notes = _walk(root)
    assert rels == ["real"]
    assert notes == [("link", "symbolic link not followed (use --follow-symlinks)", False)]
    assert not orphan.exists(), "an unlocked temporary file is an orphan and is removed"


def test_a_name_shaped_like_ours_but_not_made_by_us_is_never_removed(tmp_path: Path) -> None:
    ours = temp_path(tmp_path / "notes").name
    nonce_and_tag = ours.rpartition(TEMP_MARK)[2]
    lookalikes = [
        ".notes.bucketsync-tmp-0123456789ab",  # the old shape
        f".other{TEMP_MARK}{nonce_and_tag}",  # our tag on another name
        ours[:-1] + ("0" if ours[-1] != "0" else "1"),  # a tag one digit off
        ours + "0",
    ]
    for name in lookalikes:
        (tmp_path / name).write_text("the user's")
    rels, notes = _walk(tmp_path)
    assert rels == [f"state/{KEY_FILE}"]
    assert sorted(notes) == sorted((name, RESERVED, False) for name in lookalikes)
    assert all((tmp_path / name).read_text() == "the user's" for name in lookalikes)
    assert is_own_temp(ours) and all(is_temp_name(n) and not is_own_temp(n) for n in lookalikes)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(name=st.text(min_size=1, max_size=300).filter(lambda n: "/" not in n and "\x00" not in n))
def test_only_names_bucketsync_made_prove_themselves(name: str) -> None:
    """Any name is ours only as temp_path made it; temp_path fits NAME_MAX and is reserved."""
    made = temp_path(Path("/d") / name).name
    assert is_own_temp(made) and is_temp_name(made) and len(made.encode()) <= 255
    tail = made.rpartition(TEMP_MARK)[2]
    for forged in (name, f".{name}{TEMP_MARK}{tail}", f".{name}{TEMP_MARK}0123456789ab"):
        assert not is_own_temp(forged) or forged == made


def test_the_names_key_is_private_and_read_once(tmp_path: Path) -> None:
    name = temp_path(tmp_path / "f").name
    key = tmp_path / "state" / KEY_FILE
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32
    key.write_bytes(b"x" * 32)  # changed under a running process: it keeps its key
    assert is_own_temp(name)


def test_walk_reports_non_utf8_names(tmp_path: Path) -> None:
    os.close(os.open(os.path.join(os.fsencode(tmp_path), b"bad\xff"), os.O_CREAT | os.O_WRONLY))
    rels, notes = _walk(tmp_path)
    assert rels == []
    assert notes and notes[0][2] is True


@pytest.mark.parametrize(
    "rel", ["../x", "a/../../x", "/abs", "a//b", "./a", "a/./b", "", "a\x00b", "x" * 256, "a/"]
)
def test_unsafe_keys_are_refused(rel: str, tmp_path: Path) -> None:
    with pytest.raises(UnsafeKey):
        target_path(tmp_path, rel)


@pytest.mark.parametrize("rel", ["a", "a/b", "..a", "a..", "\u00e9/x y", "x" * 255])
def test_safe_keys_stay_inside(rel: str, tmp_path: Path) -> None:
    check_rel(rel)
    assert target_path(tmp_path, rel).resolve().is_relative_to(tmp_path.resolve())


def test_temp_names_are_recognisable_and_short(tmp_path: Path) -> None:
    temp = temp_path(tmp_path / ("n" * 255))
    assert TEMP_MARK in temp.name and len(temp.name.encode()) <= 255
    assert temp.parent == tmp_path


def test_filters_later_rules_win_and_star_crosses_folders() -> None:
    rules = Filters.build(rules=(("exclude", "*"), ("include", "*.csv"), ("exclude", "tmp/*")))
    assert rules.accepts("a/b/c.csv")
    assert not rules.accepts("a/b/c.txt")
    assert not rules.accepts("tmp/x.csv")
    assert Filters().accepts("anything")


def test_s3_urls() -> None:
    assert parse_s3_url("s3://bucket").prefix == ""
    assert parse_s3_url("s3://bucket/data").prefix == "data/"
    assert parse_s3_url("s3://bucket/data/").prefix == "data/"
    assert str(parse_s3_url("s3://bucket/a/b")) == "s3://bucket/a/b/"
    for bad in ["s3://", "s3:///x", "http://x/y", "s3://a/x", "s3://bad bucket/x"]:
        with pytest.raises(UsageError):
            parse_s3_url(bad)


def test_pairs_need_one_s3_side_and_a_local_folder(tmp_path: Path) -> None:
    assert parse_pair(tmp_path, "s3://bucket/p").direction == "push"
    assert parse_pair("s3://bucket/p", tmp_path / "new").direction == "pull"
    with pytest.raises(UsageError):
        parse_pair(tmp_path, tmp_path)
    with pytest.raises(UsageError):
        parse_pair("s3://bucket/a", "s3://bucket/b")
    with pytest.raises(LocalFolderNotFound):
        parse_pair(tmp_path / "missing", "s3://bucket/p")
    assert isinstance(LocalFolderNotFound("x"), FileNotFoundError)


def test_folder_conflicts_keep_the_folder(tmp_path: Path) -> None:
    from bucketsync.location import S3Location, SyncPair
    from bucketsync.plan import Action

    plan = Plan(SyncPair("pull", tmp_path, S3Location("b")))
    conflicts = FolderConflicts()
    rels = ["a", "a!", "a.txt", "a/b", "b", "c", "c/d", "c0"]
    assert rels == sorted(rels)
    for rel in rels:
        conflicts.see(rel, plan)
        plan.actions.append(Action("download", rel, "new file", 1))
    conflicts.apply(plan)
    assert [a.path for a in plan.actions] == ["a!", "a.txt", "a/b", "b", "c/d", "c0"]
    assert [p.path for p in plan.problems] == ["a", "c"]


# (path, "src" or "dst": the side it is only on), in listing order
SHAPED = [
    ("a", "dst"),  # a local file where the source has the folder a/
    ("a!", "src"),
    ("a/b", "src"),
    ("a/c", "src"),
    ("k", "src"),  # a source file where the destination has the folder k/
    ("k.txt", "dst"),
    ("k/sub/y", "dst"),
    ("k/x", "dst"),
    ("z", "dst"),
]


def _shaped_plan(tmp_path: Path, direction: str, delete: bool) -> Plan:
    from bucketsync.location import S3Location, SyncPair
    from bucketsync.plan import Action
    from bucketsync.planner import InTheWay

    assert [rel for rel, _ in SHAPED] == sorted(rel for rel, _ in SHAPED)
    plan = Plan(SyncPair(direction, tmp_path, S3Location("b")))  # type: ignore[arg-type]
    move = "upload" if direction == "push" else "download"
    way = InTheWay()
    for rel, side in SHAPED:
        way.see(rel, side == "src")
        if side == "src":
            plan.actions.append(Action(move, rel, "new file", 1))
        elif delete:
            plan.actions.append(Action("delete", rel, "only on the destination", 1))
    way.apply(plan, direction == "push", delete)
    return plan


@pytest.mark.parametrize("direction", ["pull", "push"])
def test_deletes_in_the_way_come_first_and_say_what_they_clear(
    tmp_path: Path, direction: str
) -> None:
    plan = _shaped_plan(tmp_path, direction, delete=True)
    order = [(a.action[0], a.path, a.clears) for a in plan.actions]
    move = "u" if direction == "push" else "d"
    assert order == [
        ("d", "a", "a/b"),
        ("d", "k/sub/y", "k"),
        ("d", "k/x", "k"),
        (move, "a!", None),
        (move, "a/b", None),
        (move, "a/c", None),
        (move, "k", None),
        ("d", "k.txt", None),
        ("d", "z", None),
    ]
    assert not plan.problems
    assert plan.actions[0].to_dict()["clears"] == "a/b"
    assert "clears" not in plan.actions[3].to_dict()


def test_without_delete_a_blocked_pull_is_an_error_naming_delete(tmp_path: Path) -> None:
    plan = _shaped_plan(tmp_path, "pull", delete=False)
    assert [a.path for a in plan.actions] == ["a!"]
    assert [p.path for p in plan.problems] == ["a/b", "a/c", "k"]
    assert all("--delete" in p.error for p in plan.problems)


def test_without_delete_a_push_goes_ahead(tmp_path: Path) -> None:
    plan = _shaped_plan(tmp_path, "push", delete=False)
    assert [a.path for a in plan.actions] == ["a!", "a/b", "a/c", "k"]
    assert not plan.problems
