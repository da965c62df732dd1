"""results.md: the tables, written from the raw runs (never by hand)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .results import Session
from .summary import (
    BS,
    first_run_lines,
    headline,
    ok_runs,
    ratio_text,
    requests_text,
    seconds,
    size_text,
    speedup,
    summaries,
    table,
    time_text,
    timing_cell,
)
from .targets import evaluate, growth_slope
from .wanreport import section_link, section_s9, section_s10


def markdown(session: Session, plots: list[str]) -> str:
    meta = session.meta
    lines = [
        "# bucketsync benchmark results",
        "",
        f"Written by `python -m benchmarks` ({meta.get('mode')} mode"
        f"{'; sizes changed: ' + meta['sizes changed'] if meta.get('sizes changed') else ''})"
        f" on {meta.get('started')};"
        " do not edit by hand. Raw runs: [results.json](results.json).",
        "",
        *_about(meta),
        "",
        "## Targets (issues 4 and 13)",
        "",
        *table(
            ["scenario", "target", "measured", "status"],
            [
                [v.scenario, v.target, v.measured, _status(v.hit)]
                for v in evaluate(session)
                if session.select(v.scenario) or v.scenario in session.skipped
            ],
        ),
    ]
    for title, section in SECTIONS:
        body = section(session)
        if body:
            lines += ["", f"## {title}", "", *body]
    if session.skipped:
        lines += ["", "## Skipped", ""]
        lines += [f"- {k}: {v}" for k, v in sorted(session.skipped.items())]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def _about(meta: dict[str, Any]) -> list[str]:
    out = [
        f"- Machine: {meta.get('machine')}. Load average (1 min) at each scenario's start:"
        f" {_plain(meta.get('load'))}. The server and every client share these cores, and"
        " other work may run beside the benchmark: compare ratios within a run, not"
        " absolute times.",
        f"- Servers: {_plain(meta.get('servers'))}.",
        f"- bucketsync commit at each scenario's start: {_plain(meta.get('commits'))}.",
        f"- Versions: {_plain(meta.get('versions'))}.",
        f"- Sizes: {_plain(meta.get('sizes'))}; scenario durations (s):"
        f" {_plain(meta.get('scenario_seconds'))}.",
        f"- Runs: {meta.get('runs')} timed runs per tool at the headline sizes"
        f" ({meta.get('sweep_runs')} at the smaller S1/S2 counts; at most"
        f" {_plain(meta.get('capped', {})).replace(':', '')} for these slow references);"
        " times are"
        " median (min-max) of the wall clock of the whole process, start-up included.",
        "- \"bucketsync x\" is the tool's median time divided by bucketsync's: above 1,"
        " bucketsync is faster. Failed runs (wrong object count, error exit) are not timed.",
    ]
    return out


def _status(hit: bool | None) -> str:
    return "n/a" if hit is None else ("hit" if hit else "**missed**")


def _tools(session: Session, scenario: str, case: str, n: int | None) -> list[str]:
    return session.tools(session.select(scenario, case, files=n))


def _s1(session: Session) -> list[str]:
    out: list[str] = []
    for case in ("pull", "push"):
        n = headline(session, "S1", case)
        if n is None:
            continue
        rows = []
        for tool in _tools(session, "S1", case, n):
            s = seconds(session, "S1", case, tool, n)
            rate = f"{n / s.median:.0f}" if s else "n/a"
            rows.append(
                [
                    tool,
                    timing_cell(session, "S1", case, tool, n),
                    rate,
                    ratio_text(speedup(session, "S1", case, tool, n), tool),
                    _rss(session, "S1", case, tool, n),
                ]
            )
        out += [f"Cold {case}, {n} files x {_each(session, 'S1', case, n)}:", ""]
        header = ["tool", "time", "objects/s", "bucketsync x", "peak RSS"]
        out += [*table(header, rows), ""]
    out += _sweep(session, "S1")
    return out


def _s2(session: Session) -> list[str]:
    out: list[str] = []
    for case in ("push", "pull"):
        n = headline(session, "S2", case)
        if n is None:
            continue
        floor = seconds(session, "S2", case, "floor", n)
        rows = []
        for tool in _tools(session, "S2", case, n):
            s = seconds(session, "S2", case, tool, n)
            to_floor = f"{s.median / floor.median:.2f}x" if s and floor else "n/a"
            rows.append(
                [
                    tool,
                    timing_cell(session, "S2", case, tool, n),
                    to_floor,
                    ratio_text(speedup(session, "S2", case, tool, n), tool),
                    _rss(session, "S2", case, tool, n),
                    _notes(session, "S2", case, tool, n),
                ]
            )
        out += [f"No-change {case}, {n} files x {_each(session, 'S2', case, n)}:", ""]
        out += table(["tool", "time", "x floor", "bucketsync x", "peak RSS", "notes"], rows)
        out += [*_first_line(session, "S2", case, n), ""]
    out += _floor_parts(session)
    out += _sweep(session, "S2")
    return out


def _s3(session: Session) -> list[str]:
    out: list[str] = []
    for case in ("push", "pull"):
        n = headline(session, "S3", case)
        if n is None:
            continue
        rows = [
            [
                tool,
                timing_cell(session, "S3", case, tool, n),
                ratio_text(speedup(session, "S3", case, tool, n), tool),
                _notes(session, "S3", case, tool, n),
            ]
            for tool in _tools(session, "S3", case, n)
        ]
        out += [f"No-change {case}, {n} files x {_each(session, 'S3', case, n)}:", ""]
        out += table(["tool", "time", "bucketsync x", "notes"], rows)
        out += [*_first_line(session, "S3", case, n), ""]
    return out


def _s4(session: Session) -> list[str]:
    out: list[str] = []
    for case in ("push", "pull"):
        runs = session.select("S4", case)
        if not runs:
            continue
        rows = []
        for tool in session.tools(runs):
            mine = ok_runs(session, "S4", case, tool, None)
            found = [f"{r.extra.get('found')}/{r.extra.get('edited')}" for r in mine]
            others = max((r.extra.get("other_rewritten", 0) for r in mine), default=0)
            rows.append(
                [
                    tool,
                    ", ".join(found) or "n/a",
                    timing_cell(session, "S4", case, tool, None),
                    str(others),
                ]
            )
        out += [
            f"Same-size edits, {case} ({runs[0].files} files; the local copies were edited):",
            "",
        ]
        header = ["tool", "edits found (per run)", "time", "other files rewritten"]
        out += [*table(header, rows), ""]
    return out


S5_CASES = {
    "push": "push",
    "pull": "pull of the object bucketsync pushed (it carries a CRC64NVME)",
    "pull-md5": "pull of an object whose only checksum is its MD5 ETag (MD5 runs on one core)",
}


def _s5(session: Session) -> list[str]:
    out: list[str] = []
    for case, label in S5_CASES.items():
        runs = session.select("S5", case)
        if not runs:
            continue
        mib = runs[0].bytes / 2**20
        rows = []
        for tool in session.tools(runs):
            rates = sorted(mib / r.seconds for r in ok_runs(session, "S5", case, tool, 1))
            rate = (
                f"{rates[len(rates) // 2]:.0f} ({rates[0]:.0f}-{rates[-1]:.0f})" if rates else "n/a"
            )
            x = speedup(session, "S5", case, tool, 1)
            rows.append(
                [tool, rate, timing_cell(session, "S5", case, tool, 1), ratio_text(x, tool)]
            )
        out += [f"One file of {size_text(runs[0].bytes)}, {label}:", ""]
        out += [*table(["tool", "MiB/s", "time", "bucketsync x"], rows), ""]
    return out


def _s6(session: Session) -> list[str]:
    cases = [case for case, _ in session.cases("S6")]
    if not cases:
        return []
    uploads = session.meta.get("s6_uploads", {})
    out = [
        f"Server: {session.meta.get('servers', {}).get('S6', '?')}. Objects per uploader and"
        f" the part counts seen in their ETags: {_plain(uploads)}. Local copies carry the"
        " object's LastModified as mtime.",
        "",
        "bucketsync, from an empty state folder (first run) and again (second run):",
        "",
    ]
    rows = []
    for case in cases:
        for r in session.select("S6", case, BS):
            s = r.summary or {}
            req = s.get("requests") or {}
            rows.append(
                [
                    case,
                    "second" if r.run else "first",
                    size_text(s.get("bytes_transferred", 0)) if s else f"failed: {r.note[:80]}",
                    f"{req.get('head', 0) / r.files:.2f}" if s and r.files else "",
                    requests_text(s),
                    f"{s.get('bytes_hashed', 0) / r.bytes:.2f}x" if s and r.bytes else "",
                ]
            )
    header = ["case", "run", "bytes moved", "HEAD/object", "requests", "hashed / data size"]
    out += [*table(header, rows), "", "Objects each tool rewrote (of those present):", ""]
    tools = session.tools(session.select("S6"))
    grid = []
    for tool in tools:
        cells = []
        for case in cases:
            first = [r for r in session.select("S6", case, tool) if r.run == 0]
            if not first:
                cells.append("")
            elif not first[0].ok:
                cells.append(f"failed: {first[0].note[:60]}")
            else:
                cells.append(f"{first[0].extra.get('transferred', '?')}/{first[0].files}")
        grid.append([tool, *cells])
    return out + table(["tool", *cases], grid)


def _plain(value: object) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def _s7(session: Session) -> list[str]:
    runs = session.select("S7")
    rows = []
    for tool in session.tools(runs):
        for case in dict.fromkeys(r.case for r in runs if r.tool == tool):
            mine = [r for r in runs if r.tool == tool and r.case == case and r.ok]
            us = sorted(float(r.extra.get("us_median", 0)) for r in mine)
            extra = mine[0].extra if mine else {}
            rows.append(
                [
                    tool,
                    case,
                    str(extra.get("requests_per_call", "n/a")),
                    str(extra.get("requests_by_method", "")),
                    f"{us[len(us) // 2]:.0f} ({us[0]:.0f}-{us[-1]:.0f})" if us else "n/a",
                ]
            )
    skipped = [f"- {k}: {v}" for k, v in session.skipped.items() if k.startswith("S7/")]
    if not rows and not skipped:
        return []
    out = table(["API", "variant", "requests/call", "by method", "us/call (median of runs)"], rows)
    return [*out, "", *skipped] if skipped else out


def _s8(session: Session) -> list[str]:
    rows = []
    for case in ("push", "pull"):
        runs = sorted(ok_runs(session, "S8", case, BS, None), key=lambda r: r.files)
        for i, r in enumerate(runs):
            slope = growth_slope(runs[0].extra, r.extra) if i else None
            rows.append(
                [
                    case,
                    f"{r.files:,}",
                    f"{r.extra.get('peak_kib', 0) / 1024:.0f} MiB",
                    f"{r.extra.get('rss_before_kib', 0) / 1024:.0f} MiB",
                    str(r.extra.get("bytes_per_key")),
                    "" if slope is None else f"{slope:.0f}",
                    f"{r.extra.get('sync_seconds')} s",
                ]
            )
    if not rows:
        return []
    return [
        "Simulated listing, real local tree of empty files and a real state database.",
        "",
        *table(
            [
                "direction",
                "keys",
                "peak RSS",
                "RSS before sync",
                "growth B/key",
                "slope B/key",
                "sync time",
            ],
            rows,
        ),
    ]


def _rss(session: Session, scenario: str, case: str, tool: str, n: int | None) -> str:
    """Median peak RSS of the tool's process tree (GNU time's %M) over its runs."""
    peaks = sorted(r.max_rss_kib for r in ok_runs(session, scenario, case, tool, n))
    return f"{peaks[len(peaks) // 2] / 1024:.0f} MiB" if peaks and peaks[0] else "n/a"


def _notes(session: Session, scenario: str, case: str, tool: str, n: int | None) -> str:
    runs = ok_runs(session, scenario, case, tool, n)
    rewritten = max((r.extra.get("rewritten", 0) for r in runs), default=0)
    parts = [f"rewrote {rewritten} files per run"] if rewritten else []
    if tool == BS:
        sums = summaries(session, scenario, case, n)
        if sums:
            parts.append(f"requests: {requests_text(sums[0])}")
            parts.append("hashed " + ", ".join(size_text(s.get("bytes_hashed", 0)) for s in sums))
    if tool == "origin" and runs:
        parts.append(f"hashed {size_text(runs[0].extra.get('bytes_hashed', 0))}")
    return "; ".join(parts)


def _first_line(session: Session, scenario: str, case: str, n: int | None) -> list[str]:
    label = " (empty state folder)" if case == "push" else ""
    return first_run_lines(session, scenario, case, n, label)


def _floor_parts(session: Session) -> list[str]:
    runs = [r for r in session.select("S2", tool="floor") if r.ok and r.extra]
    if not runs:
        return []
    r = runs[-1]
    return [
        f"The floor ({r.files} files, last run): listing {r.extra.get('list_s')} s (raw HTTP +"
        f" ElementTree), stat {r.extra.get('stat_s')} s, the rest is Python start-up."
        " `floor (boto3)` lists with boto3's paginator instead.",
        "",
    ]


def _sweep(session: Session, scenario: str) -> list[str]:
    cases = session.cases(scenario)
    counts = sorted({n for _, n in cases})
    if len(counts) < 2:
        return []
    rows = []
    for case in dict.fromkeys(c for c, _ in cases):
        for tool in session.tools(session.select(scenario, case)):
            cells = [
                time_text(seconds(session, scenario, case, tool, n)).split(" (")[0] for n in counts
            ]
            rows.append([case, tool, *cells])
    return [
        "Time against file count (plot below):",
        "",
        *table(["case", "tool", *map(str, counts)], rows),
        "",
    ]


def _each(session: Session, scenario: str, case: str, n: int) -> str:
    runs = session.select(scenario, case, files=n)
    return size_text(runs[0].bytes / n) if runs and n else "?"


SECTIONS: list[tuple[str, Callable[[Session], list[str]]]] = [
    ("S1: cold pull, then cold push, of many small files", _s1),
    ("S2: no-change re-sync of many small files", _s2),
    ("S3: no-change re-sync of large files", _s3),
    ("S4: same-size edits, mtime restored", _s4),
    ("S5: one large file", _s5),
    ("S6: objects uploaded as multipart by other tools", _s6),
    ("S7: Mirror.path() on a cached file (notebook)", _s7),
    ("S8: peak memory of a no-change sync", _s8),
    ("S9: cold push and pull over a WAN link (latency proxy)", section_s9),
    ("S10: no-change re-sync of many keys over a WAN link", section_s10),
    ("The latency proxy's own cost", section_link),
]
