"""S9 (cold push and pull of small files at several one-way delays) and S10 (no-change
re-sync of many keys at one delay), every tool reaching rclone serve s3 through the
latency proxy (tools/latencyproxy.py, see link.py).

S9 runs as S1 does (cold, rotating order, nothing deleted between timed runs), once per
delay; its cases are "push 10ms", "pull 40ms" and so on. 0 ms still goes through the
proxy, so every delay pays the same proxy cost. S10 runs as S2 does (identical trees,
bucketsync's untimed first run, repairs) with the floor, a sequential listing through
the same link plus the `stat` of every file. The harness's own checks and listings go
to the server directly.

S10 leaves plain `rclone sync` out: it sends a HEAD per object to read the modification
time (500 keys: 507 requests, against 7 with --checksum), 8 at a time: 200,000 HEADs
at an 80 ms round trip would be about 2,000 s per run. `rclone --checksum` (listing + MD5
of each file) stays.
"""

from __future__ import annotations

from pathlib import Path

from ..data import names, remove, set_aside, write_tree
from ..link import Link, LinkedServer
from ..linkcost import calibrate
from ..runner import Bench, expect_local, expect_remote
from ..servers import BenchServer
from ..tools import Place, Tool
from ..wanreport import s9_case
from .nochange import rounds
from .twin import Twin

BUCKET = "bench"
S9_TOOLS = ("bucketsync", "aws", "s5cmd", "rclone", "rclone --checksum", "s3cmd")
S10_TOOLS = ("floor", "bucketsync", "aws", "s5cmd", "rclone --checksum", "s3cmd")
SERVER = "rclone serve s3 (local backend) behind tools/latencyproxy.py"


def _calibrate(bench: Bench) -> None:
    """The proxy's own CPU cost, measured once per session (see linkcost.py)."""
    gib = bench.config.sizes.link_cost_gib
    if gib and "link_cost" not in bench.session.meta:
        bench.log("measuring the latency proxy's own CPU cost")
        bench.session.meta["link_cost"] = calibrate(gib)


def _prepare(
    bench: Bench, scenario: str, names_of: tuple[str, ...], local: str, count: int, size: int
) -> tuple[list[Tool], Path, BenchServer]:
    """The proxy's cost, the tools, the scenario's folder and its server with the same
    `count` files of `size` bytes in home/local and below the bucket's s9/ or s10/."""
    _calibrate(bench)
    tools = bench.tools(scenario, names_of)
    home = bench.folder(scenario)
    server = bench.server(scenario)
    server.make_bucket(BUCKET)
    bench.session.meta["servers"][scenario] = SERVER
    bench.log(f"{scenario}: writing {count} files of {size} B (twice)")
    remote = server.data_dir / BUCKET / scenario.lower()
    write_tree([home / local, remote], names(count), size)
    return tools, home, server


def run_s9(bench: Bench) -> None:
    sizes = bench.config.sizes
    tools, home, server = _prepare(bench, "S9", S9_TOOLS, "src", sizes.s9_count, sizes.s9_size)
    with server:
        server.count(BUCKET, "s9/")  # rclone computes its ETags now, untimed
        for delay in sizes.s9_delays_ms:
            with Link(server, delay) as link:
                for r in range(bench.config.runs):
                    for tool in bench.turn("S9", tools, r):
                        _pull(bench, tool, link.view, delay, r)
                        _push(bench, tool, link.view, delay, r)
            bench.save()  # a long scenario: keep what is done
    remove(home)


def _pull(bench: Bench, tool: Tool, view: LinkedServer, delay: float, r: int) -> None:
    sizes = bench.config.sizes
    dest, trash = bench.folder("S9") / "pull", bench.folder("S9") / "pulled"
    set_aside(dest, trash)
    bench.ws.fresh_state("S9")
    nbytes = sizes.s9_count * sizes.s9_size
    bench.run(
        tool,
        "pull",
        Place(view, BUCKET, "s9/", dest),
        scenario="S9",
        case=s9_case("pull", delay),
        run=r,
        files=sizes.s9_count,
        nbytes=nbytes,
        verify=expect_local(dest, sizes.s9_count, nbytes),
    )
    set_aside(dest, trash)


def _push(bench: Bench, tool: Tool, view: LinkedServer, delay: float, r: int) -> None:
    sizes = bench.config.sizes
    prefix = f"s9-push/{tool.name.replace(' ', '')}-{delay:g}-{r}/"
    bench.ws.fresh_state("S9")
    nbytes = sizes.s9_count * sizes.s9_size
    bench.run(
        tool,
        "push",
        Place(view, BUCKET, prefix, bench.folder("S9") / "src"),
        scenario="S9",
        case=s9_case("push", delay),
        run=r,
        files=sizes.s9_count,
        nbytes=nbytes,
        verify=expect_remote(view.inner, BUCKET, prefix, sizes.s9_count, nbytes),
    )


def run_s10(bench: Bench) -> None:
    sizes = bench.config.sizes
    count, size = sizes.s10_keys, sizes.s10_size
    tools, home, server = _prepare(bench, "S10", S10_TOOLS, "local", count, size)
    with server:
        server.count(BUCKET, "s10/")
        _s10_rounds(bench, tools, server, home / "local", sizes.s10_delay_ms)
    remove(home)


def _s10_rounds(
    bench: Bench, tools: list[Tool], server: BenchServer, local: Path, delay: float
) -> None:
    sizes = bench.config.sizes
    twin = Twin(server, BUCKET, "s10/", local)
    bench.ws.fresh_state("S10")  # one state: push, then pull
    with Link(server, delay) as link:
        for direction in ("push", "pull"):
            nbytes = sizes.s10_keys * sizes.s10_size
            rounds(bench, "S10", tools, twin, direction, bench.config.runs, nbytes, link.view)
            bench.save()
