"""results.md sections for the WAN scenarios (S9, S10) and the latency proxy's own cost."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from .results import Run, Session
from .summary import (
    BS,
    first_run_lines,
    ok_runs,
    ratio_text,
    requests_text,
    seconds,
    size_text,
    speedup,
    summaries,
    table,
    timing_cell,
)


def s9_delays(session: Session) -> list[float]:
    """The one-way delays S9 ran at, in ms, from its case labels ("push 40ms")."""
    found = {float(case.split()[1].removesuffix("ms")) for case, _ in session.cases("S9")}
    return sorted(found)


def s9_case(direction: str, delay: float) -> str:
    return f"{direction} {delay:g}ms"


def section_s9(session: Session) -> list[str]:
    delays = s9_delays(session)
    if not delays:
        return []
    out = [_link_line(session, "S9"), ""]
    for direction in ("push", "pull"):
        cases = [s9_case(direction, d) for d in delays]
        runs = [r for c in cases for r in session.select("S9", c)]
        if not runs:
            continue
        rows = [_s9_row(session, tool, cases) for tool in session.tools(runs)]
        header = ["tool", *(f"{d:g} ms" for d in delays), "bucketsync x (per delay)"]
        title = (
            f"Cold {direction}, {runs[0].files} files x {size_text(runs[0].bytes / runs[0].files)}"
        )
        out += [f"{title}, time per one-way delay:", "", *table(header, rows), ""]
    return out + _loads(session, "S9", delays)


def _s9_row(session: Session, tool: str, cases: Sequence[str]) -> list[str]:
    cells = [timing_cell(session, "S9", c, tool, None, 80) for c in cases]
    ratios = " / ".join(ratio_text(speedup(session, "S9", c, tool, None), tool) for c in cases)
    return [tool, *cells, ratios]


def section_s10(session: Session) -> list[str]:
    out: list[str] = []
    for direction in ("push", "pull"):
        runs = session.select("S10", direction)
        if not runs:
            continue
        floor = seconds(session, "S10", direction, "floor", None)
        rows = []
        for tool in session.tools(runs):
            s = seconds(session, "S10", direction, tool, None)
            to_floor = f"{s.median / floor.median:.2f}x" if s and floor else "n/a"
            rows.append(
                [
                    tool,
                    timing_cell(session, "S10", direction, tool, None, 80),
                    to_floor,
                    ratio_text(speedup(session, "S10", direction, tool, None), tool),
                    _median_link(ok_runs(session, "S10", direction, tool, None), "requests"),
                    _s10_notes(session, direction, tool),
                ]
            )
        header = ["tool", "time", "x floor", "bucketsync x", "requests (proxy)", "notes"]
        title = f"No-change {direction}, {runs[0].files} keys, through the proxy"
        out += [f"{title}:", "", *table(header, rows)]
        out += [*first_run_lines(session, "S10", direction, None), ""]
    if out:
        loads = [r.extra.get("load") for r in session.select("S10", timed=False)]
        out = [_link_line(session, "S10"), "", *out, *_floor_parts(session)]
        out += [_load_text([_range([v for v in loads if v is not None])]), ""]
    return out


def _s10_notes(session: Session, direction: str, tool: str) -> str:
    runs = ok_runs(session, "S10", direction, tool, None)
    rewritten = max((r.extra.get("rewritten", 0) for r in runs), default=0)
    parts = [f"rewrote {rewritten} files per run"] if rewritten else []
    sums = summaries(session, "S10", direction, None) if tool == BS else []
    if sums:
        parts.append(f"requests: {requests_text(sums[0])}")
        parts.append("hashed " + ", ".join(size_text(s.get("bytes_hashed", 0)) for s in sums))
    return "; ".join(parts)


def _floor_parts(session: Session) -> list[str]:
    runs = [r for r in session.select("S10", tool="floor") if r.ok and r.extra]
    if not runs:
        return []
    r = runs[-1]
    return [
        f"The floor (last run): one sequential listing through the proxy"
        f" {r.extra.get('list_s')} s, stat of every file {r.extra.get('stat_s')} s, the rest"
        " is Python start-up.",
        "",
    ]


def section_link(session: Session) -> list[str]:
    """The proxy's CPU per run, per tool, and fitted per GB and per 1,000 requests."""
    runs = [r for s in ("S9", "S10") for r in session.select(s) if r.ok and "link" in r.extra]
    if not runs:
        return []
    rows = []
    for scenario in ("S9", "S10"):
        mine = [r for r in runs if r.scenario == scenario]
        for tool in session.tools(mine):
            rows.append(_cost_row(scenario, tool, [r for r in mine if r.tool == tool]))
    header = ["scenario", "tool", "runs", "requests/run", "connections/run", "MiB/run"]
    header += ["proxy CPU s/run"]
    header += ["proxy CPU / tool wall", "proxy CPU ms / 1,000 req"]
    return [
        *_calibration(session),
        "The latency proxy runs as its own process (asyncio, one event loop); its CPU"
        " seconds (getrusage in the proxy) during each run, medians over the runs:",
        "",
        *table(header, rows),
        "",
        fit_line(runs),
    ]


