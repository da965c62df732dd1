"""The tools being compared, and how each is invoked for a push or a pull.

Every tool runs as its own process with its defaults (concurrency, part sizes), a private
HOME and the server's test credentials, so no user configuration leaks in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import REPO
from .servers import PROJECT_PYTHON, BenchServer

BENCH_VENV = REPO / ".cache" / "bench-venv"
FSSPEC_VENV = REPO / ".cache" / "bench-fsspec-venv"
PROJECT_BIN = REPO / ".venv" / "bin"
RCLONE_REMOTE = "bench"


@dataclass(frozen=True)
class Place:
    """The two sides of one sync: a prefix on a server and a local folder."""

    server: BenchServer
    bucket: str
    prefix: str  # empty or ending with "/"
    local: Path

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass
class Workspace:
    """Folders of one session: a private HOME for the tools, bucketsync's state and cache."""

    root: Path
    state: Path = field(init=False)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "rclone.conf").touch()
        (self.home / "aws-config").write_text(
            "[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n"
        )
        self.state = self.root / "state" / "default"

    @property
    def home(self) -> Path:
        return self.root / "home"

    def fresh_state(self, name: str) -> None:
        """Point bucketsync at an empty state folder (a cold start)."""
        self.state = self.root / "state" / name
        shutil.rmtree(self.state, ignore_errors=True)

    def s3cmd_config(self, server: BenchServer) -> Path:
        host = server.endpoint_url.removeprefix("http://")
        path = self.home / f"s3cfg-{host.replace(':', '-')}"
        if not path.exists():
            s = server.server
            path.write_text(
                "[default]\n"
                f"access_key = {s.access_key}\nsecret_key = {s.secret_key}\n"
                f"host_base = {host}\nhost_bucket = {host}\n"
                f"bucket_location = {s.region}\n"
                "use_https = False\nsignature_v2 = False\n"
            )
        return path


Argv = Callable[["Tool", str, Place, Workspace], list[str]]


