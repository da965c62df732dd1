"""PNG plots (matplotlib, if installed): ratios per scenario, time against file count."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .measure import Spread
from .results import Session
from .summary import BS, headline, seconds, speedup
from .wanreport import s9_case, s9_delays

COLORS = {
    "bucketsync": "#d62728",
    "aws": "#ff7f0e",
    "s5cmd": "#1f77b4",
    "rclone": "#2ca02c",
    "rclone --checksum": "#98df8a",
    "s3cmd": "#9467bd",
    "origin": "#8c564b",
    "floor": "#7f7f7f",
    "floor (boto3)": "#c7c7c7",
}
RATIO_CASES = [("S1", "pull"), ("S1", "push"), ("S2", "push"), ("S2", "pull")]
RATIO_CASES += [("S3", "push"), ("S3", "pull"), ("S5", "push"), ("S5", "pull"), ("S5", "pull-md5")]


def write_plots(session: Session, out: Path) -> list[str]:
    """Write the plots into `out`; return their file names (none without matplotlib)."""
    try:
        import matplotlib  # type: ignore[import-not-found,unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return []
    names = []
    if _ratios(session, plt, out / "ratios.png"):
        names.append("ratios.png")
    for scenario in ("S1", "S2"):
        name = f"{scenario.lower()}_scaling.png"
        if _scaling(session, plt, scenario, out / name):
            names.append(name)
    if _delays(session, plt, out / "s9_delay.png"):
        names.append("s9_delay.png")
    return names


def _delays(session: Session, plt: Any, path: Path) -> bool:
    """S9: median time against the one-way delay, a line per tool, push and pull."""
    delays = s9_delays(session)
    if len(delays) < 2:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), squeeze=False)
    for ax, direction in zip(axes[0], ("push", "pull"), strict=True):
        runs = session.select("S9", s9_case(direction, delays[0]))
        for tool in session.tools(runs):
            points = [
                (d, seconds(session, "S9", s9_case(direction, d), tool, None)) for d in delays
            ]
            _median_line(ax, tool, points)
        ax.set_yscale("log")
        _plain_ticks(matplotlib_ticker(), ax.yaxis)
        ax.set_xticks(delays, [f"{d:g}" for d in delays])
        ax.set_xlabel("one-way delay, ms (round trip: twice)")
        ax.set_ylabel("seconds (median)")
        ax.set_title(f"S9 cold {direction}, {runs[0].files if runs else '?'} files")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][-1].legend(fontsize="small")
    _save(plt, fig, path)
    return True


def _ratios(session: Session, plt: Any, path: Path) -> bool:
    groups = []
    for scenario, case in RATIO_CASES:
        n = headline(session, scenario, case)
        if n is None:
            continue
        tools = [t for t in session.tools(session.select(scenario, case, files=n)) if t != BS]
        values = {t: speedup(session, scenario, case, t, n) for t in tools}
        groups.append((f"{scenario} {case}", {t: v for t, v in values.items() if v}))
    if not groups:
        return False
    tools = list(dict.fromkeys(t for _, vals in groups for t in vals))
    fig, ax = plt.subplots(figsize=(max(8, 1.4 * len(groups)), 4.8))
    width = 0.8 / max(1, len(tools))
    for i, tool in enumerate(tools):
        xs = [g + i * width for g, (_, vals) in enumerate(groups) if tool in vals]
        ys = [vals[tool] for _, vals in groups if tool in vals]
        ax.bar(xs, ys, width, label=tool, color=COLORS.get(tool))
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    _plain_ticks(matplotlib_ticker(), ax.yaxis)
    ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))])
    ax.set_xticklabels([label for label, _ in groups])
    ax.set_ylabel("tool time / bucketsync time (above 1: bucketsync faster)")
    ax.set_title("Each tool against bucketsync, same run (median times)")
    ax.legend(fontsize="small", ncol=3)
    _save(plt, fig, path)
    return True


def _scaling(session: Session, plt: Any, scenario: str, path: Path) -> bool:
    cases = session.cases(scenario)
    counts = sorted({n for _, n in cases})
    if len(counts) < 2:
        return False
    directions = list(dict.fromkeys(c for c, _ in cases))
    fig, axes = plt.subplots(1, len(directions), figsize=(6 * len(directions), 4.5), squeeze=False)
    for ax, case in zip(axes[0], directions, strict=True):
        for tool in session.tools(session.select(scenario, case)):
            points = [(n, seconds(session, scenario, case, tool, n)) for n in counts]
            _median_line(ax, tool, points)
        ax.set_xscale("log")
        ax.set_yscale("log")
        _plain_ticks(matplotlib_ticker(), ax.yaxis)
        ax.set_xticks(counts, [f"{n:,}" for n in counts])
        ax.xaxis.set_minor_formatter(matplotlib_ticker().NullFormatter())
        ax.set_xlabel("files")
        ax.set_ylabel("seconds (median)")
        ax.set_title(f"{scenario} {case}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][-1].legend(fontsize="small")
    _save(plt, fig, path)
    return True


def _median_line(ax: Any, tool: str, points: Sequence[tuple[float, Spread | None]]) -> None:
    """One tool's median time against x (points without a time left out), bucketsync bold."""
    xs = [x for x, s in points if s]
    ys = [s.median for _, s in points if s]
    if xs:
        wide = 2.5 if tool == BS else 1.2
        ax.plot(xs, ys, marker="o", label=tool, linewidth=wide, color=COLORS.get(tool))


def _save(plt: Any, fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def matplotlib_ticker() -> Any:
    import matplotlib.ticker as ticker  # type: ignore[import-not-found,unused-ignore]

    return ticker


def _plain_ticks(ticker: Any, axis: Any) -> None:
    """Log axes labelled 0.5, 1, 2 rather than 5x10^-1."""
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(ticker.FuncFormatter(lambda v, _: _leading_2_or_5(v)))


def _leading_2_or_5(v: float) -> str:
    text = f"{v:g}"
    return text if text.lstrip("0.")[:1] in ("2", "5") else ""
