"""Profile bucketsync with py-spy on S1 (cold pull and push) and S2 (no-change re-sync).

``.cache/bench-venv/bin/python -m benchmarks.profile [--s1-files N] [--s2-files N]``
writes ``benchmarks/results/profile/*.txt`` (py-spy's collapsed stacks) and prints, per
case, the functions with the most samples: "self" is where the sample was taken (the
leaf), "total" counts a function anywhere in the stack. Each case is recorded twice:
"busy" samples every thread py-spy does not judge idle (threads waiting on a Condition
often still count), "gil" only the thread holding the GIL, i.e. where Python CPU goes.
Shares are of all samples, all threads together. Not run by `make bench`.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from . import REPO
from .config import KiB
from .data import names, remove, write_tree
from .measure import run_command
from .runner import delete_prefix
from .servers import BenchServer
from .tools import BENCH_VENV, Place, Workspace, all_tools, tool_env

BUCKET = "bench"
PY_SPY = BENCH_VENV / "bin" / "py-spy"


def collapsed(path: Path) -> Counter[tuple[str, ...]]:
    """py-spy's raw output: one "frame;frame;... count" line per distinct stack."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


GENERIC = ("(threading.py)", "(concurrent/futures/", "(<frozen importlib", "(contextlib.py)")
ENTRY = ("<module> (bucketsync)", "main (bucketsync/cli.py)", "_run (bucketsync/cli.py)")
# Shares of samples whose stack passes through a frame containing the marker (overlapping).
AREAS = {
    "importing modules": "_find_and_load",
    "making the botocore client": "create_client (",
    "listing (stores/listing.py)": "(bucketsync/stores/listing.py)",
    "local walk (stores/local.py)": "(bucketsync/stores/local.py)",
    "state database (state.py)": "(bucketsync/state.py)",
    "merge (march.py)": "(bucketsync/march.py)",
    "transfers (transfer.py)": "(bucketsync/transfer.py)",
    "awscrt": "(awscrt/",
    "printing the JSON report": "(json/encoder.py)",
}


def hot_spots(stacks: Counter[tuple[str, ...]], top: int = 15) -> str:
    """Shares of samples: where they were taken (self), and under which function (total)."""
    total = sum(stacks.values()) or 1
    leaf: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    for stack, n in stacks.items():
        leaf[stack[-1]] += n
        for area, marker in AREAS.items():
            areas[area] += n if any(marker in f for f in stack) else 0
        for frame in set(stack):
            if not any(g in frame for g in GENERIC) and frame not in ENTRY:
                anywhere[frame] += n
    lines = [f"{total} samples", "area %  (a sample may be in several)"]
    lines += [f"{100 * n / total:6.1f}  {a}" for a, n in areas.most_common() if n]
    lines += ["self %  function"]
    lines += [f"{100 * n / total:6.1f}  {f}" for f, n in leaf.most_common(top)]
    lines += ["total % function (threading, futures and import machinery left out)"]
    lines += [f"{100 * n / total:6.1f}  {f}" for f, n in anywhere.most_common(top + 10)]
    return "\n".join(lines)


def profile(name: str, argv: list[str], env: dict[str, str], out: Path, *, gil: bool) -> str:
    """One py-spy run: all busy threads, or (gil) only the thread holding the GIL."""
    name = f"{name}-{'gil' if gil else 'busy'}"
    raw = out / f"{name}.txt"
    spy = [str(PY_SPY), "record", "--format", "raw", "--nolineno", "--rate", "250"]
    spy += ["--gil"] if gil else []
    done = run_command([*spy, "-o", str(raw), "--", *argv], env, cwd=REPO)
    if done.exit_code != 0 or not raw.exists():
        return f"{name}: py-spy failed: {done.stderr[-500:]}"
    report = f"== {name}: {done.seconds:.2f} s wall\n{hot_spots(collapsed(raw))}"
    (out / f"{name}-hot.txt").write_text(report + "\n")
    return report


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    p.add_argument("--s1-files", type=int, default=2_000)
    p.add_argument("--s2-files", type=int, default=20_000)
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "profile")
    p.add_argument("--cases", help="comma-separated subset of s1-pull,s1-push,s2-push,...")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    work = REPO / "benchmarks" / "work" / "profile"
    remove(work)
    ws = Workspace(work)
    bucketsync = all_tools()["bucketsync"]
    server = BenchServer("rclone", work / "server")
    server.make_bucket(BUCKET)
    write_tree([work / "s1", server.data_dir / BUCKET / "s1"], names(args.s1_files), 16 * KiB)
    write_tree([work / "s2", server.data_dir / BUCKET / "s2"], names(args.s2_files), 1 * KiB)
    with server:
        server.count(BUCKET, "")
        cases = [
            ("s1-pull", "pull", Place(server, BUCKET, "s1/", work / "pulled"), False),
            ("s1-push", "push", Place(server, BUCKET, "s1-push/", work / "s1"), False),
            ("s2-push", "push", Place(server, BUCKET, "s2/", work / "s2"), True),
            ("s2-pull", "pull", Place(server, BUCKET, "s2/", work / "s2"), True),
            ("s2-first-push", "push", Place(server, BUCKET, "s2/", work / "s2"), False),
        ]
        for name, direction, place, warm in cases:
            if args.cases and name not in args.cases.split(","):
                continue
            for gil in (False, True):
                ws.fresh_state(name)
                cmd = bucketsync.command(direction, place, ws)
                if warm:  # the no-change case: a first run fills the state database
                    run_command(cmd, tool_env(place, ws), cwd=REPO)
                remove(work / "pulled")
                print(profile(name, cmd, tool_env(place, ws), args.out, gil=gil), flush=True)
                delete_prefix(server, BUCKET, "s1-push/")
    remove(work)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
