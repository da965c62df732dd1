"""Sorted merge of two listings, the way rclone's march walks two trees.

Both inputs must be sorted by their key in code-point order, which for valid
UTF-8 is S3's byte order. The order is checked as the streams go by, so a server
that does not sort cannot make the merge silently wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from .errors import ListingOrderError

A = TypeVar("A")
B = TypeVar("B")


def checked_order(items: Iterable[A], key: Callable[[A], str], what: str) -> Iterator[A]:
    """Yield items, raising ListingOrderError if a key is not above the one before."""
    previous: str | None = None
    for item in items:
        current = key(item)
        if previous is not None and current <= previous:
            raise ListingOrderError(f"{what} is not sorted: {current!r} came after {previous!r}")
        previous = current
        yield item


def march(
    left: Iterable[A],
    right: Iterable[B],
    left_key: Callable[[A], str],
    right_key: Callable[[B], str],
) -> Iterator[tuple[A | None, B | None]]:
    """Pair items with equal keys; an item with no partner comes with None."""
    lefts = iter(checked_order(left, left_key, "left listing"))
    rights = iter(checked_order(right, right_key, "right listing"))
    a, b = next(lefts, None), next(rights, None)
    while a is not None or b is not None:
        if b is None or (a is not None and left_key(a) < right_key(b)):
            yield a, None
            a = next(lefts, None)
        elif a is None or right_key(b) < left_key(a):
            yield None, b
            b = next(rights, None)
        else:
            yield a, b
            a, b = next(lefts, None), next(rights, None)
