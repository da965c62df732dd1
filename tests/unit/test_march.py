"""The sorted merge, table-driven, on plain data."""

from __future__ import annotations

import pytest

from bucketsync.errors import ListingOrderError
from bucketsync.march import march


def _ident(x: str) -> str:
    return x


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ([], [], []),
        (["a"], [], [("a", None)]),
        ([], ["a"], [(None, "a")]),
        (["a", "b"], ["b", "c"], [("a", None), ("b", "b"), (None, "c")]),
        (["a", "a.txt", "a/b"], ["a/b"], [("a", None), ("a.txt", None), ("a/b", "a/b")]),
        (["x"], ["x"], [("x", "x")]),
    ],
)
def test_march_pairs_equal_keys(
    left: list[str], right: list[str], expected: list[tuple[str | None, str | None]]
) -> None:
    assert list(march(left, right, _ident, _ident)) == expected


def test_march_rejects_unsorted_input() -> None:
    with pytest.raises(ListingOrderError):
        list(march(["b", "a"], [], _ident, _ident))


def test_march_rejects_duplicate_keys() -> None:
    with pytest.raises(ListingOrderError):
        list(march([], ["a", "a"], _ident, _ident))


def test_code_point_order_is_utf8_byte_order() -> None:
    keys = ["a", "a/b", "a.txt", "\u00e9", "\U0001f600", "Z", "\uffff", "a b"]
    assert sorted(keys) == sorted(keys, key=lambda k: k.encode("utf-8"))
