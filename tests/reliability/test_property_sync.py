"""A hypothesis property over whole syncs: random trees, keys, options and direction.

Each example builds a small local tree and a set of keys on moto from a nasty
vocabulary (spaces, Unicode in two normal forms, dotfiles, names like bucketsync's
temporary files, long names, `a` next to `a/b`, symbolic links inside, outside and to
the folder itself), sometimes syncs once and then edits both sides (so the state
database takes part), then runs `diff` and a sync with random options. After it:

- the invariants of the suite's fixture (tests/invariants.py) hold;
- `diff` planned what the sync then did;
- a non-dry sync left the destination equal to the source for every path its filters
  accept that was not reported (an error or a note), and deleted with --delete every
  destination-only path it accepts;
- a user's file whose name looks like a temporary file is never removed;
- a second identical sync plans nothing but what the first reported as failed.

The expected trees are computed here, independently of bucketsync's walk and filters.
"""

from __future__ import annotations

import itertools
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import bucketsync
from invariants import Monitor
from reliability_figures import Figures
from reliakit import SYNC_PROPERTY, bucket_tree
from s3env import S3Env

USER_TEMP = ".notes.bucketsync-tmp-0123456789ab"  # a user's file, named like a temp file
SEGMENTS = [
    *("a", "b", "A", "a b", " lead", "trail ", "\u00e9", "e\u0301", "\u65e5\u672c"),
    *(".hidden", "x.txt", "#%&+", "tab\there", "n" * 200, "sub", "lnk", "self", "out"),
    *(USER_TEMP, "x.bucketsync-tmp-0123456789ab"),
]
CONTENTS = [b"", b"a", b"b", b"ab", b"hello world\n", bytes(range(256)) * 3]
MODES = [0o644, 0o600, 0o640, 0o755]  # a replaced file keeps its mode, whatever it was
PATTERNS = ["*.txt", "a*", "*/b", ".*", "*", "sub/*", "*\u00e9*", "?"]
LINKS = {"lnk": "sub", "self": ".", "out": "../outside"}  # name -> target, from the root

PATH = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3).map("/".join)
FILES = st.dictionaries(
    PATH, st.tuples(st.sampled_from(CONTENTS), st.sampled_from(MODES)), max_size=7
)
KEYS = st.dictionaries(PATH, st.sampled_from(CONTENTS), max_size=7)
EDITS = st.dictionaries(PATH, st.one_of(st.none(), st.sampled_from(CONTENTS)), max_size=4)


@dataclass(frozen=True)
class Case:
    """One example: both sides, what happens to them, and the sync under test."""

    local: dict[str, tuple[bytes, int]]
    remote: dict[str, bytes]
    links: tuple[str, ...]
    prime: bool  # sync once first, then apply the edits
    local_edits: dict[str, bytes | None]
    remote_edits: dict[str, bytes | None]
    push: bool
    options: dict[str, Any]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    rules = st.lists(st.tuples(st.sampled_from(["include", "exclude"]), st.sampled_from(PATTERNS)))
    options: dict[str, Any] = {
        "delete": draw(st.booleans()),
        "dry_run": draw(st.booleans()) and draw(st.booleans()),  # a quarter of the syncs
        "compare": draw(st.sampled_from(["content", "content", "size", "size-mtime"])),
        "follow_symlinks": draw(st.booleans()),
        "progress": False,
    }
    filters = draw(st.one_of(st.just([]), st.just([]), rules.filter(lambda r: len(r) <= 3)))
    if filters:
        options["filter_rules"] = tuple(filters)
    return Case(
        local=draw(FILES),
        remote=draw(KEYS),
        links=tuple(draw(st.lists(st.sampled_from(sorted(LINKS)), max_size=2, unique=True))),
        prime=draw(st.booleans()),
        local_edits=draw(EDITS),
        remote_edits=draw(EDITS),
        push=draw(st.booleans()),
        options=options,
    )


# --- the two sides, read and written independently of bucketsync ----------------------


