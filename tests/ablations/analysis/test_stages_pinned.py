"""ablations/analysis/stages.py: each stage decision, description, final comparison and sweep record pinned whole."""
import math
import statistics
from types import SimpleNamespace

import pytest

from ablations.analysis.effects import Estimate, t_critical_975
from ablations.analysis.stages import (Stage, comparison_verdict, decide, final_comparison, start_values,
                                       sweep_record)
from ablations.execution.cells import cell_key
from ablations.execution.store import ResultsDir
from ablations.study.grid import build_grid
from mainrun.config import TrainConfig
from mainrun.variant import Variant

SEEDS = [1, 2, 3]
BASE = TrainConfig.from_scale("tiny", variant=Variant(opt="adamw"))


def folder(tmp_path, axis, losses_by_level, full_offset=0.0, extra=None):
    """A stage folder whose cells have the given per-seed losses (None: no cell for that seed)."""
    levels = list(losses_by_level)
    grid = build_grid(None, ["opt=adamw", f"{axis}={','.join(map(str, levels))}"], base=BASE)
    store = ResultsDir(tmp_path)
    for index, point in enumerate(grid.points):
        for seed, loss in zip(SEEDS, losses_by_level[point.level(axis)]):
            if loss is None:
                continue
            store.write_cell(cell_key(point, seed), {"point": str(point), "variant": str(point.variant), "seed": seed,
                                                     "status": "ok", "val_loss": loss, "val_coverage": 0.9,
                                                     "val_loss_full": loss + full_offset * index, **(extra or {})}, [])
    return store, grid


def decided(tmp_path, losses_by_level, current, axis="lr", metric="auto", margin=0.003, **kw):
    store, grid = folder(tmp_path, axis, losses_by_level, **kw)
    stage = Stage(3, axis, list(losses_by_level), current, added_current=False, folder="stage-3")
    decide(stage, store, grid, SEEDS, metric, margin)
    return stage


def test_begin_adds_the_current_value_in_order_or_last():
    assert Stage.begin(1, "lr", [1e-2, 1e-3], 3e-4) == Stage(1, "lr", [3e-4, 1e-3, 1e-2], 3e-4, True)
    assert Stage.begin(1, "lr", [1e-2, 1e-3], 5e-3) == Stage(1, "lr", [1e-3, 5e-3, 1e-2], 5e-3, True)
    assert Stage.begin(2, "lr", [1e-2, 1e-3], 1e-3) == Stage(2, "lr", [1e-2, 1e-3], 1e-3, False)
    assert Stage.begin(2, "lr", [1e-2, 1e-3], 1e-3 * (1 + 1e-15)).added_current is False  # the same value
    assert Stage.begin(4, "norm", ["rmsnorm", "layernorm"], "layernorm") == Stage(
        4, "norm", ["rmsnorm", "layernorm"], "layernorm", False)
    assert Stage.begin(4, "norm", ["rmsnorm"], "layernorm") == Stage(4, "norm", ["rmsnorm", "layernorm"], "layernorm",
                                                                    True)
    levels = [1e-2, 1e-3]
    Stage.begin(1, "lr", levels, 3e-4)
    assert levels == [1e-2, 1e-3]  # the caller's list is left alone


def test_describe_of_a_fresh_stage():
    assert Stage(2, "dropout", [0.0, 0.1], 0.1, True).describe() == {
        "stage": 2, "axis": "dropout", "folder": "", "levels": [0.0, 0.1], "current": 0.1, "added_current": True,
        "metric": "val_loss", "means": {}, "sds": {}, "seeds_ok": {}, "best": None, "winner": None,
        "kept_current": False, "delta_best_vs_current": None, "decision": "", "alarms": []}
    half = Stage(2, "dropout", [0.0, 0.1], 0.1, True, chosen=0.1, best=None)
    assert half.describe()["kept_current"] is False
    kept = Stage(2, "dropout", [0.0, 0.1], 0.1, True, chosen=0.1, best=0.0, alarm="x")
    assert kept.describe()["kept_current"] is True and kept.describe()["alarms"] == ["x"]
    adopted = Stage(2, "dropout", [0.0, 0.1], 0.1, True, chosen=0.0, best=0.0)
    assert adopted.describe()["kept_current"] is False


