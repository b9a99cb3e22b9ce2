"""What ladder.png shows (ablations/writers/ladder.py, plot_ladder and plot_finding), read off the figure before it
is saved: a panel per finding with its measurements against compute, each predictor's interval at the target, the
zero line, the titles and the one legend under the panels."""
from pathlib import Path

import matplotlib.colors as mcolors
import pytest

from ablations.analysis.backtest import Rung
from ablations.analysis.predictors import Measured, Prediction
from ablations.analysis.scaling import Finding, LadderSummary
from ablations.writers import ladder as ladder_writer
from ablations.writers import plots
from tests.ablations.writers.kept_figures import keep_figures

T975_3 = 3.1824463  # Student's t, 0.975 quantile, 3 degrees of freedom: a measurement's half-width is this x se
TARGET = 1e15
LONG = "norm=rmsnorm x opt=sgd = pos=alibi x act=gelu = init=kaiming"  # 60 characters: wraps at 44


@pytest.fixture
def figures(monkeypatch):
    """Every figure plot_ladder would save (it imports plots.save when called), kept open to be read."""
    yield from keep_figures(monkeypatch, plots)


def finding(name, measured, predictions, predictor="largest rung", verdict="holds"):
    return Finding(name, measured, predictions, predictor, 0.01, verdict)


def ladder_of(findings, computes=(1e12, 1e13, None)):
    rungs = [Rung(i + 1, {"n_layer": i + 1}, f"rung{i + 1}", c, {}) for i, c in enumerate(computes)]
    return LadderSummary(root=Path("."), axes=["n_layer"], rungs=rungs,
                         planned=[{"settings": r.settings, "folder": r.folder} for r in rungs], target=TARGET,
                         metric="val_loss", margin=0.01, findings=findings, scores={},
                         choice=("largest rung", "the only one"))


def data(container):
    """An errorbar's points, and each point's bar as low, high, one after the other."""
    line, _, (bars,) = container.lines
    return (list(line.get_xdata()), list(line.get_ydata()),
            [y for segment in bars.get_segments() for y in sorted(segment[:, 1])])


def same_colour(a, b):
    return mcolors.to_rgba(a) == mcolors.to_rgba(b)


MEASURED_AND_PREDICTED = finding(
    LONG, [Measured(-0.1, 0.01, 3), Measured(-0.2, 0.02, 3), Measured(-0.25, 0.01, 3)],
    {"largest rung": Prediction(-0.2, -0.25, -0.15, 0.01), "line in log compute": Prediction(-0.3, -0.4, -0.22, 0.01),
     "compute multiplier": None}, predictor="line in log compute", verdict="grows")
NEVER_MEASURED = finding("unmeasured", [None, None, None], {"largest rung": None})
ONE_RUNG = finding("pos: learned -> rope", [None, Measured(0.05, 0.01, 3), None],
                   {"largest rung": Prediction(0.05, 0.0, 0.1, 0.1), "line in log compute": None,
                    "compute multiplier": Prediction(0.02, -0.01, 0.06, 0.3)}, verdict="cannot tell")


def test_a_ladder_panel_draws_each_measured_rung_with_its_interval_and_each_prediction_side_by_side_at_the_target(
        figures, tmp_path):
    ladder_writer.plot_ladder(ladder_of([MEASURED_AND_PREDICTED, NEVER_MEASURED, ONE_RUNG]), tmp_path / "ladder.png")
    (fig,) = figures
    first, second = fig.axes  # the finding never measured gets no panel
    measured, largest, line = first.containers  # compute multiplier predicted nothing: no bar
    # The third rung's compute is unknown: only the first two are placed.
    xs, ys, bars = data(measured)
    assert xs == [1e12, 1e13] and ys == pytest.approx([-0.1, -0.2])
    assert bars == pytest.approx([-0.1 - 0.01 * T975_3, -0.1 + 0.01 * T975_3,
                                  -0.2 - 0.02 * T975_3, -0.2 + 0.02 * T975_3])
    assert measured.lines[0].get_color() == "black" and measured.lines[0].get_marker() == "o"
    assert measured.lines[0].get_linestyle() == "None", "measurements are points, not a line"
    assert [cap.get_markersize() for cap in measured.lines[1]] == [6, 6], "capsize 3"
    # Predictions side by side around the target, 0.06 decades apart, in the predictor's colour (its place in
    # PREDICTORS); the one the verdict uses is a filled square, the others open circles.
    xs, ys, bars = data(largest)
    assert xs == pytest.approx([TARGET * 10 ** -0.06]) and ys == pytest.approx([-0.2]) and bars == pytest.approx(
        [-0.25, -0.15])
    assert same_colour(largest.lines[0].get_color(), "C0") and largest.lines[0].get_marker() == "o"
    assert largest.lines[0].get_markerfacecolor() == "white"
    xs, ys, bars = data(line)
    assert xs == pytest.approx([TARGET]) and ys == pytest.approx([-0.3]) and bars == pytest.approx([-0.4, -0.22])
    assert same_colour(line.lines[0].get_color(), "C1") and line.lines[0].get_marker() == "s"
    assert same_colour(line.lines[0].get_markerfacecolor(), "C1"), "the predictor used is filled"
    measured, largest, multiplier = second.containers  # line in log compute predicted nothing here
    xs, ys, bars = data(measured)
    assert xs == [1e13] and ys == pytest.approx([0.05]) and bars == pytest.approx([0.05 - 0.01 * T975_3,
                                                                                   0.05 + 0.01 * T975_3])
    assert data(largest)[:2] == ([pytest.approx(TARGET * 10 ** -0.06)], [pytest.approx(0.05)])
    assert largest.lines[0].get_marker() == "s" and same_colour(largest.lines[0].get_markerfacecolor(), "C0")
    xs, ys, bars = data(multiplier)
    assert xs == pytest.approx([TARGET * 10 ** 0.06]) and ys == pytest.approx([0.02]) and bars == pytest.approx(
        [-0.01, 0.06])
    assert same_colour(multiplier.lines[0].get_color(), "C2") and multiplier.lines[0].get_markerfacecolor() == "white"
    for ax in (first, second):
        assert all(len(c.lines[1]) == 2 for c in ax.containers), "every interval has its caps"
        (zero,) = [ln for ln in ax.get_lines() if ln not in {c.lines[0] for c in ax.containers}
                   and ln not in {cap for c in ax.containers for cap in c.lines[1]}]
        assert list(zero.get_ydata()) == [0.0, 0.0] and zero.get_color() == "grey" and zero.get_linewidth() == 0.8
        assert ax.get_xscale() == "log" and ax.get_xlabel() == "training FLOPs per run"
        assert ax.xaxis.label.get_fontsize() == 8 and ax.yaxis.get_ticklabels()[0].get_fontsize() == 7


