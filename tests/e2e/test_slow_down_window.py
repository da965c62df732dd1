"""The window of requests in flight shrinks when the server answers 503 SlowDown, and
the sync still completes, every byte right (moto behind the fault proxy)."""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import pytest

from bucketsync import api
from bucketsync.report import Report
from faultproxy import FaultProxy, Faults
from s3env import S3Env


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def cuts(caplog: pytest.LogCaptureFixture, name: str) -> list[int]:
    """The sizes the named window was cut to, as logged."""
    prefix = f"{name} window cut to "
    return [
        int(r.getMessage()[len(prefix) :].split()[0])
        for r in caplog.records
        if r.getMessage().startswith(prefix)
    ]


@pytest.mark.parametrize("crt", [False, True], ids=["botocore", "awscrt"])
def test_slow_down_shrinks_the_window_and_the_pull_completes(
    moto_s3: S3Env,
    tmp_path: Path,
    crt: bool,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if not crt:
        monkeypatch.setenv("BUCKETSYNC_NO_CRT", "1")
    rng = random.Random(7)
    sent = {f"d{i % 3}/f{i:02}": rng.randbytes(rng.choice((0, 100, 5000))) for i in range(40)}
    for rel, data in sent.items():
        moto_s3.put(f"p/{rel}", data)
    # after the listing, GETs are answered 503 SlowDown. On awscrt, 24 of them: a file
    # given up after its 2 tries shows the pipeline's window the server's push-back
    # (the threaded path then takes the file). On botocore, 4 (fewer than a request's 5
    # tries): its window hears of each 503 before the retry.
    attempts, injected = (2, 24) if crt else (5, 4)
    faults = Faults(slow_down=1.0, only_methods=frozenset({"GET"}), max_faults=injected, seed=1)
    dst = tmp_path / "dst"
    with FaultProxy(moto_s3.endpoint_url, Faults()) as proxy:
        options = {"endpoint_url": proxy.endpoint_url, "jobs": 4, "max_attempts": attempts}
        with api.open_job(moto_s3.url("p"), dst, api._options(options)) as job:
            planned = api._plan(job)
            proxy.set_faults(faults)
            report = Report(planned.plan, dry_run=False)
            with caplog.at_level(logging.INFO, logger="bucketsync.requests"):
                api._transfer(job, report)
        assert proxy.stats["slow_down"] == injected
    assert not report.errors and report.downloaded == len(sent), report.errors
    assert files(dst) == sent
    name = "pipeline" if crt else "botocore"
    sizes = cuts(caplog, name)
    cap = 4 * 4 if crt else 4 * 2 + 4  # the pipeline's jobs x 4; botocore's connections
    assert sizes and sizes[0] == cap // 2, sizes  # halved at the first 503, maybe again
    assert os.environ.get("BUCKETSYNC_NO_CRT") == (None if crt else "1")
