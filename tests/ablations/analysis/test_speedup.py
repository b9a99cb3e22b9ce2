"""Speed-ups against the reference's token budgets (ablations/analysis/speedup.py, --speedup)."""
import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ablations import run
from ablations.analysis.speedup import AT_LEAST, AT_MOST, EXACT, tokens_needed
from ablations.study.study import Study, parse_budgets
from mainrun.config import TrainConfig
from mainrun.errors import ConfigError
from tests.ablations.synthetic import install, synthetic_steps

CURVE = [(100.0, 3.0), (200.0, 2.8), (400.0, 2.7), (800.0, 2.65)]


def test_the_tokens_needed_interpolate_in_log_tokens_between_the_bracketing_budgets():
    assert tokens_needed(CURVE, 2.8) == (pytest.approx(200.0), EXACT)
    tokens, kind = tokens_needed(CURVE, 2.75)  # halfway from 200 (2.8) to 400 (2.7) in loss
    assert kind == EXACT and tokens == pytest.approx(math.sqrt(200 * 400))
    assert tokens_needed(CURVE, 2.6) == (800.0, AT_LEAST)  # the largest budget does not reach it
    assert tokens_needed(CURVE, 3.1) == (100.0, AT_MOST)  # the smallest already does better
    assert tokens_needed(list(reversed(CURVE)), 2.75)[0] == pytest.approx(math.sqrt(200 * 400))  # order given


def test_a_curve_that_rises_again_gives_the_smallest_budget_that_reaches_the_loss():
    assert tokens_needed([(1.0, 3.0), (2.0, 2.5), (4.0, 2.9), (8.0, 2.4)], 2.5) == (pytest.approx(2.0), EXACT)


@given(loss=st.floats(2.65, 3.0, exclude_max=True))  # at 3.0 the smallest budget may be more than needed
def test_inside_the_budgets_the_reference_at_the_tokens_needed_has_that_loss(loss):
    tokens, kind = tokens_needed(CURVE, loss)
    assert kind == EXACT and 100.0 <= tokens <= 800.0
    (t0, l0), (t1, l1) = next((a, b) for a, b in zip(CURVE, CURVE[1:]) if b[1] <= loss <= a[1])
    x = (math.log(tokens) - math.log(t0)) / (math.log(t1) - math.log(t0))
    assert l0 + x * (l1 - l0) == pytest.approx(loss, abs=1e-9)


