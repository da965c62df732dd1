"""What to run: scenario sizes, runs per tool, folders. Two presets: full and quick."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from . import REPO

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

SCENARIOS = ("S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "S10")
WAN_SCENARIOS = ("S9", "S10")  # through the latency proxy (tools/latencyproxy.py)


@dataclass(frozen=True)
class Sizes:
    """Data sizes of each scenario. For S1/S2 the last count is the headline size; the
    smaller ones are points of the time-against-file-count plot (fewer runs)."""

    s1_counts: tuple[int, ...] = (1_000, 10_000)
    s1_size: int = 16 * KiB
    s2_counts: tuple[int, ...] = (10_000, 100_000)
    s2_size: int = 1 * KiB
    s3_count: int = 200
    s3_size: int = 20 * MiB
    s4_count: int = 10_000
    s4_size: int = 16 * KiB
    s4_fraction: float = 0.01
    s5_size: int = 2 * GiB
    # (uploader, files, bytes per file): big enough that each uploader goes multipart
    s6_sets: tuple[tuple[str, int, int], ...] = (
        ("aws", 3, 20 * MiB),
        ("rclone", 3, 20 * MiB),
        ("s5cmd", 2, 110 * MiB),
    )
    s7_calls: int = 1_000
    s8_keys: tuple[int, ...] = (100_000, 1_000_000)
    s9_count: int = 2_000
    s9_size: int = 16 * KiB
    s9_delays_ms: tuple[float, ...] = (0.0, 10.0, 40.0)  # one way; a round trip is twice
    s10_keys: int = 200_000
    s10_size: int = 1 * KiB
    s10_delay_ms: float = 40.0
    link_cost_gib: int = 1  # streamed through the proxy to measure its cost (0: skip)


FULL = Sizes()
QUICK = Sizes(
    s1_counts=(100, 300),
    s2_counts=(500, 2_000),
    s3_count=8,
    s3_size=10 * MiB,
    s4_count=1_000,
    s4_size=4 * KiB,
    s5_size=128 * MiB,
    s6_sets=(("aws", 1, 20 * MiB), ("rclone", 1, 12 * MiB), ("s5cmd", 1, 60 * MiB)),
    s7_calls=200,
    s8_keys=(10_000, 50_000),
    s9_count=300,
    s10_keys=20_000,
)


@dataclass(frozen=True)
class Config:
    """One benchmark session."""

    mode: str = "full"
    sizes: Sizes = FULL
    runs: int = 3  # timed runs per tool at the headline sizes
    sweep_runs: int = 1  # timed runs per tool at the smaller S1/S2 counts
    scenarios: tuple[str, ...] = SCENARIOS
    tools: tuple[str, ...] | None = None  # None: every tool that is installed
    out: Path = REPO / "benchmarks" / "results"
    work: Path = REPO / "benchmarks" / "work"
    timeout: float = 1800.0  # seconds for one tool run before it is killed
    # Fewer timed runs for slow references that no target of that scenario is measured
    # against ("tool" everywhere, "S5/tool" in one scenario), so the full run stays well
    # under an hour on 2 cores. The targets' comparators keep every run: aws and s5cmd
    # in S1, the floor and every peer's first two runs in S2, rclone --checksum in S3,
    # s5cmd in S5.
    capped: tuple[tuple[str, int], ...] = (
        ("origin", 1),
        ("floor (boto3)", 1),
        ("rclone", 2),
        ("s3cmd", 2),
        ("S2/aws", 2),
        ("S3/aws", 2),
        ("S4/aws", 2),
        ("S5/aws", 2),
        # over the WAN link each run of these takes minutes (one request at a time, or
        # a few transfers with a HEAD each): fewer runs, and S10 leaves rclone out, see
        # scenarios/wan.py
        ("S9/rclone", 1),
        ("S9/rclone --checksum", 2),
        ("S9/s3cmd", 1),
        ("S10/s3cmd", 1),
        ("S10/aws", 2),
    )
    keep_work: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    def wants(self, tool: str) -> bool:
        return self.tools is None or tool in self.tools


def preset(mode: str) -> Config:
    """The `full` or `quick` configuration."""
    if mode == "quick":
        out = REPO / "benchmarks" / "results" / "quick"
        return Config(mode="quick", sizes=QUICK, runs=1, sweep_runs=1, out=out)
    if mode == "full":
        return Config()
    raise ValueError(f"unknown mode {mode!r} (full or quick)")


def with_sizes(config: Config, **changes: object) -> Config:
    """A copy of config with some sizes replaced (command-line overrides)."""
    return replace(config, sizes=replace(config.sizes, **changes))  # type: ignore[arg-type]
