"""What report.pdf says and where (ablations/writers/pdf.py), read off each page's figure just before it
is saved: the first page's sentences and chart, a table's pages (their titles, caption, rows, bold and
shading, where each cell's text starts), text pages, an image's page, the configuration's lines. For
small hand-checked inputs: a tuned study made by the synthetic backend in a fraction of a second, and
tables, lines and images written in the tests themselves."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from ablations import Study, run_study  # noqa: E402
from ablations.analysis.summary import summarise  # noqa: E402
from ablations.study.study import ReportOptions  # noqa: E402
from ablations.writers import pdf  # noqa: E402
from tests.ablations.synthetic import install  # noqa: E402
from tests.ablations.writers.kept_figures import keep_figures

# Seeds 1337 and 1338 tune, 1339 and 1340 measure; every cell of a seed shifts alike, except muon's on
# 1340 (0.01 worse), so that the effect of muon has an interval.
SHIFT = {1337: 0.0, 1338: 0.01, 1339: 0.02, 1340: 0.04}


def loss_of(cfg) -> float:
    """muon helps by 0.3, rope by 0.05; a weight decay of 0.1 is best for every variant (0.01 costs 0.1)."""
    v, seed = cfg.variant, cfg.training.seed
    return (2.5 - 0.3 * (v.opt == "muon") - 0.05 * (v.pos == "rope")
            + 0.1 * abs(math.log10((cfg.optim.weight_decay or 0.1) / 0.1)) + SHIFT[seed]
            + 0.01 * (v.opt == "muon") * (seed == 1340))


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> Path:
    """A 2x2 factorial, each variant at its own weight decay (0.01 or 0.1, picked on two seeds, measured on
    two more), with the shared-default comparison."""
    out = tmp_path_factory.mktemp("pdf-content") / "tuned"
    with pytest.MonkeyPatch.context() as monkeypatch:
        install(monkeypatch, loss_of)
        run_study(Study.from_options(axes=["opt=adamw,muon", "pos=learned,rope"], tune="weight_decay=0.01,0.1",
                                     tune_seeds=2, tune_extend=0, seeds=4, scale="tiny", data="embedded",
                                     out=str(out), plot=False))
    return out


@pytest.fixture
def figures(monkeypatch):
    """Every page pdf.py would save, kept open to be read (the PdfPages argument is not used)."""
    yield from keep_figures(monkeypatch, pdf, pages=True)


def inches(fig, artist) -> tuple[float, float, float, float]:
    """An artist's drawn box on its page, in inches from the bottom left: x0, y0, x1, y1."""
    renderer = fig.canvas.get_renderer()
    box = artist.get_window_extent(renderer)
    return box.x0 / fig.dpi, box.y0 / fig.dpi, box.x1 / fig.dpi, box.y1 / fig.dpi


# -- page 1 ----------------------------------------------------------------------------------------

def test_the_first_page_says_what_ran_what_each_kind_of_cell_is_and_what_came_out(tuned):
    """The reader learns from page 1 alone how many cells of each kind there are (measured, tuning with
    its candidates and seeds, shared default), the best against the reference and what is beyond noise.
    By hand: the reference (adamw, learned) is 2.52 and 2.54 on the measuring seeds; pos=rope, opt=muon
    is 2.17 and 2.20, differences -0.35 and -0.34: -0.345 ± 12.706 * 0.00707 / sqrt(2) = 0.0635."""
    assert pdf.sentences(summarise(tuned)) == [
        "Grid `axes`: 4 variants x 2 seeds (1339, 1340) at the `tiny` scale on the embedded synthetic corpus "
        "(fingerprint embedded-v1-n120000). The table measures 8 cells (each variant at its own weight-decay on "
        "the measuring seeds): 8 of 8 finished ok, ranked by val loss. The folder's other 24 cells are not in it: "
        "16 tuning cells (each variant at each weight-decay candidate, 0.01, 0.1, on the tuning seeds 1337, 1338; "
        "16 ok) and 8 shared-default cells (each variant at the shared default weight-decay (0.1) on the measuring "
        "seeds, for comparison; 8 ok).",
        "Best: pos=rope, opt=muon, weight-decay=0.1 at 2.1850, -0.3450 ± 0.0635 against the reference (2.5300; "
        "95% interval over 2 seeds).",
        "Beyond noise (Holm-adjusted p < 0.05): opt: adamw -> muon -0.2950 ± 0.0635; pos: learned -> rope "
        "-0.0500 ± 0.0000."]


