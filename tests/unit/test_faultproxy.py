"""The fault proxy, against a real moto server and against a scripted raw upstream."""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    FlexibleChecksumError,
    HTTPClientError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from moto.server import ThreadedMotoServer

from faultproxy import FaultProxy, Faults

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """A moto S3 server on a free port of 127.0.0.1, with fake credentials."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }.items():
            mp.setenv(name, value)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
        server.stop()


def s3(endpoint: str, *, read_timeout: float = 5.0, attempts: int = 1, pool: int = 10) -> Any:
    """An S3 client with short timeouts; ``attempts`` counts the first try."""
    config = Config(
        connect_timeout=1,
        read_timeout=read_timeout,
        retries={"total_max_attempts": attempts, "mode": "standard"},
        s3={"addressing_style": "path"},
        max_pool_connections=pool,
    )
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    return session.client("s3", endpoint_url=endpoint, config=config)


@pytest.fixture
def bucket(upstream: str) -> str:
    """A fresh bucket, created directly on the upstream."""
    name = f"fp-{uuid.uuid4().hex[:12]}"
    s3(upstream).create_bucket(Bucket=name)
    return name


def test_rates_are_validated() -> None:
    with pytest.raises(ValueError):
        Faults(reset=0.6, error_500=0.6)
    with pytest.raises(ValueError):
        Faults(stall=-0.1)
    with pytest.raises(ValueError):
        Faults(latency=-1)
    with pytest.raises(ValueError):
        Faults(rate=0)


@pytest.mark.parametrize(
    "slow", [{"latency": math.nan}, {"latency": math.inf}, {"rate": math.nan}, {"rate": math.inf}]
)
def test_a_link_slowed_by_nan_or_inf_is_refused(slow: dict[str, float]) -> None:
    """asyncio.sleep(nan) never returns: every request through the proxy would hang."""
    with pytest.raises(ValueError):
        Faults(**slow)


def test_latency_and_rate_slow_the_link(upstream: str, bucket: str) -> None:
    """Each request waits `latency`, and bodies move at `rate` bytes a second, both ways."""
    data = os.urandom(400_000)
    with FaultProxy(upstream, Faults(latency=0.2, rate=2_000_000)) as proxy:
        client = s3(proxy.endpoint_url)
        started = time.monotonic()
        client.put_object(Bucket=bucket, Key="k", Body=data)
        put = time.monotonic() - started
        started = time.monotonic()
        body = client.get_object(Bucket=bucket, Key="k")["Body"]
        first = body.read(1)
        headers = time.monotonic() - started
        assert first + body.read() == data
        got = time.monotonic() - started
    assert 0.35 <= put < 2  # 0.2 s, then 0.2 s for 400 kB
    assert headers < 0.35  # the response trickles: its first bytes come at once
    assert 0.35 <= got < 2


def test_passthrough_small_objects(upstream: str, bucket: str) -> None:
    with FaultProxy(upstream, Faults()) as proxy:
        client = s3(proxy.endpoint_url)
        client.put_object(Bucket=bucket, Key="a/b.txt", Body=b"hello")
        assert client.get_object(Bucket=bucket, Key="a/b.txt")["Body"].read() == b"hello"
        assert client.head_object(Bucket=bucket, Key="a/b.txt")["ContentLength"] == 5
        listed = client.list_objects_v2(Bucket=bucket)["Contents"]
        assert [o["Key"] for o in listed] == ["a/b.txt"]
        client.delete_object(Bucket=bucket, Key="a/b.txt")  # a 204 response
        client.put_object(Bucket=bucket, Key="empty", Body=b"")
        assert client.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""
    assert proxy.stats["requests"] == proxy.stats["ok"] == 7
    assert {kind for _, _, kind in proxy.log} == {"ok"}
    assert proxy.log[0] == ("PUT", f"/{bucket}/a/b.txt", "ok")


def test_passthrough_multipart_upload_and_download(
    upstream: str, bucket: str, tmp_path: Path
) -> None:
    data = random.Random(1).randbytes(20 * MiB)
    src, dst = tmp_path / "src.bin", tmp_path / "dst.bin"
    src.write_bytes(data)
    with FaultProxy(upstream, Faults()) as proxy:
        client = s3(proxy.endpoint_url, read_timeout=10)
        client.upload_file(str(src), bucket, "big.bin")  # file parts carry Expect: 100-continue
        client.download_file(bucket, "big.bin", str(dst))
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(data).digest()
    assert ("POST", f"/{bucket}/big.bin?uploads", "ok") in proxy.log
    parts = [t for m, t, _ in proxy.log if m == "PUT" and "partNumber=" in t]
    assert len(parts) == 3
    assert proxy.stats["requests"] == proxy.stats["ok"]


def test_reset_is_a_connection_error(upstream: str, bucket: str) -> None:
    with FaultProxy(upstream, Faults(reset=1.0)) as proxy, pytest.raises(ConnectionClosedError):
        s3(proxy.endpoint_url).put_object(Bucket=bucket, Key="k", Body=b"x")
    assert proxy.stats["reset"] == proxy.stats["requests"] == 1


def test_truncated_body_is_a_streaming_error(upstream: str, bucket: str) -> None:
    s3(upstream).put_object(Bucket=bucket, Key="k", Body=b"0123456789" * 10_000)
    with FaultProxy(upstream, Faults(truncate=1.0, only_methods=frozenset({"GET"}))) as proxy:
        client = s3(proxy.endpoint_url)
        assert client.head_object(Bucket=bucket, Key="k")["ContentLength"] == 100_000
        body = client.get_object(Bucket=bucket, Key="k")["Body"]
        with pytest.raises((ResponseStreamingError, IncompleteReadError, FlexibleChecksumError)):
            body.read()
    assert [kind for _, _, kind in proxy.log] == ["ok", "truncate"]


def test_truncated_empty_response_is_a_connection_error(upstream: str, bucket: str) -> None:
    proxy = FaultProxy(upstream, Faults(truncate=1.0))
    with proxy, pytest.raises(ConnectionClosedError):
        s3(proxy.endpoint_url).put_object(Bucket=bucket, Key="k", Body=b"x")
    assert proxy.stats["truncate"] == 1


@pytest.mark.parametrize(
    ("faults", "kind", "code", "status"),
    [
        (Faults(error_500=1.0), "error_500", "InternalError", 500),
        (Faults(slow_down=1.0), "slow_down", "SlowDown", 503),
    ],
)
def test_error_responses(
    upstream: str, bucket: str, faults: Faults, kind: str, code: str, status: int
) -> None:
    with FaultProxy(upstream, faults) as proxy:
        client = s3(proxy.endpoint_url)
        with pytest.raises(ClientError) as put_error:
            client.put_object(Bucket=bucket, Key="k", Body=b"x")
        with pytest.raises(ClientError) as head_error:
            client.head_object(Bucket=bucket, Key="k")
    assert put_error.value.response["Error"]["Code"] == code
    assert put_error.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert head_error.value.response["Error"]["Code"] == str(status)
    assert proxy.stats[kind] == 2


def test_unreachable_upstream_is_a_502(bucket: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    with FaultProxy(dead, Faults()) as proxy, pytest.raises(ClientError) as error:
        s3(proxy.endpoint_url).put_object(Bucket=bucket, Key="k", Body=b"x")
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
    assert proxy.log == [("PUT", f"/{bucket}/k", "ok")]


def test_stall_is_a_read_timeout_and_stop_is_prompt(upstream: str, bucket: str) -> None:
    start = time.monotonic()
    proxy = FaultProxy(upstream, Faults(stall=1.0, stall_seconds=5))
    with proxy, pytest.raises(ReadTimeoutError):
        s3(proxy.endpoint_url, read_timeout=1).put_object(Bucket=bucket, Key="k", Body=b"x")
    assert time.monotonic() - start < 4
    assert proxy.stats["stall"] == 1


def test_short_stall_then_forwards(upstream: str, bucket: str) -> None:
    with FaultProxy(upstream, Faults(stall=1.0, stall_seconds=0.3)) as proxy:
        s3(proxy.endpoint_url, read_timeout=3).put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3(upstream).get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_only_methods_max_faults_and_set_faults(upstream: str, bucket: str) -> None:
    faults = Faults(error_500=1.0, only_methods=frozenset({"GET"}), max_faults=2)
    with FaultProxy(upstream, faults) as proxy:
        client = s3(proxy.endpoint_url)
        client.put_object(Bucket=bucket, Key="k", Body=b"x")
        for _ in range(2):
            with pytest.raises(ClientError):
                client.get_object(Bucket=bucket, Key="k")
        assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
        proxy.set_faults(Faults(slow_down=1.0))
        with pytest.raises(ClientError, match="SlowDown"):
            client.put_object(Bucket=bucket, Key="k", Body=b"y")
    kinds = [kind for _, _, kind in proxy.log]
    assert kinds == ["ok", "error_500", "error_500", "ok", "slow_down"]


def _fault_sequence(upstream: str, bucket: str, seed: int) -> list[tuple[str, str, str]]:
    faults = Faults(seed=seed, reset=0.2, truncate=0.1, error_500=0.2, slow_down=0.2)
    with FaultProxy(upstream, faults) as proxy:
        client = s3(proxy.endpoint_url)
        for i in range(30):
            with contextlib.suppress(ClientError, HTTPClientError):
                client.put_object(Bucket=bucket, Key=f"k{i % 3}", Body=b"x")
    return proxy.log


def test_same_seed_same_faults(upstream: str, bucket: str) -> None:
    first = _fault_sequence(upstream, bucket, seed=5)
    assert first == _fault_sequence(upstream, bucket, seed=5)
    assert first != _fault_sequence(upstream, bucket, seed=6)
    assert len({kind for _, _, kind in first}) == 5


def test_standard_retries_survive_moderate_faults(upstream: str, bucket: str) -> None:
    faults = Faults(seed=7, reset=0.08, error_500=0.08, slow_down=0.04)
    bodies = {f"obj/{i:02d}": random.Random(i).randbytes(1000 + 997 * i) for i in range(50)}
    with FaultProxy(upstream, faults) as proxy:
        client = s3(proxy.endpoint_url, attempts=10, pool=16)
        with ThreadPoolExecutor(16) as pool:
            list(
                pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=bodies[k]), bodies)
            )
            got = dict(
                zip(
                    bodies,
                    pool.map(
                        lambda k: client.get_object(Bucket=bucket, Key=k)["Body"].read(), bodies
                    ),
                    strict=True,
                )
            )
    assert got == bodies
    injected = sum(proxy.stats[k] for k in ("reset", "error_500", "slow_down"))
    assert injected >= 5
    assert proxy.stats["requests"] == 100 + injected


class ScriptedUpstream:
    """A one-connection raw upstream: per step, record N bytes then send a canned reply."""

    def __init__(self, steps: list[tuple[int, bytes]]) -> None:
        self.steps = steps
        self.received: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn, self.listener:
            conn.settimeout(5)
            for size, reply in self.steps:
                self.received.append(_recv_exactly(conn, size))
                conn.sendall(reply)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _connect(proxy: FaultProxy) -> socket.socket:
    port = int(proxy.endpoint_url.rsplit(":", 1)[1])
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def test_raw_framing_chunked_trailers_expect_head_204() -> None:
    put_head = (
        b"PUT /bkt/key HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Encoding: aws-chunked\r\nX-Amz-Trailer: x-amz-checksum-crc32\r\n"
    )
    put_body = (
        b"5;ext=1\r\nhello\r\n"
        b"a\r\n world, ok\r\n"
        b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-other: 1\r\n\r\n"
    )
    put_reply = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\nx-trailer: yes\r\n\r\n"
    )
    head_req = b"HEAD /bkt/key HTTP/1.1\r\nHost: h\r\n\r\n"
    head_reply = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
    del_req = b"DELETE /bkt/key HTTP/1.1\r\nHost: h\r\n\r\n"
    del_reply = b"HTTP/1.1 204 No Content\r\n\r\n"
    get_req = b"GET /bkt/key HTTP/1.1\r\nHost: h\r\n\r\n"
    get_reply = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody"
    upstream = ScriptedUpstream(
        [
            (len(put_head) + 2 + len(put_body), put_reply),
            (len(head_req), head_reply),
            (len(del_req), del_reply),
            (len(get_req), get_reply),
        ]
    )
    with FaultProxy(upstream.url, Faults()) as proxy, _connect(proxy) as sock:
        sock.sendall(put_head + b"Expect: 100-continue\r\n\r\n")
        assert _recv_exactly(sock, 25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(put_body)
        assert _recv_exactly(sock, len(put_reply)) == put_reply
        for request, reply in [(head_req, head_reply), (del_req, del_reply), (get_req, get_reply)]:
            sock.sendall(request)
            assert _recv_exactly(sock, len(reply)) == reply
    upstream.thread.join(5)
    assert upstream.received[0] == put_head + b"\r\n" + put_body
    assert upstream.received[1:] == [head_req, del_req, get_req]
    assert [m for m, _, _ in proxy.log] == ["PUT", "HEAD", "DELETE", "GET"]


def test_reset_sends_rst() -> None:
    with FaultProxy("http://127.0.0.1:9", Faults(reset=1.0)) as proxy, _connect(proxy) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        with pytest.raises(ConnectionResetError):
            sock.recv(100)
