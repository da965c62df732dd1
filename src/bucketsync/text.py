"""Text for humans: keys and messages made safe to print on a terminal or a page.

A key may hold any character, and a hostile bucket can name one with an escape
sequence, a carriage return or a bidi override. Human output passes such text
through `printable`; JSON needs nothing (`json.dumps` escapes control characters).
"""

from __future__ import annotations

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
