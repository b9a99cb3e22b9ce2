"""The scale ladder (ablations/ladder.py) and its analysis (ablations/analysis/scaling.py)."""
import json
import math

import pytest
from scipy import stats

from ablations import ladder
from ablations.analysis.predictors import BASELINE, Measured, Prediction
from ablations.analysis.scaling import Finding, run_flops, verdict
from mainrun.config import TrainConfig
from mainrun.errors import ConfigError
from tests.ablations.synthetic import install, synthetic_steps

SEED_NOISE = {1337: 0.004, 1338: -0.003, 1339: 0.001}


def measured(value, half=0.002, n=4):
    return Measured(value, half / stats.t.ppf(0.975, n - 1), n - 1)


def finding(name, predicted, largest, p_adjusted=0.001):
    prediction = Prediction(predicted[0], predicted[0] - predicted[1], predicted[0] + predicted[1], p_adjusted)
    return Finding(name, [measured(largest)], {BASELINE: prediction}, BASELINE, p_adjusted, "")


@pytest.mark.parametrize("predicted, largest, p, expected", [
    ((-0.10, 0.01), -0.10, 0.001, "holds"),
    ((-0.20, 0.01), -0.10, 0.001, "grows"),
    ((-0.05, 0.01), -0.10, 0.001, "shrinks"),
    ((+0.05, 0.01), -0.10, 0.001, "flips sign"),
    ((-0.01, 0.02), -0.10, 0.4, "fades"),
    ((-0.01, 0.02), -0.01, 0.4, "cannot tell"),
    ((0.001, 0.0015), 0.05, 0.9, "negligible"),  # inside ±0.003 whatever the largest rung said
    ((-0.10, 0.01), -0.10, 0.06, "cannot tell"),  # a raw p of 0.001 that Holm lifted above 0.05
])
def test_verdicts_at_the_target(predicted, largest, p, expected):
    f = finding("x", predicted, largest, p)
    assert verdict(f, measured(largest), tainted=False, margin=0.003) == expected
    assert verdict(f, measured(largest), tainted=True, margin=0.003) == "cannot tell (a tuned pick at an end)"
    assert verdict(f, None, tainted=False, margin=0.003) == "cannot tell"


def test_a_runs_compute_is_its_flops_per_token_times_its_tokens_whatever_the_accumulation():
    record = {"flops_per_token": 1e6, "steps": 10, "batch_size": 8, "grad_accum": 2, "block_size": 32}
    assert run_flops(record) == 1e6 * 10 * 8 * 32  # accumulation splits the 8 rows, it does not add any
    assert run_flops({**record, "flops_per_token": None}) is None


@pytest.mark.parametrize("specs, message", [
    (["opt=sgd,adamw"], "a rung moves a setting"),
    (["d_model=16,32", "n_layer=1,2,3"], "as many values as the others"),
    (["d_model=16"], "at least two rungs"),
    (["width=1,2"], "unknown axis 'width'"),
])
def test_bad_rungs_are_one_line(specs, message):
    with pytest.raises(ConfigError, match=message):
        ladder.parse_rungs(specs)


def test_rungs_move_together():
    assert ladder.parse_rungs(["d_model=16,32", "n_layer=1,2"]) == [{"d_model": 16, "n_layer": 1},
                                                                     {"d_model": 32, "n_layer": 2}]


def scale_dependent_loss(cfg: TrainConfig) -> float:
    """AdamW helps more as the model widens; Kaiming's penalty shrinks towards zero."""
    doublings = math.log2(cfg.model.d_model / 16)
    adamw = -0.05 * (1 + doublings) if cfg.variant.opt == "adamw" else 0.0
    kaiming = 0.1 * 0.5 ** doublings if cfg.variant.init == "kaiming" else 0.0
    return 3.0 + adamw + kaiming + SEED_NOISE[cfg.training.seed] * (1 + (cfg.variant.opt == "adamw"))


