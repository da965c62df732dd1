"""The figures the suite records, and their rendering into docs/reliability.md."""

from __future__ import annotations

import json
from pathlib import Path

from reliability_figures import DOC, END, START, Figures, load, render, update


def test_figures_merge_by_section_and_render(tmp_path: Path) -> None:
    path = tmp_path / "figures.json"
    path.write_text(json.dumps({"old": {"counts": {"trials": 1}, "notes": {}, "recorded": "x"}}))
    figures = Figures()
    figures.add("crash", trials=2, corrupt_files=0)
    figures.add("crash", trials=3)
    figures.maximum("crash", "seconds", 1.5)
    figures.maximum("crash", "seconds", 0.5)
    figures.save(path)
    data = load(path)
    assert data["crash"]["counts"] == {"corrupt_files": 0, "trials": 5}
    assert data["crash"]["notes"] == {"seconds": 1.5} and data["old"]["counts"] == {"trials": 1}
    text = render(data)
    assert "#### crash" in text and "| trials | 5 |" in text and "| seconds | 1.50 |" in text


def test_update_replaces_only_between_the_markers(tmp_path: Path) -> None:
    doc, figures = tmp_path / "doc.md", tmp_path / "figures.json"
    doc.write_text(f"intro\n{START}\nstale\n{END}\noutro\n")
    figures.write_text(json.dumps({"s": {"counts": {"n": 7}, "notes": {}, "recorded": "t"}}))
    text = update(doc, figures)
    assert text.startswith("intro\n") and text.endswith(f"{END}\noutro\n")
    assert "stale" not in text and "| n | 7 |" in text


def test_the_document_has_the_markers() -> None:
    text = DOC.read_text()
    assert START in text and END in text