def write_local(root: Path, files: dict[str, tuple[bytes, int]]) -> None:
    """Write what fits (a file where a folder is, or below a file or link, is left out)."""
    for rel, (data, mode) in sorted(files.items()):
        path = root.joinpath(*rel.split("/"))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir() or path.is_symlink():
                continue
            path.write_bytes(data)
            path.chmod(mode)
        except (NotADirectoryError, FileExistsError):
            continue


def make_links(root: Path, links: tuple[str, ...]) -> None:
    """Symbolic links to a folder inside (`sub`), to the root itself, and out of it."""
    if links and not (root / "sub").exists():
        (root / "sub").mkdir()
    for name in links:
        if not (root / name).exists() and not (root / name).is_symlink():
            (root / name).symlink_to(LINKS[name], target_is_directory=True)


def read_local(root: Path, follow: bool) -> dict[str, bytes]:
    """Regular files below root as a sync walks them: links followed only if asked, and
    never into a folder already above (a loop); temporary-file names left out."""

    def walk(
        folder: Path, rel: str, above: frozenset[tuple[int, int]]
    ) -> Iterator[tuple[str, bytes]]:
        here = folder.stat()
        if (here.st_dev, here.st_ino) in above:
            return
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            path = Path(entry.path)
            if entry.is_symlink() and not follow:
                continue
            try:
                st_ = path.stat()
            except OSError:
                continue
            if stat.S_ISDIR(st_.st_mode):
                yield from walk(path, f"{rel}{entry.name}/", above | {(here.st_dev, here.st_ino)})
            elif stat.S_ISREG(st_.st_mode) and not temp_like(entry.name):
                yield f"{rel}{entry.name}", path.read_bytes()

    return dict(walk(root, "", frozenset())) if root.is_dir() else {}


def temp_like(name: str) -> bool:
    """bucketsync's reserved temporary-file names: `.NAME.bucketsync-tmp-<12 hex>`."""
    head, mark, tail = name.rpartition(".bucketsync-tmp-")
    return (
        bool(mark)
        and name.startswith(".")
        and len(head) >= 1
        and len(tail) == 12
        and all(c in "0123456789abcdef" for c in tail)
    )


def accepts(rules: tuple[tuple[str, str], ...], rel: str) -> bool:
    """The documented filter semantics: all included, then the last matching rule wins."""
    included = True
    for kind, pattern in rules:
        if fnmatchcase(rel, pattern):
            included = kind == "include"
    return included


def inside(root: Path, rel: str) -> bool:
    """Whether rel's real location (links resolved) is inside root."""
    real, top = os.path.realpath(root.joinpath(*rel.split("/"))), os.path.realpath(root)
    return real.startswith(top + os.sep)


def reported(rel: str, paths: set[str], notes: list[str]) -> bool:
    """Whether rel, or a folder above it, was reported as an error or a note."""
    parts = rel.split("/")
    above = {"/".join(parts[:n]) for n in range(1, len(parts) + 1)}
    return bool(above & paths) or any(note.startswith(f"{p}: ") for p in above for note in notes)


# --- the property ------------------------------------------------------------------------


def pull(local: dict[str, bytes], remote: dict[str, bytes], *links: str, **options: Any) -> Case:
    """An explicit example: a pull with these trees, links and options."""
    files = {rel: (data, 0o644) for rel, data in local.items()}
    options = {"delete": False, "dry_run": False, "compare": "content"} | options
    options |= {"follow_symlinks": options.get("follow_symlinks", False), "progress": False}
    return Case(files, remote, links, False, {}, {}, False, options)


_examples = itertools.count()