def test_the_first_pages_chart_names_its_metric_and_draws_one_bar_per_effect(tuned, figures):
    """The chart's title says what the bars are; each effect has its bar, blue when beyond noise, the
    largest at the bottom."""
    pdf.first_page(None, summarise(tuned))
    fig, = figures
    assert [t.get_text() for t in fig.texts][0] == "Ablations: axes"
    ax, = fig.axes
    assert ax.get_title(loc="right") == ("Effects on val loss, each variant at its own weight-decay "
                                         "(95% intervals; blue: beyond noise)")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["pos=rope x opt=muon", "pos: learned -> rope",
                                                            "opt: adamw -> muon"]
    assert [bar.get_width() for bar in ax.patches] == pytest.approx([0.0, -0.05, -0.295], abs=1e-9)
    assert [bar.get_facecolor() for bar in ax.patches] == [to_rgba("0.6"), to_rgba("tab:blue"), to_rgba("tab:blue")]
    assert ax.get_xlabel() == "negative = lower loss"


def test_the_charts_title_breaks_only_where_it_does_not_fit_at_the_size_it_is_drawn(tuned, figures):
    """Ranked by the full-coverage loss, the title runs to 6.9 inches at its 9 points: it fits the 7.2
    inches it has on one line (at 10 points it would not, and would break before its last word)."""
    pdf.first_page(None, summarise(tuned, ReportOptions(metric="val_loss_full")))
    ax, = figures[0].axes
    assert ax.get_title(loc="right") == ("Effects on val loss (full coverage), each variant at its own weight-decay "
                                         "(95% intervals; blue: beyond noise)")


def test_the_chart_starts_a_third_of_an_inch_below_the_last_sentence(tuned, figures):
    """The sentences run to 12 lines at a line spacing of 1.4; the chart (its title) keeps clear of them
    by the page's 0.35 inch gap, not by less for each line the sentences take."""
    pdf.first_page(None, summarise(tuned))
    fig, = figures
    sentences = fig.texts[1]
    assert pdf.lines_in(sentences.get_text()) == 12
    gap = inches(fig, sentences)[1] - inches(fig, fig.axes[0]._right_title)[3]
    assert 0.35 <= gap <= 0.6


# -- tables ----------------------------------------------------------------------------------------

HEADERS = ["row", "value", "note"]
BODY = [[f"row {i:03d}", f"{i * 1.5:.1f}", "the best" if i == 2 else ("the reference" if i == 40 else "")]
        for i in range(90)]
SHADES = {2: pdf.BEST_COLOUR, 40: pdf.REFERENCE_COLOUR}
CAPTION = "Each row is a number; the best is in bold."


def table_rows(fig) -> tuple[list[str], list[list[tuple[str, str, float]]]]:
    """A table page's texts above the table (title, caption), and its rows top to bottom: each cell's
    text, weight and x (figure fraction), grouped by the y the row's cells share."""
    texts = list(fig.texts)
    rows: dict[float, list] = {}
    above = []
    for t in texts:
        x, y = t.get_position()
        if t.get_fontsize() >= 8:  # the title (13) and caption (8); cells are at most 7.5
            above.append(t.get_text())
        else:
            rows.setdefault(y, []).append((t.get_text(), t.get_weight(), x))
    return above, [rows[y] for y in sorted(rows, reverse=True)]


def test_a_long_table_continues_over_pages_each_row_once_in_order_under_the_header(figures):
    """90 rows take three landscape pages: the title on the first, "(continued)" after it, the caption on
    the first only, the header atop each page, every row once and in order, each page filled down to its
    bottom margin before the next begins."""
    pdf.table_pages(None, "Numbers", HEADERS, BODY, SHADES, {2}, {0}, CAPTION)
    assert len(figures) == 3
    seen = []
    for n, fig in enumerate(figures):
        above, rows = table_rows(fig)
        assert above == (["Numbers", CAPTION] if n == 0 else ["Numbers (continued)"])
        assert [text for text, _, _ in rows[0]] == HEADERS
        seen += [[text for text, _, _ in row] for row in rows[1:]]
        rules = sorted(line.get_ydata()[0] for line in fig.artists if isinstance(line, Line2D))
        assert rules[0] * pdf.LANDSCAPE[1] >= pdf.MARGIN - 1e-9, "the last row ends above the bottom margin"
        if n < len(figures) - 1:
            row_height = rules[1] - rules[0]
            assert (rules[0] - row_height) * pdf.LANDSCAPE[1] < pdf.MARGIN, "one more row would not have fit"
    assert seen == BODY


