"""The staged sweep's decisions (ablations/sweep.py) on synthetic cells, and its bad input."""
import re
import statistics

import pytest

from ablations.execution.cells import cell_key
from ablations.execution.store import ResultsDir
from ablations.study.axes import Point
from ablations.study.grid import build_grid
from ablations.analysis.stages import Stage, decide, final_comparison, start_values
from ablations.study.study import Study, held_out
from mainrun.config import TrainConfig
from mainrun.variant import Variant
from mainrun.errors import ConfigError

SEEDS = [1, 2, 3]
BASE = TrainConfig.from_scale("tiny", variant=Variant(opt="adamw"))


def stage_with(tmp_path, losses_by_level, current=3e-4, axis="lr", metric="auto", full_offset=0.0, seeds=None):
    """A stage folder whose cells have the given per-seed losses (val_loss_full: the same plus an offset per level
    index, so a metric read from the wrong field changes the stage's numbers)."""
    levels = list(losses_by_level)
    grid = build_grid(None, ["opt=adamw", f"{axis}={','.join(map(str, levels))}"], base=BASE)
    grid.references[axis] = current
    store = ResultsDir(tmp_path)
    for index, point in enumerate(grid.points):
        level_seeds = (seeds or {}).get(point.level(axis), SEEDS)
        for seed, loss in zip(level_seeds, losses_by_level[point.level(axis)]):
            store.write_cell(cell_key(point, seed), {"point": str(point), "variant": str(point.variant),
                                                     "seed": seed, "status": "ok", "val_loss": loss,
                                                     "val_coverage": 0.9, "val_loss_full": loss + full_offset * index},
                             [])
    stage = Stage(1, axis, levels, current, added_current=False)
    decide(stage, store, grid, SEEDS, metric, margin=0.003)
    return stage


def test_a_winner_beyond_noise_replaces_the_current_value(tmp_path):
    stage = stage_with(tmp_path, {1e-4: [2.5, 2.6, 2.7], 3e-4: [2.3, 2.4, 2.5], 5e-4: [2.2, 2.31, 2.39]})
    assert stage.best == 5e-4 and stage.chosen == 5e-4 and "beyond noise: adopted" in stage.decision
    assert stage.delta.value == pytest.approx(-0.1, abs=1e-9)
    assert stage.alarm == "lr: best at the top of its grid (0.0005); extend it"


def test_a_winner_within_noise_keeps_the_current_value(tmp_path):
    stage = stage_with(tmp_path, {1e-4: [2.5, 2.6, 2.7], 3e-4: [2.3, 2.4, 2.5], 5e-4: [2.35, 2.3, 2.5]})
    assert stage.best == 5e-4 and stage.chosen == 3e-4
    assert "within noise, 0.0003 kept" in stage.decision


def test_a_negligible_winner_keeps_the_current_value(tmp_path):
    stage = stage_with(tmp_path, {1e-4: [2.5, 2.6, 2.7], 3e-4: [2.3, 2.4, 2.5], 5e-4: [2.299, 2.399, 2.4995]})
    assert stage.best == 5e-4 and stage.chosen == 3e-4 and "negligible (inside ±0.003)" in stage.decision


def test_the_current_value_winning_inside_the_grid_raises_no_alarm(tmp_path):
    stage = stage_with(tmp_path, {1e-4: [2.5, 2.6, 2.7], 3e-4: [2.3, 2.4, 2.5], 5e-4: [2.4, 2.5, 2.6]})
    assert stage.chosen == 3e-4 and stage.alarm is None and "is the best: kept" in stage.decision


def test_a_stage_ranks_by_the_metric_asked_for(tmp_path):
    # val_loss_full is val_loss minus 0.3 per level index: read from the wrong field, every number changes.
    losses = {1e-4: [2.5, 2.6, 2.7], 3e-4: [2.3, 2.4, 2.5], 5e-4: [2.2, 2.31, 2.39]}
    stage = stage_with(tmp_path, losses, metric="val_loss_full", full_offset=-0.3)
    assert stage.metric == "val_loss_full" and stage.best == 5e-4
    assert stage.means["0.0005"] == pytest.approx(statistics.fmean(losses[5e-4]) - 0.6)
    assert stage.delta.value == pytest.approx(-0.1 - 0.3)


