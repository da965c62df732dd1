"""botocore's and S3's errors, translated into bucketsync's at the store boundary."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import botocore.exceptions as bexc

from .. import errors


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Turn botocore's errors into bucketsync's, naming `what` was being done."""
    try:
        yield
    except bexc.ClientError as e:
        raise _client_error(e, what) from None
    except bexc.NoCredentialsError:
        raise errors.CredentialsError(
            "no AWS credentials found (see boto3's credential chain)"
        ) from None
    except (bexc.EndpointConnectionError, bexc.ConnectTimeoutError) as e:
        raise errors.EndpointError(f"cannot reach the S3 endpoint: {e}") from None
    except (bexc.ReadTimeoutError, bexc.ConnectionClosedError) as e:
        raise errors.EndpointError(f"{what}: the server stopped answering: {e}") from None
    except bexc.BotoCoreError as e:
        raise errors.TransferError(f"{what}: {e}") from None


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
    return errors.TransferError(f"{what}: {message}")
