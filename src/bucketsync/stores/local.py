"""The local side: a sorted walk of a folder, and safe paths for writing into it."""

from __future__ import annotations

import os
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from ..entries import LocalFile
from ..errors import PathConflict, UnsafeKey

TEMP_MARK = ".bucketsync-tmp-"
NAME_MAX = 255
ORPHAN_AGE_S = 60.0

Report = Callable[[str, str, bool], None]  # (path, message, is_error)


def local_file(rel: str, st: os.stat_result) -> LocalFile:
    return LocalFile(rel, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def walk(root: Path, report: Report, *, follow_symlinks: bool = False) -> Iterator[LocalFile]:
    """Regular files below root, sorted by relative path in code-point order.

    Sorting each folder by name, with folders keyed as ``name/``, gives the global
    order S3 lists keys in. What is skipped goes to `report(rel, message, is_error)`:
    errors (unreadable folders and files, names that are not UTF-8) and notes
    (symlinks not followed, special files); the walk goes on.
    """
    if root.is_dir():
        yield from _walk_dir(str(root), "", report, follow_symlinks)


def _walk_dir(path: str, rel_dir: str, report: Report, follow: bool) -> Iterator[LocalFile]:
    try:
        with os.scandir(path) as it:
            entries = [_keyed(entry, follow) for entry in it]
    except OSError as e:
        report(rel_dir or ".", f"cannot read folder: {e.strerror or e}", True)
        return
    for key, entry in sorted(entries, key=lambda pair: pair[0]):
        rel = rel_dir + entry.name
        if not _usable_name(entry, rel, report, follow):
            continue
        if key.endswith("/"):
            yield from _walk_dir(entry.path, rel + "/", report, follow)
            continue
        file = _regular_file(entry, rel, report, follow)
        if file is not None:
            yield file


def _keyed(entry: os.DirEntry[str], follow: bool) -> tuple[str, os.DirEntry[str]]:
    try:
        is_dir = entry.is_dir(follow_symlinks=follow)
    except OSError:
        is_dir = False
    return (entry.name + "/" if is_dir else entry.name), entry


def _usable_name(entry: os.DirEntry[str], rel: str, report: Report, follow: bool) -> bool:
    if TEMP_MARK in entry.name:
        _remove_orphan(entry)
        return False
    try:
        entry.name.encode("utf-8")
    except UnicodeEncodeError:
        report(rel.encode("utf-8", "replace").decode(), "name is not valid UTF-8; skipped", True)
        return False
    if not follow and entry.is_symlink():
        report(rel, "symbolic link not followed (use --follow-symlinks)", False)
        return False
    return True


def _regular_file(
    entry: os.DirEntry[str], rel: str, report: Report, follow: bool
) -> LocalFile | None:
    try:
        st = entry.stat(follow_symlinks=follow)
    except OSError as e:
        report(rel, f"cannot stat: {e.strerror or e}", True)
        return None
    if not stat.S_ISREG(st.st_mode):
        report(rel, "not a regular file; skipped", False)
        return None
    return local_file(rel, st)


def _remove_orphan(entry: os.DirEntry[str]) -> None:
    """Remove a temporary file a killed run left behind (one not touched for a while)."""
    try:
        if time.time() - entry.stat(follow_symlinks=False).st_mtime > ORPHAN_AGE_S:
            os.unlink(entry.path)
    except OSError:
        pass


def check_rel(rel: str) -> None:
    """Raise UnsafeKey unless rel is a plain relative path that stays below its root."""
    if not rel or rel.startswith("/"):
        raise UnsafeKey(f"{rel!r}: absolute or empty path")
    if "\x00" in rel:
        raise UnsafeKey(f"{rel!r}: contains a NUL character")
    for part in rel.split("/"):
        if part in ("", ".", ".."):
            raise UnsafeKey(f"{rel!r}: contains an empty, '.' or '..' path segment")
        if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise UnsafeKey(f"{rel!r}: a path segment is longer than {NAME_MAX} bytes")


def target_path(root: Path, rel: str) -> Path:
    """The final path of rel below root; raises UnsafeKey for a path that escapes."""
    check_rel(rel)
    return root.joinpath(*rel.split("/"))


def prepare_parent(root: Path, path: Path) -> None:
    """Create path's folders, refusing ones that are files or lead outside root."""
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as e:
        raise PathConflict(f"a file is in the way of folder {parent}") from e
    real_root, real_parent = os.path.realpath(root), os.path.realpath(parent)
    if os.path.commonpath([real_root, real_parent]) != real_root:
        raise UnsafeKey(f"{path}: a symbolic link leads outside {root}")
    if path.is_dir() and not path.is_symlink():
        raise PathConflict(f"a folder is in the way of file {path}")


def temp_path(path: Path) -> Path:
    """A unique, recognisable temporary name next to path, within NAME_MAX."""
    suffix = TEMP_MARK + uuid.uuid4().hex[:12]
    room = NAME_MAX - len(suffix.encode()) - 1
    stem = path.name.encode("utf-8", "surrogateescape")[:room].decode("utf-8", "ignore")
    return path.with_name(f".{stem}{suffix}")