@pytest.mark.slow
@SYNC_PROPERTY
@given(case=cases())
# Cases found by this property (and by the trial behind issue 11), tried first every run:
# --delete --follow-symlinks deleted outside/canary through the link `out`;
@example(case=pull({}, {}, "out", delete=True, follow_symlinks=True))
# `a` and `self/a` (self -> .) were both written to one file, again on every pull;
@example(case=pull({}, {"a": b"a", "self/a": b"b"}, "self"))
# a dry run removed a user's file named like a temporary file;
@example(case=pull({USER_TEMP: b"notes"}, {}, dry_run=True))
# with --delete, a file where the remote has a folder needed two runs.
@example(case=pull({"a": b"a"}, {"a/b": b"b"}, delete=True))
def test_property_random_syncs_keep_their_promises(
    moto_s3: S3Env, tmp_path: Path, invariants: Monitor, figures: Figures, case: Case
) -> None:
    n = next(_examples)
    box, prefix = tmp_path / f"ex{n}", f"p{n}/"
    root, outside = box / "root", box / "outside"
    outside.mkdir(parents=True)
    (outside / "canary").write_bytes(b"canary")
    root.mkdir()
    invariants.narrow(box)
    write_local(root, case.local)
    make_links(root, case.links)
    for key, data in case.remote.items():
        moto_s3.put(prefix + key, data)
    src, dst = (root, moto_s3.url(prefix)) if case.push else (moto_s3.url(prefix), root)
    if case.prime:
        bucketsync.sync(src, dst, delete=True, progress=False)
        write_local(root, {k: (v, 0o644) for k, v in case.local_edits.items() if v is not None})
        for rel in (k for k, v in case.local_edits.items() if v is None):
            with_path = root.joinpath(*rel.split("/"))
            if with_path.is_file() and not with_path.is_symlink():
                with_path.unlink()
        for key, edit in case.remote_edits.items():
            if edit is None:
                moto_s3.client.delete_object(Bucket=moto_s3.bucket, Key=prefix + key)
            else:
                moto_s3.put(prefix + key, edit)
    user_temps = {p for p in root.rglob(USER_TEMP) if p.is_file()}
    follow = case.options["follow_symlinks"]
    source = read_local(root, follow) if case.push else bucket_tree(moto_s3, prefix)

    planned = bucketsync.diff(src, dst, **case.options)
    report = bucketsync.sync(src, dst, **case.options)
    figures.add("property: random syncs (moto)", examples=1, syncs=3 if case.prime else 2)
    broken = invariants.take()
    assert not broken, broken

    failed = {p.path for p in report.errors} | {p.path.removeprefix(prefix) for p in report.errors}
    notes = report.plan.warnings
    assert {(a.action, a.path) for a in planned} == {(a.action, a.path) for a in report.plan}
    gone = [p for p in user_temps if not p.is_file()]
    assert not gone, f"a user's file named like a temporary file was removed: {gone}"
    if report.dry_run:
        return

    rules = case.options.get("filter_rules", ())
    after = bucket_tree(moto_s3, prefix) if case.push else read_local(root, follow)
    wrong, left = [], []
    for rel, data in source.items():
        if not accepts(rules, rel) or reported(rel, failed, notes):
            continue
        got = after.get(rel)
        same = (
            got == data
            if case.options["compare"] == "content"
            else got is not None and len(got) == len(data)
        )
        if not same:
            wrong.append(rel)
    if case.options["delete"]:
        for rel in after.keys() - source.keys():
            outside = not case.push and not inside(root, rel)  # through a link: never deleted
            if accepts(rules, rel) and not reported(rel, failed, notes) and not outside:
                left.append(rel)
    assert not wrong, f"destination differs from the source at {sorted(wrong)}"
    assert not left, f"--delete left destination-only paths {sorted(left)}"

    again = bucketsync.diff(src, dst, **case.options)
    figures.add("property: random syncs (moto)", syncs=1, paths=len(source), reported=len(failed))
    # A failure excuses a path, unless it came from the sync's own order: a file the
    # same plan deleted was still in the way of a folder it wrote.
    deleted = tuple(f"{a.path}/" for a in report.plan if a.action == "delete")
    more = [
        (a.action, a.path, a.reason)
        for a in again
        if not reported(a.path, failed, []) or a.path.startswith(deleted)
    ]
    assert not more, f"a second identical sync would do more: {more}"
    broken = invariants.take()
    assert not broken, broken
