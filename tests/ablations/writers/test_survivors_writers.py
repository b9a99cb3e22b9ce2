"""What five pieces of the writers decide, pinned where the rest of the suite leaves them free: the
height of page 1's chart for a small study and for a long one (ablations/writers/pdf.py first_page), the
page an image goes on (image_page), how a table's caption wraps (table_pages), the lr schedules'
names when one recipe runs at two learning rates (plots.schedules), and a sweep stage's seeds for a
level the stage has no count for (sweep.stage_section)."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import numpy as np  # noqa: E402

from ablations.analysis.effects import Effect, Estimate  # noqa: E402
from ablations.analysis.summary import summarise  # noqa: E402
from ablations.writers import pdf, plots  # noqa: E402
from ablations.writers.sweep import stage_section  # noqa: E402
from mainrun.components.optimizers import lr_curve  # noqa: E402
from tests.ablations.writers.kept_figures import keep_figures  # noqa: E402
from tests.ablations.writers.test_pdf_pages import make  # noqa: E402
from tests.ablations.writers.test_plots import row_of, summary_of  # noqa: E402
from tests.ablations.writers.test_sweep_md import RECORD  # noqa: E402


@pytest.fixture
def pages(monkeypatch):
    """Every page pdf.py would save, kept open to be read."""
    yield from keep_figures(monkeypatch, pdf, pages=True)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """Two axes of two levels on one seed: 4 cells, 3 effects (two mains and their interaction)."""
    return make(tmp_path_factory.mktemp("survivors") / "small", axes=["opt=adamw,muon", "pos=learned,rope"], seeds=1)


def chart_extent(fig) -> tuple[float, float]:
    """The chart's height and its bottom edge above the page's foot, in inches."""
    ax, = fig.axes
    box = ax.get_position()
    width, height = fig.get_size_inches()
    return box.height * height, box.y0 * height


# -- page 1's chart --------------------------------------------------------------------------------

def test_a_small_studys_chart_is_as_tall_as_its_bars_need_not_as_tall_as_the_page(small, pages):
    """Three one-line labels need 0.16 * 3 + 0.14 * 3 + 0.5 = 1.4 inches, less than the 2-inch floor:
    the chart is 2 inches tall, its top under the sentences, with most of the page left blank below it."""
    summary = summarise(small)
    assert [e.name for e in summary.effects] == ["pos: learned -> rope", "opt: adamw -> muon", "pos=rope x opt=muon"]
    pdf.first_page(None, summary)
    fig, = pages
    chart, bottom = chart_extent(fig)
    assert chart == pytest.approx(2.0)
    assert bottom > pdf.PORTRAIT[1] / 2, "the chart sits in the page's upper half"


def test_a_long_charts_height_stops_at_the_page_foot(small, pages):
    """Eighteen labels of three lines each would need 0.16 * 54 + 0.14 * 18 + 0.5 = 11.66 inches: the
    chart takes what is left of the page, down to the margin and the x labels' 0.45 inches."""
    summary = summarise(small)
    name = " = ".join(f"opt=muon x pos=rope x norm=rmsnorm x qknorm=rmsnorm x act={i}" for i in range(3))
    summary.effects = [Effect(f"{name} {i}", Estimate(-0.01 * (i + 1), 0.01, 3, 0.004, 0.5), 2) for i in range(18)]
    pdf.first_page(None, summary)
    fig, = pages
    ax, = fig.axes
    assert sum(pdf.lines_in(t.get_text()) for t in ax.get_yticklabels()) >= 54
    chart, bottom = chart_extent(fig)
    assert bottom == pytest.approx(pdf.MARGIN + 0.45)
    assert chart < 11.66


# -- an image's page -------------------------------------------------------------------------------