def test_each_ladder_panel_is_titled_by_its_finding_wrapped_at_44_characters_then_its_verdict(figures, tmp_path):
    ladder_writer.plot_ladder(ladder_of([MEASURED_AND_PREDICTED, NEVER_MEASURED, ONE_RUNG]), tmp_path / "ladder.png")
    (fig,) = figures
    first, second = fig.axes
    assert first.get_title() == "norm=rmsnorm x opt=sgd = pos=alibi x\nact=gelu = init=kaiming\ngrows"
    assert second.get_title() == "pos: learned -> rope\ncannot tell"
    assert first.title.get_fontsize() == 8
    assert first.get_ylabel() == "difference in val_loss" and second.get_ylabel() == "", "one y label, on the left"
    assert tuple(fig.get_size_inches()) == pytest.approx((4.4 * 2, 3.4 + 0.6))


def test_the_ladder_has_one_legend_under_the_panels_naming_measured_every_predictor_and_the_square(figures, tmp_path):
    ladder_writer.plot_ladder(ladder_of([ONE_RUNG]), tmp_path / "ladder.png")
    (legend,) = figures[0].legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "measured (95%)", "largest rung", "line in log compute", "compute multiplier",
        "filled square: the predictor used"]
    assert legend._ncols == 5 and legend.get_frame_on() is False
    handles = legend.legend_handles
    assert [h.get_marker() for h in handles] == ["o", "o", "o", "o", "s"]
    assert [mcolors.to_hex(h.get_color()) for h in handles] == [
        "#000000", mcolors.to_hex("C0"), mcolors.to_hex("C1"), mcolors.to_hex("C2"), mcolors.to_hex("grey")]
    assert [same_colour(h.get_markerfacecolor(), "white") for h in handles] == [False, True, True, True, False], \
        "predictors open, as in the panels"
    assert all(h.get_linestyle() == "None" for h in handles)


def test_ladder_panels_run_three_across_and_the_spare_cells_are_blank(figures, tmp_path):
    four = [finding(f"f{i}", [Measured(0.1 * i, 0.01, 3), None, None], {"largest rung": None}) for i in range(4)]
    ladder_writer.plot_ladder(ladder_of(four), tmp_path / "ladder.png")
    (fig,) = figures
    assert tuple(fig.get_size_inches()) == pytest.approx((4.4 * 3, 3.4 * 2 + 0.6))
    axes = fig.axes
    assert len(axes) == 6 and [ax.axison for ax in axes] == [True] * 4 + [False] * 2
    assert [ax.get_title() for ax in axes[:4]] == [f"f{i}\nholds" for i in range(4)]
    assert [list(ax.containers[0].lines[0].get_ydata()) for ax in axes[:4]] == [[0.0], [0.1], [0.2], [pytest.approx(0.3)]]


def test_a_ladder_with_nothing_measured_still_draws_one_labelled_empty_panel(figures, tmp_path):
    ladder_writer.plot_ladder(ladder_of([NEVER_MEASURED]), tmp_path / "ladder.png")
    (fig,) = figures
    (ax,) = fig.axes
    assert ax.axison is False and ax.get_ylabel() == "difference in val_loss"
    assert tuple(fig.get_size_inches()) == pytest.approx((4.4, 3.4 + 0.6))


def test_the_ladder_console_lists_each_finding_cut_to_44_characters_with_its_prediction_and_verdict():
    """Not a plot, but what the console prints beside ladder.png: pinned whole for a small ladder."""
    text = ladder_writer.ladder_console(ladder_of([MEASURED_AND_PREDICTED, ONE_RUNG]), True)
    assert text.splitlines() == [
        "ladder over n_layer: 3 of 3 rungs measured; predicted at 1e+15 FLOPs",
        "  norm=rmsnorm x opt=sgd = pos=alibi x act=gel " + "-0.3000 [-0.4000, -0.2200]" + " " * 9 + "grows",
        "  pos: learned -> rope" + " " * 25 + "+0.0500 [+0.0000, +0.1000]" + " " * 9 + "cannot tell",
        "Predictor: the only one",
        "Full report: ladder.md (and ladder.json, ladder.png)"]
    assert text.endswith("\n")
    assert ladder_writer.ladder_console(ladder_of([ONE_RUNG]), False).splitlines()[-1] == \
        "Full report: ladder.md (and ladder.json)"
