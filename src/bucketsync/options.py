"""The options of `sync` and `diff`, checked for type and range where they come in.

Each option has one `Check`: it gives the value to use, or raises `UsageError` with
one line naming the option and what it allows. The API (`SyncOptions`), `Mirror`
and the command line's flag parsers (`Check.flag`) share them, so an option allows
the same values everywhere, and a bad one stops a sync before it touches anything.
"""

from __future__ import annotations

import argparse
import difflib
import math
import numbers
import operator
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from .compare import COMPARE_MODES, CompareMode
from .errors import UsageError
from .filters import Filters, Rule

T = TypeVar("T")

DEFAULT_JOBS = 16
MAX_JOBS = 1024  # each job holds up to two connections and a buffer: more only contends
MAX_TIMEOUT = 86400.0  # one day, for the connect and read timeouts
MAX_ATTEMPTS = 100
_SHOWN = 60  # characters of a bad value shown in a message
PIN_OPTIONS = ("lock", "at", "write_lock")  # pinned.py's options of sync and diff


def pins_wanted(options: dict[str, Any]) -> bool:
    """Whether the options name a lock, a time or a lockfile to write (pinned.py); pin
    options given as None (no pin) are dropped from `options`."""
    for name in PIN_OPTIONS:
        if name in options and options[name] is None:
            del options[name]
    return any(name in options for name in PIN_OPTIONS)


def one_line(text: str) -> str:
    """Text with every unprintable character (control, line separator, ...) escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def shown(value: object) -> str:
    """A short, one-line picture of a value for an error message."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to convert to text
        text = f"an {type(value).__name__} of more than 4300 digits"
    except Exception:
        text = f"a {type(value).__name__}"
    text = one_line(text)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


class Check(Generic[T]):
    """One option's rule: `convert` gives the value to use or raises TypeError,
    ValueError or OverflowError; `allowed` says what the option allows; `parse`
    reads a command-line string. With `none`, None is allowed too, meaning `none`."""

    def __init__(
        self,
        allowed: str,
        convert: Callable[[Any], T],
        parse: Callable[[str], Any] = str,
        none: str | None = None,
    ) -> None:
        self.allowed = allowed
        self.convert = convert
        self.parse = parse
        self.none = none

    def __call__(self, name: str, value: object) -> T:
        """The value to use for option `name`; UsageError when it is not allowed."""
        if value is None and self.none is not None:
            return None  # type: ignore[return-value]  # T includes None when `none` is given
        try:
            return self.convert(value)
        except (TypeError, ValueError, OverflowError) as e:
            allowed = (
                self.allowed if self.none is None else f"{self.allowed}, or None ({self.none})"
            )
            raise UsageError(f"{name} must be {allowed}, not {shown(value)}") from e

    def flag(self, text: str) -> T:
        """For argparse's `type=`: the value of a command-line flag."""
        try:
            return self.convert(self.parse(text))
        except (TypeError, ValueError, OverflowError) as e:
            raise argparse.ArgumentTypeError(f"must be {self.allowed}, not {shown(text)}") from e


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError
    return value


def _int_in(low: int, high: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)  # TypeError if not an int
        if not low <= number <= high:
            raise ValueError
        return number

    return convert


