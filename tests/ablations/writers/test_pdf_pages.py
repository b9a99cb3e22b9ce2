"""What report.pdf says for the inputs test_pdf_content.py leaves out (ablations/writers/pdf.py): an
untuned full factorial over three seeds, the same with a failed and a missing cell, one seed, a grid
that is not factorial (one swap at a time), the reference alone, a tuned study on one tuning seed
without the shared default; and the pieces: the design's sentence, the results and effects tables,
a table that must wrap or shrink, the commands, the configuration, the samples, and the pages of the
whole document in order. Each expected text was checked by hand against the losses below."""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from ablations import Study, run_study  # noqa: E402
from ablations.analysis.effects import Effect, Estimate  # noqa: E402
from ablations.analysis.summary import Resolution, summarise  # noqa: E402
from ablations.writers import pdf  # noqa: E402
from tests.ablations.synthetic import install  # noqa: E402
from tests.ablations.writers.test_pdf_content import loss_of as tuned_loss_of  # noqa: E402
from tests.ablations.writers.test_pdf_content import table_rows  # noqa: E402
from tests.ablations.writers.kept_figures import keep_figures

# Every cell of a seed shifts alike, except muon's on 1339 (0.02 worse), so that muon has an interval.
SHIFT = {1337: 0.0, 1338: 0.01, 1339: 0.03}
DATA = "the embedded synthetic corpus (fingerprint embedded-v1-n120000)"


def loss_of(cfg) -> float:
    """muon helps by 0.3, rope by 0.05, nothing else matters."""
    v, seed = cfg.variant, cfg.training.seed
    return (2.5 - 0.3 * (v.opt == "muon") - 0.05 * (v.pos == "rope") + SHIFT[seed]
            + 0.02 * (v.opt == "muon") * (seed == 1339))


def make(out: Path, loss=loss_of, **options) -> Path:
    with pytest.MonkeyPatch.context() as monkeypatch:
        install(monkeypatch, loss)
        run_study(Study.from_options(scale="tiny", data="embedded", out=str(out), plot=False, **options))
    return out


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pdf-pages")
    two = ["opt=adamw,muon", "pos=learned,rope"]
    made = {"plain": make(root / "plain", axes=two, seeds=3),
            "one": make(root / "one", axes=two, seeds=1),
            "single": make(root / "single", grid="single", seeds=2),
            "baseline": make(root / "baseline", grid="baseline", seeds=2),
            "tuned": make(root / "tuned", tuned_loss_of, axes=two, tune="weight_decay=0.01,0.1", tune_seeds=1,
                          tune_extend=0, seeds=3, shared_default=False)}
    # The plain folder with muon's seed-1339 cell failed and rope's seed-1338 cell never run.
    broken = root / "broken"
    shutil.copytree(made["plain"], broken)
    record = broken / "cells" / "layernorm-learned-default-muon-seed1339" / "record.json"
    failed = json.loads(record.read_text())
    failed.update(status="failed", error="boom\nmore", val_loss=None, val_loss_full=None)
    record.write_text(json.dumps(failed))
    shutil.rmtree(broken / "cells" / "layernorm-rope-default-adamw-seed1338")
    made["broken"] = broken
    return made


@pytest.fixture
def figures(monkeypatch):
    yield from keep_figures(monkeypatch, pdf, pages=True)


def table(figures) -> list[tuple[list[str], list[list[tuple[str, str]]], list[str]]]:
    """Each table page: the texts above it, each row's (text, weight) cells, the shades' colours top down."""
    out = []
    for fig in figures:
        above, rows = table_rows(fig)
        shades = sorted((a for a in fig.artists if isinstance(a, Rectangle)), key=lambda a: -a.get_xy()[1])
        out.append((above, [[(text, weight) for text, weight, _ in row] for row in rows],
                    [to_rgba(a.get_facecolor()) for a in shades]))
    return out


# -- the sentences of page 1 -----------------------------------------------------------------------

def test_a_plain_factorial_says_its_cells_its_best_with_an_interval_and_the_effects_beyond_noise(folders):
    """By hand: the reference is 2.50, 2.51, 2.53 (mean 2.5133); pos=rope, opt=muon 2.15, 2.16, 2.20
    (2.1700); differences -0.35, -0.35, -0.33: mean -0.3433, sd 0.01155, 4.303 * 0.01155 / sqrt(3) =
    0.0287. muon's effect per seed -0.30, -0.30, -0.28: -0.2933 ± 0.0287; rope's -0.05 every seed."""
    assert pdf.sentences(summarise(folders["plain"])) == [
        f"Grid `axes`: 4 variants x 3 seeds (1337, 1338, 1339) at the `tiny` scale on {DATA}. 12 of 12 cells "
        "finished ok, ranked by val loss.",
        "Best: pos=rope, opt=muon at 2.1700, -0.3433 ± 0.0287 against the reference (2.5133; 95% interval over "
        "3 seeds).",
        "Beyond noise (Holm-adjusted p < 0.05): opt: adamw -> muon -0.2933 ± 0.0287; pos: learned -> rope "
        "-0.0500 ± 0.0000."]


