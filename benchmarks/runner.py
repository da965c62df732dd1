"""The harness core: which tools run, one timed invocation, and the checks after it."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import REPO
from .config import Config
from .data import count_files
from .link import stats_delta
from .measure import Measured, run_command
from .results import Run, Session
from .servers import BenchServer
from .tools import Place, Tool, Workspace, all_tools, tool_env

Verify = Callable[[Run], "str | None"]  # a problem with the run's outcome, or None


class Bench:
    """One session: the configuration, the tools, the workspace and the runs so far."""

    def __init__(
        self, config: Config, session: Session, log: Callable[[str], None] | None = None
    ) -> None:
        self.config = config
        self.session = session
        self.ws = Workspace(config.work / "session")
        self.all = all_tools()
        self._log = log or _stderr

    def log(self, message: str) -> None:
        self._log(message)

    def tools(self, scenario: str, names: Sequence[str]) -> list[Tool]:
        """The tools of a scenario that were asked for and are installed."""
        chosen = []
        for name in names:
            tool = self.all[name]
            if not self.config.wants(name) and not name.startswith("floor"):
                continue
            why = tool.missing()
            if why:
                self.session.skipped[f"{scenario}/{name}"] = why
                self.log(f"{scenario}: skipping {name}: {why}")
                continue
            chosen.append(tool)
        return chosen

    def folder(self, scenario: str) -> Path:
        path = self.ws.root / scenario
        path.mkdir(parents=True, exist_ok=True)
        return path

    def server(self, scenario: str, kind: str = "rclone") -> BenchServer:
        """A server of this scenario, not started yet (rclone: fill its folder first)."""
        return BenchServer(kind, self.folder(scenario) / f"server-{kind}")

    def turn(self, scenario: str, tools: Sequence[Tool], r: int) -> list[Tool]:
        """The tools of round r, in an order shifted by r, without those capped below r+1."""
        caps = dict(self.config.capped)

        def cap(tool: Tool) -> int:
            return caps.get(f"{scenario}/{tool.name}", caps.get(tool.name, r + 1))

        return [t for t in rotated(tools, r) if r < cap(t)]

    def runs_for(self, count: int, counts: Sequence[int]) -> int:
        return self.config.runs if count == max(counts) else self.config.sweep_runs

    def run(
        self,
        tool: Tool,
        direction: str,
        place: Place,
        *,
        scenario: str,
        case: str,
        run: int,
        files: int,
        nbytes: int,
        verify: Verify | None = None,
    ) -> Run:
        """Run the tool once, record the run, check its outcome."""
        argv = tool.command(direction, place, self.ws)
        env = tool_env(place, self.ws)
        load = round(os.getloadavg()[0], 2)
        link_before = place.server.link_stats()
        cpu_before = place.server.cpu_seconds()
        measured = run_command(argv, env, cwd=REPO, timeout=self.config.timeout)
        link_after = place.server.link_stats()
        result = Run(
            scenario=scenario,
            case=case,
            tool=tool.name,
            run=run,
            files=files,
            bytes=nbytes,
            seconds=round(measured.seconds, 4),
            cpu_s=round(measured.cpu_s, 3),
            max_rss_kib=measured.max_rss_kib,
            server_cpu_s=round(place.server.cpu_seconds() - cpu_before, 3),
            exit_code=measured.exit_code,
            ok=measured.exit_code == 0 and not measured.timed_out,
        )
        result.extra["load"] = load
        if link_before is not None and link_after is not None:
            result.extra["link"] = stats_delta(link_before, link_after)
        _parse_output(result, measured)
        if not result.ok:
            result.note = _failure(measured)
        elif verify is not None:
            problem = verify(result)
            if problem:
                result.ok = False
                result.note = problem
        self.session.add(result)
        self._report(result)
        return result

    def _report(self, r: Run) -> None:
        label = "first" if r.run < 0 else f"run {r.run}"
        status = "" if r.ok else f"  FAILED: {r.note}"
        extra = ""
        if r.summary:
            s = r.summary
            extra = f"  hashed {s.get('bytes_hashed', 0)} B, requests {s.get('requests')}"
        self.log(
            f"{r.scenario} {r.case:<6} {r.files:>8} files  {r.tool:<18} {label:<6}"
            f" {r.seconds:8.2f} s{extra}{status}"
        )

    def save(self) -> None:
        self.session.meta["saved"] = time.strftime("%Y-%m-%d %H:%M:%S")
        self.session.save(self.config.out / "results.json")


def expect_local(root: Path, files: int, nbytes: int) -> Verify:
    """A check that the local folder holds exactly this many files and bytes."""

    def verify(_: Run) -> str | None:
        n, total = count_files(root)
        if (n, total) != (files, nbytes):
            return f"local side has {n} files / {total} B, expected {files} / {nbytes}"
        return None

    return verify


def expect_remote(server: BenchServer, bucket: str, prefix: str, files: int, nbytes: int) -> Verify:
    """A check that the prefix holds exactly this many objects and bytes."""

    def verify(_: Run) -> str | None:
        n, total = server.count(bucket, prefix)
        if (n, total) != (files, nbytes):
            return f"server has {n} objects / {total} B, expected {files} / {nbytes}"
        return None

    return verify


def delete_prefix(server: BenchServer, bucket: str, prefix: str) -> None:
    """Delete every object below a prefix, through the S3 API."""
    from .s3list import list_objects

    client = server.client()
    keys = [obj.key for obj in list_objects(server.creds, bucket, prefix)]
    for i in range(0, len(keys), 1000):
        batch = [{"Key": k} for k in keys[i : i + 1000]]
        client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


def rotated(tools: Sequence[Tool], by: int) -> list[Tool]:
    """The tools in an order shifted by `by`, so no tool always runs right after another."""
    if not tools:
        return []
    k = by % len(tools)
    return [*tools[k:], *tools[:k]]


def _parse_output(result: Run, measured: Measured) -> None:
    """bucketsync's --json summary, or the JSON line of the origin and floor helpers."""
    text = measured.stdout.strip()
    if not text.startswith("{"):
        return
    try:
        data: dict[str, Any] = json.loads(text)
    except ValueError:
        return
    if "summary" in data:
        result.summary = data["summary"]
    else:
        result.extra.update(data)


def _failure(measured: Measured) -> str:
    if measured.timed_out:
        return "timed out"
    lines = [ln for ln in (measured.stderr + measured.stdout).splitlines() if ln.strip()]
    tail = " | ".join(lines[-3:])[-400:]
    return f"exit {measured.exit_code}: {tail}"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
