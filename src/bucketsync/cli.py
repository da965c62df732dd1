"""The command-line tool: a thin argparse layer over the API.

Exit codes: 0 done (also when nothing needed doing); 1 some files failed, the
rest done and recorded (and `diff --exit-code` when there are differences, and
`check` when any path is not the same);
2 nothing done: bad arguments, a malformed URL, a missing local folder, missing
credentials, no such bucket, access denied; 130 interrupted (Ctrl-C); 143 terminated
(SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from . import __version__, api, options, twoway
from .cancel import Terminated, exit_code, leave_if_stuck, sigterm_raises
from .compare import COMPARE_MODES
from .errors import BucketsyncError
from .options import DEFAULT_JOBS, MAX_ATTEMPTS, MAX_JOBS
from .plan import Plan, Problem
from .text import describe, printable
from .threeway import CONFLICT_MODES

NOTES_LISTED = 10  # skipped paths listed one a line; more are counted (--debug lists all)


class _Rule(argparse.Action):
    """Collect --include and --exclude in the order given: later ones win."""

    def __call__(self, parser: Any, namespace: Any, value: Any, option: Any = None) -> None:
        rules = list(getattr(namespace, "filter_rules", None) or [])
        rules.append((self.dest, value))
        namespace.filter_rules = rules


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line on stderr, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"bucketsync: error: {options.one_line(message)}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bucketsync",
        description="Keep a local folder and an S3 prefix identical, moving only what differs.",
    )
    parser.add_argument("--version", action="version", version=f"bucketsync {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sync = commands.add_parser("sync", help="make DST identical to SRC")
    _common(sync)
    _cluster(sync)
    _changes(sync)
    _pins(sync, write=True)
    bisync = commands.add_parser(
        "bisync", help="two-way sync: take changes from both sides, report conflicts"
    )
    _common(bisync, two_way=True)
    _changes(bisync)
    bisync.add_argument(
        "--conflict",
        choices=CONFLICT_MODES,
        default="skip",
        help="a path changed on both sides: skip (default; report it), local or remote"
        " (that side wins), newer (the later time wins), keep-both (keep the remote"
        " version as NAME.conflict-remote-TIME.EXT)",
    )
    diff = commands.add_parser("diff", help="show the plan, with a reason per file; move nothing")
    _common(diff)
    _cluster(diff)
    diff.add_argument("--exit-code", action="store_true", help="exit 1 when there are differences")
    _pins(diff, write=False)
    _snapshot_parser(commands)
    from . import checkcli  # `check` lives in modules of its own

    checkcli.add_parser(commands)
    from . import cachecli

    cachecli.add_parser(commands)
    return parser


def _changes(p: argparse.ArgumentParser) -> None:
    """The flags of a command that changes files: sync and bisync."""
    p.add_argument("--dry-run", action="store_true", help="show what would be done; do nothing")
    p.add_argument(
        "--lock-timeout",
        type=options.WAIT.flag,
        default=None,
        metavar="SECONDS",
        help="how long to wait while another sync of the folder runs (default: no limit)",
    )
    p.add_argument(
        "--max-delete",
        type=options.MAX_DELETE.flag,
        default=None,
        metavar="N",
        help="more deletes than N on a side: delete none of them, do the rest, exit 1",
    )


def _cluster(p: argparse.ArgumentParser) -> None:
    from .cluster.address import CLUSTER

    p.add_argument(
        "--cluster",
        type=CLUSTER.flag,
        metavar="ADDRESS",
        help="run as key ranges on a Dask cluster: tcp://HOST:PORT (a scheduler) or"
        " local:N (N worker processes here); needs bucketsync[dask]",
    )


def _pins(p: argparse.ArgumentParser, *, write: bool) -> None:
    """--lock and --at (a pinned pull), and --write-lock (after any sync)."""
    p.add_argument(
        "--lock", metavar="FILE", help="pull exactly the objects and versions of a lockfile"
    )
    p.add_argument(
        "--at",
        metavar="TIME",
        help="pull the prefix as it was at TIME (ISO 8601, or a lockfile's creation time)",
    )
    if write:
        p.add_argument("--write-lock", metavar="FILE", help="then write the lockfile of the result")


def _snapshot_parser(commands: Any) -> None:
    snap = commands.add_parser("snapshot", help="write a lockfile pinning what a prefix holds")
    snap.add_argument("url", metavar="URL", help="s3://bucket/prefix")
    snap.add_argument("-o", "--output", metavar="FILE", help="write it here (default: stdout)")
    snap.add_argument(
        "--checksums",
        choices=("auto", "all", "none"),
        default="auto",
        help="HEAD objects to pin their CRC64NVME: auto (when listed), all, none",
    )
    client_flags(snap, jobs="parallel requests")
    snap.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    snap.add_argument("--debug", action="store_true", help="log requests; show tracebacks")


def _common(p: argparse.ArgumentParser, two_way: bool = False) -> None:
    if two_way:
        p.add_argument("src", metavar="LOCAL", help="a local folder (or s3://bucket/prefix)")
        p.add_argument("dst", metavar="URL", help="s3://bucket/prefix (or a local folder)")
    else:
        sides(p)
        p.add_argument(
            "--delete", action="store_true", help="delete what is only on the destination"
        )
    filter_flags(p)
    p.add_argument(
        "--compare",
        choices=COMPARE_MODES,
        default="content",
        help="how to decide a file changed (default: content)",
    )
    p.add_argument("--follow-symlinks", action="store_true", help="follow symbolic links")
    client_flags(p, jobs="parallel transfers and checks")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--debug", action="store_true", help="log requests; show tracebacks")


def sides(p: argparse.ArgumentParser) -> None:
    """SRC and DST, each a local folder or an S3 URL."""
    p.add_argument("src", metavar="SRC", help="a local folder or s3://bucket/prefix")
    p.add_argument("dst", metavar="DST", help="a local folder or s3://bucket/prefix")


def filter_flags(p: argparse.ArgumentParser) -> None:
    """--include and --exclude, collected in the order given (`filter_rules`)."""
    for kind in ("include", "exclude"):
        p.add_argument(
            f"--{kind}",
            dest=kind,
            action=_Rule,
            metavar="PATTERN",
            help=f"{kind} paths matching this glob (repeatable; later rules win)",
        )


def client_flags(p: argparse.ArgumentParser, *, jobs: str) -> None:
    """--jobs (`jobs` says what runs in parallel) and how to reach S3: endpoint,
    profile, timeouts, attempts."""
    p.add_argument(
        "--jobs",
        type=options.JOBS.flag,
        default=DEFAULT_JOBS,
        metavar="N",
        help=f"{jobs}, 1 to {MAX_JOBS} (default {DEFAULT_JOBS})",
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
    for flag, default, give_up in (
        ("--read-timeout", 60.0, "on a request after this long without data"),
        ("--connect-timeout", 10.0, "connecting to the endpoint after this long"),
    ):
        p.add_argument(
            flag,
            type=options.TIMEOUT.flag,
            default=default,
            metavar="SECONDS",
            help=f"give up {give_up} (default {default:g})",
        )
    p.add_argument(
        "--max-attempts",
        type=options.ATTEMPTS.flag,
        default=5,
        metavar="N",
        help=f"tries per request, the first included (1 to {MAX_ATTEMPTS}, default 5)",
    )


# The API's keyword arguments that are flags of the same name (each command has some).
_PASSED = (
    "delete",
    "jobs",
    "endpoint_url",
    "profile",
    "compare",
    "follow_symlinks",
    "read_timeout",
    "connect_timeout",
    "max_attempts",
    "dry_run",
    "lock_timeout",
    "max_delete",
    "conflict",
    "lock",
    "at",
    "write_lock",
    "download",
    "no_state",
    "cluster",
)


def options_of(args: argparse.Namespace) -> dict[str, Any]:
    """The API's keyword arguments from the flags the command has."""
    passed = {name: getattr(args, name) for name in _PASSED if hasattr(args, name)}
    passed["filter_rules"] = tuple(getattr(args, "filter_rules", None) or ())
    if args.command in ("sync", "bisync"):
        passed["progress"] = False if (args.no_progress or args.quiet or args.json) else None
    return passed


