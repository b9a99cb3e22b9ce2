"""What each plot shows (ablations/writers/plots.py), read off the figure before it is saved: its labels,
scales, the points and bars it draws, the ring on the chosen value, its legend."""
import pytest
from matplotlib.container import BarContainer

from ablations.writers import plots
from tests.ablations.writers.kept_figures import keep_figures


@pytest.fixture
def figures(monkeypatch):
    """Every figure a plot function would save, kept open to be read."""
    yield from keep_figures(monkeypatch, plots)


def test_a_sensitivity_plot_draws_mean_and_sd_per_value_and_rings_the_chosen_one(figures, tmp_path):
    series = {"opt=adamw": {1e-3: [2.0, 2.2], 3e-3: [1.8, 1.8], 1e-2: [2.5]}, "opt=sgd": {1e-3: [], 3e-3: [3.0, 3.4]}}
    plots.plot_sensitivity(tmp_path / "p.png", "lr", series, {"opt=adamw": 3e-3, "opt=sgd": 1e-3}, "val loss")
    ax = figures[0].axes[0]
    assert ax.get_xlabel() == "lr" and ax.get_ylabel() == "val loss" and ax.get_xscale() == "log"
    assert ax.xaxis.get_minor_ticks()[0].gridline.get_visible(), "grid lines between the decades too"
    adamw, sgd = (container.lines[0] for container in ax.containers)  # each errorbar's line through the means
    assert list(adamw.get_xdata()) == [1e-3, 3e-3, 1e-2]
    assert list(adamw.get_ydata()) == pytest.approx([2.1, 1.8, 2.5])
    assert list(sgd.get_xdata()) == [3e-3] and list(sgd.get_ydata()) == pytest.approx([3.2])
    rings = [line for line in ax.get_lines() if line.get_markersize() == 14]
    assert len(rings) == 1, "sgd's pick has no losses: no ring"
    assert list(rings[0].get_xdata()) == [3e-3] and list(rings[0].get_ydata()) == pytest.approx([1.8])
    assert rings[0].get_markerfacecolor() == "none" and rings[0].get_markeredgecolor() == adamw.get_color()
    bars = ax.containers[0].lines[2][0].get_segments()  # adamw's error bars: +- one sd
    assert [y for s in bars for y in s[:, 1]] == pytest.approx([2.1 - 0.1414, 2.1 + 0.1414, 1.8, 1.8, 2.5, 2.5],
                                                               abs=1e-4)
    assert tuple(figures[0].get_size_inches()) == (9.0, 4.2 + 0.2)  # one row of legend under the axes
    legend = figures[0].legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["opt=adamw", "opt=sgd"]


def test_a_sensitivity_plots_axis_reads_as_the_user_writes_it_and_log_only_for_positive_rates(figures, tmp_path):
    plots.plot_sensitivity(tmp_path / "p.png", "batch_size", {"": {8: [2.0], 16: [1.9]}}, {}, "val loss")
    plots.plot_sensitivity(tmp_path / "p.png", "weight_decay", {"": {0.0: [2.0], 0.1: [1.9]}}, {}, "val loss")
    plots.plot_sensitivity(tmp_path / "p.png", "weight_decay", {"": {0.01: [2.0], 0.1: [1.9]}}, {}, "val bpb")
    batch, with_zero, positive = (fig.axes[0] for fig in figures)
    assert batch.get_xlabel() == "batch-size" and batch.get_xscale() == "linear"
    assert with_zero.get_xlabel() == "weight-decay" and with_zero.get_xscale() == "linear"
    assert positive.get_xscale() == "log" and positive.get_ylabel() == "val bpb"
    assert not figures[0].legends, "one unnamed line (a sweep stage) needs no legend"
    assert figures[0].get_size_inches()[0] == 7.0, "nor a legend's width"


# A summary built by hand: what the plots read of it (rows, their seeds' curves, the reference, verdicts).
def summary_of(rows, curves, seeds=(1337, 1338)):
    from ablations.analysis.summary import Summary
    from ablations.study.study import ReportOptions

    return Summary(root=None, run={}, options=ReportOptions(), metric="val_loss", metric_note="", seeds=list(seeds),
                   references={}, rows=rows, effects=None, resolution=None, records=[], curves=curves, cells=0)


def row_of(spec, label, statuses=("ok", "ok"), reference=False):
    from ablations.analysis.summary import Row
    from ablations.study.axes import Point
    from mainrun.variant import Variant

    point = Point(Variant.parse(spec)) if spec else Point()
    records = [{"status": s, "seed": seed, "val_loss": 2.0} for s, seed in zip(statuses, (1337, 1338))]
    return Row(point, records, 0, is_reference=reference, label=label)