def test_failed_and_missing_cells_are_not_counted_ok(folders):
    """10 of the 12 cells finished ok; only seed 1337 has every cell, so no effect has an interval."""
    assert pdf.sentences(summarise(folders["broken"])) == [
        f"Grid `axes`: 4 variants x 3 seeds (1337, 1338, 1339) at the `tiny` scale on {DATA}. 10 of 12 cells "
        "finished ok, ranked by val loss.",
        "Best: pos=rope, opt=muon at 2.1700, -0.3433 ± 0.0287 against the reference (2.5133; 95% interval over "
        "3 seeds).",
        "No effect can be told from noise: only one seed has every cell the effects need, and one seed gives no "
        "interval (the table's status column shows the cells that failed or are missing)."]  # not "run --seeds 3"


def test_one_seed_says_there_is_no_interval(folders):
    assert pdf.sentences(summarise(folders["one"])) == [
        f"Grid `axes`: 4 variants x 1 seed (1337) at the `tiny` scale on {DATA}. 4 of 4 cells finished ok, "
        "ranked by val loss.",
        "Best: pos=rope, opt=muon at 2.1500, -0.3500 against the reference (2.5000; one seed: no interval).",
        "No effect can be told from noise: one seed gives no interval (run --seeds 3 or more)."]


def test_a_grid_that_is_not_factorial_measures_against_the_baseline_and_names_no_effect(folders):
    assert pdf.sentences(summarise(folders["single"])) == [
        f"Grid `single`: 11 variants x 2 seeds (1337, 1338) at the `tiny` scale on {DATA}. 22 of 22 cells "
        "finished ok, ranked by val loss.",
        "Best: opt=muon at 2.2050, -0.3000 ± 0.0000 against the baseline (2.5050; 95% interval over 2 seeds)."]


def test_the_reference_alone_is_the_best_without_a_delta(folders):
    assert pdf.sentences(summarise(folders["baseline"])) == [
        f"Grid `baseline`: 1 variant x 2 seeds (1337, 1338) at the `tiny` scale on {DATA}. 2 of 2 cells finished "
        "ok, ranked by val loss.",
        "Best: baseline at 2.5050."]


def test_no_best_no_best_sentence(folders):
    """Every cell failed: no row has a loss, so there is no best to name."""
    summary = summarise(folders["baseline"])
    for row in summary.rows:
        row.ok = []
    out = pdf.sentences(summary)
    assert out == [f"Grid `baseline`: 1 variant x 2 seeds (1337, 1338) at the `tiny` scale on {DATA}. 0 of 2 cells "
                   "finished ok, ranked by val loss."]


def test_a_tuned_study_on_one_tuning_seed_without_the_shared_default(folders):
    """4 variants x 2 candidates on seed 1337: 8 tuning cells; the table's 8 on 1338 and 1339; no
    shared-default cells, and "seed" singular."""
    assert pdf.sentences(summarise(folders["tuned"])) == [
        f"Grid `axes`: 4 variants x 2 seeds (1338, 1339) at the `tiny` scale on {DATA}. The table measures 8 cells "
        "(each variant at its own weight-decay on the measuring seeds): 8 of 8 finished ok, ranked by val loss. "
        "The folder's other 8 cells are not in it: 8 tuning cells (each variant at each weight-decay candidate, "
        "0.01, 0.1, on the tuning seed 1337; 8 ok).",
        "Best: pos=rope, opt=muon, weight-decay=0.1 at 2.1650, -0.3500 ± 0.0000 against the reference (2.5150; "
        "95% interval over 2 seeds).",
        "Beyond noise (Holm-adjusted p < 0.05): opt: adamw -> muon -0.3000 ± 0.0000; pos: learned -> rope "
        "-0.0500 ± 0.0000."]


def effect(name: str, value: float, p: float, order: int = 1, half_width: float = 0.01) -> Effect:
    return Effect(name, Estimate(value, half_width, 3, 0.004, p), order)


