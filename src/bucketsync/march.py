"""Sorted merge of two listings, the way rclone's march walks two trees.

Both inputs must be sorted by their key in code-point order, which for valid
UTF-8 is S3's byte order. The order is checked as the streams go by, so a server
that does not sort cannot make the merge silently wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from .errors import ListingOrderError

A = TypeVar("A")
B = TypeVar("B")


def march(
    left: Iterable[A],
    right: Iterable[B],
    left_key: Callable[[A], str],
    right_key: Callable[[B], str],
) -> Iterator[tuple[A | None, B | None]]:
    """Pair items with equal keys; an item with no partner comes with None."""
    lefts = _Cursor(left, left_key, "left listing")
    rights = _Cursor(right, right_key, "right listing")
    while lefts.item is not None or rights.item is not None:
        if rights.item is None or (lefts.item is not None and lefts.key < rights.key):
            yield lefts.item, None
            lefts.advance()
        elif lefts.item is None or rights.key < lefts.key:
            yield None, rights.item
            rights.advance()
        else:
            yield lefts.item, rights.item
            lefts.advance()
            rights.advance()


class _Cursor(Generic[A]):
    """The current item of a sorted stream and its key; checks the order as it moves."""

    __slots__ = ("_items", "_key", "_what", "item", "key")

    def __init__(self, items: Iterable[A], key: Callable[[A], str], what: str) -> None:
        self._items, self._key, self._what = iter(items), key, what
        self.item: A | None = None
        self.key = ""
        self.advance(first=True)

    def advance(self, first: bool = False) -> None:
        previous = self.key
        self.item = next(self._items, None)
        if self.item is None:
            return
        self.key = self._key(self.item)
        if not first and self.key <= previous:
            raise ListingOrderError(
                f"{self._what} is not sorted: {self.key!r} came after {previous!r}"
            )