def _seconds(low: float, high: float, *, low_allowed: bool) -> Callable[[Any], float]:
    def convert(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError
        seconds = float(value)  # OverflowError for a huge int
        too_low = seconds < low or (seconds == low and not low_allowed)
        if not math.isfinite(seconds) or too_low or seconds > high:
            raise ValueError
        return seconds

    return convert


def _text(value: object) -> str:
    """A non-empty str of printable characters, not only spaces."""
    if not isinstance(value, str):
        raise TypeError
    if not value.strip() or not value.isprintable():
        raise ValueError
    return value


def _url(value: object) -> str:
    """An http:// or https:// URL with a host; a port and a path are allowed."""
    text = _text(value)
    parts = urlsplit(text)  # ValueError for a malformed IPv6 host
    parts.port  # noqa: B018  # ValueError for a port that is not a number in range
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or " " in text:
        raise ValueError
    if parts.username is not None or parts.query or parts.fragment:
        raise ValueError
    return text


def _choice(choices: tuple[T, ...]) -> Callable[[Any], T]:
    def convert(value: Any) -> T:
        if not isinstance(value, str) or value not in choices:
            raise ValueError
        return value

    return convert


def _patterns(value: Any) -> tuple[str, ...]:
    """A str, or an iterable of str (not bytes, not a mapping); None for none."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, bytes | bytearray | memoryview | Mapping):
        raise TypeError
    patterns = tuple(value)  # TypeError if not iterable
    if not all(isinstance(p, str) for p in patterns):
        raise TypeError
    return patterns


def _rules(value: Any) -> tuple[Rule, ...]:
    """Pairs ("include" or "exclude", pattern), in the order they apply; None for none."""
    if value is None:
        return ()
    if isinstance(value, str | bytes | bytearray | memoryview | Mapping):
        raise TypeError
    rules = tuple(value)  # TypeError if not iterable
    for rule in rules:
        if not isinstance(rule, tuple | list) or len(rule) != 2:
            raise TypeError
        if rule[0] not in ("include", "exclude") or not isinstance(rule[1], str):
            raise ValueError
    return tuple((kind, pattern) for kind, pattern in rules)


def _side(value: object) -> str:
    """A local folder or an s3:// URL: a non-empty str or os.PathLike of str."""
    if not isinstance(value, str | os.PathLike):
        raise TypeError
    text = os.fspath(value)
    if not isinstance(text, str) or not text or "\x00" in text:
        raise ValueError
    return text


def one_of(choices: tuple[T, ...]) -> Check[T]:
    """The check of an option that takes one of a few strings."""
    return Check(f"one of {', '.join(map(str, choices))}", _choice(choices))


BOOL = Check("True or False", _bool)
OPTIONAL_BOOL = Check("True or False", _bool, none="the default")
JOBS = Check(f"an integer from 1 to {MAX_JOBS}", _int_in(1, MAX_JOBS), int)
ATTEMPTS = Check(f"an integer from 1 to {MAX_ATTEMPTS}", _int_in(1, MAX_ATTEMPTS), int)
TIMEOUT = Check(
    f"a number of seconds above 0, at most {MAX_TIMEOUT:g}",
    _seconds(0.0, MAX_TIMEOUT, low_allowed=False),
    float,
)
WAIT = Check(
    "a finite number of seconds >= 0",
    _seconds(0.0, math.inf, low_allowed=True),
    float,
    none="no limit",
)
ENDPOINT = Check("an http:// or https:// URL with a host (and maybe a port)", _url)
URL = Check(ENDPOINT.allowed, _url, none="boto3's chain")
PROFILE = Check("a non-empty profile name", _text, none="boto3's chain")
COMPARE = one_of(COMPARE_MODES)
MAX_DELETE = Check("an integer >= 0", _int_in(0, 2**63 - 1), int, none="no limit")
PATTERNS = Check("a str or an iterable of str (glob patterns)", _patterns)
RULES = Check('an iterable of ("include" or "exclude", pattern str) pairs', _rules)
SIDE = Check("a non-empty str or os.PathLike: a local folder or an s3:// URL", _side)
# Mirror's and fetch's own arguments
MAX_AGE = Check("a finite number of seconds >= 0", WAIT.convert, none="check every time")
S3_URL = Check("an s3:// URL (a str)", _text)
LOCAL = Check("a local folder (a non-empty str or os.PathLike)", _side, none="the cache")


@dataclass(frozen=True)
class SyncOptions:
    """The options of `sync` and `diff`, as keyword arguments of the API and CLI flags.

    Made only from checked values: every field is checked (and normalised, e.g. a
    single include pattern becomes a tuple) when the object is made.
    """

    delete: bool = False
    dry_run: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    filter_rules: tuple[Rule, ...] = ()
    jobs: int = DEFAULT_JOBS
    endpoint_url: str | None = None
    profile: str | None = None
    compare: CompareMode = "content"
    progress: bool | None = None
    follow_symlinks: bool = False
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 5  # tries per request, the first one included
    lock_timeout: float | None = None  # wait for another sync of the folder; None: no limit
    max_delete: int | None = None  # more deletes than this on a side: delete none of them

    def __post_init__(self) -> None:
        for name, check in _CHECKS.items():
            object.__setattr__(self, name, check(name, getattr(self, name)))
        if self.filter_rules and (self.include or self.exclude):
            raise UsageError("give filter_rules, or include and exclude, not both")

    @classmethod
    def from_dict(cls, options: Mapping[str, Any]) -> SyncOptions:
        """Options from keyword arguments; UsageError names any unknown one."""
        unknown = [name for name in options if name not in _CHECKS]
        if unknown:
            raise UsageError(_unknown(unknown))
        return cls(**options)

    @property
    def filters(self) -> Filters:
        return Filters.build(self.include, self.exclude, self.filter_rules)


_CHECKS: dict[str, Check[Any]] = {
    "delete": BOOL,
    "dry_run": BOOL,
    "include": PATTERNS,
    "exclude": PATTERNS,
    "filter_rules": RULES,
    "jobs": JOBS,
    "endpoint_url": URL,
    "profile": PROFILE,
    "compare": COMPARE,
    "progress": OPTIONAL_BOOL,
    "follow_symlinks": BOOL,
    "connect_timeout": TIMEOUT,
    "read_timeout": TIMEOUT,
    "max_attempts": ATTEMPTS,
    "lock_timeout": WAIT,
    "max_delete": MAX_DELETE,
}
assert set(_CHECKS) == {f.name for f in fields(SyncOptions)}


def _unknown(names: list[str]) -> str:
    """The message for unknown option names, with the closest known one if any."""
    parts = []
    for name in names:
        close = difflib.get_close_matches(name, list(_CHECKS), n=1) if len(name) < 100 else []
        hint = f" (did you mean {close[0]}?)" if close else ""
        parts.append(f"{shown(name)}{hint}")
    return f"unknown option {', '.join(parts)}; the options are {', '.join(_CHECKS)}"