def test_at_most_four_effects_beyond_noise_are_named_the_largest_first_and_more_are_elided(folders):
    summary = summarise(folders["plain"])
    summary.effects = [effect("b", -0.2, 0.01), effect("a", 0.1, 0.01), effect("x", -0.5, 0.01, order=2),
                       effect("c", 0.3, 0.001), effect("d", -0.05, 0.02), effect("e", 0.04, 0.9)]
    # The elision and the sentence's full stop run together into four dots (as the code stands).
    assert pdf.sentences(summary)[2] == ("Beyond noise (Holm-adjusted p < 0.05): c +0.3000 ± 0.0100; "
                                         "b -0.2000 ± 0.0100; a +0.1000 ± 0.0100; d -0.0500 ± 0.0100; and 1 more (the table lists them).")
    summary.effects = summary.effects[:3]
    assert pdf.sentences(summary)[2] == ("Beyond noise (Holm-adjusted p < 0.05): b -0.2000 ± 0.0100; "
                                         "a +0.1000 ± 0.0100; x -0.5000 ± 0.0100.")


def test_when_nothing_is_beyond_noise_the_page_says_how_small_an_effect_the_table_resolves(folders):
    summary = summarise(folders["plain"])
    summary.effects = [effect("a", 0.1, 0.2), effect("b", 0.002, 0.01, half_width=0.0005)]
    summary.resolution = Resolution(0.01234, 3)
    assert pdf.sentences(summary)[2] == "No effect is beyond noise; the table resolves about ±0.012."
    summary.resolution = Resolution(None, 1)  # three seeds ran: failed or missing cells left one complete
    assert pdf.sentences(summary)[2] == ("No effect can be told from noise: only one seed has every cell the effects "
                                         "need, and one seed gives no interval (the table's status column shows the "
                                         "cells that failed or are missing).")
    summary.effects = []
    assert len(pdf.sentences(summary)) == 2


def test_an_empty_list_of_effects_gets_no_effects_table(folders, figures):
    summary = summarise(folders["plain"])
    summary.effects = []
    pdf.results_table(None, summary)
    assert [above for above, _, _ in table(figures)] == [[RESULTS]]


@pytest.mark.parametrize("design, text", [
    (None, ""), ({"fraction": "full"}, ""), ({"fraction": "2^(5-1)"}, ""),
    ({"fraction": "2^(5-1)", "runs": 16, "resolution": "V"},
     " (a 2^(5-1) fractional factorial of resolution V: effects named `a = b` are aliased, one estimate of "
     "them all)"),
    ({"fraction": "2^(7-3)", "runs": 16},
     " (a 2^(7-3) fractional factorial of resolution ?: effects named `a = b` are aliased, one estimate of "
     "them all)"),
    ({"fraction": "full", "runs": 16, "resolution": "V"}, "")])
def test_only_a_fractional_design_is_named(design, text):
    assert pdf.design_text({} if design is None else {"design": design}) == text


def test_a_fractional_grid_names_its_design_in_the_first_sentence(folders):
    summary = summarise(folders["plain"])
    summary.run["design"] = {"fraction": "2^(3-1)", "runs": 4, "resolution": "III"}
    assert pdf.sentences(summary)[0].startswith(
        "Grid `axes` (a 2^(3-1) fractional factorial of resolution III: effects named `a = b` are aliased, one "
        "estimate of them all): 4 variants x 3 seeds")


# -- the chart of page 1 ---------------------------------------------------------------------------

def test_without_effects_the_chart_shows_each_variants_delta_against_the_baseline(folders, figures):
    """Every row but the baseline has a bar, the best at the top; ties in the order of the rows."""
    pdf.first_page(None, summarise(folders["single"]))
    fig, = figures
    assert [t.get_text() for t in fig.texts][0] == "Ablations: single"
    ax, = fig.axes
    assert ax.get_title(loc="right") == "Δ against the baseline (95% intervals)"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["norm=rmsnorm", "init=scaled", "init=kaiming", "qknorm=rmsnorm", "param=mup", "mlp=swiglu",
                      "mask=title", "opt=adamw", "pos=rope", "opt=muon"]
    assert [bar.get_width() for bar in ax.patches] == pytest.approx([0.0] * 8 + [-0.05, -0.3], abs=1e-9)
    assert {bar.get_facecolor() for bar in ax.patches} == {to_rgba("tab:blue")}
    assert ax.get_ylim() == pytest.approx((-0.6, 9.6))
    assert ax.get_xlabel() == "negative = lower loss"


def test_the_reference_alone_gets_no_chart(folders, figures):
    pdf.first_page(None, summarise(folders["baseline"]))
    fig, = figures
    assert not fig.axes
    assert [t.get_text() for t in fig.texts] == [
        "Ablations: baseline",
        f"Grid `baseline`: 1 variant x 2 seeds (1337, 1338) at the `tiny` scale on the embedded synthetic corpus\n"
        "(fingerprint embedded-v1-n120000). 2 of 2 cells finished ok, ranked by val loss.\n\nBest: baseline at 2.5050."]


