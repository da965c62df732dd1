"""The scenarios S1-S10 of ../shared/BENCHMARKS.md, one function each."""

from __future__ import annotations

from collections.abc import Callable

from ..runner import Bench
from .cold import run_s1, run_s5
from .edits import run_s4
from .memory import run_s8
from .multipart import run_s6
from .nochange import run_s2, run_s3
from .notebook import run_s7
from .wan import run_s9, run_s10

SCENARIO_RUNNERS: dict[str, Callable[[Bench], None]] = {
    "S1": run_s1,
    "S2": run_s2,
    "S3": run_s3,
    "S4": run_s4,
    "S5": run_s5,
    "S6": run_s6,
    "S7": run_s7,
    "S8": run_s8,
    "S9": run_s9,
    "S10": run_s10,
}
