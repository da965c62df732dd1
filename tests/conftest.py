"""Shared fixtures: an isolated environment for every test, and local S3 servers.

Servers are session-scoped and start on first use: moto (in-process thread), rclone
(``rclone serve s3``) and LocalStack (``make localstack``). Each test using ``s3``,
``moto_s3``, ``rclone_s3`` or ``localstack`` gets its own fresh bucket as an :class:`S3Env`.

Every sync a test runs (API, Mirror, CLI) is checked against the invariants of
``invariants.py``; a test that breaks one on purpose opts out with
``@pytest.mark.no_invariants("modes", ..., reason="...")`` (no names: all of them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from invariants import BROKEN, INVARIANTS, TOTALS, Monitor, summary_lines
from reliability_figures import FIGURES_JSON, Figures
from s3env import S3Env
from s3servers import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    S3Server,
    localstack_installed,
    start_localstack,
    start_moto,
    start_rclone,
)

SERVERS = ["moto", "rclone"]
# Read once at import, before any test's isolated_env clears BUCKETSYNC_* (CI sets it).
REQUIRE_LOCALSTACK = os.environ.get("BUCKETSYNC_REQUIRE_LOCALSTACK") == "1"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS or bucketsync settings leak in from the user; fake credentials, tmp dirs."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "BUCKETSYNC_")):
            monkeypatch.delenv(name)
    aws = tmp_path / "aws-not-there"
    settings = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(aws / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(aws / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "BUCKETSYNC_STATE_DIR": str(tmp_path / "state"),
        "BUCKETSYNC_CACHE_DIR": str(tmp_path / "cache"),
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(autouse=True)
def invariants(
    request: pytest.FixtureRequest,
    isolated_env: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Monitor]:
    """Check every sync of the test against the suite's invariants (see invariants.py)."""
    monitor = Monitor(tmp_path, _opted_out(request.node))
    if "*" not in monitor.skipped:
        monitor.install(monkeypatch, [request.module] if request.module else [])
    yield monitor
    rank = {f"[{name}]": n for n, name in enumerate(INVARIANTS)}
    broken = sorted(monitor.finish(request.node.nodeid), key=lambda v: rank[v.split()[0]])
    if broken:
        shown = "\n  ".join(broken[:20]) + ("\n  ..." if len(broken) > 20 else "")
        pytest.fail(f"{len(broken)} invariant violations:\n  {shown}", pytrace=False)


def _opted_out(item: pytest.Item) -> set[str]:
    """The invariants a test's no_invariants marker turns off ("*": all)."""
    marker = item.get_closest_marker("no_invariants")
    if marker is None:
        return set()
    if not marker.kwargs.get("reason"):
        raise pytest.UsageError(f"{item.nodeid}: no_invariants needs a reason=")
    unknown = set(marker.args) - set(INVARIANTS)
    if unknown:
        raise pytest.UsageError(f"{item.nodeid}: unknown invariants {sorted(unknown)}")
    return set(marker.args) or {"*"}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The invariant checks' figures for this run (also saved for docs/reliability.md)."""
    if not TOTALS.get("tests with syncs"):
        return
    terminalreporter.section("invariants checked after every sync")
    for line in summary_lines(TOTALS):
        terminalreporter.write_line(line)
    figures = Figures()
    names = ("syncs checked", "dry runs and diffs checked", "CLI runs checked", "tests with syncs")
    figures.add(
        "invariants after every sync (whole run)",
        syncs=sum(TOTALS[n] for n in names[:3]),
        **{n.replace(" ", "_"): TOTALS[n] for n in (*names, "paths compared", "keys compared")},
        invariant_violations=TOTALS["violations"],
    )
    figures.note(
        "invariants after every sync (whole run)", seconds_checking=TOTALS["checking ms"] / 1000
    )
    figures.save(FIGURES_JSON)
    log = FIGURES_JSON.with_name("invariant-violations.json")
    log.write_text(json.dumps(BROKEN, indent=1, ensure_ascii=False) + "\n")
    terminalreporter.write_line(f"violations by test: {log}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that use the LocalStack server, so ``-m "not localstack"`` works."""
    for item in items:
        if "localstack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.localstack)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[S3Server]:
    with start_moto() as server:
        yield server


@pytest.fixture(scope="session")
def rclone_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with start_rclone(tmp_path_factory.mktemp("rclone")) as server:
        yield server


@pytest.fixture(scope="session")
def localstack_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """LocalStack; skipped when not installed, unless BUCKETSYNC_REQUIRE_LOCALSTACK=1."""
    if not localstack_installed():
        why = "LocalStack is not installed: run `make localstack`"
        if REQUIRE_LOCALSTACK:
            pytest.fail(f"{why} (BUCKETSYNC_REQUIRE_LOCALSTACK=1)")
        pytest.skip(why)
    with start_localstack(tmp_path_factory.mktemp("localstack")) as server:
        yield server


def _s3env(server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Env]:
    """A fresh bucket on ``server``, with AWS_ENDPOINT_URL pointing at it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint_url)
    env = S3Env.create(server)
    yield env
    env.destroy()


@pytest.fixture(params=SERVERS, ids=SERVERS)
def s3(
    request: pytest.FixtureRequest, isolated_env: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[S3Env]:
    """A fresh bucket, once on each of moto and rclone."""
    yield from _s3env(request.getfixturevalue(f"{request.param}_server"), monkeypatch)


@pytest.fixture
def moto_s3(
    moto_server: S3Server, isolated_env: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[S3Env]:
    yield from _s3env(moto_server, monkeypatch)


@pytest.fixture
def rclone_s3(
    rclone_server: S3Server, isolated_env: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[S3Env]:
    yield from _s3env(rclone_server, monkeypatch)


@pytest.fixture
def localstack(
    localstack_server: S3Server, isolated_env: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[S3Env]:
    """A fresh bucket on LocalStack (skips or fails as ``localstack_server`` says)."""
    yield from _s3env(localstack_server, monkeypatch)