def test_a_best_beyond_noise_is_adopted(tmp_path):
    stage = decided(tmp_path, {1e-4: [2.5, 2.6, 2.7], 3e-4: [2.3, 2.4, 2.5], 5e-4: [2.2, 2.31, 2.39]}, 3e-4)
    hw = t_critical_975(2) * statistics.stdev([-0.1, -0.09, -0.11]) / math.sqrt(3)
    assert stage.delta == Estimate(pytest.approx(-0.1), pytest.approx(hw), 3, pytest.approx(0.01))
    assert stage.describe() == {
        "stage": 3, "axis": "lr", "folder": "stage-3", "levels": [1e-4, 3e-4, 5e-4], "current": 3e-4,
        "added_current": False, "metric": "val_loss",
        "means": {"0.0001": pytest.approx(2.6), "0.0003": pytest.approx(2.4), "0.0005": pytest.approx(2.3)},
        "sds": {"0.0001": pytest.approx(0.1), "0.0003": pytest.approx(0.1),
                "0.0005": pytest.approx(statistics.stdev([2.2, 2.31, 2.39]))},
        "seeds_ok": {"0.0001": 3, "0.0003": 3, "0.0005": 3}, "best": 5e-4, "winner": 5e-4, "kept_current": False,
        "delta_best_vs_current": {"value": stage.delta.value, "ci95_half_width": stage.delta.half_width, "seeds": 3},
        "decision": "best lr 0.0005: -0.1000 ± 0.0248 against the current 0.0003, beyond noise: adopted",
        "alarms": ["lr: best at the top of its grid (0.0005); extend it"]}


def test_a_best_within_noise_keeps_the_current_value_and_says_why(tmp_path):
    stage = decided(tmp_path, {1e-4: [2.5, 2.6, 2.7], 3e-4: [2.3, 2.4, 2.5], 5e-4: [2.35, 2.3, 2.5]}, 3e-4)
    assert (stage.best, stage.chosen, stage.alarm) == (5e-4, 3e-4, "lr: best at the top of its grid (0.0005); extend it")
    assert stage.decision == "best lr 0.0005 differs from the current 0.0003 by -0.0167 ± 0.1897: within noise, 0.0003 kept"


def test_a_negligible_best_keeps_the_current_value_by_the_margin_given(tmp_path):
    losses = {1e-4: [2.5, 2.6, 2.7], 3e-4: [2.3, 2.4, 2.5], 5e-4: [2.2, 2.31, 2.39]}
    stage = decided(tmp_path, losses, 3e-4, margin=0.5)
    assert stage.chosen == 3e-4
    assert stage.decision == ("best lr 0.0005 differs from the current 0.0003 by -0.1000 ± 0.0248: negligible (inside "
                              "±0.5), 0.0003 kept")


def test_the_current_value_best_in_the_middle_is_kept_without_alarm(tmp_path):
    stage = decided(tmp_path, {0.0: [2.5, 2.6, 2.7], 0.1: [2.3, 2.4, 2.5], 0.2: [2.4, 2.5, 2.6]}, 0.1, axis="dropout")
    assert (stage.best, stage.chosen, stage.alarm, stage.delta) == (0.1, 0.1, None, None)
    assert stage.decision == "the current dropout 0.1 is the best: kept"


def test_the_current_value_best_at_the_bottom_is_kept_with_an_alarm_in_the_axis_flag(tmp_path):
    stage = decided(tmp_path, {0.0: [2.3, 2.4, 2.5], 0.1: [2.5, 2.6, 2.7]}, 0.0, axis="weight_decay")
    assert (stage.best, stage.chosen) == (0.0, 0.0)
    assert stage.decision == "the current weight-decay 0.0 is the best: kept"
    assert stage.alarm == "weight-decay: best at the bottom of its grid (0.0); extend it"


def test_a_best_on_one_shared_seed_is_adopted_untested(tmp_path):
    stage = decided(tmp_path, {0.0: [2.3, None, None], 0.1: [2.5, None, None]}, 0.1, axis="weight_decay")
    assert stage.delta == Estimate(pytest.approx(-0.2), None, 1, None)
    assert (stage.chosen, stage.n, stage.sds) == (0.0, {"0.0": 1, "0.1": 1}, {"0.0": None, "0.1": None})
    assert stage.decision == ("best weight-decay 0.0 (-0.2000 against 0.1) taken on one seed, without a noise test: "
                              "run more seeds to test it")


def test_levels_without_a_finished_cell_are_counted_and_left_out(tmp_path):
    stage = decided(tmp_path, {1e-4: [None, None, None], 3e-4: [2.3, 2.4, None], 5e-4: [2.2, 2.3, 2.4]}, 3e-4)
    assert stage.n == {"0.0001": 0, "0.0003": 2, "0.0005": 3}
    assert stage.means == {"0.0003": pytest.approx(2.35), "0.0005": pytest.approx(2.3)}
    assert stage.sds == {"0.0003": pytest.approx(statistics.stdev([2.3, 2.4])), "0.0005": pytest.approx(0.1)}
    assert stage.best == 5e-4 and stage.delta.n_seeds == 2


def test_no_finished_cell_keeps_the_current_value(tmp_path):
    stage = decided(tmp_path, {1e-4: [None] * 3, 3e-4: [None] * 3}, 3e-4)
    assert (stage.best, stage.chosen, stage.delta, stage.alarm, stage.means, stage.sds) == (
        None, 3e-4, None, None, {}, {})
    assert stage.decision == "no cell finished: the current value is kept" and stage.n == {"0.0001": 0, "0.0003": 0}


