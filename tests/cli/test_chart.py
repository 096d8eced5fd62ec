"""The one histogram renderer (ttview.chart): whole-count y labels, no legend on the bars, no
empty series along the baseline, and the same chart in ``ttview hist`` and the viewer's screen."""

from __future__ import annotations

import re

import plotext
import polars as pl

from ttview.chart import count_label, count_ticks, draw_histogram, marks_text
from ttview.stats import histogram


def _chart(h, width: int = 80, height: int = 20, **kw) -> str:  # type: ignore[no-untyped-def]
    plotext.clear_figure()
    plotext.theme("clear")
    plotext.plotsize(width, height)
    assert draw_histogram(plotext, h, color=False, **kw)
    text = plotext.uncolorize(plotext.build())
    plotext.clear_figure()
    return text


def _y_labels(chart: str) -> list[str]:
    labels = (re.match(r"^\s*([^│┤┌└\s][^│┤]*)┤", line) for line in chart.splitlines())
    return [m.group(1).strip() for m in labels if m]


def test_count_ticks_are_whole_and_few() -> None:
    for peak in (1, 3, 7, 10, 99, 1_234, 35_302, 154_204, 9_999_999):
        ticks = count_ticks(peak)
        assert ticks[0] == 0 and ticks[-1] >= peak and len(ticks) <= 5
        assert all(isinstance(t, int) for t in ticks)
    assert count_label(35_000) == "35k" and count_label(1_500_000) == "1.5M" and count_label(2_000) == "2,000"


def test_y_labels_are_whole_counts() -> None:
    frame = pl.DataFrame({"latency_us": [1.0, 2.0, 2.5, 3.0, 10.0, 11.0]})
    for log in (False, True):
        chart = _chart(histogram(frame, field="latency_us", bins=5, log=log), height=16)
        labels = _y_labels(chart)
        assert labels and all(re.fullmatch(r"\d[\d,]*[kMG]?", label) for label in labels), labels


def test_the_percentile_key_is_outside_the_plot() -> None:
    frame = pl.DataFrame({"latency_us": [float(i % 400 + 1) for i in range(5000)]})
    h = histogram(frame, field="latency_us", bins=40, log=True)
    chart = _chart(h)
    assert "p50" not in chart and "p99" not in chart  # no legend drawn over the bars
    assert [text.split()[0] for text, _ in marks_text(h)] == ["p50", "p99", "p99.9"]


def test_an_empty_series_and_empty_bins_are_not_drawn() -> None:
    frame = pl.DataFrame(
        {
            "latency_us": [1.0] * 50 + [1000.0] * 50 + [None] * 20,
            "logger": ["a"] * 50 + ["b"] * 50 + ["empty"] * 20,
        }
    )
    h = histogram(frame, field="latency_us", bins=20, log=True, by="logger")
    assert [s.name for s in h.series if not any(s.counts)] == ["empty"]
    chart = _chart(h, markers=("x", "o", "+"))
    assert "empty" not in chart  # no legend entry, no line
    baseline = next(line for line in chart.splitlines() if line.lstrip().startswith("0┤"))
    # series a holds bin 0 only and b the last bin only: nothing is drawn between them
    inside = baseline.split("┤", 1)[1].rstrip("│")
    assert inside.strip("xo ").strip() == "" and inside.count("x") <= 2 and inside.count("o") <= 2


def test_the_screen_and_the_cli_draw_the_same_chart() -> None:
    from textual_plotext.plot import Plot

    frame = pl.DataFrame({"latency_us": [float(i % 900 + 1) for i in range(3000)]})
    h = histogram(frame, field="latency_us", bins=30, log=True)
    widget_plot = Plot()  # what the histogram screen's PlotextPlot draws on
    widget_plot.clear_figure()
    widget_plot.theme("clear")
    widget_plot.plotsize(90, 18)
    draw_histogram(widget_plot, h, color=False)
    assert plotext.uncolorize(widget_plot.build()) == _chart(h, width=90, height=18)
