"""bucketsync's side-by-side benchmark: aws cli, s5cmd, rclone, s3cmd and the origin notebook.

``make bench`` runs the full sizes of ``../shared/BENCHMARKS.md``; ``make bench-quick`` a
small version. See ``benchmarks/README.md``. Importing this package only puts ``tools/`` on
``sys.path`` (for ``s3servers``); it must stay cheap, because the helper scripts that are
timed (``floor``, ``origin``) are started as ``python -m benchmarks.<name>``.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_TOOLS = str(REPO / "tools")
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)
