"""The S3 side. Every use of boto3 and botocore lives in this module.

Errors from botocore are translated here into bucketsync's own, so nothing
above this layer needs to know botocore's exception types.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .. import errors
from ..compare import RemoteFacts, md5_from_metadata
from ..entries import RemoteObject, datetime_ns
from ..keyrange import EVERYTHING, KeyRange
from ..location import S3Location
from ..options import ENDPOINT
from .body import DirectBody
from .crt import SMALL_OBJECT, CrtTransport, Reply
from .errors import botocore_errors, translated
from .listing import FastLister
from .retry import RetryPolicy, install
from .sigv4 import Keys, environment_keys, listing_url
from .window import BotocoreGate, Window

METADATA_CRC64 = "crc64nvme"
_CHECKSUM_FIELDS = {
    "crc64nvme": "ChecksumCRC64NVME",
    "crc32": "ChecksumCRC32",
    "crc32c": "ChecksumCRC32C",
    "sha1": "ChecksumSHA1",
    "sha256": "ChecksumSHA256",
}
_REQUEST_KINDS = {
    "ListObjectsV2": "list",
    "ListObjects": "list",
    "ListObjectVersions": "list",
    "HeadObject": "head",
    "GetObject": "get",
    "PutObject": "put",
    "UploadPart": "put",
    "DeleteObject": "delete",
    "DeleteObjects": "delete",
}
REQUEST_KINDS = ("list", "head", "get", "put", "delete", "other")
_CONDITION_HEADERS = {"IfMatch": "If-Match", "IfNoneMatch": "If-None-Match"}


@dataclass(frozen=True)
class ClientSettings:
    """How to reach the server: endpoint, profile, pool size, timeouts, retries."""

    endpoint_url: str | None = None
    profile: str | None = None
    max_connections: int = 32
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 5  # tries per request, the first one included

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy every client of these settings follows."""
        return RetryPolicy(attempts=self.max_attempts)


class RequestCounter:
    """Counts the HTTP requests a client sends, by kind, retries included."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def __call__(self, event_name: str, **_: Any) -> None:
        kind = _REQUEST_KINDS.get(event_name.rpartition(".")[2], "other")
        with self._lock:
            self.counts[kind] += 1

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {kind: self.counts.get(kind, 0) for kind in REQUEST_KINDS}


def make_session(settings: ClientSettings) -> Any:
    """A botocore session for the settings' profile (the standard chain without one)."""
    import botocore.session  # with botocore's client: a large part of start-up

    session = botocore.session.Session(profile=settings.profile)
    if settings.profile and settings.profile not in session.available_profiles:
        raise errors.UsageError(f"the config profile ({settings.profile}) could not be found")
    return session


def named_endpoint(settings: ClientSettings) -> str | None:
    """The endpoint the settings or the environment name, if any (botocore's precedence)."""
    if settings.endpoint_url:
        return settings.endpoint_url
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return None
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        if os.environ.get(name):
            return ENDPOINT(f"the environment variable {name}", os.environ[name])
    return None


def make_client(
    settings: ClientSettings,
    counter: RequestCounter | None = None,
    session: Any = None,
    gate: BotocoreGate | None = None,
) -> Any:
    """A botocore S3 client from botocore's standard credential and endpoint chain.

    Endpoints other than AWS's get path-style addressing (`bucket.127.0.0.1` cannot
    resolve); an endpoint named in the settings or the environment is known at once,
    one from a profile's config only once a client has resolved it.
    """
    session = session or make_session(settings)
    named = named_endpoint(settings)
    try:
        client = _client(session, settings, gate, path_style=bool(named))
        if not named and "amazonaws.com" not in client.meta.endpoint_url:
            client = _client(session, settings, gate, path_style=True)
    except (botocore_errors().NoRegionError, ValueError) as e:
        raise errors.UsageError(f"cannot configure the S3 client: {e}") from e
    if counter is not None:
        client.meta.events.register("before-send.s3", counter)
    client.meta.events.register("before-parse.s3.GetObject", _bodiless_304)
    return client


def _bodiless_304(response_dict: dict[str, Any], **_: Any) -> None:
    """A 304 has no body. When it carries checksum headers (rclone serve s3 sends them),
    botocore wraps the body in a checksum reader that its error parser cannot read
    and raises TypeError; give the parser the empty body instead."""
    if response_dict.get("status_code") == 304:
        response_dict["body"] = b""


