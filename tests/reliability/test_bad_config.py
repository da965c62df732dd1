"""Bad configuration: one line on stderr, exit code 2, nothing done, in bounded time."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from reliability_figures import Figures
from reliakit import cli, one_line_error
from s3env import S3Env
from s3servers import free_port

WRONG_REGION = {
    "AuthorizationHeaderMalformed": (
        400,
        "The authorization header is malformed; the region 'us-east-1' is wrong;"
        " expecting 'eu-west-1'",
    ),
    "PermanentRedirect": (
        301,
        "The bucket you are attempting to access must be addressed using the specified"
        " endpoint. Please send all future requests to this endpoint.",
    ),
}


@contextlib.contextmanager
def wrong_region_stub(code: str) -> Iterator[str]:
    """An HTTP server answering every request as S3 answers one sent to the wrong region."""
    status, message = WRONG_REGION[code]
    body = (
        f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
        f"<Message>{message}</Message><Region>eu-west-1</Region></Error>"
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.send_response(status)
            self.send_header("x-amz-bucket-region", "eu-west-1")
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_PUT = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _data(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a")
    return src


def _check(figures: Figures, done: object, started: float, text: str) -> None:
    line = one_line_error(done, 2)  # type: ignore[arg-type]
    assert text.lower() in line.lower(), line
    assert "X-Amz-Signature" not in line and "testing" not in line, "a credential leaked"
    figures.add("bad configuration: exit 2, one line", cases=1)
    figures.maximum(
        "bad configuration: exit 2, one line", "seconds_at_most", time.monotonic() - started
    )


def test_wrong_credentials(rclone_s3: S3Env, tmp_path: Path, figures: Figures) -> None:
    """rclone serve s3 checks signatures (moto and LocalStack accept any credentials)."""
    src = _data(tmp_path)
    for name, value in (("AWS_SECRET_ACCESS_KEY", "wrong"), ("AWS_ACCESS_KEY_ID", "nobody")):
        started = time.monotonic()
        done = cli({**rclone_s3.env, name: value}, "sync", str(src), rclone_s3.url("p"))
        _check(figures, done, started, "rejected the credentials")


def test_no_credentials(moto_s3: S3Env, tmp_path: Path, figures: Figures) -> None:
    env = {
        k: v
        for k, v in moto_s3.env.items()
        if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    started = time.monotonic()
    done = cli(env, "sync", str(_data(tmp_path)), moto_s3.url("p"))
    _check(figures, done, started, "no AWS credentials")


@pytest.mark.parametrize("direction", ["push", "pull"])
def test_unknown_bucket(moto_s3: S3Env, tmp_path: Path, direction: str, figures: Figures) -> None:
    src, url = _data(tmp_path), "s3://no-such-bucket-here/p"
    args = [str(src), url] if direction == "push" else [url, str(tmp_path / "dst")]
    started = time.monotonic()
    done = cli(moto_s3.env, "sync", *args)
    _check(figures, done, started, "no such bucket")
    assert not (tmp_path / "dst").exists()


@pytest.mark.parametrize("code", sorted(WRONG_REGION))
def test_wrong_region(moto_s3: S3Env, tmp_path: Path, code: str, figures: Figures) -> None:
    """Emulated: no local server checks regions, so a stub answers as AWS S3 does."""
    with wrong_region_stub(code) as endpoint:
        started = time.monotonic()
        done = cli(
            moto_s3.env,
            "sync",
            str(_data(tmp_path)),
            "s3://some-bucket/p",
            "--endpoint-url",
            endpoint,
        )
    _check(figures, done, started, "wrong region")


def test_endpoint_refusing_connections(moto_s3: S3Env, tmp_path: Path, figures: Figures) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    done = cli(
        moto_s3.env, "sync", str(_data(tmp_path)), moto_s3.url("p"), "--endpoint-url", endpoint
    )
    _check(figures, done, started, "cannot reach the S3 endpoint")
    assert time.monotonic() - started < 20


def test_unusable_state_folder(moto_s3: S3Env, tmp_path: Path, figures: Figures) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = {**moto_s3.env, "BUCKETSYNC_STATE_DIR": str(blocker / "state")}
    started = time.monotonic()
    done = cli(env, "sync", str(_data(tmp_path)), moto_s3.url("p"))
    _check(figures, done, started, "state folder")


def test_unknown_profile(moto_s3: S3Env, tmp_path: Path, figures: Figures) -> None:
    started = time.monotonic()
    done = cli(moto_s3.env, "sync", str(_data(tmp_path)), moto_s3.url("p"), "--profile", "nope")
    _check(figures, done, started, "nope")


def test_debug_shows_the_cause_and_no_credential(
    moto_s3: S3Env, tmp_path: Path, figures: Figures
) -> None:
    """--debug: the traceback chains the transport's own error; without it, one line."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    args = ("sync", str(_data(tmp_path)), moto_s3.url("p"), "--endpoint-url", endpoint)
    started = time.monotonic()
    _check(figures, cli(moto_s3.env, *args), started, "the connection was refused")
    done = cli(moto_s3.env, *args, "--debug")
    assert done.returncode != 0
    assert "ConnectionRefusedError" in done.stderr, done.stderr
    assert "direct cause of the following exception" in done.stderr, done.stderr
    assert "X-Amz-Signature" not in done.stderr and "Signature=" not in done.stderr


def test_debug_logs_requests_and_decisions_never_credentials(
    moto_s3: S3Env, tmp_path: Path
) -> None:
    moto_s3.put("p/a.txt", b"remote")
    moto_s3.put("p/b.txt", b"new")
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "a.txt").write_bytes(b"local!")  # the same size: compared by content
    done = cli(moto_s3.env, "sync", moto_s3.url("p"), str(dst), "--debug")
    assert done.returncode == 0, done.stderr
    log = done.stderr
    assert "ListObjectsV2 s3://" in log and "-> 200 (try 1)" in log, log
    assert "GetObject p/b.txt -> 200" in log or "GetObject /" in log, log
    assert "bucketsync.compare a.txt: differs" in log, log
    for secret in ("testing", "Signature=", "X-Amz-Signature", "Authorization", "Credential="):
        assert secret not in log, secret
