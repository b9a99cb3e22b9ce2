"""What each plot shows (ablations/writers/plots.py), read off the figure before it is saved: its labels,
scales, the points and bars it draws, the ring on the chosen value, its legend."""
import pytest

from ablations.writers import plots


@pytest.fixture
def figures(monkeypatch):
    """Every figure a plot function would save, kept open to be read."""
    kept = []
    monkeypatch.setattr(plots, "save", lambda fig, path: kept.append(fig))
    yield kept
    for fig in kept:
        plots.plt.close(fig)


def test_a_sensitivity_plot_draws_mean_and_sd_per_value_and_rings_the_chosen_one(figures, tmp_path):
    series = {"opt=adamw": {1e-3: [2.0, 2.2], 3e-3: [1.8, 1.8], 1e-2: [2.5]}, "opt=sgd": {1e-3: [], 3e-3: [3.0, 3.4]}}
    plots.plot_sensitivity(tmp_path / "p.png", "lr", series, {"opt=adamw": 3e-3, "opt=sgd": 1e-3}, "val loss")
    ax = figures[0].axes[0]
    assert ax.get_xlabel() == "lr" and ax.get_ylabel() == "val loss" and ax.get_xscale() == "log"
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