def test_the_stage_ranks_by_the_requested_metric(tmp_path):
    stage = decided(tmp_path, {1e-4: [2.5, 2.6, 2.7], 3e-4: [2.3, 2.4, 2.5]}, 3e-4, metric="val_loss_full",
                    full_offset=0.5)
    assert stage.metric == "val_loss_full"
    assert stage.means == {"0.0001": pytest.approx(2.6), "0.0003": pytest.approx(2.9)}
    assert (stage.best, stage.chosen) == (1e-4, 1e-4) and stage.delta.value == pytest.approx(-0.3)


def test_comparison_verdict_is_the_tables_verdict_of_its_own_p():
    assert comparison_verdict(Estimate(-0.1, None, 1), 0.003) is None
    tight = Estimate(-0.1, 0.02, 3, sd=0.01)
    assert comparison_verdict(tight, 0.003) == "beyond noise"
    assert comparison_verdict(tight, 0.2) == "negligible (inside ±0.2)"
    assert comparison_verdict(Estimate(-0.1, 0.3, 3, sd=0.12), 0.003) == "within noise"
    assert comparison_verdict(Estimate(-0.1, 0.02, 3), 0.003) == "within noise"  # no sd, so no p


def test_start_values_of_settings_families_and_member_settings():
    cfg = TrainConfig.from_scale("tiny", variant=Variant(opt="adamw", norm="rmsnorm"))
    assert start_values(cfg, ["opt", "norm", "dropout", "lr", "norm.eps", "weight_decay"]) == {
        "opt": "adamw", "norm": "rmsnorm", "dropout": 0.1, "lr": 3e-4, "norm.eps": 1e-8, "weight_decay": 0.1}
    assert start_values(cfg, []) == {}


def test_final_comparison_whole(tmp_path):
    store, grid = folder(tmp_path, "lr", {1e-4: [2.5, 2.6, 2.7], 3e-4: [2.3, 2.4, 2.5]})
    start, chosen = grid.points
    final = final_comparison(store, grid, ["lr", "dropout"], start, chosen, SEEDS, "auto")
    estimate = final["estimate"]
    assert estimate == Estimate(pytest.approx(-0.2), pytest.approx(0.0, abs=1e-9), 3, pytest.approx(0.0, abs=1e-9))
    assert final == {"folder": "final", "changed": ["lr", "dropout"], "metric": "val_loss", "metric_note": "",
                     "seeds": SEEDS, "delta": {"value": estimate.value, "ci95_half_width": estimate.half_width,
                                               "seeds": 3}, "estimate": estimate}


def test_final_comparison_says_why_it_switched_metric(tmp_path):
    store, grid = folder(tmp_path, "lr", {1e-4: [2.5, 2.6, 2.7], 3e-4: [2.3, 2.4, 2.5]}, full_offset=0.1)
    record = store.read_record(cell_key(grid.points[1], 1))
    store.write_cell(cell_key(grid.points[1], 1), {**record, "val_coverage": 0.8}, [])
    final = final_comparison(store, grid, ["lr"], grid.points[0], grid.points[1], SEEDS, "auto")
    assert final["metric"] == "val_loss_full"
    assert final["metric_note"].startswith("The cells differ in how much of the val text the reference metric scores "
                                           "(80.0% to 90.0%)")
    assert final["delta"]["value"] == pytest.approx(-0.1)


def test_sweep_record_whole():
    stage = Stage(1, "lr", [1e-3, 3e-4], 3e-4, True)
    study = SimpleNamespace(options={"lr_scaling": "sqrt"}, seeds=(1, 2), stages=SimpleNamespace(final_seeds=(3, 4)),
                            report=SimpleNamespace(metric="auto", margin=0.004))
    final = {"folder": "final", "delta": None, "estimate": Estimate(0.1, None, 1)}
    plan = SimpleNamespace(study=study, final=final, chosen={"lr": 1e-3}, runner=SimpleNamespace(command="python x"),
                           variant=Variant(opt="adamw"), start={"lr": 3e-4}, stages=[stage])
    assert sweep_record(plan) == {
        "command": "python x", "variant": "norm=layernorm,pos=learned,init=default,opt=adamw", "seeds": [1, 2],
        "final_seeds": [3, 4], "metric": "auto", "margin": 0.004, "start": {"lr": 3e-4},
        "stages": [stage.describe()], "chosen": {"lr": 1e-3, "lr_scaling": "sqrt"},
        "final": {"folder": "final", "delta": None}, "complete": True}
    assert plan.chosen == {"lr": 1e-3}  # the plan's own choices are left alone
    plan.final, study.options = None, {}
    record = sweep_record(plan)
    assert (record["final"], record["complete"], record["chosen"]) == (None, False, {"lr": 1e-3})
    study.options = {"lr_scaling": None}
    assert sweep_record(plan)["chosen"] == {"lr": 1e-3}