def test_the_chart_keeps_the_eighteen_effects_that_come_first(folders, figures):
    """Of 20 effects the 18 first in order (mains, then interactions, each largest first) are drawn, the
    first at the top; an untuned chart's title names no tuned setting; grey for those within noise."""
    summary = summarise(folders["plain"])
    summary.effects = ([effect(f"m{i}", -0.01 * (i + 1), 0.001) for i in range(5)]
                       + [effect(f"i{i}", 0.001 * (i + 1), 0.5, order=2) for i in range(15)])
    pdf.first_page(None, summary)
    ax, = figures[0].axes
    assert ax.get_title(loc="right") == "Effects on val loss (95% intervals; blue: beyond noise)"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [f"i{i}" for i in range(2, 15)] + [f"m{i}" for i in range(5)]
    assert [bar.get_width() for bar in ax.patches] == pytest.approx(
        [0.001 * (i + 1) for i in range(2, 15)] + [-0.01 * (i + 1) for i in range(5)])
    assert [bar.get_facecolor() for bar in ax.patches] == [to_rgba("0.6")] * 13 + [to_rgba("tab:blue")] * 5
    assert ax.get_ylim() == pytest.approx((-0.6, 17.6))


# -- the results and effects tables ----------------------------------------------------------------

BLUE, GREY, HEADER = to_rgba(pdf.BEST_COLOUR), to_rgba(pdf.REFERENCE_COLOUR), to_rgba(pdf.HEADER_COLOUR)
RESULTS = "Results (best in bold, shaded blue; the reference shaded grey)"
RESULT_HEADERS = [("variant", "bold"), ("params", "bold"), ("val loss", "bold"), ("Δ vs reference\n(95% CI)", "bold"),
                  ("coverage", "bold"), ("tokens/s", "bold"), ("status", "bold")]
EFFECT_HEADERS = [("effect", "bold"), ("estimate ± 95%\ninterval", "bold"), ("p (Holm)", "bold"), ("verdict", "bold")]


def plain(*cells: str) -> list[tuple[str, str]]:
    return [(c, "normal") for c in cells]


def bold(*cells: str) -> list[tuple[str, str]]:
    return [(c, "bold") for c in cells]


def test_the_results_table_has_a_row_per_variant_best_first_and_the_effects_table_after_it(folders, figures):
    """By hand, sd of 2.15, 2.16, 2.20 is 0.0265, of 2.45, 2.46, 2.48 0.0153; coverage 0.9 and 1 token/s
    from the synthetic backend; 12 * 1 * 32^2 = 12,288 params. The effects' p: rope's sd is 0, p 0;
    muon's raw 0.0005, Holm x2: 0.001; the interaction's 1."""
    pdf.results_table(None, summarise(folders["plain"]))
    assert table(figures) == [
        ([RESULTS], [RESULT_HEADERS,
                     bold("pos=rope, opt=muon", "12,288", "2.1700 ± 0.0265 (n=3)", "-0.3433 ± 0.0287", "90.0%", "1",
                          "3 ok"),
                     plain("opt=muon", "12,288", "2.2200 ± 0.0265 (n=3)", "-0.2933 ± 0.0287", "90.0%", "1", "3 ok"),
                     plain("pos=rope", "12,288", "2.4633 ± 0.0153 (n=3)", "-0.0500 ± 0.0000", "90.0%", "1", "3 ok"),
                     plain("reference", "12,288", "2.5133 ± 0.0153 (n=3)", "", "90.0%", "1", "3 ok")],
         [HEADER, BLUE, GREY]),
        (["Effects"], [EFFECT_HEADERS,
                       bold("opt: adamw -> muon", "-0.2933 ± 0.0287", "0.001", "beyond noise"),
                       bold("pos: learned -> rope", "-0.0500 ± 0.0000", "0", "beyond noise"),
                       plain("pos=rope x opt=muon", "+0.0000 ± 0.0000", "1", "negligible (inside ±0.003)")],
         [HEADER])]