def test_a_ladder_runs_the_study_at_each_rung_backtests_predicts_and_resumes(tmp_path, monkeypatch, capsys):
    backend = install(monkeypatch, scale_dependent_loss)
    argv = ["--rungs", "d_model=16,32,64", "--axes", "opt=sgd,adamw", "init=default,kaiming", "--scale", "tiny",
            "--data", "embedded", "--no-plot", "--out", str(tmp_path / "lad"), "--target-flops", "1e12"]
    assert ladder.main(argv) == 0
    assert len(backend.trained) == 3 * 4 * 3
    report = json.loads((tmp_path / "lad" / "ladder.json").read_text())
    assert [r["folder"] for r in report["rungs"]] == ["rung1-d_model=16", "rung2-d_model=32", "rung3-d_model=64"]
    flops = [r["flops"] for r in report["measured_rungs"]]
    assert flops == sorted(flops) and report["target_flops"] == 1e12
    found = {f["name"]: f for f in report["findings"]}
    adamw = found["opt: sgd -> adamw"]
    # AdamW's seed noise is twice SGD's, so its mean (0.002/3) adds to the effect.
    assert [e["value"] for e in adamw["estimates"]] == pytest.approx([v + 0.002 / 3 for v in (-0.05, -0.10, -0.15)])
    assert found["init: default -> kaiming"]["estimates"][0]["value"] == pytest.approx(0.1, abs=1e-9)
    # Three rungs: the largest rung is backtested twice per finding, the line once, the multiplier never.
    backtest = report["backtest"]
    assert [backtest[p]["predictions"] for p in ("largest rung", "line in log compute", "compute multiplier")] == [6, 3, 0]
    assert report["predictor"]["name"] in ("largest rung", "line in log compute")
    assert set(adamw["at_target"]) == {"largest rung", "line in log compute", "compute multiplier"}
    assert adamw["predictor"] == report["predictor"]["name"] and adamw["verdict"] in ("grows", "holds")
    text = (tmp_path / "lad" / "ladder.md").read_text()
    assert "## How well each predictor did on this ladder" in text and "**The verdicts use " in text
    assert "| opt: sgd -> adamw" in text and "## Every backtest prediction" in text
    out = capsys.readouterr().out
    assert "3 of 3 rungs measured" in out and "Predictor: " in out and "opt: sgd -> adamw" in out
    assert ladder.main(argv) == 0 and len(backend.trained) == 36  # every rung resumes: nothing trains again


def test_a_path_ladder_trains_its_lower_rungs_then_joins_the_upper_ones_trained_later(tmp_path, monkeypatch, capsys):
    def loss(cfg: TrainConfig) -> float:
        return 3.0 - 0.02 * math.log2(cfg.model.d_model) - 0.05 * (cfg.variant.pos == "rope") \
            + SEED_NOISE[cfg.training.seed]

    backend = install(monkeypatch, loss, coverage_of=lambda cfg: 0.8 + cfg.model.block_size / 1000)
    out = tmp_path / "path"
    common = ["--toward", "cpu", "--rungs", "4", "--axes", "pos=learned,rope", "--scale", "tiny", "--data", "embedded",
              "--no-plot", "--out", str(out), "--target-flops", "1e13"]
    assert ladder.main([*common, "--train-rungs", "1-2"]) == 0
    first = json.loads((out / "ladder.json").read_text())
    assert len(first["rungs"]) == 4 and [r["index"] for r in first["measured_rungs"]] == [1, 2]
    assert first["path"]["toward"] == "cpu" and first["rungs"][-1]["settings"]["d_model"] == 128
    assert first["metric"] == "val_loss_full"  # the rungs' windows score different shares of their val text
    assert ladder.main([*common, "--train-rungs", "3-4"]) == 0
    assert len(backend.trained) == 4 * 2 * 3
    report = json.loads((out / "ladder.json").read_text())
    assert [r["index"] for r in report["measured_rungs"]] == [1, 2, 3, 4]
    checks = {(c["finding"], c["rung"]) for c in report["backtest"]["line in log compute"]["checks"]}
    assert checks == {("pos: learned -> rope", 3), ("pos: learned -> rope", 4)}
    [rope] = report["findings"]
    assert [e["value"] for e in rope["estimates"]] == pytest.approx([-0.05] * 4)
    assert "4 of 4 rungs measured" in capsys.readouterr().out