def curves_for(rows_curves):
    from ablations.execution.cells import cell_key

    return {cell_key(row.point, seed): curve for row, by_seed in rows_curves for seed, curve in by_seed.items()}


def curve_data(line):
    return list(line.get_xdata()), list(line.get_ydata())


def grey_blue_black():
    return plots.REFERENCE_GREY, "tab:blue", "black"


def test_a_curves_panel_per_finished_variant_shows_its_seeds_over_the_references_in_grey(figures, tmp_path):
    adamw = row_of("opt=adamw", "opt=adamw")
    failed = row_of("opt=muon", "opt=muon", statuses=("failed", "failed"))
    base = row_of("", "baseline", reference=True)
    curves = curves_for([(adamw, {1337: [(0, 3.0), (10, 2.5)], 1338: [(0, 3.1), (10, 2.4)]}),
                         (base, {1337: [(0, 3.0), (10, 2.8)]})])  # the baseline's second seed has no curve
    plots.plot_curves(summary_of([adamw, failed, base], curves), tmp_path / "curves.png")
    (fig,) = figures
    first, second = fig.axes  # the variant whose every cell failed gets no panel
    grey, blue, black = grey_blue_black()
    assert [(curve_data(ln), ln.get_color(), ln.get_linewidth()) for ln in first.get_lines()] == [
        (([0, 10], [3.0, 2.8]), grey, 1.0),  # the reference's seeds first, under the variant's
        (([0, 10], [3.0, 2.5]), blue, 1.2), (([0, 10], [3.1, 2.4]), blue, 1.2)]
    assert [(curve_data(ln), ln.get_color(), ln.get_linewidth()) for ln in second.get_lines()] == [
        (([0, 10], [3.0, 2.8]), black, 1.2)], "the reference's own panel: black, no grey copy of itself"
    assert [ax.get_title() for ax in fig.axes] == ["opt=adamw", "baseline"]  # a row labelled by its role: once
    assert first.title.get_fontsize() == 8 and first.yaxis.get_ticklabels()[0].get_fontsize() == 7
    assert all(ax.xaxis.get_gridlines()[0].get_visible() and ax.yaxis.get_gridlines()[0].get_visible()
               and ax.xaxis.get_gridlines()[0].get_alpha() == 0.3 for ax in fig.axes), "a faint grid"
    assert first.get_shared_x_axes().joined(first, second) and first.get_shared_y_axes().joined(first, second)
    assert fig.get_suptitle() == "Validation loss against step; grey: the baseline"
    assert fig.get_supxlabel() == "step" and fig.get_supylabel() == "val loss (reference metric)"
    assert tuple(fig.get_size_inches()) == pytest.approx((3.2 * 2, (1.9 + 0.15) * 1 + 0.4))


def test_curves_panels_run_four_across_titles_wrap_at_42_characters_and_spare_cells_are_blank(figures, tmp_path):
    long = "norm=rmsnorm, pos=rope, opt=adamw, act=gelu"  # 43 characters: wraps at 42
    rows = [row_of("opt=adamw", long), *(row_of(f"opt={o}", f"opt={o}") for o in ("muon", "sgd")), row_of("norm=rmsnorm", "norm=rmsnorm"),
            row_of("pos=rope", "pos=rope")]  # no reference among them: no grey lines anywhere
    curves = curves_for([(row, {1337: [(0, 3.0 + i)]}) for i, row in enumerate(rows)])
    plots.plot_curves(summary_of(rows, curves), tmp_path / "curves.png")
    (fig,) = figures
    assert len(fig.axes) == 8 and [ax.axison for ax in fig.axes] == [True] * 5 + [False] * 3
    assert fig.axes[0].get_title() == "norm=rmsnorm, pos=rope, opt=adamw,\nact=gelu"
    assert [[ln.get_ydata()[0] for ln in ax.get_lines()] for ax in fig.axes[:5]] == [[3.0], [4.0], [5.0], [6.0], [7.0]]
    assert all(ln.get_color() == "tab:blue" for ax in fig.axes for ln in ax.get_lines())
    assert fig.get_suptitle() == "Validation loss against step; grey: the reference"
    assert tuple(fig.get_size_inches()) == pytest.approx((3.2 * 4, (1.9 + 0.15 * 2) * 2 + 0.4))