@pytest.mark.parametrize("spec, message", [("1", "at least two"), ("0,1", "positive"), ("a,b", "e.g. 0.5,1,2,4")])
def test_bad_budgets_are_one_line(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_budgets(spec)


def test_speedup_is_refused_with_a_sweep_before_training():
    with pytest.raises(ConfigError, match="does not combine with --stage"):
        Study.from_options(stage=["lr=1e-3,1e-2"], variant="opt=adamw", speedup="0.5,1,2", scale="tiny")


SEED_SHIFT = {1337: 0.0, 1338: 0.01, 1339: -0.01}


def budget_loss(cfg: TrainConfig) -> float:
    """Loss falls 0.1 per doubling of steps; AdamW matches SGD at twice its steps (seed 1339: four times)."""
    steps = synthetic_steps(cfg)
    seed = cfg.training.seed
    gain = {"adamw": 0.1 if seed != 1339 else 0.2, "muon": 0.5}.get(cfg.variant.opt, 0.0)
    return 3.0 - 0.1 * math.log2(steps / 10) - gain + SEED_SHIFT[seed]


def test_each_variant_is_timed_against_the_reference_trained_at_each_budget(tmp_path, monkeypatch, capsys):
    backend = install(monkeypatch, budget_loss)
    argv = ["--axes", "opt=sgd,adamw,muon", "--speedup", "0.5,1,2,4", "--scale", "tiny", "--data", "embedded",
            "--no-plot", "--out", str(tmp_path / "study")]
    assert run.main(argv) == 0
    budget_cells = [c for c in backend.trained if "budget" in dict(c.point.settings)]
    assert sorted({c.config.training.budget for c in budget_cells}) == [0.5, 1, 2, 4]
    # Each seed's budgets are multiples of its own epoch: seed 1339's has 11 steps, the others' 10.
    assert sorted({(c.seed, synthetic_steps(c.config)) for c in budget_cells if c.config.training.budget == 4}) == \
        [(1337, 40), (1338, 40), (1339, 44)]
    assert {c.config.variant.opt for c in budget_cells} == {"sgd"}  # only the reference trains the budgets
    report = json.loads((tmp_path / "study" / "speedup.json").read_text())
    by_label = {s["label"]: s for s in report["speedups"]}
    # The reference against its own budgets: its 1x budget is its own cell, on every seed.
    assert {k: v["speedup"] for k, v in by_label["baseline"]["per_seed"].items()} == {"1337": 1.0, "1338": 1.0,
                                                                                       "1339": 1.0}
    adamw = by_label["opt=adamw"]
    assert {k: v["speedup"] for k, v in adamw["per_seed"].items()} == pytest.approx({"1337": 2, "1338": 2,
                                                                                     "1339": 4})
    assert math.exp(adamw["log_speedup"]["value"]) == pytest.approx(2 ** (4 / 3))
    assert adamw["log_speedup"]["ci95_half_width"] > 0 and adamw["bound"] is None
    muon = by_label["opt=muon"]  # 0.5 better: beyond the reference's 4x budget (0.2 better)
    assert muon["bound"] == "at least" and muon["text"] == "at least 4.00x" and muon["log_speedup"] is None
    assert report["effects_on_log_speedup"] is None  # a bounded variant: no contrasts on log speed-up
    assert "opt=adamw 2.52x" in capsys.readouterr().out
    folder = report["budgets_folder"]
    assert run.main(argv) == 0 and len(backend.trained) == 9 + 12  # the rerun trains nothing
    other = ["--axes", "opt=sgd,adamw", "--speedup", "0.5,1,2,4", "--scale", "tiny", "--data", "embedded",
             "--no-plot", "--out", str(tmp_path / "other")]
    assert run.main(other) == 0 and len(backend.trained) == 21 + 6  # another study shares the budget cells
    assert json.loads((tmp_path / "other" / "speedup.json").read_text())["budgets_folder"] == folder


def test_in_a_tuned_study_the_reference_trains_its_budgets_at_its_own_pick_on_the_measuring_seeds(tmp_path, monkeypatch):
    def loss(cfg: TrainConfig) -> float:  # SGD's best lr 1e-2, AdamW's 1e-3; each at its best as budget_loss
        best = 1e-3 if cfg.variant.opt == "adamw" else 1e-2
        return budget_loss(cfg) + 0.3 * abs(math.log10(cfg.optim.lr / best))

    backend = install(monkeypatch, loss)
    assert run.main(["--axes", "opt=sgd,adamw", "--tune", "lr=1e-3,1e-2", "--speedup", "0.5,1,2,4", "--seeds", "3",
                     "--scale", "tiny", "--data", "embedded", "--no-plot", "--out", str(tmp_path / "study")]) == 0
    budget_cells = [c for c in backend.trained if "budget" in dict(c.point.settings)]
    assert {(c.config.variant.opt, c.config.optim.lr) for c in budget_cells} == {("sgd", 1e-2)}
    assert sorted({c.config.training.seed for c in budget_cells}) == [1338, 1339]  # 1337 picked the lrs
    report = json.loads((tmp_path / "study" / "speedup.json").read_text())
    adamw = next(s for s in report["speedups"] if s["label"].startswith("opt=adamw"))
    assert {k: v["speedup"] for k, v in adamw["per_seed"].items()} == pytest.approx({"1338": 2, "1339": 4})


def test_speedup_with_max_steps_multiplies_them_and_a_budget_flag_is_refused_before_training(tmp_path, monkeypatch):
    backend = install(monkeypatch, budget_loss)
    assert run.main(["--axes", "opt=sgd,adamw", "--speedup", "0.5,1,2", "--max-steps", "8", "--scale", "tiny",
                     "--data", "embedded", "--no-plot", "--out", str(tmp_path / "study")]) == 0
    budget_steps = {synthetic_steps(c.config) for c in backend.trained if "budget" in dict(c.point.settings)}
    assert budget_steps == {4, 8, 16}
    trained = len(backend.trained)
    with pytest.raises(ConfigError, match="--budget is what --speedup sets"):
        run.main(["--axes", "opt=sgd,adamw", "--speedup", "0.5,1,2", "--budget", "2", "--scale", "tiny", "--data",
                  "embedded", "--no-plot", "--out", str(tmp_path / "other")])
    assert len(backend.trained) == trained


def speedup_study(tmp_path, monkeypatch, loss, *extra, out="study", axes="opt=sgd,adamw,muon", budgets="0.5,1,2,4"):
    """A speed-up study on synthetic cells; its speedup.json's speed-ups by label, and the backend."""
    backend = install(monkeypatch, loss)
    assert run.main(["--axes", axes, "--speedup", budgets, "--scale", "tiny", "--data", "embedded", "--no-plot",
                     *extra, "--out", str(tmp_path / out)]) == 0
    report = json.loads((tmp_path / out / "speedup.json").read_text())
    return {s["label"]: s for s in report["speedups"]}, report, backend


def test_a_variant_bounded_on_every_seed_reports_the_bound_of_its_smallest_seed(tmp_path, monkeypatch):
    def loss(cfg: TrainConfig) -> float:  # seed 1338's reference never finished its 4x budget: its largest is 2x
        if cfg.variant.opt == "sgd" and cfg.training.budget == 4 and cfg.training.seed == 1338:
            return math.nan
        return budget_loss(cfg)

    by_label, _, _ = speedup_study(tmp_path, monkeypatch, loss)
    muon = by_label["opt=muon"]  # beyond every seed's largest budget: at least 4x on two seeds, 2x on 1338
    assert {k: (v["speedup"], v["kind"]) for k, v in muon["per_seed"].items()} == {
        "1337": (pytest.approx(4.0), AT_LEAST), "1338": (pytest.approx(2.0), AT_LEAST),
        "1339": (pytest.approx(4.0), AT_LEAST)}
    assert muon["text"] == "at least 2.00x", "the bound is not the one every seed supports (the smallest)"


def test_a_speedups_interval_is_the_exp_of_its_log_scale_interval(tmp_path, monkeypatch):
    from ablations.analysis.effects import t_critical_975

    by_label, _, _ = speedup_study(tmp_path, monkeypatch, budget_loss)
    adamw = by_label["opt=adamw"]  # 2x, 2x, 4x
    logs = [math.log(2), math.log(2), math.log(4)]
    mean = sum(logs) / 3
    half = t_critical_975(2) * math.sqrt(sum((x - mean) ** 2 for x in logs) / 2) / math.sqrt(3)
    assert adamw["text"] == f"{math.exp(mean):.2f}x ({math.exp(mean - half):.2f}-{math.exp(mean + half):.2f})"
    low, high = (float(x) for x in adamw["text"].split("(")[1].rstrip(")").split("-"))
    assert low * high == pytest.approx(math.exp(mean) ** 2, rel=0.02)  # symmetric on the log scale


def test_studies_differing_only_in_run_options_share_one_budgets_folder(tmp_path, monkeypatch):
    _, first, backend = speedup_study(tmp_path, monkeypatch, budget_loss, "--workers", "1", out="one",
                                      axes="opt=sgd,adamw")
    assert sum("budget" in dict(c.point.settings) for c in backend.trained) == 12  # 4 budgets x 3 seeds
    _, second, backend = speedup_study(tmp_path, monkeypatch, budget_loss, "--workers", "2", out="two",
                                       axes="opt=sgd,adamw")
    assert second["budgets_folder"] == first["budgets_folder"], "--workers changed the budgets folder"
    assert [p.name for p in tmp_path.glob("budgets-*")] == [Path(first["budgets_folder"]).name]
    assert not [c for c in backend.trained if "budget" in dict(c.point.settings)], "the budgets trained again"


def test_a_seed_whose_reference_finished_one_budget_gets_no_speedup(tmp_path, monkeypatch):
    def loss(cfg: TrainConfig) -> float:  # seed 1339's reference finished its 1x budget only
        if cfg.variant.opt == "sgd" and cfg.training.budget != 1 and cfg.training.seed == 1339:
            return math.nan
        return budget_loss(cfg)

    by_label, _, _ = speedup_study(tmp_path, monkeypatch, loss, axes="opt=sgd,adamw")
    adamw = by_label["opt=adamw"]
    assert sorted(adamw["per_seed"]) == ["1337", "1338"], "a speed-up read off a single reference budget"
    assert adamw["text"].startswith("2.00x")


def test_a_seed_whose_reference_finished_two_budgets_gets_its_speedup(tmp_path, monkeypatch):
    def loss(cfg: TrainConfig) -> float:  # seed 1338's reference finished its 1x and 2x budgets only
        if cfg.variant.opt == "sgd" and cfg.training.budget in (0.5, 4) and cfg.training.seed == 1338:
            return math.nan
        return budget_loss(cfg)

    by_label, _, _ = speedup_study(tmp_path, monkeypatch, loss, axes="opt=sgd,adamw")
    assert by_label["opt=adamw"]["per_seed"]["1338"]["speedup"] == pytest.approx(2.0)
    by_label, _, _ = speedup_study(tmp_path, monkeypatch, budget_loss, axes="opt=sgd,adamw", budgets="1,2", out="two")
    assert {k: (v["speedup"], v["kind"]) for k, v in by_label["opt=adamw"]["per_seed"].items()} == {
        "1337": (pytest.approx(2.0), EXACT), "1338": (pytest.approx(2.0), EXACT), "1339": (pytest.approx(2.0), AT_LEAST)}


def test_a_seed_whose_reference_finished_no_budget_gets_no_speedup_and_the_others_theirs(tmp_path, monkeypatch):
    def loss(cfg: TrainConfig) -> float:  # seed 1339's reference diverged at every budget
        if cfg.variant.opt == "sgd" and cfg.training.budget is not None and cfg.training.seed == 1339:
            return math.nan
        return budget_loss(cfg)

    by_label, _, _ = speedup_study(tmp_path, monkeypatch, loss, axes="opt=sgd,adamw")
    assert sorted(by_label["opt=adamw"]["per_seed"]) == ["1337", "1338"]
