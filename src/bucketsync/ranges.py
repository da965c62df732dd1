"""Parallel listing: a big prefix listed as several key ranges at once, merged in order.

A listing waits one round trip per page of 1,000 keys, one page after another. Cut
into ranges, the pages of different ranges go out side by side, each range on its
own thread and connection. The ranges are disjoint and in key order, so the merge
is their concatenation: each range fills a small queue of pages, and the consumer
reads the ranges one after the other, so memory stays bounded by the queues
(ranges in flight x QUEUED_PAGES pages), never by the size of the prefix.

Boundaries come from the keys the state database already knows for this scope
(quantiles: about equal numbers of keys per range), else from the common prefixes
one level down (one Delimiter request). A prefix the state database shows to be
small stays one range, and costs no request beyond its listing.

A first listing (the state database knows no key of the scope) starts with one page:
a prefix that fits in it costs that request alone. When more keys follow, the rest is
cut at the common prefixes one level down that come after the page's last key (one
Delimiter request), and listed as ranges side by side.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from .cancel import POLL
from .entries import RemoteObject
from .job import Job
from .keyrange import KeyRange
from .stores.s3 import S3Store

KEYS_PER_RANGE = 2_000  # a range should save round trips: a few pages each
QUEUED_PAGES = 2  # pages a range may list ahead of the consumer
_END = object()
log = logging.getLogger("bucketsync.ranges")


def choose_ranges(job: Job, known: int | None = None) -> list[KeyRange]:
    """The key ranges to list `job.key_range` in: as many as the window allows and the
    prefix's known size (`known` keys, counted if None) is worth (`job.ranges` forces a
    count)."""
    span = job.key_range
    known = job.state.count(job.scope, span) if known is None else known
    wanted = job.ranges or min(job.options.jobs, known // KEYS_PER_RANGE)
    if wanted <= 1:
        return [span]
    cuts = job.state.quantiles(job.scope, span, wanted, known)
    if len(cuts) < wanted - 1 and job.ranges:
        cuts = spread(job.store.folders(span), wanted)
    return span.split(cuts)


def spread(keys: list[str], pieces: int) -> list[str]:
    """At most pieces - 1 of the sorted keys, evenly spaced, to cut at (all of them when
    there are fewer)."""
    if pieces <= 1:
        return []
    if len(keys) < pieces:
        return list(keys)
    return [keys[len(keys) * n // pieces] for n in range(1, pieces)]


def listing(job: Job) -> Iterator[RemoteObject]:
    """The objects of the job's key range, in key order, listed range by range side by side."""
    known = job.state.count(job.scope, job.key_range)
    if not known and not job.ranges and job.options.jobs > 1:
        return first_listing(job)
    ranges = choose_ranges(job, known)
    log.debug("listing %s in %d key range(s)", job.store.location, len(ranges))
    return ordered(job.store, ranges, min(len(ranges), job.options.jobs))


def first_listing(job: Job) -> Iterator[RemoteObject]:
    """A listing with nothing known: one page, then, if more follows, the rest cut at
    the common prefixes one level down after that page and listed side by side."""
    span, store = job.key_range, job.store
    first = store.first_page(span)
    if first is None:  # only botocore's paginator can list here
        yield from ordered(store, [span], 1)
        return
    objects, more = first
    yield from objects
    if not (more and objects):
        return
    rest = KeyRange(objects[-1].rel, span.hi)
    pieces = rest.split(spread(store.folders(rest), job.options.jobs))
    log.debug("listing %s in %d key range(s) after one page", store.location, len(pieces))
    yield from ordered(store, pieces, min(len(pieces), job.options.jobs))


def ordered(store: S3Store, ranges: list[KeyRange], threads: int) -> Iterator[RemoteObject]:
    """The objects of consecutive ranges, in order, listed on up to `threads` threads."""
    if len(ranges) == 1:
        for page in store.pages(ranges[0]):
            yield from page
        return
    stop = threading.Event()
    queues: list[queue.Queue[object]] = [queue.Queue(QUEUED_PAGES) for _ in ranges]
    pool = ThreadPoolExecutor(threads, thread_name_prefix="bucketsync-range")
    try:
        for span, pages in zip(ranges, queues, strict=True):
            pool.submit(_produce, store, span, pages, stop)
        for pages in queues:
            yield from _drain(pages)
    finally:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)


def _drain(pages: queue.Queue[object]) -> Iterator[RemoteObject]:
    """The objects a range's producer queued, until its end mark; its error, raised."""
    while (item := pages.get()) is not _END:
        if isinstance(item, BaseException):
            raise item
        assert isinstance(item, list)
        yield from item


def _produce(
    store: S3Store, span: KeyRange, pages: queue.Queue[object], stop: threading.Event
) -> None:
    """List one range into its queue, then an end mark (or the error that ended it)."""
    try:
        for page in store.pages(span):
            if not _put(pages, page, stop):
                return
    except BaseException as e:  # handed to the consumer, which raises it in order
        _put(pages, e, stop)
        return
    _put(pages, _END, stop)


def _put(pages: queue.Queue[object], item: object, stop: threading.Event) -> bool:
    """Queue item, waiting for room unless the consumer has stopped; False if it has."""
    while not stop.is_set():
        try:
            pages.put(item, timeout=POLL)
        except queue.Full:
            continue
        return True
    return False
