"""docs/notebook.md runs: its ``python`` blocks, in order, against the server they start."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import bucketsync

DOC = Path(__file__).resolve().parents[2] / "docs" / "notebook.md"


def test_notebook_doc_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DOC.parents[1])
    monkeypatch.setattr(sys, "path", list(sys.path))
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), re.DOTALL | re.MULTILINE)
    assert len(blocks) >= 8
    ns: dict[str, object] = {"__name__": "notebook_doc"}
    try:
        for number, block in enumerate(blocks, 1):
            exec(compile(block, f"{DOC.name} block {number}", "exec"), ns)
    finally:
        server = ns.get("server")
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
    report, plan = ns["report"], ns["plan"]
    assert isinstance(report, bucketsync.Report) and report.uploaded == 2
    assert isinstance(plan, bucketsync.Plan) and plan.count("upload") == 2
    assert [p.name for p in ns["paths"]] == ["prices.csv", "readme.txt"]  # type: ignore[attr-defined]
    assert ns["caught"][0].category is bucketsync.OfflineWarning  # type: ignore[index]
