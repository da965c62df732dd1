"""The raw record of a session: one Run per tool invocation, saved as JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Run:
    """One timed (or first, untimed: run == -1) invocation of one tool."""

    scenario: str
    case: str  # "push", "pull", or a scenario-specific label
    tool: str
    run: int
    files: int
    bytes: int
    seconds: float
    cpu_s: float = 0.0
    max_rss_kib: int = 0
    server_cpu_s: float = 0.0
    exit_code: int = 0
    ok: bool = True
    note: str = ""
    summary: dict[str, Any] | None = None  # bucketsync's --json summary
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def timed(self) -> bool:
        return self.run >= 0


@dataclass
class Session:
    """All runs of a session plus what describes it (machine, versions, sizes, server)."""

    meta: dict[str, Any] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # scenario or tool -> why

    def add(self, run: Run) -> Run:
        self.runs.append(run)
        return run

    def select(
        self,
        scenario: str,
        case: str | None = None,
        tool: str | None = None,
        files: int | None = None,
        *,
        timed: bool = True,
    ) -> list[Run]:
        return [
            r
            for r in self.runs
            if r.scenario == scenario
            and (case is None or r.case == case)
            and (tool is None or r.tool == tool)
            and (files is None or r.files == files)
            and (not timed or r.timed)
        ]

    def cases(self, scenario: str) -> list[tuple[str, int]]:
        """(case, files) pairs of a scenario, in the order first seen."""
        seen: dict[tuple[str, int], None] = {}
        for r in self.runs:
            if r.scenario == scenario and r.timed:
                seen.setdefault((r.case, r.files), None)
        return list(seen)

    def tools(self, runs: Iterable[Run]) -> list[str]:
        seen: dict[str, None] = {}
        for r in runs:
            seen.setdefault(r.tool, None)
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "skipped": self.skipped,
            "runs": [asdict(r) for r in self.runs],
        }

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Session:
        raw = json.loads(path.read_text())
        return cls(raw["meta"], [Run(**r) for r in raw["runs"]], raw.get("skipped", {}))