def test_the_best_row_is_bold_and_shaded_and_the_reference_shaded_across_exactly_their_rows(figures):
    """Bold marks the best row only (and the header); a shade lies behind exactly its row, between the
    rule above and the rule below, in the row's colour: the header's grey on every page, the best's
    blue, the reference's grey on the page it falls on."""
    pdf.table_pages(None, "Numbers", HEADERS, BODY, SHADES, {2}, {0}, CAPTION)
    shaded_rows = []
    for fig in figures:
        _, rows = table_rows(fig)
        for row in rows:
            bold = row[0][0] in ("row", "row 002")
            assert [weight for _, weight, _ in row] == ["bold" if bold else "normal"] * 3, row[0][0]
        rules = sorted((line.get_ydata()[0] for line in fig.artists if isinstance(line, Line2D)), reverse=True)
        tops = [fig.texts[[t.get_text() for t in fig.texts].index(row[0][0])].get_position()[1] for row in rows]
        shades = [a for a in fig.artists if isinstance(a, Rectangle)]
        for shade in shades:
            x, y = shade.get_xy()
            top = y + shade.get_height()
            i = min(range(len(rows)), key=lambda i: abs(tops[i] - top))
            # The row's text starts PAD_Y below the row's top; the row ends at the rule under it.
            assert top == pytest.approx(tops[i] + pdf.PAD_Y / pdf.LANDSCAPE[1])
            assert y == pytest.approx(rules[i])
            assert x == pytest.approx(pdf.MARGIN / pdf.LANDSCAPE[0])
            shaded_rows.append((rows[i][0][0], to_rgba(shade.get_facecolor())))
    assert shaded_rows == [("row", to_rgba(pdf.HEADER_COLOUR)), ("row 002", to_rgba(pdf.BEST_COLOUR)),
                           ("row", to_rgba(pdf.HEADER_COLOUR)), ("row 040", to_rgba(pdf.REFERENCE_COLOUR)),
                           ("row", to_rgba(pdf.HEADER_COLOUR))]


def test_each_cells_text_starts_inside_its_column_a_pad_right_of_the_tables_left_rule(figures):
    """The first column's text starts PAD_X inside the rules' left end, not in the margin; each column
    starts right of the one before, and the last ends within the rules."""
    pdf.table_pages(None, "Numbers", HEADERS, BODY, SHADES, {2}, {0}, CAPTION)
    fig = figures[0]
    _, rows = table_rows(fig)
    rule = next(a for a in fig.artists if isinstance(a, Line2D))
    left, right = rule.get_xdata()
    for row in rows:
        xs = [x for _, _, x in row]
        assert xs[0] == pytest.approx(left + pdf.PAD_X / pdf.LANDSCAPE[0])
        assert xs == sorted(xs) and len(set(xs)) == 3
    for text in fig.texts:
        if text.get_fontsize() < 8:
            assert inches(fig, text)[2] <= right * pdf.LANDSCAPE[0] + 1e-6


# -- text and image pages --------------------------------------------------------------------------

@pytest.mark.parametrize("monospace", [True, False])
def test_text_pages_show_the_lines_as_given_continued_with_the_title_on_every_page(figures, monospace):
    """Short lines come out exactly as given, one per line, in order; those that do not fit on one
    page go on the next, under the title and "(continued)"."""
    lines = [f"line {i}: {'x' * (i % 7)}" for i in range(150)]
    pdf.text_pages(None, "Notes", lines, monospace=monospace)
    assert len(figures) >= 2
    shown = []
    for n, fig in enumerate(figures):
        title, body = (t.get_text() for t in fig.texts)
        assert title == ("Notes" if n == 0 else "Notes (continued)")
        shown += body.split("\n")
        assert inches(fig, fig.texts[1])[1] >= pdf.MARGIN - 0.02, "the text ends above the bottom margin"
    assert shown == lines