def test_the_target_of_a_path_is_its_last_rung_s_compute(tmp_path, monkeypatch):
    install(monkeypatch, lambda cfg: 3.0 + SEED_NOISE[cfg.training.seed])
    out = tmp_path / "path"
    assert ladder.main(["--toward", "cpu", "--rungs", "3", "--train-rungs", "1", "--axes", "pos=learned,rope",
                        "--scale", "tiny", "--data", "embedded", "--no-plot", "--out", str(out)]) == 0
    report = json.loads((out / "ladder.json").read_text())
    cpu = TrainConfig.from_scale("cpu", source="embedded")
    assert report["target_flops"] == pytest.approx(ladder.planned_flops(cpu), rel=1e-9)
    assert 1e10 < report["target_flops"] < 1e14


def test_a_ladder_folder_is_rendered_again_by_ablations_report(tmp_path, monkeypatch):
    from ablations import report

    install(monkeypatch, scale_dependent_loss)
    out = tmp_path / "lad"
    assert ladder.main(["--rungs", "d_model=16,32,64", "--axes", "opt=sgd,adamw", "--scale", "tiny", "--data",
                        "embedded", "--no-plot", "--out", str(out), "--target-flops", "1e12"]) == 0
    before = (out / "ladder.md").read_text()
    (out / "ladder.md").unlink()
    assert report.main([str(out), "--no-plot"]) == 0
    assert (out / "ladder.md").read_text() == before
    assert report.main([str(out), "--no-plot", "--margin", "1"]) == 0
    assert "negligible (inside" not in (out / "ladder.md").read_text()
    assert json.loads((out / "ladder.json").read_text())["findings"][0]["verdict"] == "negligible"


def test_a_rung_setting_given_as_a_flag_too_is_refused_before_training(tmp_path, monkeypatch):
    backend = install(monkeypatch, scale_dependent_loss)
    with pytest.raises(ConfigError, match="d_model is given both as a flag and in --rungs"):
        ladder.main(["--rungs", "d_model=16,32", "--d-model", "64", "--scale", "tiny", "--data", "embedded",
                     "--out", str(tmp_path / "x")])
    with pytest.raises(ConfigError, match="rope"):  # rung 2's odd head dimension fails before rung 1 trains
        ladder.main(["--rungs", "d_model=16,18", "--axes", "pos=learned,rope", "--scale", "tiny", "--data",
                     "embedded", "--out", str(tmp_path / "y")])
    assert backend.trained == []


def test_a_ladder_follows_speed_ups_too(tmp_path, monkeypatch):
    def loss(cfg: TrainConfig) -> float:  # AdamW worth a doubling of steps at every width
        steps = synthetic_steps(cfg)
        return 3.0 - 0.1 * math.log2(steps / 10) - 0.1 * (cfg.variant.opt == "adamw") \
            + SEED_NOISE[cfg.training.seed] * (1 + 2 * (cfg.variant.opt == "adamw"))

    install(monkeypatch, loss)
    assert ladder.main(["--rungs", "d_model=16,32,64", "--axes", "opt=sgd,adamw", "--speedup", "0.5,1,2,4",
                        "--scale", "tiny", "--data", "embedded", "--no-plot", "--out", str(tmp_path / "lad")]) == 0
    found = {f["name"]: f for f in json.loads((tmp_path / "lad" / "ladder.json").read_text())["findings"]}
    speedup = found["log speed-up: opt=adamw"]
    assert all(math.exp(e["value"]) == pytest.approx(2.0, rel=0.1) for e in speedup["estimates"])
    assert speedup["verdict"] == "holds"


