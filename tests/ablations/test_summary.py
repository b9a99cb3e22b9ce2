"""The summary of a results folder (ablations/summary.py), on folders whose cells have losses we chose:
every number the reports print is checked against what the losses imply."""
import math

import pytest

from ablations import Study, run_study
from ablations.summary import summarise, summarise_sweep
from mainrun.config import TrainConfig
from tests.ablations.synthetic import install

SEED_SHIFT = {1337: 0.0, 1338: 0.013, 1339: -0.007, 1340: 0.004, 1341: -0.011, 1342: 0.02}


def two_factor(cfg: TrainConfig) -> float:
    """opt=adamw lowers the loss by 0.4, pos=rope by 0.001 (inside the margin), plus a seed shift that
    every variant of a seed shares (so the paired intervals are tight) and a little per-cell wobble."""
    seed = cfg.training.seed
    wobble = 0.0005 * math.sin(seed * (3 if cfg.variant.opt == "adamw" else 1) + (cfg.variant.pos == "rope"))
    return 2.5 - 0.4 * (cfg.variant.opt == "adamw") - 0.001 * (cfg.variant.pos == "rope") + SEED_SHIFT[seed] + wobble


@pytest.fixture
def grid_summary(tmp_path, monkeypatch):
    install(monkeypatch, two_factor)
    out = tmp_path / "grid"
    run_study(Study.from_options(axes=["opt=sgd,adamw", "pos=learned,rope"], scale="tiny", seeds=3, data="embedded",
                                 out=str(out), plot=False))
    return summarise(out)


def test_rows_deltas_and_the_reference(grid_summary):
    s = grid_summary
    assert [row.label for row in s.rows] == ["pos=rope, opt=adamw", "opt=adamw", "pos=rope", "baseline"]
    assert s.reference.label == "baseline" and s.reference.is_reference and s.best.label == "pos=rope, opt=adamw"
    assert s.reference_label == "baseline" and s.metric == "val_loss" and s.metric_note == ""
    adamw = next(row for row in s.rows if row.label == "opt=adamw")
    assert adamw.delta.value == pytest.approx(-0.4, abs=0.002) and adamw.delta.n_seeds == 3
    assert adamw.mean("val_loss") == pytest.approx(2.1 + sum(list(SEED_SHIFT.values())[:3]) / 3, abs=0.001)
    assert adamw.loss_sd == pytest.approx(0.0101, abs=0.001) and len(adamw.ok) == 3 and adamw.params == 1000
    assert s.cells == 12 and len(s.records) == 12 and s.failures == [] and len(s.code_hashes) == 1
    assert s.curve(adamw.point, 1337)[-1][1] == pytest.approx(adamw.records[0]["val_loss"])


def test_effects_verdicts_and_resolution(grid_summary):
    s = grid_summary
    effects = {e.name: e for e in s.effects}
    assert set(effects) == {"opt: sgd -> adamw", "pos: learned -> rope", "pos=rope x opt=adamw"}
    opt, pos = effects["opt: sgd -> adamw"], effects["pos: learned -> rope"]
    assert opt.estimate.value == pytest.approx(-0.4, abs=0.001) and s.verdict(opt) == "beyond noise"
    assert pos.estimate.value == pytest.approx(-0.001, abs=0.001) and s.verdict(pos).startswith("negligible")
    assert all(e.estimate.p_adjusted is not None for e in s.effects)
    widths = sorted(e.estimate.half_width for e in s.effects)
    assert s.resolution.half_width == pytest.approx(widths[1]) and s.resolution.seeds == 3
    assert s.resolution.target_effect is None


def test_a_target_effect_says_how_many_seeds_resolve_it(tmp_path, monkeypatch):
    from ablations.effects import seeds_to_resolve
    from ablations.study import ReportOptions

    install(monkeypatch, two_factor)
    out = tmp_path / "grid"
    run_study(Study.from_options(axes=["opt=sgd,adamw"], scale="tiny", seeds=3, data="embedded", out=str(out),
                                 plot=False, target_effect=0.001))
    s = summarise(out, ReportOptions(target_effect=0.001))
    assert s.resolution.target_effect == 0.001
    assert s.resolution.target_seeds == seeds_to_resolve(0.001, s.resolution.spread)


def test_a_tuned_folder_summarises_each_variants_pick_and_the_default(tmp_path, monkeypatch):
    def wants_its_own_lr(cfg: TrainConfig) -> float:
        best = {"default": 1e-3, "kaiming": 1e-2}[cfg.variant.init]
        return 2.0 + abs(math.log10(cfg.peak_lr / best)) * 0.1 + SEED_SHIFT[cfg.training.seed]

    install(monkeypatch, wants_its_own_lr)
    out = tmp_path / "tuned"
    run_study(Study.from_options(axes=["init=default,kaiming", "opt=adamw"], tune="lr=1e-3,1e-2", seeds=3,
                                 scale="tiny", data="embedded", out=str(out), plot=False))
    s = summarise(out)
    tuning = s.tuning
    assert {p.variant.init: v for p, v in tuning.chosen.items()} == {"default": 1e-3, "kaiming": 1e-2}
    assert {p.variant.init: a for p, a in tuning.alarms.items()} == {
        "default": "lr: best at the bottom of its grid (0.001); extend it",
        "kaiming": "lr: best at the top of its grid (0.01); extend it"}
    assert s.seeds == [1338, 1339] and tuning.tune.tune_seeds == (1337,)
    # Each at its own lr the inits tie; at the shared default lr (3e-4) they do not.
    [tuned] = s.effects
    [default] = [e for e in tuning.default_effects if e.order == 1]
    assert tuned.estimate.value == pytest.approx(0.0, abs=1e-9)
    assert default.estimate.value == pytest.approx(0.1, abs=1e-6)
    assert tuning.default_label == "lr (0.0003)" and all(row.note for row in s.rows)
    assert s.cells == 2 * (2 * 1 + 2 * 2) and len(s.records) == s.cells


def sweep_loss(cfg: TrainConfig) -> float:
    return 2.0 + 0.2 * (cfg.peak_lr != 1e-3) + 0.05 * (cfg.model.dropout != 0.0) + SEED_SHIFT[cfg.training.seed]


def test_a_sweep_summary_reads_its_decisions_and_stage_cells(tmp_path, monkeypatch):
    install(monkeypatch, sweep_loss)
    out = tmp_path / "sweep"
    outcome = run_study(Study.from_options(stage=["lr=1e-3,1e-2", "dropout=0.0,0.1"], variant="opt=adamw", seeds=3,
                                           scale="tiny", data="embedded", out=str(out), plot=False))
    s = summarise_sweep(out)
    assert s.record == outcome.summary.record and s.record["complete"]
    assert [stage["winner"] for stage in s.stages] == [1e-3, 0.0]
    assert s.record["chosen"] == {"lr": 1e-3, "dropout": 0.0}
    assert s.series[1][1e-3] == pytest.approx([2.05 + SEED_SHIFT[k] for k in (1337, 1338, 1339)])
    assert s.final_estimate().value == pytest.approx(-0.25, abs=1e-9)
    assert s.final_estimate().n_seeds == 3 and s.record["final"]["seeds"] == [1340, 1341, 1342]
