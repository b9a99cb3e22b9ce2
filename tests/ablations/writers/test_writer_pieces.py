"""The smaller pieces of results.md and the console summary, each whole: the mixed-code and resumed header
lines, the plots list, the console's effect list past five mains, and the writers' switch for plots."""
import dataclasses

import pytest

from ablations.analysis.effects import Effect, Estimate
from ablations.writers import plotting_available
from ablations.writers.console import effects_lines
from ablations.writers.markdown import comparison_table, failures_and_plots, resolution_lines, resumed_text
from ablations.analysis.summary import Resolution


def test_resumed_text_names_the_count_and_the_latest_command():
    assert resumed_text({}) == ""
    assert resumed_text({"resumed": [{"command": "a", "at": "t1"}]}) == " (run 1 more time since; the latest: `a`, t1)"
    assert resumed_text({"resumed": [{"command": "a", "at": "t1"}, {"command": "b", "at": "t2"}]}) == \
        " (run 2 more times since; the latest: `b`, t2)"


def test_resolution_lines_without_a_target_and_past_a_thousand_seeds():
    assert resolution_lines(None) == []
    assert resolution_lines(Resolution(0.0123, 3)) == [
        "Smallest effect this table resolves: about ±0.012 (the median half-width of its 95% intervals, 3 seeds); "
        "anything smaller reads as noise here."]
    assert resolution_lines(Resolution(0.0123, 3, 0.0001, None, 0.01))[1] == (
        "To resolve an effect of 0.0001 (95% half-width below it) would take more than 1000 seeds, from the median "
        "spread of the per-seed contrasts measured here (0.01).")


def test_the_plots_are_listed_by_title_and_failures_by_cell():
    summary = type("S", (), {"failures": [("k-seed1", "ValueError: x"), ("k-seed2", "OSError: y")]})()
    assert failures_and_plots(summary, [("a.png", "A"), ("b.png", "B")], "unused") == [
        "## Failed cells", "", "- `k-seed1`: ValueError: x", "- `k-seed2`: OSError: y", "",
        "## Plots", "", "![A](a.png)", "![B](b.png)"]
    assert failures_and_plots(type("S", (), {"failures": []})(), [], "none.") == ["## Plots", "", "none."]


def test_the_comparison_table_keeps_the_default_order_and_leaves_a_missing_tuned_effect_blank():
    default = [Effect("b x c", Estimate(0.5, 0.1, 3), 2), Effect("a", Estimate(-0.25, None, 1), 1)]
    tuned = [Effect("a", Estimate(-0.125, 0.0625, 3), 1)]
    assert comparison_table(default, tuned, "lr") == """\
| effect   | at the default lr   | at each variant's tuned lr   |
|----------|---------------------|------------------------------|
| a        | -0.2500             | -0.1250 ± 0.0625             |
| b x c    | +0.5000 ± 0.1000    |                              |"""


def test_the_console_shows_five_main_effects_and_three_interactions_beyond_noise():
    mains = [Effect(f"m{i}", Estimate(-0.1 * i, 0.01, 3, p_adjusted=0.001), 1) for i in range(1, 8)]
    pairs = [Effect(f"i{i}", Estimate(0.05 * i, 0.01, 3, p_adjusted=0.001), 2) for i in range(1, 5)]
    quiet = [Effect("q", Estimate(0.9, 0.01, 3, p_adjusted=0.2), 2)]  # the largest, but within noise
    summary = type("S", (), {"effects": mains + pairs + quiet,
                             "verdict": lambda self, e: "beyond noise" if e.estimate.p_adjusted < 0.05 else "within"})()
    assert effects_lines(summary) == [
        "What mattered (main effects, 95% intervals over seeds):",
        "  m7                                 -0.7000 ± 0.0100     beyond noise",
        "  m6                                 -0.6000 ± 0.0100     beyond noise",
        "  m5                                 -0.5000 ± 0.0100     beyond noise",
        "  m4                                 -0.4000 ± 0.0100     beyond noise",
        "  m3                                 -0.3000 ± 0.0100     beyond noise",
        "  ... and 2 more",
        "  interactions beyond noise: i4 +0.2000 ± 0.0100; i3 +0.1500 ± 0.0100; i2 +0.1000 ± 0.0100"]
    summary.effects = mains[:5]
    assert effects_lines(summary)[-1] == "  m1                                 -0.1000 ± 0.0100     beyond noise"
    summary.effects = []
    assert effects_lines(summary) == []


def test_plots_are_off_when_not_asked_for_and_say_why(without_matplotlib):
    assert plotting_available(False) == (False, "Plots were not requested (--no-plot).")
    assert plotting_available(None) == (False, "No plots: matplotlib is not installed (pip install "
                                               "'mainrun-ablations[plot]').")
    from mainrun.errors import ConfigError
    with pytest.raises(ConfigError, match=r"^--plot needs matplotlib: pip install 'mainrun-ablations\[plot\]'$"):
        plotting_available(True)


def test_counts_are_plural_except_for_one():
    from ablations.writers.text import count
    assert [count(n, "seed") for n in (0, 1, 2)] == ["0 seeds", "1 seed", "2 seeds"]


def test_the_console_names_one_tuning_seed_in_the_singular_and_an_unextended_alarm():
    from ablations.writers.console import tuning_lines
    from ablations.study.grid import Point
    from mainrun.variant import Variant

    base = Point(Variant())
    tune = type("T", (), {"axis_label": "lr", "tune_seeds": (1337,), "extend": 0})()
    tuning = type("U", (), {"tune": tune, "chosen": {base: 0.01}, "alarms": {base: "at the top"}})()
    summary = type("S", (), {"tuning": tuning, "references": {}})()
    assert tuning_lines(summary) == [
        "Tuned lr (on seed 1337): baseline 0.01",
        "  ALARM: at an end of the lr candidates (the optimum may lie beyond): baseline 0.01"]
