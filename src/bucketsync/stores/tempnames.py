"""Names of temporary files that prove bucketsync made them.

A temporary name is ``.NAME.bucketsync-tmp-<nonce><tag>``: the tag is an HMAC-SHA256
of NAME and the nonce under a secret of this user, kept in the state folder. Every
name of that shape is reserved (keys with one are refused), but only a name whose
tag checks out is bucketsync's own, so a user's file that merely looks like one is
never taken for an orphan and removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import threading
from pathlib import Path

from ..state import STATE_DIR_ENV, state_dir

TEMP_MARK = ".bucketsync-tmp-"
TEMP_NAME = re.compile(r"\..*" + re.escape(TEMP_MARK) + r"[0-9a-f]{12,}", re.DOTALL)
NONCE_HEX, TAG_HEX = 16, 32
KEY_FILE = "temp-names.key"
KEY_BYTES = 32
NAME_MAX = 255
_HEX = frozenset("0123456789abcdef")

_macs: dict[str | None, hmac.HMAC] = {}  # by $BUCKETSYNC_STATE_DIR: one read per process
_macs_lock = threading.Lock()


def is_temp_name(name: str) -> bool:
    """Whether a name has the shape of a temporary file's (reserved: never synced)."""
    return TEMP_NAME.fullmatch(name) is not None


def is_own_temp(name: str) -> bool:
    """Whether name is a temporary name bucketsync made (its tag checks out)."""
    head, mark, tail = name.rpartition(TEMP_MARK)
    if not mark or not head.startswith(".") or len(tail) != NONCE_HEX + TAG_HEX:
        return False
    if not _HEX.issuperset(tail):
        return False
    nonce, tag = tail[:NONCE_HEX], tail[NONCE_HEX:]
    return hmac.compare_digest(tag, _tag(head[1:], nonce))


def temp_path(path: Path) -> Path:
    """A new temporary name next to path, within NAME_MAX, that `is_own_temp` accepts."""
    nonce = secrets.token_hex(NONCE_HEX // 2)  # O_EXCL settles any collision
    room = NAME_MAX - len(TEMP_MARK) - NONCE_HEX - TAG_HEX - 1
    stem = path.name.encode("utf-8", "surrogateescape")[:room].decode("utf-8", "ignore")
    return path.with_name(f".{stem}{TEMP_MARK}{nonce}{_tag(stem, nonce)}")


def _tag(stem: str, nonce: str) -> str:
    mac = _keyed_mac().copy()
    mac.update(os.fsencode(stem) + b"/" + nonce.encode("ascii"))
    return mac.hexdigest()[:TAG_HEX]


def _keyed_mac() -> hmac.HMAC:
    """An HMAC-SHA256 keyed with this user's secret (read once per process and folder)."""
    configured = os.environ.get(STATE_DIR_ENV)
    mac = _macs.get(configured)
    if mac is None:
        with _macs_lock:
            mac = _macs.get(configured)
            if mac is None:
                key = _load_key(state_dir() / KEY_FILE)
                mac = _macs[configured] = hmac.new(key, digestmod=hashlib.sha256)
    return mac


def _load_key(path: Path) -> bytes:
    """The key at path, made (mode 0600) if there is none.

    An unreadable or damaged key gives a key of this process only: its temporary
    files still validate here, and nothing else is ever taken for an orphan.
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    except (OSError, ValueError):
        return secrets.token_bytes(KEY_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _make_key(path)
        return _read_key(path)
    except (OSError, ValueError):
        return secrets.token_bytes(KEY_BYTES)


def _read_key(path: Path) -> bytes:
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise ValueError(f"{path}: not a key")
    return key


def _make_key(path: Path) -> None:
    """Write a new key beside path, then link it into place unless another process did."""
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(KEY_BYTES))
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(draft)
