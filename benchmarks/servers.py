"""The S3 servers of the benchmark, started through tools/s3servers.py.

rclone ``serve s3`` is the default. The benchmark starts it with a long directory cache
(``--dir-cache-time=1000h``): with the default of five minutes, rclone forgets the MD5s it
computed for its ETags and re-reads every file on the next listing, which would land on
whichever tool happened to run then. With the cache, files changed behind the server's
back are not seen, so the harness changes server-side files only while the server is
stopped, and restarts it on the same port (same URL, same bucketsync state scope).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any

import s3servers
from s3servers import ACCESS_KEY, HOST, SECRET_KEY, S3Server

from . import REPO
from .measure import process_cpu
from .s3list import Credentials, count_objects

PROJECT_PYTHON = REPO / ".venv" / "bin" / "python"


class BenchServer:
    """One S3 server: rclone (restartable on its port), LocalStack, or moto."""

    def __init__(self, kind: str, root: Path) -> None:
        self.kind = kind
        self.root = root
        self.port = s3servers.free_port()
        self._server: S3Server | None = None

    @property
    def data_dir(self) -> Path:
        """Where rclone keeps buckets as folders (rclone only)."""
        return self.root / "data"

    @property
    def server(self) -> S3Server:
        if self._server is None:
            raise RuntimeError(f"{self.kind} server is not running")
        return self._server

    @property
    def endpoint_url(self) -> str:
        return self.server.endpoint_url

    @property
    def creds(self) -> Credentials:
        s = self.server
        return Credentials(s.endpoint_url, s.access_key, s.secret_key, s.region)

    @property
    def pid(self) -> int | None:
        proc = self.server.process
        return proc.pid if proc is not None else None

    def start(self) -> BenchServer:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.kind == "rclone":
            self._server = _start_rclone(self.root, self.port)
        elif self.kind == "localstack":
            self._server = s3servers.start_localstack(self.root)
        elif self.kind == "moto":
            self._server = _start_moto_process(self.root)
        else:
            raise ValueError(f"unknown server {self.kind!r}")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def restart(self) -> None:
        """Stop and start again on the same port (rclone): it re-reads its folders."""
        if self.kind != "rclone":
            raise RuntimeError(f"cannot restart {self.kind} in place")
        self.stop()
        self.start()

    def cpu_seconds(self) -> float:
        return process_cpu(self.pid)

    def link_stats(self) -> dict[str, float] | None:
        """The latency proxy's counters when the tools reach this server through one."""
        return None

    def client(self) -> Any:
        return self.server.client()

    def make_bucket(self, bucket: str) -> None:
        if self.kind == "rclone" and self._server is None:
            (self.data_dir / bucket).mkdir(parents=True, exist_ok=True)
            return
        self.client().create_bucket(Bucket=bucket)

    def count(self, bucket: str, prefix: str = "") -> tuple[int, int]:
        """Objects and bytes below a prefix (also primes rclone's ETag cache)."""
        return count_objects(self.creds, bucket, prefix)

    def describe(self) -> str:
        return {
            "rclone": "rclone serve s3 (local backend, --dir-cache-time=1000h)",
            "localstack": "LocalStack (S3 only)",
            "moto": "moto server (LocalStack not installed)",
        }[self.kind]

    def __enter__(self) -> BenchServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _start_rclone(root: Path, port: int) -> S3Server:
    """``rclone serve s3`` like s3servers.start_rclone, on a given port, with a long cache."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    cmd = [
        s3servers.rclone_binary(),
        "serve",
        "s3",
        f":local:{data}",
        f"--addr={HOST}:{port}",
        f"--auth-key={ACCESS_KEY},{SECRET_KEY}",
        "--vfs-cache-mode=off",
        "--dir-cache-time=1000h",
        "--force-path-style=true",
        "--log-level=NOTICE",
    ]
    env = {**os.environ, "RCLONE_CONFIG": str(root / "rclone.conf")}
    log = root / "rclone.log"
    server = s3servers._spawn("rclone", cmd, env, log, f"http://{HOST}:{port}")
    s3servers._wait_until(server, lambda: s3servers._answers(server), s3servers.RCLONE_TIMEOUT, log)
    return server


def _start_moto_process(root: Path) -> S3Server:
    """moto in a subprocess of the project's Python (moto is not in the benchmark venv)."""
    log = root / "moto.log"
    cmd = [str(PROJECT_PYTHON), str(REPO / "tools" / "s3servers.py"), "moto", str(root)]
    with log.open("ab") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, start_new_session=True)
    assert proc.stdout is not None
    url = ""
    for raw in proc.stdout:
        line = raw.decode()
        found = re.match(r"export AWS_ENDPOINT_URL=(\S+)", line)
        if found:
            url = found.group(1)
        if line.startswith("#"):
            break
    if not url:
        s3servers._kill_group(proc)
        raise RuntimeError(f"moto did not start; see {log}")
    return S3Server("moto", url, process=proc, _stop=lambda: s3servers._kill_group(proc))
