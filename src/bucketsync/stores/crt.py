"""Small-object GET and PUT on awscrt's native S3 client.

botocore's per-request Python work bounds a sync of many small files on two
cores. awscrt's S3 client signs, sends, retries and pools connections in C; only
the request line and headers are built here (benchmark S1 measures the effect).
Requests are sent either waiting for the answer (`get`, `put`) or not (`send`,
whose reply reports to a callback), so one thread can keep a window of them in
flight. Endpoint, addressing style and region are taken from botocore (a
presigned URL), and credentials from the same botocore session, so both paths
reach the same place with the same identity. Large objects, HEAD, listings and
multipart uploads stay on botocore.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from .. import errors
from . import proxy_configured
from .errors import crt_failure, error_for, unreachable
from .retry import Failure, RetryPolicy, log, status_failure

if TYPE_CHECKING:
    from awscrt import http, s3

SMALL_OBJECT = 8 * 1024 * 1024  # larger objects stream through botocore, in parts
DISABLE_ENV = "BUCKETSYNC_NO_CRT"
_CHECKSUM_HEADERS = {
    "x-amz-checksum-crc64nvme": "ChecksumCRC64NVME",
    "x-amz-checksum-crc32": "ChecksumCRC32",
    "x-amz-checksum-crc32c": "ChecksumCRC32C",
    "x-amz-checksum-sha1": "ChecksumSHA1",
    "x-amz-checksum-sha256": "ChecksumSHA256",
    "x-amz-checksum-type": "ChecksumType",
    "x-amz-server-side-encryption": "ServerSideEncryption",
    "x-amz-server-side-encryption-customer-algorithm": "SSECustomerAlgorithm",
    "etag": "ETag",
}


# awscrt's names for server answers it retried and gave up on, as S3 codes and statuses.
_SERVER_ERRORS = {
    "AWS_ERROR_S3_SLOW_DOWN": ("SlowDown", 503),
    "AWS_ERROR_S3_INTERNAL_ERROR": ("InternalError", 500),
}


class CrtTransport:
    """One awscrt S3 client for one bucket, used from many threads at once."""

    def __init__(
        self, client: Any, credentials: Any, bucket: str, timeout: float, policy: RetryPolicy
    ) -> None:
        from awscrt import s3  # awscrt and s3transfer: not at start-up
        from s3transfer.crt import BotocoreCRTCredentialsWrapper

        probe = urlsplit(
            client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": "K"}, ExpiresIn=60
            )
        )
        self._host = probe.netloc
        self._endpoint = f"{probe.scheme}://{probe.netloc}"
        self._prefix = probe.path[: -len("K")]
        self._timeout = timeout
        region = client.meta.region_name or "us-east-1"
        provider = BotocoreCRTCredentialsWrapper(credentials).to_crt_credentials_provider()
        tls = (
            s3.S3RequestTlsMode.ENABLED if probe.scheme == "https" else s3.S3RequestTlsMode.DISABLED
        )
        self._client = s3.S3Client(
            region=region,
            signing_config=s3.create_default_s3_signing_config(
                region=region, credential_provider=provider
            ),
            tls_mode=tls,
            throughput_target_gbps=10,
            retry_config=_retry_config(policy),
        )

    @staticmethod
    def usable() -> bool:
        """False when disabled, or when a proxy is configured (only botocore honours it)."""
        return not os.environ.get(DISABLE_ENV) and not proxy_configured()

    def put(self, key: str, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        """PUT one object; return the response headers as botocore names them."""
        request = self._request("PUT", key, {**headers, "Content-Length": str(len(body))})
        request.body_stream = io.BytesIO(body)
        received, _ = self._run(request, "PutObject", key)
        return received

    def get(self, key: str, headers: Mapping[str, str]) -> dict[str, Any]:
        """GET one small object; the response as botocore shapes it, Body in memory."""
        received, body = self._run(self._request("GET", key, headers), "GetObject", key)
        received["Body"] = _Body(body)
        return received

    def send(
        self,
        key: str,
        headers: Mapping[str, str],
        when_done: Callable[[Reply], None],
        body: bytes | None = None,
    ) -> Reply:
        """Send a GET (or, with a body, a PUT) and return at once: `when_done(reply)` runs
        on awscrt's thread when the request ends; `reply.response()` then gives what
        `get` (or `put`) would."""
        reply = Reply(key, self._endpoint, when_done)
        if body is None:
            reply.made = self._send(self._request("GET", key, headers), "GetObject", reply)
            return reply
        request = self._request("PUT", key, {**headers, "Content-Length": str(len(body))})
        request.body_stream = io.BytesIO(body)
        reply.made = self._send(request, "PutObject", reply)
        return reply

    def _request(self, method: str, key: str, headers: Mapping[str, str]) -> http.HttpRequest:
        from awscrt import http

        path = self._prefix + quote(key, safe="/~")
        pairs = [("Host", self._host), *headers.items()]
        return http.HttpRequest(method, path, http.HttpHeaders(pairs))

    def _run(
        self, request: http.HttpRequest, operation: str, key: str
    ) -> tuple[dict[str, Any], bytes]:
        done = threading.Event()
        outcome = _Outcome(lambda _: done.set())
        made = self._send(request, operation, outcome)
        if not done.wait(self._timeout):
            made.cancel()
            raise errors.EndpointError(f"{key}: no answer from the server in {self._timeout:.0f} s")
        outcome.raise_for(key, self._endpoint)
        return _botocore_shape(outcome.headers), b"".join(outcome.chunks)

    def _send(self, request: http.HttpRequest, operation: str, outcome: _Outcome) -> Any:
        from awscrt import s3

        outcome.operation = operation
        return self._client.make_request(
            type=s3.S3RequestType.DEFAULT,
            operation_name=operation,
            request=request,
            on_headers=outcome.on_headers,
            on_body=outcome.on_body,
            on_done=outcome.on_done,
        )


class _Outcome:
    """Collects what the native client reports for one request; `when_done(self)` runs
    (on awscrt's thread) once it ends."""

    def __init__(self, when_done: Callable[[Any], None]) -> None:
        self._when_done = when_done
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.error: Exception | None = None
        self.status: int | None = None
        self.error_body = b""
        self.operation = ""
        self.failure: Failure | None = None  # how it failed, as the retry policy names it

    def on_headers(self, status_code: int, headers: list[tuple[str, str]], **_: Any) -> None:
        self.status, self.headers = status_code, headers

    def on_body(self, chunk: bytes, **_: Any) -> None:
        self.chunks.append(bytes(chunk))

    def on_done(
        self,
        error: Exception | None = None,
        status_code: int | None = None,
        error_body: bytes | None = None,
        **_: Any,
    ) -> None:
        self.error, self.error_body = error, error_body or b""
        if status_code is not None:
            self.status = status_code
        self._when_done(self)

    def raise_for(self, key: str, endpoint: str) -> None:
        """Raise what the request ended in, translated as botocore's errors are."""
        if self.error is None:
            log.debug("%s %s -> %s", self.operation, key, self.status)
            return
        if self.status is None or self.status < 300:
            name = str(getattr(self.error, "name", type(self.error).__name__))
            log.debug("%s %s -> %s", self.operation, key, name)
            if name in _SERVER_ERRORS:  # awscrt gave up on these answers: no status, no body
                self.failure = "server"
                raise error_for(*_SERVER_ERRORS[name], "", key) from self.error
            self.failure = crt_failure(name)
            raise unreachable(self.failure, endpoint, key, name) from self.error
        log.debug("%s %s -> %s", self.operation, key, self.status)
        code, message = _error_fields(self.error_body)
        self.failure = status_failure(self.status, code) or "other"
        raise error_for(code, self.status, message, key) from self.error


class Reply(_Outcome):
    """A request sent without waiting: its outcome, reported to a callback."""

    def __init__(self, key: str, endpoint: str, when_done: Callable[[Reply], None]) -> None:
        super().__init__(when_done)
        self.key = key
        self.endpoint = endpoint
        self.made: Any = None

    def response(self) -> dict[str, Any]:
        """The response as botocore shapes it, Body in memory; raises what `get` raises.

        Called once the request has ended; it lets go of awscrt's request object. That
        object holds this reply's callbacks until it is freed, and it is freed only
        when nothing holds it: kept here, each small transfer's request, future and
        reply would stay in memory (about 30 objects a file) until the process ends.
        """
        self.made = None
        self.raise_for(self.key, self.endpoint)
        received = _botocore_shape(self.headers)
        received["Body"] = _Body(b"".join(self.chunks))
        return received

    def cancel(self) -> None:
        """Cancel the request and let go of it, as `response` does."""
        made, self.made = self.made, None
        if made is not None:
            made.cancel()


class _Body:
    """The piece of botocore's StreamingBody interface the transfers use."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def iter_chunks(self, size: int) -> Iterator[memoryview]:
        """Views of the body in memory, not copies: the transfers write and hash them."""
        view = memoryview(self._data)
        for start in range(0, len(view), size):
            yield view[start : start + size]

    def read(self) -> bytes:
        return self._data


def _retry_config(policy: RetryPolicy) -> s3.S3RetryConfig:
    """awscrt's retries as the policy says: its tries in all, its back-off for server
    errors (awscrt has one back-off for every failure)."""
    from awscrt import s3

    if policy.attempts <= 1:
        return s3.S3RetryConfig(retry_mode=s3.S3RetryMode.NONE)
    return s3.S3RetryConfig(
        max_retries=policy.attempts - 1,
        backoff_scale_factor_ms=max(1, round(policy.backoff * 1000)),
        max_backoff_secs=max(1, round(policy.max_backoff)),
    )


def _error_fields(body: bytes) -> tuple[str, str]:
    import xml.etree.ElementTree as ET  # only for an error's body: not at start-up

    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return "", ""
    return root.findtext("Code") or "", root.findtext("Message") or ""


def _botocore_shape(headers: list[tuple[str, str]]) -> dict[str, Any]:
    """Response headers under the names botocore's parsed responses use."""
    shaped: dict[str, Any] = {}
    metadata: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if lower.startswith("x-amz-meta-"):
            metadata[lower[len("x-amz-meta-") :]] = value
        elif lower in _CHECKSUM_HEADERS:
            shaped[_CHECKSUM_HEADERS[lower]] = value
        elif lower == "last-modified":
            shaped["LastModified"] = parsedate_to_datetime(value)
        elif lower == "content-length":
            shaped["ContentLength"] = int(value)
    shaped["Metadata"] = metadata
    return shaped
