"""Text charts: which results are time series (the console's rules), and how they are drawn."""

from __future__ import annotations

import math

import pytest

from loglens.textchart import BLOCKS, render, sparkline, squeeze, text_chart, time_series


def test_a_sparkline_scales_from_zero_to_the_maximum() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == BLOCKS
    assert sparkline([5, 5, 5]) == "███"  # from zero: a flat non-zero series is full height
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([None, 4, None, 8]) == " ▅ █"
    assert sparkline([]) == ""
    assert sparkline([None, math.nan]) == "  "
    assert sparkline([-4, 0, 4]) == "▁▅█"  # negative values move the floor down


def test_long_series_are_averaged_down() -> None:
    assert squeeze([1, 3, 5, 7], 2) == [2, 6]
    assert squeeze([1, None, None, None], 2) == [1, None]
    assert squeeze([1, 2], 10) == [1, 2]
    assert len(squeeze(list(range(10_081)), 48)) == 48


@pytest.mark.parametrize(
    ("columns", "rows", "labels"),
    [
        (["hour", "errors"], [["2026-03-10T00:00:00Z", 1], ["2026-03-10T01:00:00Z", 3]], ["errors"]),
        (["day", "n", "p95"], [["2026-03-10", 1, 2.5], ["2026-03-11", 3, 1.0]], ["n", "p95"]),
        (
            ["hour", "service", "n"],
            [["2026-03-10 00:00:00+00", s, i] for i, s in enumerate("abcdefg")]
            + [["2026-03-10 01:00:00+00", s, i] for i, s in enumerate("abcdefg")],
            ["g", "f", "e", "d", "other"],
        ),
    ],
)
def test_time_series_shapes(columns: list[str], rows: list[list[object]], labels: list[str]) -> None:
    chart = time_series(columns, rows)
    assert chart is not None and [s.label for s in chart.series] == labels
    assert chart.start < chart.end


def test_rows_out_of_order_are_placed_by_time_and_other_sums_the_rest() -> None:
    rows = [["2026-03-10T02:00:00Z", "a", 5], ["2026-03-10T00:00:00Z", "a", 1], ["2026-03-10T01:00:00Z", "b", 2]]
    chart = time_series(["t", "svc", "n"], rows)
    assert chart is not None
    assert {s.label: s.values for s in chart.series} == {"a": [1.0, None, 5.0], "b": [None, 2.0, None]}


@pytest.mark.parametrize(
    ("columns", "rows"),
    [
        (["service", "errors"], [["a", 1], ["b", 2]]),  # categories: a bar chart, not a series
        (["n"], [[1]]),  # one number
        (["hour", "errors"], [["2026-03-10T00:00:00Z", 1]]),  # one point
        (["hour", "errors"], [["2026-03-10T00:00:00Z", 1], ["2026-03-10T00:00:00Z", 2]]),  # one time
        (["hour", "a", "b", "n"], [["2026-03-10", "x", "y", 1], ["2026-03-11", "x", "y", 2]]),  # two categories
        (["hour", "message"], [["2026-03-10", "x"], ["2026-03-11", "y"]]),  # no number
        (["a", "b"], [["2026-03-10", 1], ["not a time", 2]]),
        (["t1", "t2", "n"], [["2026-03-10", "2026-03-10", 1], ["2026-03-11", "2026-03-11", 2]]),  # two times
        (["hour", "n"], [["2026-13-45", 1], ["2026-03-11", 2]]),  # looks like a time, is not one
        (["hour", "n"], [["2026-03-10", True], ["2026-03-11", False]]),  # booleans are not numbers
        ([], []),
    ],
)
def test_other_shapes_get_no_text_chart(columns: list[str], rows: list[list[object]]) -> None:
    assert text_chart(columns, rows) is None


def test_render_says_the_range_and_the_figures_and_cuts_long_labels() -> None:
    rows = [[f"2026-03-10T00:{m:02d}:00Z", "a-very-long-service-name-indeed", m] for m in range(60)]
    rows += [[f"2026-03-10T00:{m:02d}:00Z", "b", 1.5] for m in range(60)]
    chart = time_series(["minute", "service", "records"], rows)
    assert chart is not None
    lines = render(chart, width=30).splitlines()
    assert lines[0] == "minute: 2026-03-10 00:00 → 2026-03-10 00:59 UTC, 60 points (each mark averages 2)"
    assert lines[1].startswith("a-very-long-service…  ") and lines[1].endswith("0 … 59")
    assert lines[2].endswith("1.50 … 1.50") and len(lines[1].split()[1]) == 30