def test_a_tuned_ladder_says_which_variants_kept_their_value_and_which_findings_rest_on_an_edge(tmp_path, monkeypatch):
    def loss(cfg: TrainConfig) -> float:
        # SGD's best lr is 1e-3 at every width; AdamW's moves from 1e-3 at width 16 to beyond 1e-1 above it.
        best = 1.0 if cfg.variant.opt == "adamw" and cfg.model.d_model > 16 else 1e-3
        return 3.0 + abs(math.log10(cfg.optim.lr / best)) + SEED_NOISE[cfg.training.seed]

    install(monkeypatch, loss)
    assert ladder.main(["--rungs", "d_model=16,32,64", "--axes", "opt=sgd,adamw", "--tune", "lr=1e-3,1e-2",
                        "--tune-extend", "1", "--seeds", "3", "--scale", "tiny", "--data", "embedded", "--no-plot",
                        "--out", str(tmp_path / "lad")]) == 0
    report = json.loads((tmp_path / "lad" / "ladder.json").read_text())
    # SGD at 1e-3 sits at the bottom: extended once to 1e-4, it is interior. AdamW above width 16 climbs to
    # the one extension allowed (1e-1) and stays at the edge.
    assert report["tuned"] == {"baseline": ["0.001"] * 3, "opt=adamw": ["0.001", "0.1 (edge)", "0.1 (edge)"]}
    [adamw] = report["findings"]
    assert adamw["verdict"] == "cannot tell (a tuned pick at an end)"
    text = (tmp_path / "lad" / "ladder.md").read_text()
    assert "1 of 2 chose the same value at every rung" in text
    assert "| opt=adamw | 0.001    | 0.1 (edge) | 0.1 (edge) |" in text


def test_a_ladder_too_short_to_backtest_says_so_beside_every_verdict(tmp_path, monkeypatch):
    install(monkeypatch, scale_dependent_loss)
    out = tmp_path / "one"
    assert ladder.main(["--rungs", "d_model=16,32", "--train-rungs", "1", "--axes", "opt=sgd,adamw", "--scale", "tiny",
                        "--data", "embedded", "--no-plot", "--out", str(out), "--target-flops", "1e12"]) == 0
    report = json.loads((out / "ladder.json").read_text())
    assert report["predictor"]["why"].startswith("too few rungs to backtest")
    assert all(f["verdict"].endswith("(not backtested: too few rungs)") for f in report["findings"])


def test_each_rung_records_the_ladders_command_and_a_plotted_ladder_draws_and_links_its_plot(tmp_path, monkeypatch,
                                                                                              capsys):
    pytest.importorskip("matplotlib")
    install(monkeypatch, scale_dependent_loss)
    out = tmp_path / "lad"
    argv = ["--rungs", "d_model=16,32,64", "--axes", "opt=sgd,adamw", "--scale", "tiny", "--data", "embedded",
            "--out", str(out), "--target-flops", "1e12"]
    assert ladder.main(argv) == 0
    for index, rung in enumerate(json.loads((out / "ladder.json").read_text())["rungs"], 1):
        command = json.loads((out / rung["folder"] / "run.json").read_text())["command"]
        assert command.startswith("python -m ablations.ladder --rungs d_model=16,32,64 ")
        assert command.endswith(f"  # rung {index}")
    assert (out / "ladder.png").stat().st_size > 0 and "ladder.png" in (out / "ladder.md").read_text()
    assert f"Full report: {out / 'ladder.md'} (and ladder.json, ladder.png)" in capsys.readouterr().out


def test_a_prediction_equal_to_the_largest_rung_holds_even_when_neither_has_any_width():
    """Equal values are never apart, however narrow both intervals are (zero-width: identical seeds)."""
    f = Finding("x", [measured(-0.1, half=0.0)], {BASELINE: Prediction(-0.1, -0.1, -0.1, 0.001)}, BASELINE, 0.001, "")
    assert verdict(f, measured(-0.1, half=0.0), tainted=False, margin=0.003) == "holds"
