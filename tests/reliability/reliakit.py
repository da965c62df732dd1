"""Helpers of the reliability suite: trees, temp files, state checks, a CLI runner."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from hypothesis import HealthCheck, settings

from bucketsync.stores.local import is_temp_name
from s3env import S3Env

BUCKETSYNC = str(Path(sys.executable).with_name("bucketsync"))
KIB, MIB = 1024, 1024 * 1024
# A property test that runs whole syncs against a server: the same 40 examples every run
# (no example database), slow ones allowed, fixtures shared by the examples.
SYNC_PROPERTY = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def read_tree(root: Path) -> dict[str, bytes]:
    """Every regular file below root but bucketsync's temporary files, by relative path."""
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink() and not is_temp_name(p.name)
    }


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if is_temp_name(p.name)] if root.exists() else []


def bucket_tree(s3: S3Env, prefix: str) -> dict[str, bytes]:
    return {k[len(prefix) :]: s3.get(k) for k in s3.keys(prefix)}


def state_db(env: dict[str, str] | None = None) -> Path:
    return Path((env or os.environ)["BUCKETSYNC_STATE_DIR"]) / "state.sqlite3"


def in_flight(env: dict[str, str], query: str) -> list[tuple[object, ...]]:
    """Rows of the state database's record of transfers in flight (resume.py), e.g.
    "SELECT temp FROM downloads" or "SELECT key, upload_id FROM uploads"."""
    path = state_db(env)
    if not path.exists():
        return []
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        return db.execute(query).fetchall()


def kept_partials(env: dict[str, str]) -> set[Path]:
    """The temporary files of partial downloads kept for the next sync to resume."""
    return {Path(str(temp)) for (temp,) in in_flight(env, "SELECT temp FROM downloads")}


def integrity(path: Path) -> str:
    """SQLite's own check of the state database ("ok" when sound)."""
    if not path.exists():
        return "ok"
    with sqlite3.connect(path, timeout=30) as db:
        rows = db.execute("PRAGMA integrity_check").fetchall()
    return "; ".join(str(r[0]) for r in rows)


@contextlib.contextmanager
def held_temp(target: Path, data: bytes = b"") -> Iterator[Path]:
    """A temporary file for `target`, claimed (and `data` written to it) by another process
    that lives until the block ends and is then killed with SIGKILL."""
    code = (
        "import sys, time\nfrom pathlib import Path\n"
        "from bucketsync.stores.local import claim_temp, write_all\n"
        "temp, fd = claim_temp(Path(sys.argv[1]))\nwrite_all(fd, bytes.fromhex(sys.argv[2]))\n"
        "print(temp, flush=True)\ntime.sleep(60)"
    )
    argv = [sys.executable, "-c", code, str(target), data.hex()]
    holder = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        yield Path(holder.stdout.readline().strip())
    finally:
        holder.kill()
        holder.wait()


def cli(
    env: dict[str, str],
    *args: str,
    preexec: Callable[[], None] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BUCKETSYNC, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=preexec,
    )


def error_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("bucketsync: error:")]


def one_line_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    """Assert the run failed with `code` and exactly one error line; return it."""
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bucketsync: error:"), done.stderr
    return lines[0]


_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


def without_root_powers() -> None:
    """preexec_fn: as root, drop the capabilities that bypass file permissions.

    Root in a container otherwise reads a mode-000 file and writes a read-only folder,
    which hides exactly the errors these tests are about. The capabilities leave the
    bounding set, so the program exec'd next runs as root without them.
    """
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[bool]:
    """Mount a tmpfs of `size` at path (made here); yields False when that is not allowed."""
    path.mkdir()
    mounted = os.geteuid() == 0 and shutil.which("mount") is not None
    if mounted:
        command = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]
        mounted = subprocess.run(command, capture_output=True, check=False).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=False)
