"""Transport and S3 errors, translated into bucketsync's at the store boundary.

One translation for every client (botocore, the listing's urllib3, awscrt): the same
failure (a refused connection, a timeout, a DNS or TLS failure, a reset, an S3 error
code) gives the same message, and the error chains the client's own as its cause.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .. import errors
from .retry import Failure

if TYPE_CHECKING:
    import botocore.exceptions as bexc


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Turn botocore's errors into bucketsync's, naming `what` was being done.

    botocore is imported only by what uses it, not at start-up: an error can be one of
    its own only once it is loaded."""
    try:
        yield
    except Exception as e:
        b: Any = sys.modules.get("botocore.exceptions")
        if b is None or not isinstance(e, (b.BotoCoreError, b.ClientError)):
            raise
        raise _botocore_error(e, what, b) from e


def botocore_errors() -> Any:
    """botocore's exceptions module (imported by what uses botocore, not at start-up)."""
    import botocore.exceptions

    return botocore.exceptions


def _botocore_error(e: Exception, what: str, b: Any) -> errors.BucketsyncError:
    if isinstance(e, b.ClientError):
        return _client_error(e, what)
    if isinstance(e, b.NoCredentialsError):
        return errors.CredentialsError("no AWS credentials found (see boto3's credential chain)")
    # The request never got an answer (a body cut short later is not one of these).
    transport = (
        b.EndpointConnectionError,
        b.ConnectTimeoutError,
        b.ReadTimeoutError,
        b.ConnectionClosedError,
        b.SSLError,
    )
    if isinstance(e, transport):
        endpoint = str(getattr(e, "kwargs", {}).get("endpoint_url", ""))
        return unreachable(failure_of(e), endpoint, what, type(e).__name__)
    return errors.TransferError(f"{what}: {e}")


def failure_of(e: BaseException) -> Failure:
    """What kind of transport failure `e` is, from the deepest cause that says."""
    for cause in reversed(_chain(e)):
        failure = _failure(cause)
        if failure is not None:
            return failure
    return "other"


def _chain(e: BaseException) -> list[BaseException]:
    """e, the exception it wraps (botocore keeps it as `error`), its cause, and so on."""
    seen: list[BaseException] = []
    current: BaseException | None = e
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        wrapped = getattr(current, "kwargs", {}).get("error")
        current = wrapped if isinstance(wrapped, BaseException) else None
        current = current or seen[-1].__cause__ or seen[-1].__context__
    return seen


def _failure(e: BaseException) -> Failure | None:
    for kinds, failure in _kinds():
        if isinstance(e, kinds):
            return failure
    return None


Kinds = tuple[tuple[tuple[type[BaseException], ...], Failure | None], ...]
_STDLIB: Kinds = (
    ((socket.gaierror,), "dns"),
    ((ssl.SSLError,), "tls"),
    ((ConnectionRefusedError,), "refused"),
    ((ConnectionResetError, BrokenPipeError, ConnectionAbortedError), "reset"),
    ((http.client.RemoteDisconnected,), "reset"),
    ((TimeoutError,), "timeout"),
)


def _kinds() -> Kinds:
    """The exception types of each failure: urllib3's and botocore's once they are
    loaded (an exception can be theirs only then), else the standard library's."""
    u: Any = sys.modules.get("urllib3.exceptions")
    b: Any = sys.modules.get("botocore.exceptions")
    if u is None or b is None:
        return _STDLIB
    return (
        ((socket.gaierror, u.NameResolutionError), "dns"),
        ((ssl.SSLError, u.SSLError, b.SSLError), "tls"),
        ((ConnectionRefusedError,), "refused"),
        ((ConnectionResetError, BrokenPipeError, ConnectionAbortedError), "reset"),
        ((http.client.RemoteDisconnected, b.ConnectionClosedError), "reset"),
        ((b.ReadTimeoutError, u.ReadTimeoutError), "stalled"),
        # a subclass of ConnectTimeoutError, though nothing timed out: its cause says what did
        ((u.NewConnectionError,), None),
        ((TimeoutError, b.ConnectTimeoutError, u.ConnectTimeoutError), "timeout"),
    )


