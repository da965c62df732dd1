"""The example notebooks and the progress bar, run in a real Jupyter kernel.

nbclient starts ipykernel on this interpreter (a kernel spec written to a temporary
folder), runs every cell and keeps the outputs, as a saved notebook would hold them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KERNEL = "bucketsync-test"
WIDGET = "application/vnd.jupyter.widget-view+json"
HTML = "text/html"


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernel spec for this interpreter, found through JUPYTER_PATH."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "bucketsync tests", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return KERNEL


def run(nb: Any, kernel: str, cwd: Path) -> Any:
    """Run every cell of nb; outputs stay in it. An error output fails the run."""
    client = nbclient.NotebookClient(
        nb, kernel_name=kernel, timeout=120, resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return nb


def outputs(cell: Any) -> list[Any]:
    return list(cell.get("outputs", []))


def data(cell: Any, mime: str) -> list[str]:
    """The cell's outputs of one MIME type, as text (JSON for widgets)."""
    found = [o["data"][mime] for o in outputs(cell) if mime in o.get("data", {})]
    return [x if isinstance(x, str) else json.dumps(x) for x in found]


def cell_with(nb: Any, text: str) -> Any:
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and text in c.source]
    return cell


def no_errors(nb: Any) -> None:
    for cell in nb.cells:
        for out in outputs(cell):
            assert out["output_type"] != "error", cell.source + "\n".join(out["traceback"])
            assert not (out["output_type"] == "stream" and out["name"] == "stderr"), out["text"]


def example(name: str, kernel: str) -> Any:
    nb = nbformat.read(EXAMPLES / name, as_version=4)
    assert all(not outputs(c) for c in nb.cells), f"{name} is stored without outputs"
    return run(nb, kernel, EXAMPLES)


def test_quickstart(kernel: str) -> None:
    nb = example("quickstart.ipynb", kernel)
    no_errors(nb)
    assert "<table" in data(cell_with(nb, "pd.read_csv(path)"), HTML)[0]  # pandas' own
    (plan,) = data(cell_with(nb, "m.diff()"), HTML)
    assert "<strong>Plan</strong>" in plan and "4 download; 24.0 MiB to move; 1 unchanged" in plan
    pull = cell_with(nb, "m.pull(progress=True)")
    (widget,) = data(pull, WIDGET)
    assert "model_id" in widget
    (bar,) = [o["data"]["text/plain"] for o in outputs(pull) if WIDGET in o.get("data", {})]
    assert "100%" in bar and "24.0 MiB/24.0 MiB" in bar and "4/4 files" in bar, bar
    (report,) = data(pull, HTML)
    assert "<strong>Report</strong>" in report and "4 downloaded" in report
    assert "moved 24.0 MiB" in report and "<caption" in report
    (again,) = data(cell_with(nb, "m.pull()"), HTML)
    assert "nothing to move, 5 unchanged" in again and "1 request (1 list)" in again
    assert "<table" not in again, "a report of nothing is one line"
    assert not data(cell_with(nb, "m.pull()"), WIDGET), "no bar for a pull with nothing to do"
    frame = data(cell_with(nb, "report.to_pandas()"), HTML)[0]
    assert "status" in frame and "done" in frame
    (requests,) = data(cell_with(nb, "m.requests"), "text/plain")
    assert "'list': 3" in requests, "the diff and both pulls listed once each"
    (push,) = data(cell_with(nb, "m.push()"), HTML)
    assert "1 uploaded" in push
    url = cell_with(nb, "pd.read_csv(url")
    (frame,) = data(url, HTML)  # the file as cell 12 changed it, read through bucketsync://
    assert frame.count("<tr") == 4 and "<td>13</td>" in frame, frame
    printed = "".join(o.get("text", "") for o in outputs(url) if o["output_type"] == "stream")
    assert "the copy m.path() keeps: True" in printed, printed
    assert "'list': 1, 'head': 0, 'get': 0" in printed, "max_age=60 trusted the last check"


def test_cache_vs_direct(kernel: str) -> None:
    nb = example("cache_vs_direct.ipynb", kernel)
    no_errors(nb)
    plots = [p for c in nb.cells for p in data(c, "image/png")]
    assert len(plots) == 3, "the box plot, the line plot and the counts"
    (summary,) = data(cell_with(nb, "summary = calls.groupby"), HTML)
    assert "stale_reads" in summary and "bucketsync max_age=60" in summary
    # the notebook's own checks (downloads, requests, stale reads) ran without an error


def test_a_default_bar_shows_only_for_long_work_and_stays(kernel: str, tmp_path: Path) -> None:
    cells = [
        "from bucketsync.progress import Progress\n"
        "p = Progress(63, 1, None)\np.advance(63)\np.file_done()\np.close()",
        "import threading, time\n"
        "p = Progress(3 * 2**20, 2, None)\n"
        "def work():\n"
        "    for _ in range(3):\n"
        "        time.sleep(0.3)\n"
        "        p.advance(2**20)\n"
        "t = threading.Thread(target=work)\nt.start()\nt.join()\np.file_done()\np.close()",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    run(nb, kernel, tmp_path)
    no_errors(nb)
    quick, slow = nb.cells
    assert not outputs(quick), "63 bytes done at once: no bar"
    (widget,) = [o for o in outputs(slow) if WIDGET in o["data"]]
    text = widget["data"]["text/plain"]  # what a viewer without widgets shows: the end
    assert "100%" in text and "3.0 MiB/3.0 MiB" in text and "MiB/s" in text, text
    assert "1/2 files" in text
