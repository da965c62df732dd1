"""A fast object listing: botocore signs the request, we send it and parse the XML.

botocore's response parsing bounds a no-change sync of many small files
(benchmark S2 reports bucketsync against a boto3-paginator floor). Here each
page is a presigned ListObjectsV2 URL (`Connection.presign`: botocore's signer
with the session's credentials for a named endpoint, else the client, which
resolves the endpoint, addressing style and region), fetched with urllib3
(tried as the shared `RetryPolicy` says) by a helper thread one page ahead, so the
server's time overlaps the merge. A page is a flat, known shape: one regular
expression pass picks the fields each object needs, rather than building an
ElementTree. Keys are requested URL-encoded, as botocore does, so keys with
characters XML cannot carry still round-trip.
"""

from __future__ import annotations

import html
import itertools
import math
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

import urllib3

from .. import errors
from ..entries import RemoteObject
from . import proxy_configured
from .errors import error_for, failure_of, unreachable
from .retry import Failure, log, retried, status_failure

if TYPE_CHECKING:
    from .s3 import ClientSettings, RequestCounter


# One pass over the page: the fields an object needs, and the end of each <Contents>.
_FIELDS = re.compile(
    rb"<(Key|LastModified|ETag|Size|ChecksumAlgorithm|ChecksumType)>([^<]*)<|<(/)Contents>"
)
_LEAF = re.compile(rb"<(\w+)>([^<]*)</\1>")
_TOKEN = re.compile(rb"<NextContinuationToken>([^<]*)</NextContinuationToken>")
_TRUNCATED = re.compile(rb"<IsTruncated>\s*true\s*</IsTruncated>")


@dataclass(frozen=True)
class Page:
    """One parsed ListObjectsV2 page."""

    objects: list[RemoteObject]
    next_token: str | None


class FastLister:
    """Lists a prefix page by page through presigned URLs."""

    def __init__(
        self,
        presign: Callable[[str, dict[str, str]], str],
        settings: ClientSettings,
        counter: RequestCounter | None,
    ):
        self._presign = presign
        self._counter = counter
        self._policy = settings.retry_policy
        timeout = urllib3.Timeout(connect=settings.connect_timeout, read=settings.read_timeout)
        self._http = urllib3.PoolManager(retries=False, timeout=timeout, maxsize=2)

    @staticmethod
    def usable() -> bool:
        """Proxies are botocore's business: with one configured, use its paginator."""
        return not proxy_configured()

    def objects(self, bucket: str, prefix: str, start_after: str = "") -> Iterator[RemoteObject]:
        params = {"Bucket": bucket, "Prefix": prefix, "EncodingType": "url"}
        if start_after:
            params["StartAfter"] = prefix + start_after
        what = f"s3://{bucket}/{prefix}"
        with ThreadPoolExecutor(1, thread_name_prefix="bucketsync-list") as ahead:
            pending = ahead.submit(self._page, dict(params), prefix, what)
            while True:
                page = pending.result()
                if page.next_token:
                    params["ContinuationToken"] = page.next_token
                    pending = ahead.submit(self._page, dict(params), prefix, what)
                yield from page.objects
                if not page.next_token:
                    return

    def _page(self, params: dict[str, str], prefix: str, what: str) -> Page:
        url = self._presign("list_objects_v2", params)
        response = self._get(url, what)
        if response.status != 200:
            fields = _leaves(response.data)
            raise error_for(
                fields.get("Code", ""), response.status, fields.get("Message", ""), what
            )
        return parse_page(response.data, prefix, what)

    def _get(self, url: str, what: str) -> urllib3.BaseHTTPResponse:
        """GET a page, tried as the retry policy says; the last answer (any status)."""
        for attempt in itertools.count(1):
            failure: Failure | None
            try:
                response = self._http.request("GET", url)
            except urllib3.exceptions.HTTPError as e:
                failure = failure_of(e)
                delay = self._policy.pause(attempt, failure)
                self._count()
                retried(attempt, delay, "ListObjectsV2", what, failure)
                if delay is None:
                    raise unreachable(failure, url, what, type(e).__name__) from e
            else:
                self._count()
                log.debug("ListObjectsV2 %s -> %d (try %d)", what, response.status, attempt)
                code = _leaves(response.data).get("Code", "") if response.status >= 300 else ""
                failure = status_failure(response.status, code)
                delay = None if failure is None else self._policy.pause(attempt, failure)
                if delay is None:
                    return response
                retried(attempt, delay, "ListObjectsV2", what, f"HTTP {response.status} {code}")
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _count(self) -> None:
        if self._counter is not None:
            self._counter(event_name="before-send.s3.ListObjectsV2")


def parse_page(body: bytes, prefix: str, what: str = "listing") -> Page:
    """The objects of a ListObjectsV2 page (URL-encoded keys) and its continuation token."""
    if b"<ListBucketResult" not in body:
        raise errors.TransferError(f"{what}: the server sent something that is not a listing")
    objects = []
    fields: dict[bytes, bytes] = {}
    stamps: dict[bytes, int] = {}  # objects written together share their LastModified
    for tag, value, end in _FIELDS.findall(body):
        if end:
            objects.append(_object(fields, prefix, stamps))
            fields = {}
        else:
            fields[tag] = value
    token = _TOKEN.search(body)
    more = token is not None and _TRUNCATED.search(body) is not None
    return Page(objects, _text(token.group(1)) if more and token else None)


def _leaves(block: bytes) -> dict[str, str]:
    return {tag.decode(): _text(value) for tag, value in _LEAF.findall(block)}


def _text(raw: bytes) -> str:
    text = raw.decode("utf-8")
    return html.unescape(text) if "&" in text else text


def _object(fields: dict[bytes, bytes], prefix: str, stamps: dict[bytes, int]) -> RemoteObject:
    key = _key(fields[b"Key"])
    stamp = fields.get(b"LastModified", b"")
    modified = stamps.get(stamp)
    if modified is None:
        modified = stamps[stamp] = _timestamp_ns(stamp.decode())
    algorithm = fields.get(b"ChecksumAlgorithm")
    kind = fields.get(b"ChecksumType")
    return RemoteObject(
        key[len(prefix) :],
        key,
        int(fields[b"Size"]),
        _etag(fields.get(b"ETag", b"")),
        modified,
        algorithm.decode() if algorithm else None,
        kind.decode() if kind else None,
    )


def _key(raw: bytes) -> str:
    """A key as sent with encoding-type=url (slashes may come as %2F)."""
    key = _text(raw)
    if "%2F" in key:
        key = key.replace("%2F", "/")
    return unquote_plus(key) if "%" in key or "+" in key else key


def _etag(raw: bytes) -> str:
    """The ETag without its quotes, which a listing writes as &quot; (or as they are)."""
    raw = raw.replace(b"&quot;", b"").strip(b'"')
    return _text(raw).strip('"')


def _timestamp_ns(text: str) -> int:
    """Nanoseconds since the epoch, exactly: whole seconds from the float, then the
    microseconds as written (S3 gives milliseconds)."""
    if not text:
        return 0
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return math.floor(when.replace(microsecond=0).timestamp()) * 1_000_000_000 + (
        when.microsecond * 1000
    )
