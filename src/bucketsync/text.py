"""Text for humans: keys and messages made safe to print on a terminal or a page.

A key may hold any character, and a hostile bucket can name one with an escape
sequence, a carriage return or a bidi override. Human output passes such text
through `printable`; JSON needs nothing (`json.dumps` escapes control characters).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .location import SyncPair
    from .plan import Side

_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """Text with every non-printable character escaped, as Python's repr does.

    Control, format (bidi overrides among them), separator and surrogate
    characters become ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN`` (``\\n``, ``\\r``,
    ``\\t`` by name); the backslash becomes ``\\\\``, so the result reads back
    to exactly one text. The space is the only separator kept.
    """
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escaped(c) for c in text)


def _escaped(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    if char.isprintable():
        return char
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def where(path: str, side: Side, pair: SyncPair) -> str:
    """The full local path or s3:// URL of a path relative to the sync's two sides."""
    if side == "remote":
        return f"{pair.remote}{path}"
    if path in ("", "."):
        return str(pair.local)
    return str(pair.local.joinpath(*path.split("/")))


_PART = re.compile(r" \((part \d+)\): ")


def describe(path: str, message: str, side: Side, pair: SyncPair) -> str:
    """One printable line about a path: its full path or URL once, then the message.

    Messages made for the API often start with the path, the object's key or the
    path's repr; that start is dropped (and tells the side) so the path is not named
    twice.
    """
    starts: list[tuple[str, Side]] = [
        (where(path, "local", pair), "local"),
        (where(path, "remote", pair), "remote"),
        (pair.remote.key(path), "remote"),
        (repr(path), side),
        (path, side),
    ]
    for start, found in starts:
        rest = _after(message, start) if start else None
        if rest is not None:
            message, side = rest, found
            break
    return printable(f"{where(path, side, pair)}: {message}")


def _after(message: str, start: str) -> str | None:
    """The message after `start: ` (or `start (part N): `), or None if it does not begin so."""
    if not message.startswith(start):
        return None
    rest = message[len(start) :]
    if rest.startswith(": "):
        return rest[2:]
    part = _PART.match(rest)
    return f"{part[1]}: {rest[part.end() :]}" if part else None