def test_a_curves_plot_of_one_variant_is_one_panel(figures, tmp_path):
    base = row_of("", "baseline", reference=True)
    plots.plot_curves(summary_of([base], curves_for([(base, {1338: [(0, 3.0), (5, 2.0)]})])), tmp_path / "c.png")
    (fig,) = figures
    (ax,) = fig.axes
    assert [curve_data(ln) for ln in ax.get_lines()] == [([0, 5], [3.0, 2.0])] and ax.get_lines()[0].get_color() == "black"
    assert tuple(fig.get_size_inches()) == pytest.approx((3.2, 1.9 + 0.15 + 0.4))


def test_the_pair_plot_draws_every_seed_of_the_reference_in_black_and_the_best_in_blue_named_once_each(
        figures, tmp_path):
    base = row_of("", "baseline", reference=True)
    best = row_of("opt=adamw", "opt=adamw")
    curves = curves_for([(base, {1337: [(0, 3.0), (10, 2.8)], 1338: [(0, 3.2), (10, 2.9)]}),
                         (best, {1337: [(0, 3.0), (10, 2.5)], 1338: [(0, 3.1), (10, 2.4)]})])
    plots.plot_pair(summary_of([best, base], curves), [base, best], tmp_path / "pair.png")
    (fig,) = figures
    (ax,) = fig.axes
    assert [(curve_data(ln), ln.get_color(), ln.get_linewidth()) for ln in ax.get_lines()] == [
        (([0, 10], [3.0, 2.8]), "black", 1.5), (([0, 10], [3.2, 2.9]), "black", 1.5),
        (([0, 10], [3.0, 2.5]), "tab:blue", 1.5), (([0, 10], [3.1, 2.4]), "tab:blue", 1.5)]
    assert [ln.get_label() for ln in ax.get_lines()][::2] == ["baseline", "opt=adamw"], "each row named by its first seed"
    assert all(ln.get_label().startswith("_") for ln in ax.get_lines()[1::2]), "and only once"
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "val loss (reference metric)"
    assert ax.xaxis.get_gridlines()[0].get_visible() and ax.yaxis.get_gridlines()[0].get_alpha() == 0.3
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["baseline", "opt=adamw"]
    assert legend.get_texts()[0].get_fontsize() == 8 and legend.get_frame_on() is False
    assert tuple(fig.get_size_inches()) == (8, 5)


def effect(name, value, half_width, p_adjusted):
    from ablations.analysis.effects import Effect, Estimate

    return Effect(name, Estimate(value, half_width, 3 if half_width else 1, p_adjusted=p_adjusted), 1)


def test_an_effects_plot_draws_each_effect_as_a_bar_top_down_blue_when_beyond_noise_with_its_interval(
        figures, tmp_path):
    import matplotlib.colors as mcolors

    long = "norm=rmsnorm x pos=rope = norm=rmsnorm x pos=rope x opt=muon = act=gelu x lr=0.01"
    effects = [effect("opt: sgd -> adamw", -0.4, 0.05, 0.001), effect("pos: learned -> rope", 0.03, 0.05, 0.5),
               effect(long, 0.1, None, None)]
    plots.plot_effects(summary_of([], {}), effects, tmp_path / "effects.png")
    (fig,) = figures
    (ax,) = fig.axes
    wrapped = "norm=rmsnorm x pos=rope\n= norm=rmsnorm x pos=rope x opt=muon\n= act=gelu x lr=0.01"  # at 56
    # Bars bottom up: the last effect at the bottom, so that the first reads at the top.
    assert [t.get_text() for t in ax.get_yticklabels()] == [wrapped, "pos: learned -> rope", "opt: sgd -> adamw"]
    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [(b.get_x(), b.get_width(), b.get_y() + b.get_height() / 2) for b in bars] == [
        (0, pytest.approx(0.1), 0), (0, pytest.approx(0.03), 1), (0, pytest.approx(-0.4), 2)]
    assert [mcolors.to_hex(b.get_facecolor()) for b in bars] == [mcolors.to_hex(c) for c in
                                                                  ("tab:grey", "tab:grey", "tab:blue")]
    (segments,) = [c.get_segments() for c in bars.errorbar.lines[2]]
    assert [x for s in segments for x in sorted(s[:, 0])] == pytest.approx([0.1, 0.1, -0.02, 0.08, -0.45, -0.35])
    assert [cap.get_markersize() for cap in bars.errorbar.lines[1]] == [6, 6], "capped, capsize 3"
    (zero,) = [ln for ln in ax.get_lines() if ln not in bars.errorbar.lines[1]]
    assert list(zero.get_xdata()) == [0.0, 0.0] and zero.get_color() == "black" and zero.get_linewidth() == 0.8
    assert ax.get_title(loc="right") == "95% intervals; blue: beyond noise (Holm), grey: within noise or negligible"
    assert ax._right_title.get_fontsize() == 9
    assert ax.get_xlabel() == "effect on val loss (negative = lower loss)"
    assert ax.get_yticklabels()[0].get_fontsize() == 7
    assert ax.margins()[1] == pytest.approx(0.5 / 3), "half a bar's room above and below"
    assert tuple(fig.get_size_inches()) == pytest.approx((9, 0.16 * 5 + 0.22 * 3 + 1.6))


