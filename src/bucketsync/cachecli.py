"""`bucketsync cache info` and `bucketsync cache prune`: the cache folder's size, per
bucket, and the eviction of its least recently used copies (cachesize.py).

Exit codes: 0 done; 1 when `prune` left the cache past `--max-size`, or kept a copy
unused for `--older-than` (a local change, a file open, a sync running: each named);
2 on bad input (a malformed size or duration, a bad $BUCKETSYNC_CACHE_MAX, `prune`
with nothing to prune by).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from .cachesize import DURATION, MAX_ENV, SIZE, Pruned, Survey, cap, prune, survey
from .display import size as human
from .errors import UsageError
from .text import printable

HELP = "the cache folder: its size per bucket (info), or remove least recently used copies"
_OWN_FOLDERS = (".versions", ".pinned")  # <host>/.versions/<bucket>/...: copies of a bucket


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the `cache` subcommand, with its `info` and `prune` actions."""
    p: argparse.ArgumentParser = commands.add_parser("cache", help=HELP, description=HELP)
    actions = p.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    info = actions.add_parser("info", help="size and number of copies, per bucket")
    prune = actions.add_parser(
        "prune",
        help="remove least recently used copies (never a local change not pushed, a file"
        " open for reading, or one under a running sync)",
    )
    prune.add_argument(
        "--max-size",
        type=SIZE.flag,
        metavar="SIZE",
        help=f"until the cache holds at most SIZE (20GB, 500MiB; default ${MAX_ENV})",
    )
    prune.add_argument(
        "--older-than",
        type=DURATION.flag,
        metavar="DURATION",
        help="every copy not used for DURATION (7d, 12h, 30m)",
    )
    for q in (info, prune):
        q.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        q.add_argument("--quiet", "-q", action="store_true", help="print errors only")
        q.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def run(args: argparse.Namespace) -> int:
    """Run `cache info` or `cache prune`; the exit code."""
    if args.cache_command == "info":
        return _info(args)
    return _prune(args)


def _info(args: argparse.Namespace) -> int:
    limit = cap(None)
    found = survey()
    if args.json:
        print(json.dumps(info_dict(found, limit), indent=1))
    elif not args.quiet:
        copies = _plural(len(found.copies), "copy", "copies")
        where = printable(str(found.root))
        print(f"{where}: {human(found.size)} in {copies}{_cap_text(limit)}")
        for entry in info_dict(found, limit)["buckets"]:
            name = printable(f"{entry['endpoint']}/{entry['bucket']}")
            print(f"  {name}  {human(entry['size'])}  {_plural(entry['copies'], 'copy', 'copies')}")
    return 0


def info_dict(found: Survey, limit: int | None) -> dict[str, Any]:
    """`cache info --json`: the folder, its size and copies, the cap, and per bucket."""
    buckets: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for copy in found.copies:
        totals = buckets[_bucket_of(copy.path, found.root)]
        totals[0] += copy.size
        totals[1] += 1
    return {
        "cache_dir": str(found.root),
        "size": found.size,
        "copies": len(found.copies),
        "max_size": limit,
        "buckets": [
            {"endpoint": host, "bucket": bucket, "size": size, "copies": n}
            for (host, bucket), (size, n) in sorted(buckets.items())
        ],
    }


def _bucket_of(path: Path, root: Path) -> tuple[str, str]:
    """(endpoint host, bucket) of a copy at <cache>/<host>/[.versions/]<bucket>/..."""
    parts = path.relative_to(root).parts[:-1]
    if len(parts) > 2 and parts[1] in _OWN_FOLDERS:
        parts = (parts[0], *parts[2:])
    return (parts[0] if parts else "", parts[1] if len(parts) > 1 else "")


def _prune(args: argparse.Namespace) -> int:
    limit = cap(args.max_size)
    if limit is None and args.older_than is None:
        raise UsageError(f"nothing to prune by: give --max-size or --older-than, or set {MAX_ENV}")
    started = time.time()
    pruned = prune(limit, args.older_than)
    stale = [
        (c, why)
        for c, why in pruned.kept
        if args.older_than is not None and c.used_at < started - args.older_than
    ]
    failed = bool(stale) or (limit is not None and pruned.size > limit)
    if args.json:
        extra = {"max_size": limit, "older_than": args.older_than, "complete": not failed}
        print(json.dumps({**pruned.to_dict(), **extra}, indent=1))
    elif not args.quiet:
        _show(pruned, limit)
    return 1 if failed else 0


def _show(pruned: Pruned, limit: int | None) -> None:
    freed = pruned.size_before - pruned.size
    removed = _plural(len(pruned.removed), "copy", "copies")
    print(
        f"removed {removed} ({human(freed)}); the cache holds {human(pruned.size)}"
        f"{_cap_text(limit)}"
    )
    for copy, why in pruned.kept:
        print(f"bucketsync: note: kept {printable(str(copy.path))} ({why})", file=sys.stderr)


def _cap_text(limit: int | None) -> str:
    return "" if limit is None else f" (cap {human(limit)})"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"