def test_two_seeds_give_a_spread(tmp_path):
    stage = stage_with(tmp_path, {1e-4: [2.5, 2.6], 3e-4: [2.3, 2.4], 5e-4: [2.2, 2.3]})
    assert stage.sds["0.0003"] == pytest.approx(statistics.stdev([2.3, 2.4])) and stage.n["0.0003"] == 2


def test_a_winner_sharing_no_seed_with_the_current_value_is_adopted_untested(tmp_path):
    stage = stage_with(tmp_path, {1e-4: [2.5], 3e-4: [2.4], 5e-4: [2.3]}, seeds={5e-4: [2], 1e-4: [1], 3e-4: [1]})
    assert stage.delta is None and stage.chosen == 5e-4
    assert stage.decision == ("best lr 0.0005 (n/a against 0.0003) taken on one seed, without a noise test: "
                              "run more seeds to test it")


def test_current_values_come_from_the_recipe_and_the_preset():
    assert start_values(BASE, ["lr", "weight_decay", "batch_size", "opt", "norm.eps"]) == {
        "lr": 3e-4, "weight_decay": 0.1, "batch_size": 8, "opt": "adamw", "norm.eps": 1e-5}
    moved = Point.at({"lr": 1e-3, "init": "kaiming"}, BASE.variant).apply(BASE)
    assert moved.get("lr") == 1e-3 and moved.variant == Variant(opt="adamw", init="kaiming")


def test_final_seeds_are_held_out_by_default():
    assert held_out((1337, 1338, 1339)) == [1340, 1341, 1342]
    study = Study.from_options(stage=["lr=1e-3,1e-2"], seeds="1337,1338", final_seeds="1337,1338,", scale="tiny")
    assert study.stages.final_seeds == (1337, 1338)