def test_a_failed_and_a_missing_cell_show_in_their_rows_status_and_n(folders, figures):
    pdf.results_table(None, summarise(folders["broken"]))
    (above, rows, shades), (_, effects, _) = table(figures)
    assert rows[1:] == [
        bold("pos=rope, opt=muon", "12,288", "2.1700 ± 0.0265 (n=3)", "-0.3433 ± 0.0287", "90.0%", "1", "3 ok"),
        plain("opt=muon", "12,288", "2.2050 ± 0.0071 (n=2)", "-0.3000 ± 0.0000", "90.0%", "1", "2 ok, 1 failed"),
        plain("pos=rope", "12,288", "2.4650 ± 0.0212 (n=2)", "-0.0500 ± 0.0000", "90.0%", "1", "2 ok, 1 not run"),
        plain("reference", "12,288", "2.5133 ± 0.0153 (n=3)", "", "90.0%", "1", "3 ok")]
    assert effects[1:] == [plain("opt: adamw -> muon", "-0.3000", "", "n/a: one seed, no interval"),
                           plain("pos: learned -> rope", "-0.0500", "", "n/a: one seed, no interval"),
                           plain("pos=rope x opt=muon", "+0.0000", "", "n/a: one seed, no interval")]


def test_a_row_without_records_shows_blanks_and_the_best_is_the_first_with_a_loss(folders, figures):
    """A row whose every cell is not run has no params, loss, coverage or tokens/s to show."""
    summary = summarise(folders["plain"])
    best = summary.rows[0]
    best.records, best.ok, best.missing = [], [], 3
    pdf.results_table(None, summary)
    (_, rows, shades), _ = table(figures)
    assert rows[1:] == [
        plain("pos=rope, opt=muon", "", "", "-0.3433 ± 0.0287", "", "", "3 not run"),
        bold("opt=muon", "12,288", "2.2200 ± 0.0265 (n=3)", "-0.2933 ± 0.0287", "90.0%", "1", "3 ok"),
        plain("pos=rope", "12,288", "2.4633 ± 0.0153 (n=3)", "-0.0500 ± 0.0000", "90.0%", "1", "3 ok"),
        plain("reference", "12,288", "2.5133 ± 0.0153 (n=3)", "", "90.0%", "1", "3 ok")]
    assert shades == [HEADER, BLUE, GREY]


def test_the_reference_as_the_best_is_bold_and_blue(folders, figures):
    pdf.results_table(None, summarise(folders["baseline"]))
    (above, rows, shades), = table(figures)
    # The shorter column wraps the header narrower.
    assert rows == [[*RESULT_HEADERS[:3], ("Δ vs\nbaseline\n(95% CI)", "bold"), *RESULT_HEADERS[4:]],
                    bold("baseline", "12,288", "2.5050 ± 0.0071 (n=2)", "", "90.0%", "1", "2 ok")]
    assert shades == [HEADER, BLUE]


def test_a_tuned_table_has_its_caption_and_a_note_column(folders, figures):
    pdf.results_table(None, summarise(folders["tuned"]))
    (above, rows, shades), (effects_above, _, _) = table(figures)
    note = "weight-decay: best at the top of its grid (0.1);\nextend it"
    assert above == [RESULTS, "Each variant at its own weight-decay (in its name), picked on the tuning seed 1337 "
                              "from 0.01, 0.1; measured on the seeds 1338, 1339. A note marks a pick at an end of its "
                              "candidates."]
    assert rows == [RESULT_HEADERS + [("note", "bold")],
                    bold("pos=rope, opt=muon, weight-decay=0.1", "12,288", "2.1650 ± 0.0071 (n=2)",
                         "-0.3500 ± 0.0000", "90.0%", "1", "2 ok", note),
                    plain("opt=muon, weight-decay=0.1", "12,288", "2.2150 ± 0.0071 (n=2)", "-0.3000 ± 0.0000",
                          "90.0%", "1", "2 ok", note),
                    plain("pos=rope, weight-decay=0.1", "12,288", "2.4650 ± 0.0071 (n=2)", "-0.0500 ± 0.0000",
                          "90.0%", "1", "2 ok", note),
                    plain("weight-decay=0.1 (reference)", "12,288", "2.5150 ± 0.0071 (n=2)", "", "90.0%", "1",
                          "2 ok", note)]
    assert shades == [HEADER, BLUE, GREY]
    assert effects_above == ["Effects"]


def test_the_tuned_caption_says_seeds_for_several_tuning_seeds(folders, figures):
    summary = summarise(folders["tuned"])
    summary.tuning.tune = dataclasses.replace(summary.tuning.tune, tune_seeds=(1337, 1336))
    pdf.results_table(None, summary)
    above = table(figures)[0][0]
    assert above[1].startswith("Each variant at its own weight-decay (in its name), picked on the tuning seeds "
                               "1337, 1336 from 0.01, 0.1;")


def test_a_grid_that_is_not_factorial_has_no_effects_table(folders, figures):
    pdf.results_table(None, summarise(folders["single"]))
    assert [above for above, _, _ in table(figures)] == [[RESULTS]]
    assert table(figures)[0][1][0][3] == ("Δ vs baseline\n(95% CI)", "bold")


