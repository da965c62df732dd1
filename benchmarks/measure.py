"""Run one command and measure it: wall time, CPU time and peak RSS of the process tree."""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_TICK = os.sysconf("SC_CLK_TCK")
# Linux carries the parent's high-water RSS into an exec'ed child's ru_maxrss, so a child
# of this (large) process reports at least our own RSS. GNU time, a small process, runs
# the command as its own child and reports that child's real peak.
GNU_TIME = "/usr/bin/time" if Path("/usr/bin/time").exists() else None


@dataclass(frozen=True)
class Measured:
    """One finished command. CPU and RSS cover the process and the children it waited for."""

    seconds: float
    cpu_s: float
    max_rss_kib: int
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False


def run_command(
    argv: Sequence[str],
    env: dict[str, str],
    *,
    cwd: Path | None = None,
    timeout: float = 1800.0,
) -> Measured:
    """Run argv to completion; kill its process group after `timeout` seconds."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile(prefix="bench-rss-") as rss,
    ):
        wrapped = [GNU_TIME, "-f", "%M", "-o", rss.name, *argv] if GNU_TIME else list(argv)
        start = time.perf_counter()
        proc = subprocess.Popen(
            wrapped,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        expired = threading.Event()
        watchdog = threading.Timer(timeout, _kill_group, (proc.pid, expired))
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        return Measured(
            seconds=seconds,
            cpu_s=usage.ru_utime + usage.ru_stime,
            max_rss_kib=_peak(rss.name) if GNU_TIME else usage.ru_maxrss,
            exit_code=proc.returncode,
            stdout=_read(out),
            stderr=_read(err),
            timed_out=expired.is_set(),
        )


def _peak(path: str) -> int:
    """GNU time's %M (KiB), the last line of its output file; 0 if missing."""
    try:
        lines = Path(path).read_text().split()
        return int(lines[-1]) if lines else 0
    except (OSError, ValueError):
        return 0


def _kill_group(pid: int, expired: threading.Event) -> None:
    expired.set()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _read(handle: IO[bytes]) -> str:
    handle.seek(0)
    return handle.read().decode("utf-8", "replace")


def process_cpu(pid: int | None) -> float:
    """CPU seconds used so far by a process (and its waited-for children); 0 if unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    # after the command name: state is field 3; utime, stime, cutime, cstime are 14..17
    return sum(int(v) for v in fields[11:15]) / _TICK


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float
    n: int


def spread(values: Sequence[float]) -> Spread | None:
    """Median, min and max of the values; None when there are none."""
    if not values:
        return None
    return Spread(statistics.median(values), min(values), max(values), len(values))
