"""A whole session: describe the machine, run the scenarios, write JSON, table and plots."""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
import time
import traceback
from collections.abc import Callable

from . import REPO
from .config import Config
from .data import remove
from .plots import write_plots
from .report import markdown
from .results import Session
from .runner import Bench
from .scenarios import SCENARIO_RUNNERS


def run_session(config: Config, log: Callable[[str], None] | None = None) -> Session:
    """Run the configured scenarios; results are saved after each one."""
    session = Session()
    bench = Bench(config, session, log)
    remove(bench.ws.root)
    bench.ws.__post_init__()
    session.meta.update(_describe(config, bench))
    try:
        for scenario in config.scenarios:
            _scenario(bench, scenario)
            write_outputs(session, config)
    finally:
        session.meta["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        write_outputs(session, config)
        if not config.keep_work:
            remove(config.work / "session")
    return session


def _scenario(bench: Bench, scenario: str) -> None:
    meta = bench.session.meta
    meta["load"][scenario] = round(os.getloadavg()[0], 2)
    meta["commits"][scenario] = _commit()
    bench.log(f"== {scenario} (load average {meta['load'][scenario]})")
    start = time.monotonic()
    try:
        SCENARIO_RUNNERS[scenario](bench)
    except Exception as e:  # one broken scenario must not lose the others
        bench.session.skipped[scenario] = f"failed: {type(e).__name__}: {e}"[:600]
        bench.log(traceback.format_exc())
    meta["scenario_seconds"][scenario] = round(time.monotonic() - start, 1)
    bench.log(f"== {scenario} done in {meta['scenario_seconds'][scenario]} s")


def write_outputs(session: Session, config: Config) -> None:
    """results.json, plots and results.md under config.out."""
    config.out.mkdir(parents=True, exist_ok=True)
    session.save(config.out / "results.json")
    plots = write_plots(session, config.out)
    (config.out / "results.md").write_text(markdown(session, plots))


def _describe(config: Config, bench: Bench) -> dict[str, object]:
    versions = {
        name: tool.version()
        for name, tool in bench.all.items()
        if config.wants(name) and not name.startswith("floor") and name != "rclone --checksum"
    }
    return {
        "mode": config.mode,
        **config.extra,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": _machine(),
        "runs": config.runs,
        "sweep_runs": config.sweep_runs,
        "capped": dict(config.capped),
        "sizes": dataclasses.asdict(config.sizes),
        "versions": versions,
        "servers": {"default": "rclone serve s3 (local backend, --dir-cache-time=1000h)"},
        "load": {},
        "commits": {},
        "scenario_seconds": {},
    }


def _commit() -> str:
    """The bucketsync commit being measured, "+dirty" with uncommitted changes in src/."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+dirty" if git("status", "--porcelain", "--", "src") else "")


def _machine() -> str:
    try:
        with open("/proc/meminfo") as f:
            mem_kib = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kib = 0
    return (
        f"{os.cpu_count()} cores, {mem_kib / 2**20:.0f} GiB RAM, {platform.system()}"
        f" {platform.release()}, Python {platform.python_version()}"
    )
