"""The reliability suite's figures: collected by the tests, rendered into the docs.

The tests under tests/reliability add counts to named sections and save them to
.cache/reliability.json (merged with earlier runs, one section replaced at a time).
``python tools/reliability_figures.py`` renders that file into docs/reliability.md,
between the ``figures:start`` and ``figures:end`` markers, so no number there is
typed by hand.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
FIGURES_JSON = REPO_ROOT / ".cache" / "reliability.json"
DOC = REPO_ROOT / "docs" / "reliability.md"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"


class Figures:
    """Counts by section, added to from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sections: dict[str, Counter[str]] = {}
        self.notes: dict[str, dict[str, Any]] = {}

    def add(self, section: str, **counts: int) -> None:
        with self._lock:
            self.sections.setdefault(section, Counter()).update(counts)

    def note(self, section: str, **values: Any) -> None:
        """Non-additive facts (a maximum, a seed, a server list): the last value wins."""
        with self._lock:
            self.notes.setdefault(section, {}).update(values)

    def maximum(self, section: str, name: str, value: float) -> None:
        with self._lock:
            notes = self.notes.setdefault(section, {})
            notes[name] = max(value, notes.get(name, value))

    def save(self, path: Path) -> None:
        """Merge into the JSON file: sections seen in this session replace older ones."""
        if not self.sections and not self.notes:
            return
        data = load(path)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        for name in {*self.sections, *self.notes}:
            data[name] = {
                "counts": dict(sorted(self.sections.get(name, Counter()).items())),
                "notes": self.notes.get(name, {}),
                "recorded": stamp,
            }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dict(sorted(data.items())), indent=1) + "\n")


def load(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data


# Which counts make up each column of the summary table.
SUMMARY = {
    "runs": ("trials", "syncs", "races", "examples", "runs", "cases"),
    "faults or kills": ("faults_injected", "killed_mid_sync"),
    "files checked": (
        "final_paths_checked_after_kill",
        "files_verified_after_rerun",
        "files_verified",
        "valid_keys",
        "keys_raced",
        "files_uploaded",
        "files_pulled",
        "files_reported",
        "old_files_intact",
    ),
    "corrupt": ("corrupt_files", "partial_files", "state_db_integrity_failures"),
    "lost": ("lost_files", "valid_keys_lost", "silent_losses", "files_lost"),
    "written outside": ("written_outside_target",),
}


def summary(data: dict[str, Any]) -> str:
    """One row per section: runs, faults, files checked, and the counts that must be 0."""
    rows = [f"| section | {' | '.join(SUMMARY)} |", "|---" * (len(SUMMARY) + 1) + "|"]
    totals = dict.fromkeys(SUMMARY, 0)
    for name, section in data.items():
        counts = section.get("counts", {})
        cells = []
        for column, keys in SUMMARY.items():
            value = sum(counts.get(k, 0) for k in keys)
            totals[column] += value
            cells.append(f"{value:,}" if any(k in counts for k in keys) else "")
        rows.append(f"| {name} | {' | '.join(cells)} |")
    rows.append(f"| **all** | {' | '.join(f'**{v:,}**' for v in totals.values())} |")
    return "\n".join(rows) + "\n"


def render(data: dict[str, Any]) -> str:
    """Markdown: the summary table, then one table per section, counts then notes."""
    if not data:
        return "_No figures yet: run `.venv/bin/pytest tests/reliability`._\n"
    out = [summary(data), "### By section\n"]
    for name, section in data.items():
        out.append(f"#### {name}\n\n| figure | value |\n|---|---|")
        for key, value in section.get("counts", {}).items():
            out.append(f"| {key.replace('_', ' ')} | {value:,} |")
        for key, value in section.get("notes", {}).items():
            shown = f"{value:.2f}" if isinstance(value, float) else str(value)
            out.append(f"| {key.replace('_', ' ')} | {shown} |")
        out.append(f"\n_recorded {section.get('recorded', '?')}_\n")
    return "\n".join(out)


def update(doc: Path, figures: Path) -> str:
    """Replace the text between the markers of `doc` with the rendered figures."""
    text = doc.read_text()
    head, start, rest = text.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"{doc} lacks the {START} ... {END} markers")
    new = f"{head}{START}\n{render(load(figures))}\n{END}{tail}"
    doc.write_text(new)
    return new


def main(argv: list[str]) -> int:
    doc = Path(argv[0]) if argv else DOC
    update(doc, FIGURES_JSON)
    print(f"figures from {FIGURES_JSON} written into {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
