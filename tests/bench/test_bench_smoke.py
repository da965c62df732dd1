"""The benchmark harness still works: a tiny S1 and S2 with bucketsync and rclone.

Not a benchmark: no timing is asserted, only that the harness runs both tools against
rclone serve s3 and writes its raw JSON and its Markdown table.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.config import Config, Sizes  # noqa: E402
from benchmarks.harness import run_session  # noqa: E402
from benchmarks.tools import all_tools  # noqa: E402

TINY = Sizes(s1_counts=(6,), s1_size=2048, s2_counts=(8,), s2_size=512)


def test_harness_writes_json_and_table(tmp_path: Path) -> None:
    for name in ("bucketsync", "rclone"):
        why = all_tools()[name].missing()
        if why:
            pytest.skip(why)
    config = Config(
        mode="smoke",
        sizes=TINY,
        runs=1,
        scenarios=("S1", "S2"),
        tools=("bucketsync", "rclone"),
        out=tmp_path / "results",
        work=tmp_path / "work",
    )
    session = run_session(config, log=lambda _: None)

    assert not session.skipped.get("S1") and not session.skipped.get("S2"), session.skipped
    raw = json.loads((tmp_path / "results" / "results.json").read_text())
    runs = raw["runs"]
    for scenario in ("S1", "S2"):
        for case in ("push", "pull"):
            for tool in ("bucketsync", "rclone"):
                mine = [
                    r
                    for r in runs
                    if (r["scenario"], r["case"], r["tool"]) == (scenario, case, tool)
                ]
                assert mine and all(r["ok"] for r in mine), (scenario, case, tool, mine)
    s2 = [r for r in runs if r["scenario"] == "S2" and r["tool"] == "bucketsync" and r["run"] >= 0]
    assert all(r["summary"]["bytes_hashed"] == 0 for r in s2)
    assert any(r["tool"] == "floor" and r["ok"] for r in runs)
    table = (tmp_path / "results" / "results.md").read_text()
    assert "## S1" in table and "## S2" in table and "| bucketsync |" in table
    assert not (tmp_path / "work" / "session").exists()


def test_wan_scenarios_run_through_the_latency_proxy(tmp_path: Path) -> None:
    """S9 and S10, tiny, through the proxy: every run ok and seen by the proxy."""
    for name in ("bucketsync", "rclone"):
        why = all_tools()[name].missing()
        if why:
            pytest.skip(why)
    sizes = Sizes(s9_count=6, s9_size=2048, s9_delays_ms=(0.0, 5.0), s10_keys=8, s10_delay_ms=5.0)
    config = Config(
        mode="smoke",
        sizes=dataclasses.replace(sizes, link_cost_gib=0),  # no 1 GiB calibration here
        runs=1,
        scenarios=("S9", "S10"),
        tools=("bucketsync", "rclone --checksum"),
        out=tmp_path / "results",
        work=tmp_path / "work",
    )
    session = run_session(config, log=lambda _: None)

    assert not session.skipped, session.skipped
    runs = json.loads((tmp_path / "results" / "results.json").read_text())["runs"]
    cases = {(r["scenario"], r["case"]) for r in runs}
    assert {("S9", "push 5ms"), ("S9", "pull 0ms"), ("S10", "push"), ("S10", "pull")} <= cases
    assert all(r["ok"] and r["extra"]["link"]["requests"] > 0 for r in runs), runs
    assert any(r["tool"] == "floor" for r in runs)
    table = (tmp_path / "results" / "results.md").read_text()
    assert "## S9" in table and "## S10" in table and "proxy's own cost" in table
    assert (tmp_path / "results" / "s9_delay.png").exists() or "![s9_delay" not in table
    if importlib.util.find_spec("matplotlib") is not None:  # a dev dependency: plots drawn
        assert (tmp_path / "results" / "s9_delay.png").exists() and "![s9_delay.png]" in table