# -- fitting a table to its page -------------------------------------------------------------------

def test_a_narrow_table_keeps_the_largest_font_and_its_text(figures):
    fig, measure = pdf.page(pdf.LANDSCAPE)
    figures.append(fig)
    size, heads, cells, widths = pdf.fit_columns(measure, ["a", "a b c d e f g h"], [["x", "1"], ["WW", "2"]],
                                                 {1}, 10.0, {0, 1})
    # A header wraps at spaces to 8 characters at least, where its column's cells are narrower.
    assert (size, heads, cells) == (7.5, ["a", "a b c d\ne f g h"], [["x", "1"], ["WW", "2"]])
    # The bold row is measured bold: wider than it is plain.
    assert measure.width("WW", 7.5, "bold") > max(measure.width("WW", 7.5), measure.width("a", 7.5, "bold"))
    assert widths == pytest.approx([measure.width("WW", 7.5, "bold") + 2 * pdf.PAD_X,
                                    measure.width("a b c d\ne f g h", 7.5, "bold") + 2 * pdf.PAD_X])


def test_the_widest_wrappable_column_wraps_before_the_font_shrinks(figures):
    fig, measure = pdf.page(pdf.LANDSCAPE)
    figures.append(fig)
    long = "alpha, beta, gamma, delta, epsilon, zeta, eta, theta"
    size, heads, cells, widths = pdf.fit_columns(measure, ["name", "other"], [[long, "a longer text"]], set(), 1.8,
                                                 {0, 1})
    assert size == 7.5
    assert cells[0][1] == "a longer text" and cells[0][0] != long
    assert cells[0][0].replace("\n", " ") == long
    assert heads == ["name", "other"]
    assert sum(widths) <= 1.8
    assert sum(widths) > 1.8 - measure.width("alpha,", 7.5), "no narrower than it needs"


def test_a_table_that_cannot_wrap_shrinks_to_the_smallest_font_and_stays_whole(figures):
    fig, measure = pdf.page(pdf.LANDSCAPE)
    figures.append(fig)
    long = "alpha, beta, gamma, delta, epsilon, zeta, eta, theta"
    size, heads, cells, widths = pdf.fit_columns(measure, ["name"], [[long]], set(), 1.0, set())
    assert (size, heads, cells) == (5, ["name"], [[long]])
    assert widths == pytest.approx([measure.width(long, 5) + 2 * pdf.PAD_X])


def test_a_table_that_fits_only_at_a_smaller_font_takes_the_largest_that_fits(figures):
    fig, measure = pdf.page(pdf.LANDSCAPE)
    figures.append(fig)
    text = "alpha, beta, gamma, delta"
    room = (measure.width(text, 6.5) + measure.width(text, 7)) / 2 + 2 * pdf.PAD_X
    size, _, cells, _ = pdf.fit_columns(measure, ["h"], [[text]], set(), room, set())
    assert (size, cells) == (6.5, [[text]])


def test_a_title_breaks_only_where_the_room_between_the_margins_runs_out(figures):
    fig, measure = pdf.page(pdf.PORTRAIT)
    figures.append(fig)
    title = ("Results of the ablation study over every component of the model, measured on three seeds with a tuned "
             "learning rate for each variant and a shared default for comparison")
    pdf.title_of(fig, measure, title)
    lines = fig.texts[0].get_text().split("\n")
    room = pdf.PORTRAIT[0] - 2 * pdf.MARGIN
    assert " ".join(lines) == title and len(lines) >= 2
    assert all(measure.width(line, 13, "bold") <= room for line in lines)
    for line, after in zip(lines, lines[1:]):
        assert measure.width(f"{line} {after.split()[0]}", 13, "bold") > room, "the next word would not have fit"


def test_a_long_title_wraps_to_the_page_and_takes_its_height(figures):
    fig, measure = pdf.page(pdf.PORTRAIT)
    figures.append(fig)
    title = " ".join(["Configuration"] * 12)
    top = pdf.title_of(fig, measure, title)
    text, = fig.texts
    assert text.get_text().replace("\n", " ") == title and pdf.lines_in(text.get_text()) == 3
    assert text.get_position() == pytest.approx((pdf.MARGIN / pdf.PORTRAIT[0], 1 - pdf.MARGIN / pdf.PORTRAIT[1]))
    assert text.get_weight() == "bold" and text.get_fontsize() == 13
    assert top == pytest.approx(pdf.MARGIN + measure.height(3, 13, "bold") + 0.15)