def test_a_line_wider_than_the_page_wraps_to_its_width_with_its_continuations_indented(figures):
    """A 300-character line of the configuration wraps to the 7.27 inches between the margins, each
    continuation indented by four spaces, and nothing of it is lost."""
    words = " ".join(f"word{i}" for i in range(50))
    pdf.text_pages(None, "Configuration", ["short", words, "after"], monospace=True)
    fig, = figures
    lines = fig.texts[1].get_text().split("\n")
    assert lines[0] == "short" and lines[-1] == "after" and len(lines) >= 5
    wrapped = lines[1:-1]
    assert all(line.startswith("    ") for line in wrapped[1:]) and not wrapped[0].startswith(" ")
    assert " ".join(line.strip() for line in wrapped) == words
    measure = pdf.Measure(fig)
    room = pdf.PORTRAIT[0] - 2 * pdf.MARGIN
    assert all(measure.width(line, 6.5, family="monospace") <= room for line in lines)
    assert inches(fig, fig.texts[1])[2] <= pdf.PORTRAIT[0] - pdf.MARGIN + 0.02


@pytest.mark.parametrize("shape, page", [((200, 300), pdf.LANDSCAPE), ((300, 300), pdf.PORTRAIT),
                                         ((300, 200), pdf.PORTRAIT)])
def test_an_image_goes_on_the_page_that_shows_it_larger(tmp_path, figures, shape, page):
    """A wide image (3:2) fills a landscape page's 10.7 inches; a square one is larger on a portrait page
    (7.27 inches wide) than within a landscape page's 6.77 inches of height under its title; a tall one
    is portrait. The image sits below its title, within the margins."""
    import numpy as np

    path = tmp_path / "plot.png"
    pdf.mpimg.imsave(path, np.zeros(shape + (3,)))
    pdf.image_page(None, "A plot", path)
    fig, = figures
    assert tuple(fig.get_size_inches()) == page
    assert [t.get_text() for t in fig.texts] == ["A plot"]
    ax, = fig.axes
    assert ax.images and ax.images[0].get_array().shape[:2] == shape
    title_bottom = inches(fig, fig.texts[0])[1]
    x0, y0, w, h = (v * s for v, s in zip(ax.get_position(original=True).bounds, (*page, *page)))
    assert x0 == pytest.approx(pdf.MARGIN) and y0 == pytest.approx(pdf.MARGIN)
    assert x0 + w == pytest.approx(page[0] - pdf.MARGIN) and y0 + h < title_bottom


# -- configuration ---------------------------------------------------------------------------------

def test_the_configuration_names_the_machine_the_code_changes_and_what_each_unset_setting_was(tuned):
    """Every line of the configuration page for a folder whose code changed while it filled: the command,
    data, backend, code, the change, the machine, the config with `weight_decay` (tuned) and `lr` (left
    to each recipe) said in words, and the value each variant used."""
    summary = summarise(tuned)
    summary.run.update(command="python -m ablations.run --axes ...", backend="local", workers=2, threads=1,
                       device="cpu", torch="2.5.0", code={"source": "abc"}, machine="a laptop",
                       code_changes=[{"from": "abc", "to": "def", "at": "2026-01-02T03:04:05"}],
                       config={"scale": "tiny", "lr": None, "weight_decay": None})
    summary.run.pop("resumed", None)
    assert pdf.configuration(summary) == [
        "command: python -m ablations.run --axes ... (the folder's latest run: it was run again after its first "
        "cells, see the code changes below, and run.json then kept no earlier command)",
        "data: the embedded synthetic corpus (fingerprint embedded-v1-n120000)",
        "backend: local, 2 workers x 1 threads, device cpu",
        'torch 2.5.0, code {"source": "abc"}',
        "code changed 1 time while the folder filled (--allow-code-change): abc -> def at 2026-01-02T03:04:05",
        "machine: a laptop",
        "",
        "{",
        ' "scale": "tiny",',
        ' "lr": "each recipe\'s own: adamw 0.0003, muon 0.0003",',
        ' "weight_decay": "tuned per variant from 0.01, 0.1 (below); the shared default weight-decay (0.1)"',
        "}",
        "",
        "weight-decay used by each variant (tuned; the value is also in its name):",
        "  0.1: 4 variants",
        "    weight-decay=0.1",
        "    pos=rope, weight-decay=0.1",
        "    opt=muon, weight-decay=0.1",
        "    pos=rope, opt=muon, weight-decay=0.1"]


def test_a_folder_from_before_axes_were_recorded_still_says_what_each_recipe_used(tuned):
    """run.json before setting axes had no `axes` (docs/results-cpu-3seeds is one): an unset `lr` still
    reads as each recipe's own value, the report does not fail."""
    summary = summarise(tuned)
    del summary.run["axes"]
    assert pdf.used_values(summary, "lr") == "each recipe's own: adamw 0.0003, muon 0.0003"