class Connection:
    """One identity on one endpoint; the botocore session and client on first use.

    Importing botocore's session and client, and building the client (loading its S3
    model), are most of start-up, and a no-change sync against a named endpoint needs
    neither: its listing URLs are signed here as the client would sign them. With no
    profile named, botocore's chain looks at the environment first; credentials and
    region found there are used without a session, and the rest of the chain is
    consulted only when they are not.
    """

    def __init__(self, settings: ClientSettings, counter: RequestCounter | None = None):
        self.settings = settings
        self.counter = counter
        self.named = named_endpoint(settings)
        self._session: Any = None
        self._client: Any = None
        self._lock = threading.RLock()
        # botocore's requests (HEAD checks, GETs, PUTs, parts) in flight: see window.py
        self.gate = BotocoreGate(Window(settings.max_connections, name="botocore"))
        if settings.profile:
            _ = self.session  # an unknown profile is a usage error, at once

    @classmethod
    def of(cls, client: Any, settings: ClientSettings | None = None) -> Connection:
        """A connection around a client made elsewhere."""
        connection = cls(settings or ClientSettings())
        connection._client = client
        connection.named = None
        return connection

    @property
    def session(self) -> Any:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = make_session(self.settings)
        return self._session

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = make_client(self.settings, self.counter, self.session, self.gate)
        return self._client

    @property
    def endpoint(self) -> str:
        """The endpoint URL, as the client reports it (without making one if named)."""
        return self.named or str(self.client.meta.endpoint_url)

    @property
    def region(self) -> str:
        """The session's region (botocore reads AWS_DEFAULT_REGION first), else us-east-1."""
        if self._session is None and os.environ.get("AWS_DEFAULT_REGION"):
            return os.environ["AWS_DEFAULT_REGION"]
        return str(self.session.get_config_variable("region") or "us-east-1")

    def credentials(self) -> Any:
        """The credentials the chain finds, or None."""
        if self._session is None and not self.settings.profile:
            from botocore.credentials import EnvProvider

            found = EnvProvider().load()  # the first place botocore's chain looks
            if found is not None:
                return found
        try:
            return self.session.get_credentials()
        except botocore_errors().BotoCoreError:
            return None

    def presign(self, operation: str, params: dict[str, str], expires: int = 900) -> str:
        """A presigned URL for a bucket-level GET (`list_objects_v2`)."""
        if self.named is None or self._client is not None:
            with translated(f"s3://{params.get('Bucket', '')}"):
                return str(
                    self.client.generate_presigned_url(operation, Params=params, ExpiresIn=expires)
                )
        return self._presign_path_style(operation, params, expires)

    def _presign_path_style(self, operation: str, params: dict[str, str], expires: int) -> str:
        if operation != "list_objects_v2":
            raise ValueError(f"cannot presign {operation} without a client")
        with translated(f"s3://{params['Bucket']}"):
            return listing_url(str(self.named), params, self._keys(), self.region, expires)

    def _keys(self) -> Keys:
        """The chain's credentials as plain keys; from the environment without botocore."""
        if self._session is None and not self.settings.profile:
            keys = environment_keys()
            if keys is not None:
                return keys
        credentials = self.credentials()
        if credentials is None:
            raise botocore_errors().NoCredentialsError()
        frozen = credentials.get_frozen_credentials()
        return Keys(frozen.access_key, frozen.secret_key, frozen.token)


def _client(
    session: Any, settings: ClientSettings, gate: BotocoreGate | None, *, path_style: bool
) -> Any:
    from botocore.config import Config

    config = Config(
        max_pool_connections=settings.max_connections,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        # total_max_attempts counts every try (botocore's max_attempts counts retries)
        retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
        tcp_keepalive=True,
        signature_version="s3v4",
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path"} if path_style else None,
    )
    region = session.get_config_variable("region") or "us-east-1"
    client = session.create_client(
        "s3", endpoint_url=settings.endpoint_url, region_name=region, config=config
    )
    install(client, settings.retry_policy, gate)
    return client


def _etag(value: str | None) -> str:
    return (value or "").strip('"')