def test_a_title_is_wrapped_as_it_is_drawn_in_bold_not_in_the_narrower_normal_weight(figures):
    fig, measure = pdf.page(pdf.PORTRAIT)
    figures.append(fig)
    title = " ".join(["Configuration"] * 5)
    room = pdf.PORTRAIT[0] - 2 * pdf.MARGIN
    assert measure.width(title, 13) <= room < measure.width(title, 13, "bold"), "fits in normal weight only"
    top = pdf.title_of(fig, measure, title)
    assert fig.texts[0].get_text() == "Configuration Configuration Configuration Configuration\nConfiguration"
    assert top == pytest.approx(pdf.MARGIN + measure.height(2, 13, "bold") + 0.15)


# -- commands, configuration, samples --------------------------------------------------------------

@pytest.mark.parametrize("run, lines", [
    ({"command": "c0"}, ["command: c0"]),
    ({"command": "c0", "resumed": [], "code_changes": [{"from": "a", "to": "b", "at": "t"}]}, ["command: c0"]),
    ({"command": "c0", "code_changes": [{"from": "a", "to": "b", "at": "t"}]},
     ["command: c0 (the folder's latest run: it was run again after its first cells, see the code changes below, "
      "and run.json then kept no earlier command)"]),
    ({"command": "c0", "commands": ["c1"], "code_changes": [1]}, ["command: c1"]),
    ({"command": "c0", "resumed": ["c1", {"command": "c2", "at": "t2"}]},
     ["command (made the folder and trained its first cells): c0",
      "run 2 more times since (resumed); the latest: c2 (t2)"]),
    ({"command": "c0", "commands": ["c1", "c2", "c3"]},
     ["command (made the folder and trained its first cells): c1",
      "run 2 more times since (resumed); the latest: c3"]),
    ({"command": "c0", "commands": ["c1", "c2"], "resumed": ["r1"]},
     ["command (made the folder and trained its first cells): c1",
      "run 1 more time since (resumed); the latest: r1"])])
def test_the_commands_that_made_and_resumed_the_folder(run, lines):
    assert pdf.commands_lines(run) == lines


def test_the_configuration_of_a_folder_with_an_axis_for_lr_and_a_data_file(folders, tmp_path):
    summary = summarise(folders["plain"])
    summary.run.update(command="c0", resumed=[], data="file:/somewhere/else/titles.txt", backend="slurm", workers=4,
                       threads=2, device="cuda", code_changes=[{"from": "a", "to": "b", "at": "t1"},
                                                              {"from": "b", "to": "c", "at": "t2"}],
                       config={"data": "/somewhere/else/titles.txt", "lr": None, "weight_decay": None,
                               "dropout": None})
    for name in ("torch", "code", "machine", "fingerprint"):
        summary.run.pop(name, None)
    summary.run["axes"]["lr"] = {"levels": [0.001, 0.003], "reference": 0.001}
    for record in summary.records:
        record["weight_decay"] = None
    assert pdf.configuration(summary) == [
        "command: c0",
        "data: titles.txt",
        "backend: slurm, 4 workers x 2 threads, device cuda",
        'torch unrecorded, code "unrecorded"',
        "code changed 2 times while the folder filled (--allow-code-change): a -> b at t1; b -> c at t2",
        "machine: unrecorded",
        "",
        "{",
        ' "data": "titles.txt",',
        ' "lr": "an axis of the grid: 0.001, 0.003",',
        ' "weight_decay": "the optimizer recipe\'s own",',
        ' "dropout": null',
        "}"]


def test_the_embedded_corpus_keeps_its_name_in_the_config(folders):
    summary = summarise(folders["plain"])
    summary.run["config"] = {"data": "embedded"}
    assert pdf.configuration(summary)[-3:] == ["{", ' "data": "embedded"', "}"]


def test_a_data_name_is_kept_when_the_config_has_none(folders):
    summary = summarise(folders["plain"])
    summary.run.update(data="file:/x/titles.txt", config={"data": "", "lr": 0.001})
    lines = pdf.configuration(summary)
    assert lines[1] == "data: titles.txt (fingerprint embedded-v1-n120000)"
    assert lines[-4:] == ["{", ' "data": "",', ' "lr": 0.001', "}"]


def test_each_recipes_own_values_are_named_per_recipe_sorted(folders):
    summary = summarise(folders["plain"])
    values = {1337: 0.1, 1338: 0.01, 1339: 0.1}
    for record in summary.records:
        record["weight_decay"] = values[record["seed"]] if record["opt"] == "muon" else 0.0
    assert pdf.used_values(summary, "weight_decay") == "each recipe's own: adamw 0.0, muon 0.01 or 0.1"
    for record in summary.records:
        record["weight_decay"] = None
    assert pdf.used_values(summary, "weight_decay") is None


