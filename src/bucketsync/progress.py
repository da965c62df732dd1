"""Progress on long work: a bar (a widget in notebooks), or nothing."""

from __future__ import annotations

import sys
import threading
from typing import Any

from .text import printable


def shown(enabled: bool | None) -> bool:
    """Whether progress is shown: as told, or (None) on a terminal or in Jupyter."""
    if enabled is None:
        return sys.stderr.isatty() or "ipykernel" in sys.modules
    return enabled


class Progress:
    """Bytes moved and files done; silent unless enabled."""

    def __init__(
        self, total_bytes: int, total_files: int, enabled: bool | None, desc: str = "bucketsync"
    ) -> None:
        enabled = shown(enabled)
        self._lock = threading.Lock()
        self._files, self._total_files = 0, total_files
        self._bar: Any = None
        if enabled and total_files:
            from tqdm.auto import tqdm  # imported only when shown: it costs start-up time

            self._bar = tqdm(
                total=total_bytes,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=printable(desc),
                dynamic_ncols=True,
                leave=False,
            )

    def advance(self, n: int) -> None:
        if self._bar is not None and n:
            self._bar.update(n)

    def file_done(self) -> None:
        if self._bar is None:
            return
        with self._lock:
            self._files += 1
            self._bar.set_postfix_str(f"{self._files}/{self._total_files} files", refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