class _PrintableFormatter(logging.Formatter):
    """Log lines with keys escaped: a hostile key must not drive the terminal."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.debug:
        # bucketsync's own log only: botocore's debug log would show signed headers.
        shown = logging.StreamHandler()
        shown.setFormatter(_PrintableFormatter("%(asctime)s %(name)s %(message)s"))
        logging.basicConfig(level=logging.WARNING, handlers=[shown])
        logging.getLogger("bucketsync").setLevel(logging.DEBUG)
    try:
        with sigterm_raises():  # SIGTERM stops a sync as Ctrl-C does, recording what finished
            return _run(args)
    except BucketsyncError as e:
        _error(str(e))
        if args.debug:
            raise
        return e.exit_code
    except KeyboardInterrupt as e:
        _error("terminated" if isinstance(e, Terminated) else "interrupted")
        leave_if_stuck(exit_code(e))
        return exit_code(e)
    except Exception as e:  # a bug: say so in one line, unless --debug
        if args.debug:
            raise
        _error(f"unexpected error ({type(e).__name__}): {e}; rerun with --debug for details")
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "snapshot":
        return _snapshot(args)
    if args.command == "check":
        from . import checkcli

        return checkcli.run(args)
    if args.command == "cache":
        from . import cachecli

        return cachecli.run(args)
    with _notices(not (args.quiet or args.json)):
        if args.command == "diff":
            plan = api.diff(args.src, args.dst, **options_of(args))
            _show_plan(plan, args)
            if plan.problems:
                return 1
            return 1 if args.exit_code and plan else 0
        if args.command == "bisync":
            report = twoway.bisync(args.src, args.dst, **options_of(args))
        else:
            report = api.sync(args.src, args.dst, **options_of(args))
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        _show_actions(report.plan, args.quiet)
        if not args.quiet:
            print(report.summary_line())
    _show_problems(report.plan, report.errors, args)
    return 1 if report.errors or report.unresolved else 0


def _snapshot(args: argparse.Namespace) -> int:
    from .lockfile import output_path
    from .snapshots import snapshot

    output = None if args.output is None else output_path(args.output)  # before the listing
    lock = snapshot(
        args.url,
        checksums=args.checksums,
        jobs=args.jobs,
        endpoint_url=args.endpoint_url,
        profile=args.profile,
        read_timeout=args.read_timeout,
        connect_timeout=args.connect_timeout,
        max_attempts=args.max_attempts,
    )
    if output is None:
        sys.stdout.write(lock.dumps())
        return 0
    path = lock.save(output)
    if not args.quiet:
        what = f"{len(lock)} object{'s' if len(lock) != 1 else ''}, {lock.size} B"
        _say("note", printable(f"wrote {path} ({what})"))
    return 0


def _show_plan(plan: Plan, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps({**plan.to_dict(), "dry_run": True}, indent=1))
    else:
        _show_actions(plan, args.quiet)
        if not args.quiet:
            print(f"{len(plan)} to do ({plan.bytes} B), {plan.unchanged} unchanged")
    _show_problems(plan, plan.problems, args)


def _show_actions(plan: Plan, quiet: bool) -> None:
    if quiet:
        return
    for action in plan.actions:
        print(f"{action.action:8} {printable(action.path)}  ({printable(action.reason)})")


def _show_problems(plan: Plan, problems: list[Problem], args: argparse.Namespace) -> None:
    """One line per failed path, naming it in full; then the paths skipped on purpose."""
    for problem in problems:
        _say("error", describe(problem.path, problem.error, problem.side, plan.pair))
    if not args.quiet:
        _show_notes(plan, args.debug)


def _show_notes(plan: Plan, everything: bool) -> None:
    """How many paths were skipped, and which: all of them when few, or with --debug."""
    notes = plan.skipped
    if not notes:
        return
    count = f"{len(notes)} path{'s' if len(notes) > 1 else ''} skipped"
    if len(notes) > NOTES_LISTED and not everything:
        first = describe(notes[0].path, notes[0].reason, notes[0].side, plan.pair)
        _say("note", f"{count} (--debug or --json lists them all), e.g. {first}")
        return
    _say("note", count)
    for note in notes:
        _say("note", "skipped " + describe(note.path, note.reason, note.side, plan.pair))


def _error(message: str) -> None:
    _say("error", printable(message))


def _say(kind: str, line: str) -> None:
    """One line on stderr; `line` must be printable already."""
    print(f"bucketsync: {kind}: {line}", file=sys.stderr)


class _Notice(logging.Handler):
    """Shows the API's notices (a sync waiting for a lock) that it did not show itself."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.INFO and getattr(record, "shown", True) is False:
            print(f"bucketsync: {record.getMessage()}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _notices(enabled: bool) -> Iterator[None]:
    """While the API runs, say on stderr what it is waiting for (unless --quiet or --json)."""
    if not enabled:
        yield
        return
    logger, handler = logging.getLogger("bucketsync"), _Notice()
    level = logger.level
    logger.addHandler(handler)
    if not logger.isEnabledFor(logging.INFO):
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


if __name__ == "__main__":
    sys.exit(main())