def test_an_effects_plot_of_one_seed_draws_bars_without_intervals_and_says_so(figures, tmp_path):
    plots.plot_effects(summary_of([], {}), [effect("opt: sgd -> adamw", -0.4, None, None),
                                            effect("pos: learned -> rope", 0.2, None, None)], tmp_path / "e.png")
    (ax,) = figures[0].axes
    (bars,) = ax.containers
    assert isinstance(bars, BarContainer) and bars.errorbar is None and [b.get_width() for b in bars] == pytest.approx([0.2, -0.4])
    assert ax.get_title(loc="right") == "one seed: no intervals"
    assert ax.margins()[1] == pytest.approx(0.25)


def test_each_lr_schedule_is_a_line_per_step_on_a_log_axis_in_its_own_colour_and_dash(figures, tmp_path):
    import matplotlib.colors as mcolors

    lines = {f"recipe{i}": [1e-3 * (i + 1), 5e-4 * (i + 1), 1e-4] for i in range(11)}
    plots.plot_lr_schedules(lines, tmp_path / "lr.png")
    (fig,) = figures
    (ax,) = fig.axes
    drawn = ax.get_lines()
    assert [curve_data(ln) for ln in drawn] == [([0, 1, 2], curve) for curve in lines.values()]
    # Ten colours, then round again; the dash changes every line, so that the eleventh is not the first.
    assert [mcolors.to_hex(ln.get_color()) for ln in drawn] == [mcolors.to_hex(plots.COLOURS(i % 10)) for i in range(11)]
    assert [ln.get_linestyle() for ln in drawn] == ["-", "--", ":", "-."] * 2 + ["-", "--", ":"]
    assert all(ln.get_linewidth() == 1.6 for ln in drawn)
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "learning rate" and ax.get_yscale() == "log"
    assert ax.yaxis.get_gridlines()[0].get_visible() and ax.yaxis.get_gridlines()[0].get_alpha() == 0.3
    assert ax.yaxis.get_minor_ticks()[0].gridline.get_visible(), "a grid line on minor ticks too"
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == list(lines)
    assert tuple(fig.get_size_inches()) == (8, 4.5)


def test_sensitivity_lines_past_ten_turn_dashed_and_the_plot_says_what_its_bars_and_rings_mean(figures, tmp_path):
    labels = [f"norm=rmsnorm, pos=rope, lr=0.0{i:02d}" for i in range(11)]  # 32 characters each
    series = {label: {1: [2.0 + i], 2: [1.0 + i, 1.2 + i]} for i, label in enumerate(labels)}
    plots.plot_sensitivity(tmp_path / "p.png", "n_layer", series, {labels[10]: 2}, "val loss")
    (fig,) = figures
    (ax,) = fig.axes
    assert ax.get_title() == "mean ± sd over seeds; ringed: the chosen value" and ax.title.get_fontsize() == 9
    assert ax.get_xlabel() == "n-layer" and ax.get_xscale() == "linear"
    first, eleventh = ax.containers[0].lines[0], ax.containers[10].lines[0]
    assert (first.get_linestyle(), first.get_marker(), first.get_markersize()) == ("-", "o", 5)
    assert (eleventh.get_linestyle(), eleventh.get_marker()) == ("--", "s"), "after ten colours, dashed squares"
    assert eleventh.get_color() == first.get_color()
    assert [cap.get_markersize() for cap in ax.containers[0].lines[1]] == [6, 6], "capsize 3"
    (ring,) = [ln for ln in ax.get_lines() if ln.get_markersize() == 14]
    assert curve_data(ring) == ([2], [pytest.approx(11.1)]) and ring.get_markeredgewidth() == 2
    assert ring.get_marker() == "o" and ring.get_markeredgecolor() == eleventh.get_color()
    assert ax.xaxis.get_gridlines()[0].get_visible() and ax.xaxis.get_gridlines()[0].get_alpha() == 0.3
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == labels and legend._ncols == 3
    assert legend.get_texts()[0].get_fontsize() == 8
    # Labels of 32 characters at 8 points: three to a row across 9 inches, so four rows of legend under the axes.
    assert tuple(fig.get_size_inches()) == pytest.approx((9.0, 4.2 + 0.2 * 4))
