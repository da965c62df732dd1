"""`bucketsync check SRC DST`: the command line of `check` (verify.py).

Exit codes: 0 when every path is the same; 1 when any differ, are missing, extra or
unknown; 2 on bad input (as every command: bad arguments, a malformed URL, a missing
folder, no such bucket, missing credentials).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from . import cli
from .compare import COMPARE_MODES

if TYPE_CHECKING:  # the parser is built for every command; the check itself only here
    from .checkreport import CheckReport

HELP = "compare SRC and DST path by path; change nothing (exit 1 unless all are the same)"


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the `check` subcommand."""
    p: argparse.ArgumentParser = commands.add_parser("check", help=HELP, description=HELP)
    cli.sides(p)
    p.add_argument(
        "--download",
        action="store_true",
        help="settle paths that are unknown (no usable checksum) by streaming and hashing"
        " the object; nothing is written",
    )
    p.add_argument(
        "--no-state",
        action="store_true",
        help="trust nothing recorded: hash every pair (the state database is not used)",
    )
    cli.filter_flags(p)
    p.add_argument(
        "--compare",
        choices=COMPARE_MODES,
        default="content",
        help="how to decide two files are the same (default: content)",
    )
    p.add_argument("--follow-symlinks", action="store_true", help="follow symbolic links")
    cli.client_flags(p, jobs="parallel checks")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing; the exit code tells")
    p.add_argument("--no-progress", action="store_true", help="accepted as in sync (no bar here)")
    p.add_argument("--debug", action="store_true", help="log requests; show tracebacks")
    return p


def run(args: argparse.Namespace) -> int:
    """Run the check the arguments ask for, print it, and return the exit code."""
    from .verify import check

    report = check(args.src, args.dst, **cli.options_of(args))
    show(report, as_json=args.json, quiet=args.quiet)
    return report.exit_code


def show(report: CheckReport, *, as_json: bool = False, quiet: bool = False) -> None:
    """`--json`: one JSON object; else a line per path that is not the same, and a summary."""
    if as_json:
        print(json.dumps(report.to_dict(), indent=1))
    elif not quiet:
        print(report)
        if report.skipped:
            n = len(report.skipped)
            note = f"{n} path{'s' if n > 1 else ''} skipped (--json lists them)"
            print(f"bucketsync: note: {note}", file=sys.stderr)
