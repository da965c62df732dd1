"""What a notebook user sees: sizes, the summary line, captions, long tables, pandas,
the progress bar's units, and warnings that name the user's line."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import bucketsync
from bucketsync import display, errors, progress
from bucketsync.location import S3Location, SyncPair
from bucketsync.plan import Action, Plan, Problem
from bucketsync.report import Report

PAIR = SyncPair("pull", Path("/data/x"), S3Location("bkt", "EOD/"))
MiB = 2**20


def _report(**fields: object) -> Report:
    actions = [Action("download", f"f{i}.csv", "new file", 10 * MiB) for i in range(3)]
    plan = Plan(PAIR, actions, unchanged=4)
    defaults: dict[str, object] = {
        "dry_run": False,
        "downloaded": 2,
        "errors": [Problem("f1.csv", "checksum mismatch", "remote")],
        "bytes_transferred": 20 * MiB,
        "requests": {"list": 1, "head": 0, "get": 3, "put": 0},
        "seconds": 1.5,
    }
    return Report(plan, **{**defaults, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("n", "text"),
    [
        *[(0, "0 B"), (63, "63 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (30 * MiB, "30.0 MiB")],
        *[(5 * 2**30, "5.0 GiB"), (3 * 2**40, "3.0 TiB"), (2**60, "1048576.0 TiB")],
    ],
)
def test_sizes_are_in_binary_units_and_say_so(n: int, text: str) -> None:
    assert display.size(n) == text


def test_requests_read_as_a_total_and_the_kinds_sent() -> None:
    assert display.requests_text({"list": 1, "head": 0, "get": 2}) == "3 requests (1 list, 2 get)"
    assert display.requests_text({"list": 1, "get": 0}) == "1 request (1 list)"
    assert display.requests_text({"list": 0}) == "no requests"


def test_a_report_of_nothing_is_one_line() -> None:
    report = Report(Plan(PAIR, [], unchanged=5), dry_run=False, requests={"list": 1}, seconds=0.01)
    html = report._repr_html_()
    assert "nothing to move, 5 unchanged; 1 request (1 list) in 0.01 s" in html
    assert "<table" not in html and "{" not in html, "no table, no dict"
    assert report.summary() == "nothing to move, 5 unchanged; 1 request (1 list) in 0.01 s"


def test_a_report_says_sizes_as_people_do_and_failures_stand_out() -> None:
    report = _report()
    html = report._repr_html_()
    assert "2 downloaded, 4 unchanged" in html and "moved 20.0 MiB" in html
    assert "4 requests (1 list, 3 get) in 1.50 s" in html
    assert str(20 * MiB) not in html.replace(f'title="{10 * MiB} bytes"', "")
    assert f'title="{10 * MiB} bytes">10.0 MiB<' in html, "exact bytes on hover"
    assert f'<strong style="{display.FAILED}">1 failed</strong>' in html
    failures = html.index(">1 failed</caption>")
    assert failures < html.index(">3 actions</caption>"), "failures come first"
    assert f'<tr style="{display.FAILED}"><td>download</td><td>f1.csv</td>' in html
    assert f'<td style="{display.FAILED}">failed</td>' in html and "<td>done</td>" in html
    assert report.summary() == (
        "2 downloaded, 4 unchanged, 1 failed; moved 20.0 MiB; 4 requests (1 list, 3 get) in 1.50 s"
    )


def test_the_text_summary_line_is_unchanged() -> None:
    assert _report().summary_line() == (
        "0 uploaded, 2 downloaded, 0 deleted, 4 unchanged, 1 failed;"
        " moved 20.0 MiB, hashed 0 B in 1.50 s"
    )


def test_a_dry_run_report_says_what_it_would_do() -> None:
    report = _report(dry_run=True, downloaded=0, errors=[], bytes_transferred=0)
    assert report.summary().startswith("3 to download, 4 unchanged; would move 30.0 MiB; ")
    html = report._repr_html_()
    assert "Report (dry run)" in html and "<th>status</th>" not in html


def test_every_table_has_a_caption() -> None:
    plan = Plan(PAIR, [Action("delete", "old.csv", "not in source", 3)], unchanged=1)
    plan.problems.append(Problem("bad.csv", "permission denied"))
    plan.warnings.append("link: symbolic link not followed")
    html = plan._repr_html_()
    assert html.count("<table") == html.count("<caption") == 3
    assert ">1 error: left alone</caption>" in html and ">1 action</caption>" in html
    assert ">1 skipped on purpose</caption>" in html
    assert "1 delete; 1 unchanged" in html


@pytest.mark.parametrize("n", [display.MAX_ROWS, display.MAX_ROWS + 1, 1000])
def test_long_tables_show_head_and_tail(n: int) -> None:
    plan = Plan(PAIR, [Action("download", f"f{i:04}", "new file", 1) for i in range(n)])
    html = plan._repr_html_()
    shown = [i for i in range(n) if f"<td>f{i:04}</td>" in html]
    if n <= display.MAX_ROWS:
        assert shown == list(range(n)) and "more …" not in html
    else:
        head, tail = list(range(display.HEAD)), list(range(n - display.TAIL, n))
        assert shown == head + tail
        gap = f'<tr><td colspan="4">… {n - display.HEAD - display.TAIL} more …</td></tr>'
        assert f"<td>f{display.HEAD - 1:04}</td><td>new file</td>" in html and gap in html


def test_report_to_pandas_has_a_row_per_action_with_its_outcome() -> None:
    pytest.importorskip("pandas")
    frame = _report().to_pandas()
    assert list(frame.columns) == ["action", "path", "reason", "bytes", "status", "error"]
    assert frame["status"].tolist() == ["done", "failed", "done"]
    assert frame.loc[1, "error"] == "checksum mismatch"
    assert frame["bytes"].tolist() == [10 * MiB] * 3
    planned = _report(dry_run=True, errors=[]).to_pandas()
    assert set(planned["status"]) == {"planned"}
    assert len(Report(Plan(PAIR), dry_run=False).to_pandas()) == 0


def test_progress_sizes_and_speeds_are_binary_and_say_so() -> None:
    fields = {"n": 30 * MiB, "total": 60 * MiB, "elapsed": 2.0, "rate": None, "initial": 0}
    assert progress.sizes(fields) == {
        "done": "30.0 MiB",
        "whole": "60.0 MiB",
        "speed": "15.0 MiB/s",
    }
    fields.update(rate=1536.0, total=None)
    assert progress.sizes(fields) == {"done": "30.0 MiB", "whole": "?", "speed": "1.5 KiB/s"}


def test_a_bar_on_a_terminal_says_mib(capsys: pytest.CaptureFixture[str]) -> None:
    bar = progress.Progress(3 * MiB, 2, True, desc="pull")
    bar.advance(3 * MiB)
    bar.file_done()
    bar.close()
    err = capsys.readouterr().err
    assert "3.0 MiB/3.0 MiB" in err and "iB/s, 1/2 files]" in err, err
    assert err.rstrip("\n").rsplit("\r", 1)[-1].startswith("pull: 100%"), "the bar stays"


def test_a_default_bar_waits_before_showing(capsys: pytest.CaptureFixture[str]) -> None:
    bar = progress.Progress(63, 1, None)
    assert bar._bar is None or bar._bar.delay == progress.DELAY
    bar.advance(63)
    bar.close()
    assert capsys.readouterr().err == "", "quick work shows no bar"


def _library_warns() -> None:
    """Stands in for a library frame: its file is made to look like the package's."""
    errors.warn("offline", bucketsync.OfflineWarning)


def test_warnings_name_the_first_line_outside_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        errors.warn("direct", bucketsync.OfflineWarning)
        _library_warns()
    assert [Path(w.filename) for w in caught] == [Path(__file__)] * 2
    # Pretend this test file is inside the package: the warning goes further up.
    monkeypatch.setattr(errors, "_PACKAGE", str(Path(__file__).parent) + "/")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _library_warns()
    assert Path(__file__).parent not in Path(caught[0].filename).parents