def remote_facts(response: Mapping[str, Any], *, part_request: bool = False) -> RemoteFacts:
    """What a HEAD or GET response says about the object's content."""
    checksums = {
        name: response[field] for name, field in _CHECKSUM_FIELDS.items() if response.get(field)
    }
    if part_request:
        # Checksums of a PartNumber request may describe the part, not the object.
        checksums = {}
    metadata = {k.lower(): v for k, v in (response.get("Metadata") or {}).items()}
    md5 = metadata.get("md5chksum")
    return RemoteFacts(
        etag=_etag(response.get("ETag")),
        checksums=checksums,
        checksum_type=response.get("ChecksumType"),
        metadata_crc64nvme=metadata.get(METADATA_CRC64),
        metadata_md5=md5_from_metadata(md5) if md5 else None,
        encrypted_etag=bool(
            str(response.get("ServerSideEncryption", "")).startswith("aws:kms")
            or response.get("SSECustomerAlgorithm")
        ),
        parts_count=response.get("PartsCount") if part_request else None,
        first_part_size=response.get("ContentLength") if part_request else None,
        last_modified_ns=datetime_ns(response.get("LastModified")),
    )


class S3Store:
    """One bucket and prefix on one endpoint, seen through a botocore client."""

    def __init__(self, connection: Connection, location: S3Location) -> None:
        self.connection = connection
        self.location = location
        self.bucket = location.bucket
        self.settings = connection.settings
        self._lister: FastLister | None = None
        self._crt: CrtTransport | None = None
        self._crt_tried = False
        self._crt_lock = threading.Lock()

    @property
    def client(self) -> Any:
        return self.connection.client

    @property
    def counter(self) -> RequestCounter | None:
        return self.connection.counter

    def _native(self) -> CrtTransport | None:
        """The awscrt client for small transfers, made on first use (None if unusable)."""
        with self._crt_lock:
            if not self._crt_tried:
                self._crt_tried = True
                credentials = self.connection.credentials()
                if credentials is not None and CrtTransport.usable():
                    timeout = self.settings.connect_timeout + self.settings.read_timeout
                    self._crt = CrtTransport(
                        self.client, credentials, self.bucket, timeout, self.settings.retry_policy
                    )
            return self._crt

    def _count(self, operation: str) -> None:
        if self.counter is not None:
            self.counter(event_name=f"before-send.s3.{operation}")

    @property
    def endpoint(self) -> str:
        return self.connection.endpoint

    def check_bucket(self) -> None:
        """Fail early, with a clear error, when the bucket cannot be used."""
        with translated(f"s3://{self.bucket}"):
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except botocore_errors().ClientError as e:
                status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status == 404:
                    raise errors.BucketNotFound(f"s3://{self.bucket}: no such bucket") from e
                raise

    def objects(self, start_after: str = "") -> Iterator[RemoteObject]:
        """Objects below the prefix, in the server's (UTF-8 byte) order."""
        for page in self.pages(KeyRange(start_after or None)):
            yield from page

    def _fast(self) -> FastLister | None:
        if not FastLister.usable():
            return None
        if self._lister is None:
            self._lister = FastLister(self.connection.presign, self.settings, self.counter)
        return self._lister

    def pages(self, span: KeyRange = EVERYTHING) -> Iterator[list[RemoteObject]]:
        """The objects of `span` below the prefix, a page at a time, in the server's order
        (the listing starts after `span.lo` and stops once past `span.hi`)."""
        prefix = self.location.prefix
        lister = self._fast()
        if lister is not None:
            yield from lister.pages(self.bucket, prefix, span)
            return
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if span.lo is not None:
            kwargs["StartAfter"] = prefix + span.lo
        paginator = self.client.get_paginator("list_objects_v2")
        with translated(str(self.location)):
            for page in paginator.paginate(**kwargs):
                found = [_remote_object(item, prefix) for item in page.get("Contents", ())]
                yield [o for o in found if not span.past(o.rel)]
                if found and span.reached(found[-1].rel):
                    return

    def first_page(self, span: KeyRange) -> tuple[list[RemoteObject], bool] | None:
        """The first page of `span` and whether more of it follows (one request); None
        when only botocore's paginator can list (a proxy is configured)."""
        lister = self._fast()
        return None if lister is None else lister.first(self.bucket, self.location.prefix, span)

    def folders(self, span: KeyRange = EVERYTHING) -> list[str]:
        """Common prefixes one level below the prefix, in `span`, relative (one request;
        the first page of them only)."""
        lister = self._fast()
        if lister is not None:
            return lister.folders(self.bucket, self.location.prefix, span)
        prefix = self.location.prefix
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "Delimiter": "/"}
        if span.lo is not None:
            kwargs["StartAfter"] = prefix + span.lo
        with translated(str(self.location)):
            page = self.client.list_objects_v2(**kwargs)
        found = [item["Prefix"][len(prefix) :] for item in page.get("CommonPrefixes", ())]
        return [f for f in found if f in span]

    def head(self, key: str, *, part_number: int | None = None) -> RemoteFacts:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "ChecksumMode": "ENABLED"}
        if part_number is not None:
            kwargs["PartNumber"] = part_number
        with translated(key):
            response = self.client.head_object(**kwargs)
        return remote_facts(response, part_request=part_number is not None)

    def get(
        self,
        key: str,
        etag: str,
        byte_range: tuple[int, int] | None = None,
        size: int | None = None,
    ) -> Any:
        """A GET of the object (or of an inclusive byte range), pinned to its ETag.

        A small whole object (`size` known) goes through the native client.
        """
        native = self._native() if size is not None and size <= SMALL_OBJECT else None
        if native is not None and byte_range is None:
            self._count("GetObject")
            return native.get(key, {"If-Match": f'"{etag}"', "x-amz-checksum-mode": "ENABLED"})
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "IfMatch": f'"{etag}"'}
        if byte_range is None:
            kwargs["ChecksumMode"] = "ENABLED"
        else:
            kwargs["Range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
        with translated(key):
            return self.client.get_object(**kwargs)

    def get_range(self, key: str, etag: str, byte_range: tuple[int, int]) -> DirectBody:
        """A GET of an inclusive byte range, pinned to its ETag: its body, to read into
        the caller's buffer."""
        return DirectBody(self.get(key, etag, byte_range)["Body"], key)

    def can_send(self) -> bool:
        """Whether small requests can be sent without waiting (awscrt is usable here)."""
        return self._native() is not None

    def _sender(self) -> CrtTransport:
        native = self._native()
        if native is None:
            raise errors.TransferError("awscrt is not usable here; ask can_send() first")
        return native

    def send_small_get(self, key: str, etag: str, when_done: Callable[[Reply], None]) -> Reply:
        """Send a GET of a small object on awscrt and return at once (see `can_send`)."""
        native = self._sender()
        self._count("GetObject")
        headers = {"If-Match": f'"{etag}"', "x-amz-checksum-mode": "ENABLED"}
        return native.send(key, headers, when_done)

    def send_small_put(
        self,
        key: str,
        body: bytes,
        crc64nvme: str,
        condition: Mapping[str, str],
        when_done: Callable[[Reply], None],
    ) -> Reply:
        """Send `put`'s request (a small body) on awscrt and return at once."""
        native = self._sender()
        self._count("PutObject")
        return native.send(key, _put_headers(crc64nvme, condition), when_done, body)

    def get_if_changed(self, key: str, etag: str | None) -> Any | None:
        """A GET of the whole object, or None if its ETag is still `etag` (HTTP 304).

        One request either way. Should botocore still fail to parse the 304 (the
        TypeError `_bodiless_304` prevents), a HEAD settles it instead.
        """
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "ChecksumMode": "ENABLED"}
        if etag:
            kwargs["IfNoneMatch"] = f'"{etag}"'
        with translated(key):
            try:
                return self.client.get_object(**kwargs)
            except botocore_errors().ClientError as e:
                if e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 304:
                    return None
                raise
            except TypeError:
                pass
        current = self.head(key).etag
        return None if current == etag else self.get(key, current)

    def stat(self, key: str) -> RemoteObject | None:
        """The listing entry of one key, or None if there is no such object (one request)."""
        with translated(key):
            page = self.client.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1)
        for item in page.get("Contents", ()):
            if item["Key"] == key:
                return _remote_object(item, self.location.prefix)
        return None

    def put(self, key: str, body: bytes, crc64nvme: str, condition: Mapping[str, str]) -> str:
        """Upload one object with its CRC64NVME, which the server checks; return the ETag."""
        native = self._native() if len(body) <= SMALL_OBJECT else None
        if native is not None:
            self._count("PutObject")
            return _etag(native.put(key, body, _put_headers(crc64nvme, condition)).get("ETag"))
        with translated(key):
            response = self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ChecksumCRC64NVME=crc64nvme,
                Metadata={METADATA_CRC64: crc64nvme},
                **condition,
            )
        return self._written(key, len(body), crc64nvme, response)

    def _written(self, key: str, size: int, crc64nvme: str, response: Mapping[str, Any]) -> str:
        """The ETag of what a botocore PUT or a completed upload (`size` -1) wrote."""
        return _etag(response.get("ETag"))

    def start_multipart(self, key: str, crc64nvme: str) -> str:
        with translated(key):
            response = self.client.create_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                ChecksumAlgorithm="CRC64NVME",
                ChecksumType="FULL_OBJECT",
                Metadata={METADATA_CRC64: crc64nvme},
            )
        return str(response["UploadId"])

    def put_part(
        self, key: str, upload_id: str, number: int, body: bytes, crc64nvme: str
    ) -> dict[str, Any]:
        with translated(f"{key} (part {number})"):
            response = self.client.upload_part(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=body,
                ChecksumCRC64NVME=crc64nvme,
            )
        return {"PartNumber": number, "ETag": response["ETag"], "ChecksumCRC64NVME": crc64nvme}

    def finish_multipart(
        self,
        key: str,
        upload_id: str,
        parts: list[dict[str, Any]],
        crc64nvme: str,
        condition: Mapping[str, str],
    ) -> str:
        with translated(key):
            response = self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                ChecksumCRC64NVME=crc64nvme,
                ChecksumType="FULL_OBJECT",
                **condition,
            )
        return self._written(key, -1, crc64nvme, response)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        with contextlib.suppress(Exception):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def delete(self, keys: Iterable[str]) -> dict[str, str]:
        """Delete keys in batches of 1000; return the errors by key."""
        failed: dict[str, str] = {}
        batch: list[str] = []
        for key in keys:
            batch.append(key)
            if len(batch) == 1000:
                failed.update(self._delete_batch(batch))
                batch = []
        if batch:
            failed.update(self._delete_batch(batch))
        return failed

    def delete_if(self, key: str, etag: str) -> None:
        """Delete one object only while its ETag is `etag` (If-Match): RemoteChanged if it
        changed. Servers that ignore conditional requests (rclone serve s3) delete anyway;
        servers that refuse If-Match on DELETE (LocalStack: NotImplemented) get a HEAD
        first, which narrows the race to the time between the two requests."""
        with translated(key):
            try:
                self.client.delete_object(Bucket=self.bucket, Key=key, IfMatch=f'"{etag}"')
            except botocore_errors().ClientError as e:
                if e.response.get("Error", {}).get("Code") != "NotImplemented":
                    raise
                self._delete_unless_changed(key, etag)

    def _delete_unless_changed(self, key: str, etag: str) -> None:
        try:
            seen = self.head(key).etag
        except errors.NotFound:
            return  # gone already: nothing to delete
        if seen != etag:
            raise errors.RemoteChanged(f"{key}: the object changed after it was listed")
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def _delete_batch(self, keys: list[str]) -> dict[str, str]:
        with translated(str(self.location)):
            response = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True},
            )
        return {e["Key"]: e.get("Message", e.get("Code", "")) for e in response.get("Errors", ())}