def test_a_tuned_setting_without_the_shared_default_is_tuned_per_variant(folders):
    summary = summarise(folders["tuned"])
    assert pdf.used_values(summary, "weight_decay") == "tuned per variant from 0.01, 0.1 (below)"
    assert pdf.used_values(summary, "lr") == "each recipe's own: adamw 0.0003, muon 0.0003"


def test_the_values_each_variant_used_are_grouped_by_value_smallest_first(folders):
    """A variant picked 0.01 (a label the table has not: its point is named) is listed before those at 0.1."""
    summary = summarise(folders["tuned"])
    tuning = summary.tuning
    first = next(iter(tuning.chosen))
    tuning.chosen[first] = 0.01
    lines = pdf.configuration(summary)
    start = lines.index("weight-decay used by each variant (tuned; the value is also in its name):")
    assert lines[start - 1] == "" and lines[start - 2] == "}"
    assert lines[start + 1:] == ["  0.01: 1 variant", f"    {first}", "  0.1: 3 variants",
                                 "    pos=rope, weight-decay=0.1", "    opt=muon, weight-decay=0.1",
                                 "    pos=rope, opt=muon, weight-decay=0.1"]
    tuning.chosen.clear()
    assert pdf.configuration(summary)[-1] == "}"


def test_samples_are_listed_by_row_and_rows_without_a_best_pt_are_named_by_their_role(folders):
    summary = summarise(folders["plain"])
    summary.samples = {"pos=rope, opt=muon": [], "opt=muon": ["A title", "Another"], "reference": [],
                       "pos=rope": ["One"]}
    assert pdf.samples_lines(summary) == (
        ["opt=muon:", "  A title", "  Another", "", "pos=rope:", "  One", ""],
        "Samples: no best.pt was kept for the best (pos=rope, opt=muon) or the reference.")
    summary.samples = {"opt=muon": ["A title"]}
    assert pdf.samples_lines(summary) == (["opt=muon:", "  A title", ""], "")
    summary.samples = {"opt=muon": []}
    assert pdf.samples_lines(summary) == ([], "Samples: no best.pt was kept for opt=muon.")


# -- the whole document ----------------------------------------------------------------------------

@pytest.fixture
def saved(monkeypatch):
    """Every page write_pdf saves, kept to be read after it is saved into the document."""
    kept = []
    original = pdf.save
    monkeypatch.setattr(pdf, "save", lambda document, fig: (kept.append(fig), original(document, fig)))
    return kept


def titles(figures) -> list[str]:
    return [fig.texts[0].get_text() for fig in figures]


def test_the_document_has_its_pages_in_order_and_only_the_plots_that_exist(folders, saved):
    figures = saved
    import numpy as np

    summary = summarise(folders["plain"])
    pdf.mpimg.imsave(summary.root / "curves.png", np.zeros((20, 30, 3)))
    summary.samples = {"pos=rope, opt=muon": ["A title"], "reference": []}
    path = pdf.write_pdf(summary, [("curves.png", "Validation curves"), ("missing.png", "Not there")])
    assert path == summary.root / "report.pdf" and path.exists()
    assert not (summary.root / ".report.pdf.tmp").exists()
    assert titles(figures) == ["Ablations: axes", RESULTS, "Effects", "Validation curves",
                               "Samples (temperature 0.8, top-k 50, seed 0)", "Configuration and machine"]
    assert figures[4].texts[1].get_text().split("\n") == [
        "pos=rope, opt=muon:", "  A title", "", "Samples: no best.pt was kept for the reference."]
    assert figures[5].texts[1].get_text().split("\n")[-1] == "}"
    assert figures[5].texts[1].get_text().split("\n")[0] == f"command: {summary.run['command']}"


def test_without_samples_the_missing_best_pt_is_said_on_the_configuration_page(folders, saved):
    figures = saved
    summary = summarise(folders["single"])
    summary.samples = {"opt=muon": [], "baseline": []}
    pdf.write_pdf(summary, [])
    assert titles(figures) == ["Ablations: single", RESULTS, "Configuration and machine"]
    assert figures[2].texts[1].get_text().split("\n")[-3:] == [
        "}", "", "Samples: no best.pt was kept for the best (opt=muon) or the reference (baseline)."]


def test_without_samples_or_missing_the_configuration_ends_with_the_config(folders, saved):
    figures = saved
    summary = summarise(folders["tuned"])
    summary.samples = {}
    pdf.write_pdf(summary, [])
    assert titles(figures) == ["Ablations: axes", RESULTS, "Effects", "Configuration and machine"]
    assert figures[-1].texts[1].get_text().split("\n")[-1] == "    pos=rope, opt=muon, weight-decay=0.1"