def crt_failure(name: str) -> Failure:
    """The failure an awscrt error name (AWS_IO_SOCKET_CONNECTION_REFUSED...) is."""
    for part, failure in _CRT_NAMES:
        if part in name:
            return failure
    return "other"


_CRT_NAMES: tuple[tuple[str, Failure], ...] = (
    ("CONNECTION_REFUSED", "refused"),
    ("DNS", "dns"),
    ("TLS", "tls"),
    ("SOCKET_TIMEOUT", "timeout"),
    ("TIMEOUT", "stalled"),
    ("CLOSED", "reset"),
    ("RESET", "reset"),
    ("BROKEN_PIPE", "reset"),
)
_UNREACHABLE = {
    "refused": "the connection was refused",
    "timeout": "the connection timed out",
    "dns": "the host name could not be resolved",
    "tls": "the TLS handshake failed",
}


def unreachable(failure: Failure, endpoint: str, what: str, detail: str) -> errors.EndpointError:
    """The one error for a request the transport gave up on, whichever client sent it.

    `endpoint` may be a whole URL: only its scheme and host are named (a presigned
    URL's query is a credential); `detail` (an exception's type or awscrt's error name)
    is shown when the failure is none of the known ones.
    """
    if failure in _UNREACHABLE:
        where = urlsplit(endpoint)._replace(path="", query="", fragment="").geturl()
        return errors.EndpointError(
            f"cannot reach the S3 endpoint{' ' + where if where else ''}: {_UNREACHABLE[failure]}"
        )
    if failure == "stalled":
        return errors.EndpointError(f"{what}: the server stopped answering (read timeout)")
    if failure == "reset":
        return errors.EndpointError(f"{what}: the server closed the connection")
    return errors.EndpointError(f"{what}: the connection failed ({detail})")


def _client_error(e: bexc.ClientError, what: str) -> errors.BucketsyncError:
    info = e.response.get("Error", {})
    status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error_for(str(info.get("Code", "")), status, str(info.get("Message", "")), what)


def error_for(code: str, status: int | None, message: str, what: str) -> errors.BucketsyncError:
    """The bucketsync error for an S3 error code and HTTP status."""
    message = message or code or f"HTTP {status}"
    if code == "NoSuchBucket":
        return errors.BucketNotFound(f"{what}: no such bucket")
    if code == "NoSuchUpload":
        return errors.TransferError(f"{what}: the multipart upload is gone (NoSuchUpload)")
    if code in ("NoSuchKey", "NotFound") or status == 404:
        return errors.ObjectNotFound(f"{what}: no such object")
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"):
        return errors.CredentialsError(f"{what}: the server rejected the credentials ({code})")
    if code in ("AccessDenied", "AllAccessDisabled") or status == 403:
        return errors.AccessDenied(f"{what}: access denied")
    if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412):
        return errors.RemoteChanged(f"{what}: the object changed on the server meanwhile")
    if code in ("BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch"):
        return errors.ChecksumMismatch(f"{what}: the server received other bytes than were sent")
    if code == "PermanentRedirect" or code == "AuthorizationHeaderMalformed":
        return errors.UsageError(f"{what}: wrong region for this bucket ({message})")
    return RequestFailed(f"{what}: {message}")


class RequestFailed(errors.TransferError):
    """The server answered a request with an error its retries did not get past."""


def worth_resending(e: BaseException) -> bool:
    """Whether a whole file is worth sending again after `e`: its bytes did not arrive
    whole or match their checksum, or the local file changed while it was read. Never
    a request that used up its tries (`RequestFailed`, `EndpointError`)."""
    resendable = (errors.ChecksumMismatch, errors.LocalChanged, errors.TransferError)
    return isinstance(e, resendable) and not used_up(e)


def used_up(e: BaseException) -> bool:
    """Whether `e` ends a request that used up the retry policy's tries."""
    return isinstance(e, (RequestFailed, errors.EndpointError))
