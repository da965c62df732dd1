"""Hostile and awkward keys: nothing is written outside the target folder, and no valid
key is lost. A fixed table of known attacks, then a hypothesis property over many keys.

"Valid" is specified here independently of the code: a relative path of non-empty
segments other than "." and "..", no NUL, segments of at most 255 bytes, not the name
pattern of bucketsync's temporary files, not through the symbolic link the test plants,
and not the folder of another valid key (`a` next to `a/b`: the folder wins).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

import bucketsync
from reliability_figures import Figures
from reliakit import SYNC_PROPERTY, read_tree, temp_files
from s3env import S3Env

LINK = "escape"  # a symbolic link in the target folder, to a folder outside it
TEMP_NAME = re.compile(r"\..*\.bucketsync-tmp-[0-9a-f]{12,}", re.DOTALL)
TABLE = [
    "../x",
    "a/../../x",
    "/abs",
    "a//b",
    "./a",
    "a/./b",
    "nul\x00x",
    "ctl\x01\x1b\x7f",  # valid on Linux: control characters are legal in names
    "tab\there",
    "..\\x",  # a backslash is an ordinary character here
    "n" * 256,
    "deep/" + "m" * 255,
    "a",
    "a/b",
    "marker/",
    "data/",  # a folder marker that holds data
    "Case",
    "case",
    "\u00e9",
    "e\u0301",
    ".x.bucketsync-tmp-0123456789ab",
    f"{LINK}/x",
    LINK,
    "ok/file",
]


def valid(rel: str) -> bool:
    if not rel or rel.startswith("/") or rel.endswith("/") or "\x00" in rel:
        return False
    parts = rel.split("/")
    if parts[0] == LINK:
        return False
    return all(
        p not in ("", ".", "..") and len(p.encode()) <= 255 and not TEMP_NAME.fullmatch(p)
        for p in parts
    )


def expected(stored: dict[str, bytes]) -> dict[str, bytes]:
    ok = {rel for rel in stored if valid(rel)}
    return {rel: stored[rel] for rel in ok if not any(o.startswith(rel + "/") for o in ok)}


def sandbox(root: Path) -> tuple[Path, Path]:
    """root/target, with a link to root/outside (which holds a canary)."""
    outside, target = root / "outside", root / "target"
    outside.mkdir(parents=True)
    (outside / "canary").write_bytes(b"canary")
    target.mkdir()
    (target / LINK).symlink_to(outside, target_is_directory=True)
    return outside, target


def snapshot(root: Path, skip: Path) -> dict[str, bytes | None]:
    """Every path below root but those below skip, with file contents."""
    seen: dict[str, bytes | None] = {}
    for p in root.rglob("*"):
        if skip in p.parents:
            continue
        seen[p.relative_to(root).as_posix()] = p.read_bytes() if p.is_file() else None
    return seen


def put_all(s3: S3Env, prefix: str, rels: list[str]) -> dict[str, bytes]:
    """Store each key with distinct content; keys the server refuses are left out."""
    stored = {}
    for n, rel in enumerate(rels):
        data = b"" if rel.endswith("/") and rel != "data/" else f"{n}:{rel!r}".encode()
        try:
            s3.put(prefix + rel, data)
        except ClientError:
            continue
        stored[rel] = data
    return stored


def pull_and_judge(s3: S3Env, prefix: str, root: Path, stored: dict[str, bytes]) -> dict[str, int]:
    _, target = sandbox(root)
    before = snapshot(root, target)
    report = bucketsync.sync(s3.url(prefix), target, progress=False)
    want = expected(stored)
    got = read_tree(target)
    reported = {p.path for p in report.errors}
    noted = {w.rpartition(": key ends with '/'")[0] for w in report.plan.warnings}
    silent = [
        rel
        for rel in stored
        if rel not in want
        and not {rel, prefix + rel} & reported
        and not ((rel == "" or rel.endswith("/")) and rel in noted)  # data: a note
        and not ((rel == "" or rel.endswith("/")) and not stored[rel])
    ]
    assert snapshot(root, target) == before, "something was written outside the target"
    assert got == want, (sorted(got), sorted(want))
    assert not silent, f"keys skipped without an error: {silent}"
    assert not temp_files(target)
    again = bucketsync.diff(s3.url(prefix), target)
    assert {a.path for a in again} <= reported, "a second pull would move something new"
    return {
        "keys": len(stored),
        "valid_keys": len(want),
        "valid_keys_lost": len(want.keys() - got.keys()),
        "written_outside_target": 0,
        "refused_with_an_error": len(reported),
    }


def test_table_of_hostile_keys(moto_s3: S3Env, tmp_path: Path, figures: Figures) -> None:
    stored = put_all(moto_s3, "t/", TABLE)
    assert {"../x", "/abs", "a//b", "nul\x00x", "n" * 256} <= stored.keys()
    counts = pull_and_judge(moto_s3, "t/", tmp_path / "box", stored)
    figures.add("hostile keys: fixed table", runs=1, **counts)
    got = read_tree(tmp_path / "box" / "target")
    assert {"a/b", "ctl\x01\x1b\x7f", "..\\x", "Case", "case", "\u00e9", "e\u0301"} <= got.keys()
    assert "a" not in got


VOCABULARY = st.sampled_from(
    [
        *("a", "b", "A", "..", ".", "", "n" * 256, "c\x01", "nul\x00", LINK, "\u00e9", " "),
        *(".x.bucketsync-tmp-0123456789ab", ".x.bucketsync-tmp-xyz", "~", "a.b"),
    ]
)
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\n\r"), max_size=6
)
SEGMENT = st.one_of(VOCABULARY, VOCABULARY, TEXT)  # mostly a small vocabulary: keys collide
KEY = st.builds(
    lambda lead, parts, trail: lead + "/".join(parts) + trail,
    st.sampled_from(["", "", "/", "./"]),
    st.lists(SEGMENT, min_size=1, max_size=3),
    st.sampled_from(["", "", "", "/"]),
)
CHILD = st.sampled_from(["/b", "//b", "/../b", "/./b", "/", "/" + "n" * 256, "/nul\x00"])


@st.composite
def key_sets(draw: st.DrawFn) -> list[str]:
    """Keys, and some keys below others (valid or not): `a` with `a/b`, `a//b`, `a/`."""
    keys = draw(st.lists(KEY, min_size=1, max_size=6, unique=True))
    children = draw(st.lists(st.tuples(st.sampled_from(keys), CHILD), max_size=4))
    return list(dict.fromkeys(keys + [key + child for key, child in children]))


_examples = itertools.count()


@pytest.mark.slow
@SYNC_PROPERTY
@given(keys=key_sets())
def test_property_nothing_outside_and_no_valid_key_lost(
    moto_s3: S3Env, tmp_path: Path, figures: Figures, keys: list[str]
) -> None:
    n = next(_examples)
    prefix = f"h{n}/"
    stored = put_all(moto_s3, prefix, keys)
    counts = pull_and_judge(moto_s3, prefix, tmp_path / f"ex{n}", stored)
    figures.add("hostile keys: hypothesis property (moto)", examples=1, **counts)