def _put_headers(crc64nvme: str, condition: Mapping[str, str]) -> dict[str, str]:
    return {
        "x-amz-checksum-crc64nvme": crc64nvme,
        f"x-amz-meta-{METADATA_CRC64}": crc64nvme,
        **{_CONDITION_HEADERS[name]: value for name, value in condition.items()},
    }


def put_etag(response: Mapping[str, Any]) -> str:
    """The ETag a PUT's response names, without quotes."""
    return _etag(response.get("ETag"))


def response_object(key: str, prefix: str, response: Mapping[str, Any]) -> RemoteObject:
    """The object a whole-object GET describes, as a listing would."""
    return RemoteObject(
        rel=key[len(prefix) :],
        key=key,
        size=int(response["ContentLength"]),
        etag=_etag(response.get("ETag")),
        last_modified_ns=datetime_ns(response.get("LastModified")),
    )


def _remote_object(item: Mapping[str, Any], prefix: str) -> RemoteObject:
    algorithms = item.get("ChecksumAlgorithm") or ()
    return RemoteObject(
        rel=item["Key"][len(prefix) :],
        key=item["Key"],
        size=int(item["Size"]),
        etag=_etag(item.get("ETag")),
        last_modified_ns=datetime_ns(item.get("LastModified")),
        checksum_algorithm=algorithms[0] if algorithms else None,
        checksum_type=item.get("ChecksumType"),
    )
