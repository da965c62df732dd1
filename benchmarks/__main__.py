"""``python -m benchmarks [--quick] [--scenarios S1,S2] [--tools ...] [sizes]``.

``make bench`` runs the full sizes, ``make bench-quick`` the quick ones. Size options
override a preset, e.g. ``--s1-files 2000 --s2-files 20000`` for a mid-size run.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from .config import SCENARIOS, MiB, preset, with_sizes
from .harness import run_session, write_outputs
from .results import Session


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes, one run per tool")
    p.add_argument("--scenarios", help=f"comma-separated subset of {','.join(SCENARIOS)}")
    p.add_argument("--tools", help="comma-separated subset of tools (bucketsync is always run)")
    p.add_argument("--runs", type=int, help="timed runs per tool at the headline sizes")
    p.add_argument("--sweep-runs", type=int, help="timed runs at the smaller S1/S2 counts")
    p.add_argument("--s1-files", help="S1 file counts, comma-separated (last is the headline)")
    p.add_argument("--s2-files", help="S2 file counts, comma-separated")
    p.add_argument("--s3-files", type=int, help="S3 file count")
    p.add_argument("--s4-files", type=int, help="S4 file count")
    p.add_argument("--s5-mib", type=int, help="S5 file size in MiB")
    p.add_argument("--s8-keys", help="S8 key counts, comma-separated")
    p.add_argument("--s9-files", type=int, help="S9 file count")
    p.add_argument("--s9-delays", help="S9 one-way delays in ms, comma-separated")
    p.add_argument("--s10-keys", type=int, help="S10 key count")
    p.add_argument("--s10-delay", type=float, help="S10 one-way delay in ms")
    p.add_argument("--out", type=Path, help="results folder (default benchmarks/results)")
    p.add_argument("--keep-work", action="store_true", help="keep benchmarks/work/session")
    p.add_argument(
        "--report-only", action="store_true", help="rewrite results.md and plots from results.json"
    )
    return p


def _counts(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    config = preset("quick" if args.quick else "full")
    sizes: dict[str, object] = {}
    if args.s1_files:
        sizes["s1_counts"] = _counts(args.s1_files)
    if args.s2_files:
        sizes["s2_counts"] = _counts(args.s2_files)
    if args.s3_files:
        sizes["s3_count"] = args.s3_files
    if args.s4_files:
        sizes["s4_count"] = args.s4_files
    if args.s5_mib:
        sizes["s5_size"] = args.s5_mib * MiB
    if args.s8_keys:
        sizes["s8_keys"] = _counts(args.s8_keys)
    if args.s9_files:
        sizes["s9_count"] = args.s9_files
    if args.s9_delays:
        sizes["s9_delays_ms"] = tuple(float(x) for x in args.s9_delays.split(",") if x)
    if args.s10_keys:
        sizes["s10_keys"] = args.s10_keys
    if args.s10_delay is not None:
        sizes["s10_delay_ms"] = args.s10_delay
    config = with_sizes(config, **sizes)
    changes: dict[str, object] = {}
    if sizes:
        changes["extra"] = {"sizes changed": ", ".join(f"{k}={v}" for k, v in sizes.items())}
    if args.scenarios:
        changes["scenarios"] = tuple(s.strip().upper() for s in args.scenarios.split(","))
    if args.tools:
        changes["tools"] = ("bucketsync", *(t.strip() for t in args.tools.split(",")))
    for name in ("runs", "sweep_runs", "out"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.keep_work:
        changes["keep_work"] = True
    config = dataclasses.replace(config, **changes)  # type: ignore[arg-type]
    if args.report_only:
        write_outputs(Session.load(config.out / "results.json"), config)
        return 0
    session = run_session(config)
    print(f"results in {config.out}/results.md", file=sys.stderr)
    return 1 if any(k in session.skipped for k in config.scenarios) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
