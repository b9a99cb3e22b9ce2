"""Four things the writers decide that the rest of the suite leaves free: a sweep stage's alarms joined on
the console (ablations/writers/console.py sweep_console), a delta without an interval in results.md's
deltas table (markdown.deltas_section), and page 1's bar chart of deltas in report.pdf: its error bars
and where its right edge sits (pdf.first_page)."""
from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402

from ablations.analysis.summary import summarise  # noqa: E402
from ablations.writers import pdf  # noqa: E402
from ablations.writers.console import sweep_console  # noqa: E402
from ablations.writers.markdown import deltas_section  # noqa: E402
from tests.ablations.writers.kept_figures import keep_figures  # noqa: E402
from tests.ablations.writers.test_pdf_pages import make  # noqa: E402
from tests.ablations.writers.test_sweep_md import RECORD, summary_of  # noqa: E402

# muon's interval: seeds 1337, 1338 give -0.30 and -0.28 against the baseline, -0.29 ± t(1) 12.706 x
# 0.01414 / sqrt 2 = 0.1271; every other swap shifts alike on both seeds (± 0).
SHIFT = {1337: 0.0, 1338: 0.01}


def loss_of(cfg) -> float:
    v, seed = cfg.variant, cfg.training.seed
    return 2.5 - 0.3 * (v.opt == "muon") - 0.05 * (v.pos == "rope") + SHIFT[seed] + 0.02 * (v.opt == "muon") * (seed == 1338)


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Path:
    """--grid single on seeds 1337, 1338 with rope's seed-1338 cell never run: rope's delta stands on one
    seed and has no interval; muon's has one of ± 0.1271; the rest ± 0."""
    out = make(tmp_path_factory.mktemp("survivors-seed4") / "single", loss_of, grid="single", seeds=2)
    shutil.rmtree(out / "cells" / "layernorm-rope-default-sgd-seed1338")
    return out


@pytest.fixture
def pages(monkeypatch):
    """Every page pdf.py would save, kept open to be read."""
    yield from keep_figures(monkeypatch, pdf, pages=True)


# -- the sweep's console lines -----------------------------------------------------------------------

def test_a_sweep_stage_with_two_alarms_prints_both_joined_by_a_semicolon():
    stages = copy.deepcopy(RECORD["stages"])
    stages[0]["alarms"] = ["lr: best at the top of its grid (0.01); extend it", "lr: 0.001 never finished"]
    assert sweep_console(summary_of(stages=stages), "runs/sweep/sweep.md") == """\
sweep of norm=layernorm,pos=learned,init=default,opt=adamw: 2 stages over seeds 1337, 1338
  stage 1 lr: best lr 0.01 beyond noise: adopted ALARM: lr: best at the top of its grid (0.01); extend it; \
lr: 0.001 never finished
  stage 2 pos: within noise, learned kept
Chosen against start on held-out seeds 1340, 1341: -0.1500 ± 0.0400 (beyond noise)
Chosen: lr 0.01, pos learned, lr-scaling sqrt
Full report: runs/sweep/sweep.md
"""


# -- results.md's deltas table ---------------------------------------------------------------------

def test_a_delta_without_an_interval_shows_n_a_beside_those_with_one(single):
    """rope, on one seed, has no interval: n/a, no p-value, no verdict; muon's and the others' show theirs."""
    section = deltas_section(summarise(single))
    assert section[0] == "## Each variant against the baseline"
    assert section[4].splitlines() == [
        "| variant        | Δ       | 95% interval   | p (Holm)   | seeds   | verdict                    |",
        "|----------------|---------|----------------|------------|---------|----------------------------|",
        "| opt=muon       | -0.2900 | ± 0.1271       | 0.2        | 2       | within noise               |",
        "| pos=rope       | -0.0500 | n/a            |            | 1       | n/a: one seed, no interval |",
        "| opt=adamw      | +0.0000 | ± 0.0000       | 1          | 2       | negligible (inside ±0.003) |",
        "| mask=title     | +0.0000 | ± 0.0000       | 1          | 2       | negligible (inside ±0.003) |",
        "| mlp=swiglu     | +0.0000 | ± 0.0000       | 1          | 2       | negligible (inside ±0.003) |",
        "| param=mup      | +0.0000 | ± 0.0000       | 1          | 2       | negligible (inside ±0.003) |",
        "| qknorm=rmsnorm | +0.0000 | ± 0.0000       | 1          | 2       | negligible (inside ±0.003) |",
        "| init=kaiming   | +0.0000 | ± 0.0000       | 1          | 2       | negligible (inside ±0.003) |",
        "| init=scaled    | +0.0000 | ± 0.0000       | 1          | 2       | negligible (inside ±0.003) |",
        "| norm=rmsnorm   | +0.0000 | ± 0.0000       | 1          | 2       | negligible (inside ±0.003) |",
    ]
    assert section[5:] == [""]


