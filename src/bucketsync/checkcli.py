"""`bucketsync check SRC DST`: the command line of `check` (verify.py).

Exit codes: 0 when every path is the same; 1 when any differ, are missing, extra or
unknown; 2 on bad input (as every command: bad arguments, a malformed URL, a missing
folder, no such bucket, missing credentials).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from . import options
from .checkreport import CheckReport
from .compare import COMPARE_MODES
from .options import DEFAULT_JOBS, MAX_ATTEMPTS, MAX_JOBS
from .verify import check

HELP = "compare SRC and DST path by path; change nothing (exit 1 unless all are the same)"


def add_parser(commands: Any, rule: type[argparse.Action]) -> argparse.ArgumentParser:
    """Add the `check` subcommand; `rule` collects --include and --exclude in order."""
    p: argparse.ArgumentParser = commands.add_parser("check", help=HELP, description=HELP)
    p.add_argument("src", metavar="SRC", help="a local folder or s3://bucket/prefix")
    p.add_argument("dst", metavar="DST", help="a local folder or s3://bucket/prefix")
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
    for name, help_ in (
        ("--include", "include paths matching this glob (repeatable; later rules win)"),
        ("--exclude", "exclude paths matching this glob (repeatable; later rules win)"),
    ):
        p.add_argument(name, dest=name[2:], action=rule, metavar="PATTERN", help=help_)
    p.add_argument(
        "--jobs",
        type=options.JOBS.flag,
        default=DEFAULT_JOBS,
        metavar="N",
        help=f"parallel checks, 1 to {MAX_JOBS} (default {DEFAULT_JOBS})",
    )
    p.add_argument(
        "--endpoint-url",
        type=options.URL.flag,
        metavar="URL",
        help="S3 endpoint, http:// or https:// (default: boto3's chain)",
    )
    p.add_argument(
        "--profile", type=options.PROFILE.flag, metavar="NAME", help="AWS profile from the config"
    )
    p.add_argument(
        "--compare",
        choices=COMPARE_MODES,
        default="content",
        help="how to decide two files are the same (default: content)",
    )
    p.add_argument("--follow-symlinks", action="store_true", help="follow symbolic links")
    for name, default, help_ in (
        ("--read-timeout", 60.0, "give up on a request after this long without data"),
        ("--connect-timeout", 10.0, "give up connecting to the endpoint after this long"),
    ):
        p.add_argument(
            name,
            type=options.TIMEOUT.flag,
            default=default,
            metavar="SECONDS",
            help=f"{help_} (default {default:g})",
        )
    p.add_argument(
        "--max-attempts",
        type=options.ATTEMPTS.flag,
        default=5,
        metavar="N",
        help=f"tries per request, the first included (1 to {MAX_ATTEMPTS}, default 5)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing; the exit code tells")
    p.add_argument("--no-progress", action="store_true", help="accepted as in sync (no bar here)")
    p.add_argument("--debug", action="store_true", help="log requests; show tracebacks")
    return p


def run(args: argparse.Namespace) -> int:
    """Run the check the arguments ask for, print it, and return the exit code."""
    report = check(
        args.src,
        args.dst,
        filter_rules=tuple(getattr(args, "filter_rules", None) or ()),
        jobs=args.jobs,
        endpoint_url=args.endpoint_url,
        profile=args.profile,
        compare=args.compare,
        follow_symlinks=args.follow_symlinks,
        read_timeout=args.read_timeout,
        connect_timeout=args.connect_timeout,
        max_attempts=args.max_attempts,
        download=args.download,
        no_state=args.no_state,
    )
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
