"""The reliability suite's figures: counts the tests add up, saved for docs/reliability.md.

Each test adds to named sections (trials run, faults injected, files verified, corrupt
or lost files); at the end of the session they are merged into .cache/reliability.json,
which ``python tools/reliability_figures.py`` renders into the document.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reliability_figures import FIGURES_JSON, Figures


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    collected = Figures()
    yield collected
    collected.save(FIGURES_JSON)
