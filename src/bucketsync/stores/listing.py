"""A fast object listing: the request is presigned, we send it and parse the XML.

botocore's response parsing bounds a no-change sync of many small files
(benchmark S2 reports bucketsync against a boto3-paginator floor). Here each
page is a presigned ListObjectsV2 URL (`Connection.presign`: signed by `sigv4`
with credentials from the environment, or botocore's signer with the session's,
for a named endpoint; else by the client, which resolves the endpoint, addressing
style and region), fetched over kept-alive `http.client` connections (`pool.Pool`;
tried as the shared `RetryPolicy` says) by a helper thread one page ahead, so the
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
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from .. import errors
from ..entries import RemoteObject
from ..keyrange import EVERYTHING, KeyRange
from . import proxy_configured
from .errors import error_for, unreachable
from .pool import Answer, Pool, Unanswered
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
_COMMON = re.compile(rb"<CommonPrefixes>\s*<Prefix>([^<]*)</Prefix>")


@dataclass(frozen=True)
class Page:
    """One parsed ListObjectsV2 page."""

    objects: list[RemoteObject]
    next_token: str | None
    folders: tuple[str, ...] = ()  # common prefixes (a Delimiter listing), relative


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
        # Ranges of a listing go out side by side: a connection each, kept for the next page.
        size = max(2, settings.max_connections)
        self._http = Pool(settings.connect_timeout, settings.read_timeout, size)

    @staticmethod
    def usable() -> bool:
        """Proxies are botocore's business: with one configured, use its paginator."""
        return not proxy_configured()

    def objects(self, bucket: str, prefix: str, start_after: str = "") -> Iterator[RemoteObject]:
        for page in self.pages(bucket, prefix, KeyRange(start_after or None)):
            yield from page

    def pages(
        self, bucket: str, prefix: str, span: KeyRange = EVERYTHING, ahead: bool = True
    ) -> Iterator[list[RemoteObject]]:
        """The objects of `span` below the prefix, a page at a time: the listing starts
        after `span.lo` (StartAfter) and stops at the first page that goes past `span.hi`.
        With `ahead`, a helper thread fetches the next page while this one is used."""
        params = _params(bucket, prefix, span)
        what = f"s3://{bucket}/{prefix}"
        with ThreadPoolExecutor(1, thread_name_prefix="bucketsync-list") as helper:
            fetch = helper.submit if ahead else _now
            pending = fetch(self._page, dict(params), prefix, what)
            while True:
                page = pending.result()
                token = page.next_token
                if token and not (page.objects and span.reached(page.objects[-1].rel)):
                    params["ContinuationToken"] = token
                    pending = fetch(self._page, dict(params), prefix, what)
                else:
                    token = None
                yield [o for o in page.objects if not span.past(o.rel)]
                if not token:
                    return

    def first(self, bucket: str, prefix: str, span: KeyRange) -> tuple[list[RemoteObject], bool]:
        """The first page of `span` (one request), and whether more of its keys follow."""
        page = self._page(_params(bucket, prefix, span), prefix, f"s3://{bucket}/{prefix}")
        found = page.objects
        more = bool(page.next_token) and not (found and span.reached(found[-1].rel))
        return [o for o in found if not span.past(o.rel)], more

    def folders(self, bucket: str, prefix: str, span: KeyRange = EVERYTHING) -> list[str]:
        """The first page of the common prefixes one level below the prefix, in `span`
        (one Delimiter request), relative to the prefix."""
        params = {**_params(bucket, prefix, span), "Delimiter": "/"}
        page = self._page(params, prefix, f"s3://{bucket}/{prefix}")
        return [f for f in page.folders if f in span]

    def _page(self, params: dict[str, str], prefix: str, what: str) -> Page:
        url = self._presign("list_objects_v2", params)
        response = self._get(url, what)
        if response.status != 200:
            fields = _leaves(response.data)
            raise error_for(
                fields.get("Code", ""), response.status, fields.get("Message", ""), what
            )
        return parse_page(response.data, prefix, what)

    def _get(self, url: str, what: str) -> Answer:
        """GET a page, tried as the retry policy says; the last answer (any status)."""
        for attempt in itertools.count(1):
            failure: Failure | None
            try:
                response = self._http.get(url)
            except Unanswered as e:
                failure = e.failure
                delay = self._policy.pause(attempt, failure)
                self._count()
                retried(attempt, delay, "ListObjectsV2", what, failure)
                if delay is None:
                    cause = e.__cause__ or e
                    raise unreachable(failure, url, what, type(cause).__name__) from cause
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


def _params(bucket: str, prefix: str, span: KeyRange) -> dict[str, str]:
    """A ListObjectsV2 request for the keys of `span` below the prefix (from its start)."""
    params = {"Bucket": bucket, "Prefix": prefix, "EncodingType": "url"}
    if span.lo is not None:
        params["StartAfter"] = prefix + span.lo
    return params


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
    folders = tuple(_key(raw)[len(prefix) :] for raw in _COMMON.findall(body))
    return Page(objects, _text(token.group(1)) if more and token else None, folders)


class _Done:
    """A result already at hand, shaped like a Future's."""

    def __init__(self, value: Page) -> None:
        self._value = value

    def result(self) -> Page:
        return self._value


def _now(fn: Callable[[dict[str, str], str, str], Page], *args: Any) -> _Done:
    return _Done(fn(*args))


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
