"""Progress on long work: a bar (a widget in notebooks), or nothing.

A bar shown by default (``progress=None``, on a terminal or in Jupyter) appears only
once the work has taken `DELAY` seconds, so a pull of a few bytes shows nothing; a bar
asked for (``progress=True``) appears at once. A bar that appeared stays when the work
is done, as tqdm's do, so a saved notebook keeps it; in Jupyter its text form (what a
viewer without widgets shows) is brought up to date when it closes. Sizes and speeds
are in binary units and say so: ``30.0 MiB/30.0 MiB [00:01, 25.2 MiB/s]``.
"""

from __future__ import annotations

import functools
import importlib
import sys
import threading
import warnings
from typing import Any

from .display import size
from .errors import warn
from .text import printable

DELAY = 0.5  # seconds of work before a bar shown by default appears
BAR_FORMAT = "{l_bar}{bar}| {done}/{whole} [{elapsed}<{remaining}, {speed}{postfix}]"
NO_WIDGETS = (
    "progress bars in Jupyter need ipywidgets (pip install 'bucketsync[notebook]');"
    " showing them as text"
)


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
        delay = DELAY if enabled is None else 0.0
        enabled = shown(enabled)
        self._lock = threading.Lock()
        self._files, self._total_files = 0, total_files
        self._bar: Any = None
        if enabled and total_files:
            self._bar = bar_type()(
                total=total_bytes,
                unit="B",
                desc=printable(desc),
                bar_format=BAR_FORMAT,
                dynamic_ncols=True,
                delay=delay,
                leave=True,
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


def sizes(fields: dict[str, Any]) -> dict[str, str]:
    """The fields BAR_FORMAT adds to tqdm's: done, whole (sizes) and speed, binary units."""
    n, total, elapsed = fields["n"], fields["total"], fields["elapsed"]
    rate = fields.get("rate")
    if rate is None and elapsed:
        rate = (n - (fields.get("initial") or 0)) / elapsed  # the average, as tqdm's own
    return {
        "done": size(n),
        "whole": "?" if total is None else size(total),
        "speed": f"{size(rate)}/s" if rate else "? B/s",
    }


@functools.cache
def bar_type() -> Any:
    """tqdm's bar for here (a widget in Jupyter), showing sizes in binary units.

    Imported on first use only: tqdm costs start-up time. In Jupyter, the widget is
    shown through a display handle, so that closing the bar updates the text form a
    saved notebook keeps (tqdm's own shows the text of the moment it appeared).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from tqdm.auto import tqdm
    if any("ipywidgets" in str(w.message) for w in caught):
        warn(NO_WIDGETS, UserWarning)

    class Bar(tqdm):  # type: ignore[misc]
        @property
        def format_dict(self) -> dict[str, Any]:
            fields: dict[str, Any] = super().format_dict
            return {**fields, **sizes(fields)}

    if all(kind.__module__ != "tqdm.notebook" for kind in tqdm.__mro__):
        return Bar  # a terminal, or Jupyter without ipywidgets
    return _widget_type(Bar)


def _widget_type(base: Any) -> Any:
    display: Any = importlib.import_module("IPython.display").display

    class WidgetBar(base):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._handle: Any = None
            super().__init__(*args, display=False, **kwargs)
            if not self.disable and self.delay <= 0:
                self._show()

        def _show(self) -> None:
            self._handle = display(self.container, display_id=True)
            self.displayed = True

        def display(self, *args: Any, check_delay: bool = True, **kwargs: Any) -> Any:
            if check_delay and self.delay > 0 and not self.displayed:
                self._show()  # the delay has passed: tqdm calls display() only then
            return super().display(*args, check_delay=False, **kwargs)

        def close(self) -> None:
            if self.disable:  # closed already: tqdm's __del__ closes again
                return
            super().close()
            handle, self._handle = self._handle, None
            if handle is not None:
                handle.update(self.container)

    return WidgetBar