@pytest.mark.parametrize("specs, overrides, message", [
    (["speed=1,2"], {}, "unknown axis 'speed'"),
    (["lr="], {}, "stage 'lr=' is empty"),
    (["lr=1e-3", "lr=1e-2"], {}, "lr has two stages"),
    (["dropout=0.1,0.2"], {"dropout": 0.1}, "dropout is given both as --dropout and as a stage"),
])
def test_bad_stages(specs, overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        Study.from_options(stage=specs, scale="tiny", **overrides)


SEED_OFFSETS = {1337: 0.0, 1338: 0.1, 1339: 0.2, 1340: 0.05, 1341: 0.15, 1342: 0.25}


def synthetic_loss(cfg: TrainConfig) -> float:
    """lr 5e-4 is best by its mean but within noise of the current 3e-4 (so 3e-4 is kept); dropout 0.0
    is beyond noise better than 0.1 (adopted)."""
    lr = cfg.peak_lr
    lr_part = {1e-4: 0.2, 3e-4: 0.0, 5e-4: {1337: 0.05, 1338: -0.1, 1339: 0.0}.get(cfg.training.seed, -0.02)}[lr]
    return 2.3 + SEED_OFFSETS[cfg.training.seed] + lr_part + (0.1 if cfg.model.dropout == 0.1 else 0.0)


def test_later_stages_and_the_final_comparison_carry_the_chosen_value_not_the_best(tmp_path, monkeypatch):
    import json

    from ablations import sweep
    from tests.ablations.synthetic import install

    backend = install(monkeypatch, synthetic_loss)
    out = tmp_path / "sweep"
    code = sweep.main(["--variant", "opt=adamw", "--stage", "lr=1e-4,3e-4,5e-4", "--stage", "dropout=0.0,0.1",
                       "--seeds", "3", "--scale", "tiny", "--data", "embedded", "--no-plot", "--out", str(out)])
    assert code == 0
    record = json.loads((out / "sweep.json").read_text())
    first, second = record["stages"]
    assert first["best"] == 5e-4 and first["winner"] == 3e-4 and first["kept_current"]
    assert second["winner"] == 0.0
    lr_of = {cell.key: cell.config.peak_lr for cell in backend.trained}
    later = [cell for cell in backend.trained if cell.config.model.dropout == 0.0 or cell.seed >= 1340]
    assert len(later) == 3 + 6 and {lr_of[cell.key] for cell in later} == {3e-4}
    assert record["chosen"] == {"lr": 3e-4, "dropout": 0.0}
    assert record["final"]["changed"] == ["dropout"]


def test_a_stage_without_a_finished_cell_keeps_the_current_value(tmp_path):
    stage = stage_with(tmp_path, {1e-4: [], 3e-4: [], 5e-4: []})
    assert stage.best is None and stage.chosen == 3e-4 and stage.delta is None
    assert stage.decision == "no cell finished: the current value is kept"
    assert stage.n == {"0.0001": 0, "0.0003": 0, "0.0005": 0} and stage.means == {}


def test_a_stage_on_one_seed_adopts_its_best_and_says_it_was_not_tested(tmp_path):
    stage = stage_with(tmp_path, {1e-4: [2.5], 3e-4: [2.4], 5e-4: [2.3]})
    assert stage.chosen == 5e-4 and stage.delta.value == pytest.approx(-0.1) and stage.delta.half_width is None
    assert stage.decision == ("best lr 0.0005 (-0.1000 against 0.0003) taken on one seed, without a noise test: "
                              "run more seeds to test it")
    assert stage.sds == {"0.0001": None, "0.0003": None, "0.0005": None} and stage.n["0.0005"] == 1


def test_a_stages_statistics_and_description(tmp_path):
    stage = stage_with(tmp_path, {1e-4: [2.5, 2.6, 2.7], 3e-4: [2.3, 2.4, 2.5], 5e-4: [2.35, 2.3, 2.5]})
    assert stage.means["0.0005"] == pytest.approx(2.3833333) and stage.sds["0.0003"] == pytest.approx(0.1)
    described = stage.describe()
    assert described == {
        "stage": 1, "axis": "lr", "folder": "", "levels": [1e-4, 3e-4, 5e-4], "current": 3e-4, "added_current": False,
        "metric": "val_loss", "means": stage.means, "sds": stage.sds, "seeds_ok": {"0.0001": 3, "0.0003": 3, "0.0005": 3},
        "best": 5e-4, "winner": 3e-4, "kept_current": True,
        "delta_best_vs_current": {"value": stage.delta.value, "ci95_half_width": stage.delta.half_width, "seeds": 3},
        "decision": stage.decision, "alarms": ["lr: best at the top of its grid (0.0005); extend it"]}
    adopted = stage_with(tmp_path / "b", {1e-4: [2.5, 2.6, 2.7], 3e-4: [2.3, 2.4, 2.5], 5e-4: [2.2, 2.31, 2.39]})
    assert adopted.describe()["kept_current"] is False and adopted.describe()["winner"] == 5e-4
    inside = stage_with(tmp_path / "c", {1e-4: [2.5, 2.6, 2.7], 3e-4: [2.3, 2.4, 2.5], 5e-4: [2.4, 2.5, 2.6]})
    assert inside.describe()["alarms"] == [] and inside.describe()["delta_best_vs_current"] is None
    assert inside.describe()["kept_current"] is False  # the current value was the best: nothing was kept back


@pytest.mark.parametrize("levels, current, trained, added", [
    ([1e-3, 1e-2], 3e-4, [3e-4, 1e-3, 1e-2], True),  # added, and sorted into place
    ([1e-2, 3e-4], 3e-4, [1e-2, 3e-4], False),  # listed: the user's order kept
    (["rmsnorm"], "layernorm", ["rmsnorm", "layernorm"], True),  # names are not sorted
])
def test_a_stage_adds_the_current_value_to_compare_against(levels, current, trained, added):
    stage = Stage.begin(2, "lr", levels, current)
    assert (stage.levels, stage.added_current, stage.current, stage.index) == (trained, added, current, 2)


def test_the_sweep_record_and_the_final_comparison(tmp_path, monkeypatch):
    import json

    from ablations import sweep
    from tests.ablations.synthetic import install

    install(monkeypatch, synthetic_loss)
    out = tmp_path / "sweep"
    assert sweep.main(["--variant", "opt=adamw", "--stage", "dropout=0.0,0.1", "--seeds", "3", "--scale", "tiny",
                       "--data", "embedded", "--no-plot", "--lr-scaling", "sqrt", "--margin", "0.004",
                       "--out", str(out)]) == 0
    record = json.loads((out / "sweep.json").read_text())
    assert record["command"].startswith("python -m ablations.sweep --variant opt=adamw --stage dropout=0.0,0.1")
    assert (record["variant"], record["seeds"], record["final_seeds"]) == (
        "norm=layernorm,pos=learned,init=default,opt=adamw", [1337, 1338, 1339], [1340, 1341, 1342])
    assert (record["metric"], record["margin"], record["start"], record["complete"]) == ("auto", 0.004,
                                                                                         {"dropout": 0.1}, True)
    assert record["chosen"] == {"dropout": 0.0, "lr_scaling": "sqrt"}
    final = record["final"]
    assert {k: final[k] for k in ("folder", "changed", "metric", "metric_note", "seeds")} == {
        "folder": "final", "changed": ["dropout"], "metric": "val_loss", "metric_note": "", "seeds": [1340, 1341, 1342]}
    assert final["delta"]["value"] == pytest.approx(-0.1) and final["delta"]["seeds"] == 3
    assert final["delta"]["ci95_half_width"] == pytest.approx(0.0, abs=1e-12)


def test_the_final_comparison_reads_the_metric_asked_for_and_survives_no_shared_seed(tmp_path):
    stage_with(tmp_path, {1e-4: [2.5, 2.6, 2.7], 3e-4: [2.3, 2.4, 2.5]}, full_offset=-0.3)
    grid = build_grid(None, ["opt=adamw", "lr=0.0001,0.0003"], base=BASE)
    store, (start, chosen) = ResultsDir(tmp_path), grid.points
    final = final_comparison(store, grid, ["lr"], start, chosen, SEEDS, "val_loss_full")
    assert final["metric"] == "val_loss_full" and final["delta"]["value"] == pytest.approx(-0.2 - 0.3)
    unpaired = final_comparison(store, grid, ["lr"], start, chosen, [7], "auto")
    assert unpaired["delta"] is None and unpaired["estimate"] is None


def test_the_final_folders_delta_is_chosen_minus_start_with_the_start_as_reference(tmp_path, monkeypatch):
    from ablations import sweep
    from tests.ablations.synthetic import install

    install(monkeypatch, synthetic_loss)  # dropout 0.0 is 0.1 better than the start's 0.1: adopted
    out = tmp_path / "sweep"
    assert sweep.main(["--variant", "opt=adamw", "--stage", "dropout=0.0,0.1", "--seeds", "3", "--scale", "tiny",
                       "--data", "embedded", "--no-plot", "--out", str(out)]) == 0
    lines = (out / "final" / "results.md").read_text().splitlines()
    header = next(line for line in lines if line.startswith("|") and "Δ vs reference" in line)
    columns = [c.strip() for c in header.strip("|").split("|")]
    rows = [dict(zip(columns, (c.strip() for c in line.strip("|").split("|")))) for line in lines
            if line.startswith("| ") and line != header and set(line) - set("|- ")]
    by_dropout = {row["dropout"]: row for row in rows}
    assert by_dropout["0.1"][""] == "reference", "the final comparison is not referenced to the start"
    assert by_dropout["0.1"]["Δ vs reference"] == ""
    assert by_dropout["0.0"]["Δ vs reference"].startswith("-0.1000"), "Δ is not chosen minus start"


@pytest.mark.parametrize("per_seed", [[-0.10, -0.12, -0.09], [-0.1, 0.05, -0.02], [-0.1, -0.1, -0.1]])
def test_the_final_comparisons_verdict_read_back_from_sweep_json_is_the_one_computed(per_seed):
    from ablations.analysis.effects import contrast, estimate_from_json, estimate_json
    from ablations.analysis.stages import comparison_verdict

    computed = contrast({("chosen", s): 2.0 + d for s, d in enumerate(per_seed)} |
                        {("start", s): 2.0 for s in range(len(per_seed))}, {"chosen": 1.0, "start": -1.0},
                        list(range(len(per_seed))))
    read_back = estimate_from_json(estimate_json(computed))
    assert comparison_verdict(read_back, 0.003) == comparison_verdict(computed, 0.003)
    assert read_back.p_value == pytest.approx(computed.p_value)
