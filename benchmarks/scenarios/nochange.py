"""S2 (no-change re-sync of many small files) and S3 (of 200 files of 20 MiB).

Both sides start identical, every file with the same whole-second mtime on both sides, so
size-and-mtime tools have nothing to do either. bucketsync keeps state, so it gets one
untimed first run per direction, reported as "first": the push's starts from an empty
state folder and hashes everything; the pull's, on the same state, finds it warm. After
every run the harness looks for files a tool rewrote; it repairs them (and re-runs
bucketsync's first run) so the next tool starts from identical trees. S2 also times the
floor: listing plus stat alone (see floor.py).
"""

from __future__ import annotations

from ..data import count_files, names, remove, write_tree
from ..results import Run
from ..runner import Bench, Verify
from ..servers import BenchServer
from ..tools import PEERS, Place, Tool
from .twin import Twin

BUCKET = "bench"
S2_TOOLS = ("floor", "bucketsync", "floor (boto3)", *PEERS)
S3_TOOLS = ("bucketsync", *PEERS)


def run_s2(bench: Bench) -> None:
    sizes = bench.config.sizes
    _scenario(bench, "S2", sizes.s2_counts, sizes.s2_size, S2_TOOLS)


def run_s3(bench: Bench) -> None:
    sizes = bench.config.sizes
    _scenario(bench, "S3", (sizes.s3_count,), sizes.s3_size, S3_TOOLS)


def _scenario(
    bench: Bench, scenario: str, counts: tuple[int, ...], size: int, tool_names: tuple[str, ...]
) -> None:
    tools = bench.tools(scenario, tool_names)
    home = bench.folder(scenario)
    server = bench.server(scenario)
    server.make_bucket(BUCKET)
    for count in counts:
        bench.log(f"{scenario}: writing {count} files of {size} B (twice)")
        remote = server.data_dir / BUCKET / f"{scenario.lower()}-{count}"
        write_tree([home / f"local-{count}", remote], names(count), size)
    with server:
        for count in counts:
            prefix = f"{scenario.lower()}-{count}/"
            server.count(BUCKET, prefix)
            twin = Twin(server, BUCKET, prefix, home / f"local-{count}")
            runs = bench.runs_for(count, counts)
            bench.ws.fresh_state(f"{scenario}-{count}")  # one state: push, then pull
            for direction in ("push", "pull"):
                rounds(bench, scenario, tools, twin, direction, runs, count * size)
    remove(home)


def rounds(
    bench: Bench,
    scenario: str,
    tools: list[Tool],
    twin: Twin,
    direction: str,
    runs: int,
    nbytes: int,
    via: BenchServer | None = None,
) -> None:
    """The runs of one direction; the tools reach the server `via` a link if given."""
    files = count_files(twin.local)[0]
    cold = {t.name for t in tools if t.stateful}
    place = Place(via or twin.server, twin.bucket, twin.prefix, twin.local)
    for r in range(runs):
        for tool in bench.turn(scenario, tools, r):
            if tool.name in cold:
                _one(bench, scenario, tool, place, twin, direction, -1, files, nbytes)
                cold.discard(tool.name)
            if _one(bench, scenario, tool, place, twin, direction, r, files, nbytes):
                cold = {t.name for t in tools if t.stateful}


def _one(
    bench: Bench,
    scenario: str,
    tool: Tool,
    place: Place,
    twin: Twin,
    direction: str,
    r: int,
    files: int,
    nbytes: int,
) -> bool:
    """One run and its aftermath; True when files had to be repaired."""
    verify = _floor_saw(files) if tool.name.startswith("floor") else None
    result = bench.run(
        tool,
        direction,
        place,
        scenario=scenario,
        case=direction,
        run=r,
        files=files,
        nbytes=nbytes,
        verify=verify,
    )
    local, remote = twin.changes()
    result.extra["rewritten"] = len(local) + len(remote)
    if local or remote:
        bench.log(f"  {tool.name} rewrote {len(local)} local and {len(remote)} remote files")
        twin.repair(local, remote)
        return True
    return False


def _floor_saw(files: int) -> Verify:
    """The floor must have listed every key and stat'ed every file."""

    def verify(run: Run) -> str | None:
        seen = (run.extra.get("keys"), run.extra.get("files"))
        return None if seen == (files, files) else f"floor saw {seen}, expected {files} of each"

    return verify