def test_a_one_seed_grid_shows_n_a_for_every_interval(tmp_path):
    section = deltas_section(summarise(make(tmp_path / "one", loss_of, grid="single", seeds=1)))
    rows = section[4].splitlines()[2:]
    assert rows[:2] == [
        "| opt=muon       | -0.3000 | n/a            |            | 1       | n/a: one seed, no interval |",
        "| pos=rope       | -0.0500 | n/a            |            | 1       | n/a: one seed, no interval |"]
    assert len(rows) == 10 and all(row.split("|")[3].strip() == "n/a" for row in rows)


# -- page 1's chart of deltas ----------------------------------------------------------------------

def error_bars(ax) -> dict[str, float]:
    """Each bar's label and its error bar's half length, read off the drawn segments."""
    bars, = [c for c in ax.containers if isinstance(c, BarContainer)]
    _, _, (segments,) = bars.errorbar.lines
    labels = [t.get_text() for t in ax.get_yticklabels()]
    halves = [(segment[:, 0].max() - segment[:, 0].min()) / 2 for segment in segments.get_segments()]
    return dict(zip(labels, halves, strict=True))


def test_each_bar_of_page_ones_chart_has_its_rows_interval_and_a_row_without_one_none(single, pages):
    """muon's bar carries ± 0.1271; rope's (one seed, no interval) and the ± 0 rows' bars carry 0."""
    pdf.first_page(None, summarise(single))
    fig, = pages
    ax, = fig.axes
    bars = error_bars(ax)
    assert list(bars) == ["norm=rmsnorm", "init=scaled", "init=kaiming", "qknorm=rmsnorm", "param=mup", "mlp=swiglu",
                          "mask=title", "opt=adamw", "pos=rope", "opt=muon"]
    assert bars["opt=muon"] == pytest.approx(12.706204736174703 * 0.014142135623730963 / 2 ** 0.5)
    assert bars["opt=muon"] == pytest.approx(0.12706, abs=1e-5)
    assert {label: width for label, width in bars.items() if label != "opt=muon"} == {
        label: pytest.approx(0.0, abs=1e-12) for label in bars if label != "opt=muon"}
    assert [bar.get_width() for bar in ax.patches][-2:] == pytest.approx([-0.05, -0.29])


def test_page_ones_chart_ends_a_tenth_of_an_inch_inside_the_right_margin(single, pages):
    """The chart spans from its labels' width (plus 0.12 in) past the left margin to 0.1 in short of the
    right margin: 8.27 - 0.5 - 0.1 = 7.67 in from the page's left edge."""
    pdf.first_page(None, summarise(single))
    fig, = pages
    ax, = fig.axes
    width, _ = fig.get_size_inches()
    assert width == pdf.PORTRAIT[0]
    box = ax.get_position()
    assert box.x1 * width == pytest.approx(pdf.PORTRAIT[0] - pdf.MARGIN - 0.1, abs=1e-9)
    assert box.x1 * width == pytest.approx(7.67, abs=1e-9)
    scratch, measure = pdf.page(pdf.PORTRAIT)
    try:
        labels = [t.get_text() for t in ax.get_yticklabels()]
        left = pdf.MARGIN + max(measure.width(label, 7) for label in labels) + 0.12
    finally:
        plt.close(scratch)
    assert box.x0 * width == pytest.approx(left, abs=1e-9)
    assert (box.x1 - box.x0) * width == pytest.approx(7.67 - left, abs=1e-9)


def test_with_every_row_on_both_seeds_muons_bar_still_carries_its_interval(tmp_path, pages):
    """No row without an interval here: the chart draws, and muon's error bar is its ± 0.1271, not 0."""
    pdf.first_page(None, summarise(make(tmp_path / "whole", loss_of, grid="single", seeds=2)))
    fig, = pages
    ax, = fig.axes
    bars = error_bars(ax)
    assert bars["opt=muon"] == pytest.approx(0.12706, abs=1e-5)
    assert bars["pos=rope"] == pytest.approx(0.0, abs=1e-12)