@dataclass(frozen=True)
class Tool:
    """A way to sync: its name in tables, its executable, how to build a command line."""

    name: str
    executable: str
    argv: Argv
    version_args: tuple[str, ...] = ("--version",)
    stateful: bool = False  # keeps state between runs (needs a first, untimed run)

    def missing(self) -> str | None:
        """Why the tool cannot run here, or None."""
        if not Path(self.executable).exists():
            return f"{self.executable} not found (run `make bench-deps`)"
        return None

    def command(self, direction: str, place: Place, ws: Workspace) -> list[str]:
        return self.argv(self, direction, place, ws)

    def version(self) -> str:
        if self.missing() or not self.version_args:
            return ""
        try:
            out = subprocess.run(
                [self.executable, *self.version_args],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return (
            (out.stdout or out.stderr).strip().splitlines()[0] if out.stdout or out.stderr else ""
        )


def tool_env(place: Place, ws: Workspace) -> dict[str, str]:
    """The environment of every tool run: test credentials, private HOME, no AWS profile."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")
    s = place.server.server
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(
        {
            "HOME": str(ws.home),
            "AWS_ACCESS_KEY_ID": s.access_key,
            "AWS_SECRET_ACCESS_KEY": s.secret_key,
            "AWS_DEFAULT_REGION": s.region,
            "AWS_ENDPOINT_URL": s.endpoint_url,
            "AWS_CONFIG_FILE": str(ws.home / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(ws.home / "no-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "BUCKETSYNC_STATE_DIR": str(ws.state),
            "BUCKETSYNC_CACHE_DIR": str(ws.root / "cache"),
            "RCLONE_CONFIG": str(ws.home / "rclone.conf"),
        }
    )
    prefix = f"RCLONE_CONFIG_{RCLONE_REMOTE.upper()}_"
    env.update(
        {
            prefix + "TYPE": "s3",
            prefix + "PROVIDER": "Other",
            prefix + "ENDPOINT": s.endpoint_url,
            prefix + "ACCESS_KEY_ID": s.access_key,
            prefix + "SECRET_ACCESS_KEY": s.secret_key,
            prefix + "REGION": s.region,
            prefix + "FORCE_PATH_STYLE": "true",
        }
    )
    return env


def _sides(direction: str, local: str, remote: str) -> tuple[str, str]:
    return (local, remote) if direction == "push" else (remote, local)


def _bucketsync(tool: Tool, direction: str, place: Place, ws: Workspace) -> list[str]:
    src, dst = _sides(direction, str(place.local), place.url)
    url = place.server.endpoint_url
    return [tool.executable, "sync", src, dst, "--json", "--endpoint-url", url, "--no-progress"]


def _aws(tool: Tool, direction: str, place: Place, ws: Workspace) -> list[str]:
    src, dst = _sides(direction, str(place.local), place.url)
    url = place.server.endpoint_url
    return [tool.executable, "s3", "sync", src, dst, "--endpoint-url", url, "--only-show-errors"]


def _s5cmd(tool: Tool, direction: str, place: Place, ws: Workspace) -> list[str]:
    local = f"{place.local}/"
    src, dst = (local, place.url) if direction == "push" else (place.url + "*", local)
    url = place.server.endpoint_url
    return [tool.executable, "--log", "error", "--endpoint-url", url, "sync", src, dst]


def _rclone(*flags: str) -> Argv:
    def argv(tool: Tool, direction: str, place: Place, ws: Workspace) -> list[str]:
        remote = f"{RCLONE_REMOTE}:{place.bucket}/{place.prefix.rstrip('/')}"
        src, dst = _sides(direction, str(place.local), remote)
        return [tool.executable, "sync", src, dst, *flags]

    return argv


def _s3cmd(tool: Tool, direction: str, place: Place, ws: Workspace) -> list[str]:
    src, dst = _sides(direction, f"{place.local}/", place.url)
    config = str(ws.s3cmd_config(place.server))
    return [tool.executable, "-c", config, "sync", "--no-progress", src, dst]


def _origin(tool: Tool, direction: str, place: Place, ws: Workspace) -> list[str]:
    module = "benchmarks.origin"
    return [tool.executable, "-m", module, direction, str(place.local), place.bucket, place.prefix]


def _floor(*flags: str) -> Argv:
    def argv(tool: Tool, direction: str, place: Place, ws: Workspace) -> list[str]:
        where = [str(place.local), place.bucket, place.prefix]
        return [tool.executable, "-m", "benchmarks.floor", *where, *flags]

    return argv


def _binary(name: str) -> str:
    """The tool from the benchmark venv, else next to this Python, else the project venv."""
    for folder in (BENCH_VENV / "bin", Path(sys.executable).parent, PROJECT_BIN):
        if (folder / name).exists():
            return str(folder / name)
    return str(BENCH_VENV / "bin" / name)


def all_tools() -> dict[str, Tool]:
    """Every tool, by name, in the order tables list them."""
    py = str(PROJECT_PYTHON)
    tools = [
        Tool("bucketsync", str(PROJECT_BIN / "bucketsync"), _bucketsync, stateful=True),
        Tool("aws", _binary("aws"), _aws),
        Tool("s5cmd", _binary("s5cmd"), _s5cmd, ("version",)),
        Tool("rclone", _binary("rclone"), _rclone(), ("version",)),
        Tool("rclone --checksum", _binary("rclone"), _rclone("--checksum"), ("version",)),
        Tool("s3cmd", _binary("s3cmd"), _s3cmd),
        Tool("origin", py, _origin, ("-c", "import boto3; print('boto3', boto3.__version__)")),
        Tool("floor", py, _floor(), ()),
        Tool("floor (boto3)", py, _floor("--boto3"), ()),
    ]
    return {t.name: t for t in tools}


PEERS = ("aws", "s5cmd", "rclone", "rclone --checksum", "s3cmd", "origin")
