"""Generated data: trees of random files written to the local side and straight into the
server's folder, all with the same whole-second mtime, and detection of what a tool changed."""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

STAMP = 1_700_000_000  # mtime of every generated file (whole seconds: aws compares exactly)
CHUNK = 8 * 1024 * 1024
PER_DIR = 100

Snapshot = dict[str, tuple[int, int]]  # relative path -> (inode, ctime_ns)


def names(count: int, per_dir: int = PER_DIR) -> list[str]:
    """Relative paths of `count` files, `per_dir` to a folder, in S3 listing order."""
    return [f"d{i // per_dir:05d}/f{i:07d}.bin" for i in range(count)]


def write_tree(roots: Sequence[Path], rels: Sequence[str], size: int, seed: int = 0) -> int:
    """Write the same random content for each path below every root; return the bytes."""
    rng = random.Random(seed)
    made: set[Path] = set()
    for rel in rels:
        paths = [root / rel for root in roots]
        for path in paths:
            if path.parent not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(path.parent)
        handles = [path.open("wb") for path in paths]
        try:
            for chunk in _content(rng, size):
                for handle in handles:
                    handle.write(chunk)
        finally:
            for handle in handles:
                handle.close()
        for path in paths:
            os.utime(path, (STAMP, STAMP))
    os.sync()  # no write-back of the new data during the first timed runs
    return size * len(rels)


def _content(rng: random.Random, size: int) -> Iterator[bytes]:
    left = size
    while left > 0:
        n = min(CHUNK, left)
        yield rng.randbytes(n)
        left -= n


def files(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """Regular files below root, with their stat (not sorted)."""
    stack = [(str(root), "")]
    while stack:
        path, rel_dir = stack.pop()
        with os.scandir(path) as entries:
            for entry in entries:
                rel = rel_dir + entry.name
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, rel + "/"))
                elif entry.is_file(follow_symlinks=False):
                    yield rel, entry.stat(follow_symlinks=False)


def snapshot(root: Path) -> Snapshot:
    """Identity of each file's current version: a rewrite, rename or utime changes it."""
    if not root.exists():
        return {}
    return {rel: (st.st_ino, st.st_ctime_ns) for rel, st in files(root)}


def changed(before: Snapshot, after: Snapshot) -> list[str]:
    """Paths added, removed or rewritten between two snapshots."""
    keys = before.keys() | after.keys()
    return sorted(k for k in keys if before.get(k) != after.get(k))


def restamp(root: Path, rels: Sequence[str]) -> None:
    """Give these files the generated mtime again."""
    for rel in rels:
        path = root / rel
        if path.exists():
            os.utime(path, (STAMP, STAMP))


def edit_in_place(path: Path, rng: random.Random) -> bytes:
    """Overwrite 64 bytes in the middle (same size), restore the mtime; return new content."""
    st = path.stat()
    offset = max(0, st.st_size // 2 - 32)
    with path.open("r+b") as handle:
        handle.seek(offset)
        handle.write(rng.randbytes(min(64, st.st_size)))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    return path.read_bytes()


def count_files(root: Path) -> tuple[int, int]:
    """Number and total size of the regular files below root."""
    n = total = 0
    if root.exists():
        for _, st in files(root):
            n += 1
            total += st.st_size
    return n, total


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def set_aside(path: Path, trash: Path) -> None:
    """Move a tree into `trash` (one rename), to be removed once the timed runs are over.

    Deleting thousands of files shortly before a timed run that creates thousands would
    bill the deletion to that run on ext4 without a journal (as on this benchmark's
    machines): its inode allocator skips, one by one, inodes freed in the last minute or
    more, so each create scans past the ones the deletion just freed.
    """
    if not path.exists():
        return
    trash.mkdir(parents=True, exist_ok=True)
    path.rename(trash / f"{len(os.listdir(trash))}-{path.name}")