@pytest.mark.parametrize("rows, columns, size", [
    (100, 100, pdf.PORTRAIT),  # square: 7.27 inches across a portrait page, 6.77 tall on a landscape one
    # 1.2 wide to 1 tall: 6.77 / 100 per pixel on a landscape page (its height binds) against 7.27 / 120 on
    # a portrait one (its width binds): landscape shows it larger.
    (100, 120, pdf.LANDSCAPE),
    (100, 200, pdf.LANDSCAPE),
])
def test_an_image_goes_on_the_page_that_shows_it_larger(pages, tmp_path, rows, columns, size):
    path = tmp_path / "plot.png"
    pdf.mpimg.imsave(path, np.zeros((rows, columns, 3)))
    pdf.image_page(None, "A plot", path)
    fig, = pages
    assert tuple(fig.get_size_inches()) == pytest.approx(size)
    assert fig.texts[0].get_text() == "A plot"


# -- a table's caption -----------------------------------------------------------------------------

def test_a_caption_wraps_as_a_paragraph_not_breaking_at_its_equals_sign(pages):
    """A caption is prose: its " = " is not an alias to start a new line at (as an effect's label
    would), and its lines fill the page's width."""
    caption = "Aliased effects = " + "one estimate of them all, " * 9 + "read as one."
    pdf.table_pages(None, "T", ["h"], [["x"]], {}, set(), set(), caption)
    fig, = pages
    assert [t.get_text() for t in fig.texts[:2]] == [
        "T",
        "Aliased effects = " + "one estimate of them all, " * 6 + "one\n"
        "estimate of them all, " + "one estimate of them all, " * 2 + "read as one."]
    assert fig.texts[1].get_fontsize() == 8


# -- the lr schedules' names -----------------------------------------------------------------------

def test_one_recipe_at_two_learning_rates_names_each_schedule_by_its_lr():
    """adamw at lr 0.001 and at 0.003: two schedules, each named with its lr (named by the recipe
    alone, the two would be one line under one name)."""
    from ablations.study.axes import Point
    from mainrun.variant import Variant

    rows = [row_of("opt=adamw", "lr=0.001"), row_of("opt=adamw", "lr=0.003")]
    for row, lr in zip(rows, (0.001, 0.003)):
        row.point = Point(Variant.parse("opt=adamw"), (("lr", lr),))
    summary = summary_of(rows, {})
    summary.records = [{"status": "ok", "max_steps": 10}]
    lines = plots.schedules(summary)
    assert lines == {"adamw, lr 0.001": pytest.approx(lr_curve("adamw", 10, 0.001)),
                     "adamw, lr 0.003": pytest.approx(lr_curve("adamw", 10, 0.003))}


def test_recipes_at_one_learning_rate_each_are_named_by_the_recipe_alone():
    """adamw and muon at lr 0.001 each: one recipe to one lr, so no lr in the names; the two share their
    schedule, one line named after both."""
    from ablations.study.axes import Point

    rows = [row_of("opt=adamw", "a"), row_of("opt=muon", "b")]
    for row in rows:
        row.point = Point(row.point.variant, (("lr", 0.001),))
    summary = summary_of(rows, {})
    summary.records = [{"status": "ok", "max_steps": 10}]
    assert plots.schedules(summary) == {"adamw = muon": pytest.approx(lr_curve("adamw", 10, 0.001))}


# -- a sweep stage's table -------------------------------------------------------------------------

def test_a_level_without_a_seed_count_shows_zero_seeds():
    """A stage whose sweep.json counts no seed for 0.001 (none finished): its row says 0, not a blank."""
    stage = copy.deepcopy(RECORD["stages"][0])
    stage["seeds_ok"] = {"0.0003": 2, "0.01": 1}
    lines = stage_section(stage, None)
    assert lines[4] == ("| lr            | val loss (mean ± sd)   | seeds   |\n"
                        "|---------------|------------------------|---------|\n"
                        "| 0.0003        | 2.5000 ± 0.0100        | 2       |\n"
                        "| 0.001         |                        | 0       |\n"
                        "| 0.01 (chosen) | 2.3000                 | 1       |")
