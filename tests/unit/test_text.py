"""Human text: every key and message is escaped before it reaches a terminal or a page."""

from __future__ import annotations

import copy
import pickle
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bucketsync import cli, display
from bucketsync.location import S3Location, SyncPair
from bucketsync.plan import Action, Note, Plan, Problem
from bucketsync.progress import Progress
from bucketsync.report import Report
from bucketsync.text import describe, printable

# Every C0 control, DEL, every C1 control, the Unicode line and paragraph separators,
# and the bidi overrides and isolates.
HOSTILE = (
    [chr(c) for c in range(0x20)]
    + ["\x7f"]
    + [chr(c) for c in range(0x80, 0xA0)]
    + ["\u2028", "\u2029", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e"]
    + ["\u2066", "\u2067", "\u2068", "\u2069", "\u200e", "\u200f", "\ufeff"]
)
UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}
ESCAPE = re.compile(r"\\(?:x([0-9a-f]{2})|u([0-9a-f]{4})|U([0-9a-f]{8})|([\\nrt]))")
NAMED = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}


def unescape(text: str) -> str:
    """The inverse of `printable`, written from its documented escapes alone."""

    def one(m: re.Match[str]) -> str:
        if m[4]:
            return NAMED[m[4]]
        return chr(int(m[1] or m[2] or m[3], 16))

    return ESCAPE.sub(one, text)


def safe(text: str) -> bool:
    return all(unicodedata.category(c) not in UNSAFE_CATEGORIES for c in text)


@pytest.mark.parametrize("char", HOSTILE, ids=lambda c: f"U+{ord(c):04X}")
def test_every_control_and_format_character_is_escaped(char: str) -> None:
    shown = printable(f"a{char}b")
    assert safe(shown) and shown.isascii(), shown
    assert shown.startswith("a\\") and shown.endswith("b")
    assert unescape(shown) == f"a{char}b"


def test_plain_text_is_left_as_it_is() -> None:
    for text in ["a.txt", "d/b c.txt", "\u00e9t\u00e9/\u65e5\u672c", "\U0001f600", "100%"]:
        assert printable(text) == text


def test_backslash_is_escaped_so_reading_back_is_unambiguous() -> None:
    assert printable("a\\x1b") == "a\\\\x1b"
    assert printable("a\x1b") == "a\\x1b"
    assert printable("a\\x1b") != printable("a\x1b")


@given(st.text(alphabet=st.characters(exclude_categories=[])))
def test_printable_is_safe_and_reads_back(text: str) -> None:
    shown = printable(text)
    assert safe(shown)
    assert "\n" not in shown and "\r" not in shown
    assert unescape(shown) == text


@given(st.text(), st.text())
def test_printable_is_injective(a: str, b: str) -> None:
    if a != b:
        assert printable(a) != printable(b)


PULL = SyncPair("pull", Path("/home/u/data"), S3Location("bkt", "p/"))


@pytest.mark.parametrize(
    ("message", "side", "line"),
    [
        ("Permission denied", "local", "/home/u/data/d/a.txt: Permission denied"),
        ("/home/u/data/d/a.txt: changed", "remote", "/home/u/data/d/a.txt: changed"),
        ("p/d/a.txt: access denied", "local", "s3://bkt/p/d/a.txt: access denied"),
        ("p/d/a.txt (part 3): access denied", "local", "s3://bkt/p/d/a.txt: part 3: access denied"),
        (
            "'d/a.txt': absolute or empty path",
            "remote",
            "s3://bkt/p/d/a.txt: absolute or empty path",
        ),
        ("not tried", "remote", "s3://bkt/p/d/a.txt: not tried"),
    ],
)
def test_describe_names_the_full_path_once(message: str, side: str, line: str) -> None:
    shown = describe("d/a.txt", message, side, PULL)  # type: ignore[arg-type]
    assert shown == line
    assert shown.count("a.txt") == 1


def test_describe_escapes_path_and_message() -> None:
    shown = describe("a\x1b[2J\nb", "p/a\x1b[2J\nb: bad\rthing", "local", PULL)
    assert shown == "s3://bkt/p/a\\x1b[2J\\nb: bad\\rthing"


def _hostile_plan() -> Plan:
    pair = SyncPair("pull", Path("/d/\x1b]0;x\x07"), S3Location("bkt", "p\u202e/"))
    actions = [Action("download", f"k{c}x", "new file", 1) for c in HOSTILE]
    problems = [Problem(f"e{c}x", f"bad{c}thing") for c in HOSTILE]
    plan = Plan(pair, actions, problems=problems)
    plan.warnings.extend(Note(f"s{c}x", f"why{c}") for c in HOSTILE)
    return plan


def test_plan_and_report_repr_are_escaped() -> None:
    plan = _hostile_plan()
    for shown in (repr(plan), repr(Report(plan, dry_run=False))):
        assert safe(shown), shown
        assert "/d/\\x1b]0;x\\x07" in shown and "p\\u202e/" in shown


def test_plan_and_report_html_are_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(display, "MAX_ROWS", len(HOSTILE))  # every row shown, none cut
    plan = _hostile_plan()
    report = Report(plan, dry_run=False, errors=list(plan.problems))
    for page in (plan._repr_html_(), report._repr_html_()):
        assert safe(page), page
        assert "k\\x1bx" in page and "e\\x1fx" in page and "s\\x85x" in page
        assert "bad\\x07thing" in page


def test_html_escapes_markup_after_control_characters() -> None:
    pair = SyncPair("pull", Path("/d"), S3Location("bkt"))
    plan = Plan(pair, [Action("download", "<b>\x1b&", "new file", 1)])
    assert "&lt;b&gt;\\x1b&amp;" in plan._repr_html_()


def test_notes_are_strings_and_structured() -> None:
    note = Note("a/link", "symbolic link not followed")
    assert note == "a/link: symbolic link not followed" and isinstance(note, str)
    pair = SyncPair("push", Path("/d"), S3Location("bkt"))
    plan = Plan(pair, warnings=[note, "b: a plain warning", "no path"])
    assert [n.to_dict() for n in plan.skipped] == [
        {"path": "a/link", "reason": "symbolic link not followed"},
        {"path": "b", "reason": "a plain warning"},
        {"path": "", "reason": "no path"},
    ]
    assert plan.to_dict()["skipped"] == [n.to_dict() for n in plan.skipped]
    for copied in (pickle.loads(pickle.dumps(note)), copy.deepcopy(note)):
        assert copied == note and (copied.path, copied.reason) == (note.path, note.reason)


def test_any_exception_message_is_escaped_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom\x1b[2J\nsecond line\u202e")

    monkeypatch.setattr(cli.api, "diff", fail)
    assert cli.main(["diff", "s3://bkt/p", "/tmp/x"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and safe(err.rstrip("\n")), err
    assert "boom\\x1b[2J\\nsecond line\\u202e" in err


def test_the_progress_bar_shows_an_escaped_description(capsys: pytest.CaptureFixture[str]) -> None:
    bar = Progress(10, 1, True, desc="k\x1b[31m\u202ex")
    bar.advance(10)
    bar.close()
    err = capsys.readouterr().err
    assert "k\\x1b[31m\\u202ex" in err and "\x1b[31m" not in err and "\u202e" not in err