def _calibration(session: Session) -> list[str]:
    cost = session.meta.get("link_cost")
    if not cost:
        return []
    return [
        "Measured apart from any tool (benchmarks/linkcost.py, the proxy at 0 ms in front of"
        f" an echo server): {cost['cpu_s_per_gb']} CPU s per GB through it (both ways"
        f" counted), {cost['cpu_s_per_1000_requests']} CPU s per 1,000 requests on kept-alive"
        f" connections (each answered with {size_text(cost['response_bytes'])}),"
        f" {cost['cpu_s_per_1000_connections']} CPU s per 1,000 new connections (one"
        " request each).",
        "",
    ]


def _cost_row(scenario: str, tool: str, runs: list[Run]) -> list[str]:
    links = [r.extra["link"] for r in runs]
    cpu = statistics.median(x["cpu_s"] for x in links)
    req = statistics.median(x["requests"] for x in links)
    conns = statistics.median(x["connections"] for x in links)
    mib = statistics.median((x["up_bytes"] + x["down_bytes"]) / 2**20 for x in links)
    share = statistics.median(x["cpu_s"] / r.seconds for x, r in zip(links, runs, strict=True))
    per_kreq = f"{1e6 * cpu / req:.0f}" if req else "n/a"
    cells = [str(len(runs)), f"{req:.0f}", f"{conns:.0f}", f"{mib:.1f}", f"{cpu:.3f}"]
    cells.append(f"{100 * share:.1f}%")
    return [scenario, tool, *cells, per_kreq]


def fit_line(runs: Sequence[Run]) -> str:
    """Least-squares fit of the proxy's CPU = a x GB + b x thousands of requests."""
    xs = [
        ((x["up_bytes"] + x["down_bytes"]) / 1e9, x["requests"] / 1e3, x["cpu_s"])
        for x in (r.extra["link"] for r in runs)
    ]
    sgg = sum(g * g for g, _, _ in xs)
    skk = sum(k * k for _, k, _ in xs)
    sgk = sum(g * k for g, k, _ in xs)
    sgc = sum(g * c for g, _, c in xs)
    skc = sum(k * c for _, k, c in xs)
    det = sgg * skk - sgk * sgk
    if det <= 0:
        return ""
    a, b = (sgc * skk - skc * sgk) / det, (skc * sgg - sgc * sgk) / det
    gb = sum(g for g, _, _ in xs)
    kreq = sum(k for _, k, _ in xs)
    cpu = sum(c for _, _, c in xs)
    return (
        f"Over all {len(xs)} runs through the proxy ({gb:.2f} GB, {kreq:.1f}k requests,"
        f" {cpu:.1f} CPU s), a least-squares fit gives the proxy's cost as {a:.2f} CPU s per"
        f" GB plus {b:.3f} CPU s per 1,000 requests (connections and small chunks land in"
        " the per-request term)."
    )


def _median_link(runs: list[Run], key: str) -> str:
    values = [r.extra["link"][key] for r in runs if "link" in r.extra]
    return f"{statistics.median(values):.0f}" if values else "n/a"


def _link_line(session: Session, scenario: str) -> str:
    sizes = session.meta.get("sizes", {})
    delays = sizes.get("s9_delays_ms") if scenario == "S9" else [sizes.get("s10_delay_ms")]
    text = ", ".join(f"{d:g}" for d in delays or [])
    return (
        f"Server: {session.meta.get('servers', {}).get(scenario, '?')}; one-way delay {text} ms"
        " (a round trip is twice that; a new connection costs one more round trip)."
    )


def _loads(session: Session, scenario: str, delays: list[float]) -> list[str]:
    parts = []
    for d in delays:
        loads = [r.extra.get("load") for r in session.select(scenario) if f" {d:g}ms" in r.case]
        values = [v for v in loads if v is not None]
        if values:
            parts.append(f"{d:g} ms: {_range(values)}")
    return [_load_text(parts), ""] if parts else []


def _range(values: Sequence[float]) -> str:
    return f"{min(values):.1f}-{max(values):.1f}" if values else "n/a"


def _load_text(parts: Sequence[str]) -> str:
    return "Load average (1 min) at the start of the runs: " + "; ".join(parts) + "."
