"""A key range `(lo, hi]` of one sync, in S3 key order, as plain data.

Keys are compared relative to the sync's prefix (every key shares it, so the order
is the same). Python compares `str` by code point, which for valid UTF-8 is S3's
byte order, and SQLite's BINARY collation compares the same bytes. `lo=None` means
from the first key, `hi=None` to the last. Ranges are what the listing, the local
walk and the state rows are cut by, so a sync can run as several self-contained units.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class KeyRange:
    """The relative keys `k` with `lo < k <= hi` (an open end where None)."""

    lo: str | None = None
    hi: str | None = None

    @property
    def everything(self) -> bool:
        return self.lo is None and self.hi is None

    def __contains__(self, rel: object) -> bool:
        if not isinstance(rel, str):
            return False
        return (self.lo is None or rel > self.lo) and (self.hi is None or rel <= self.hi)

    def past(self, rel: str) -> bool:
        """True when rel, and so every key after it, is beyond the range's end."""
        return self.hi is not None and rel > self.hi

    def reached(self, rel: str) -> bool:
        """True when no key after rel is in the range (rel is at or past its end)."""
        return self.hi is not None and rel >= self.hi

    def meets_folder(self, folder: str) -> bool:
        """Whether any key below `folder` (a relative path ending in '/') is in range.

        Keys below the folder start with it and are longer. They all sort at or
        before `lo` when the folder sorts before `lo` and is not a prefix of it;
        they all sort after `hi` when the folder sorts at or after `hi`.
        """
        if self.lo is not None and folder < self.lo and not self.lo.startswith(folder):
            return False
        return self.hi is None or folder < self.hi

    def folder_past(self, folder: str) -> bool:
        """True when every key below `folder`, and after it, is beyond the range's end."""
        return self.hi is not None and folder >= self.hi

    def split(self, boundaries: Sequence[str]) -> list[KeyRange]:
        """This range cut at the given keys (those inside it; sorted, duplicates dropped)."""
        cuts = sorted({b for b in boundaries if b in self and b != self.hi})
        ends: list[str | None] = [self.lo, *cuts, self.hi]
        return [KeyRange(a, b) for a, b in itertools.pairwise(ends)]


EVERYTHING = KeyRange()
