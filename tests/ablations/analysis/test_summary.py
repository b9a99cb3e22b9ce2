"""The summary of a results folder (ablations/analysis/summary.py), on folders whose cells have losses we chose:
every number the reports print is checked against what the losses imply."""
import math

import pytest

from ablations import Study, run_study
from ablations.analysis.summary import summarise, summarise_sweep
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
    assert s.references == {"pos": "learned", "opt": "sgd"}
    adamw = next(row for row in s.rows if row.label == "opt=adamw")
    assert adamw.delta.value == pytest.approx(-0.4, abs=0.002) and adamw.delta.n_seeds == 3
    assert adamw.mean("val_loss") == pytest.approx(2.1 + sum(list(SEED_SHIFT.values())[:3]) / 3, abs=0.001)
    assert adamw.loss_sd == pytest.approx(0.0101, abs=0.001) and len(adamw.ok) == 3 and adamw.params == 12 * 32 ** 2  # tiny: 1 layer of width 32
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
    from ablations.analysis.effects import seeds_to_resolve
    from ablations.study.study import ReportOptions

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
    run_study(Study.from_options(axes=["init=default,kaiming", "opt=adamw"], tune="lr=1e-3,1e-2", tune_extend=0, seeds=3,
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


def test_a_sweep_summary_plots_numeric_stages_only_and_finished_cells_only(tmp_path, monkeypatch):
    import json

    install(monkeypatch, sweep_loss)
    out = tmp_path / "sweep"
    run_study(Study.from_options(stage=["norm=layernorm,rmsnorm", "lr=1e-3,1e-2"], variant="opt=adamw", seeds=3,
                                 scale="tiny", data="embedded", out=str(out), plot=False))
    stages = json.loads((out / "sweep.json").read_text())["stages"]
    lr_folder = out / stages[1]["folder"]
    [diverged] = [p for p in lr_folder.glob("cells/*/record.json")
                  if json.loads(p.read_text())["seed"] == 1337 and "lr=0.01" in json.loads(p.read_text())["point"]]
    record = json.loads(diverged.read_text())
    diverged.write_text(json.dumps({**record, "status": "diverged"}))  # its val_loss stays recorded
    s = summarise_sweep(out)
    assert list(s.series) == [2]  # the names stage has no numeric line to draw
    assert s.series[2][1e-2] == pytest.approx([2.25 + SEED_SHIFT[k] for k in (1338, 1339)])  # dropout 0.1: +0.05
    assert len(s.series[2][1e-3]) == 3


def test_the_summary_uses_the_report_options(grid_summary):
    from ablations.study.study import ReportOptions

    loose = summarise(grid_summary.root, ReportOptions(margin=0.5, metric="val_bpb"))
    assert loose.metric == "val_bpb" and loose.options.margin == 0.5
    assert {loose.verdict(e) for e in loose.effects} == {"negligible (inside ±0.5)"}
    assert loose.rows[0].mean("val_bpb") == pytest.approx(grid_summary.rows[0].mean("val_loss") / 2)


def test_a_cell_without_a_curve_and_a_folder_without_run_json(grid_summary, tmp_path):
    from ablations.study.axes import Point
    from mainrun.errors import ConfigError
    from mainrun.variant import Variant

    assert grid_summary.curve(Point(Variant(opt="adamw")), 9999) == []
    with pytest.raises(ConfigError, match=f"^{tmp_path} is not an ablations results folder \\(no run.json\\)$"):
        summarise(tmp_path)


def test_only_finished_finite_losses_enter_the_statistics():
    from ablations.analysis.summary import finished_losses

    base = {"variant": "norm=layernorm,pos=learned,init=default,opt=sgd"}
    records = [{**base, "seed": 1, "status": "ok", "val_loss": 2.0}, {**base, "seed": 2, "status": "failed",
                                                                        "val_loss": 1.0},
               {**base, "seed": 3, "status": "ok", "val_loss": None}, {**base, "seed": 4, "status": "ok",
                                                                        "val_loss": float("nan")},
               {**base, "seed": 5, "status": "diverged", "val_loss": 9.0}]
    assert [seed for (_, seed) in finished_losses(records)] == [1]


def test_one_seed_resolves_nothing(tmp_path, monkeypatch):
    install(monkeypatch, two_factor)
    out = tmp_path / "one"
    run_study(Study.from_options(axes=["opt=sgd,adamw"], scale="tiny", seeds=1, data="embedded", out=str(out),
                                 plot=False))
    s = summarise(out)
    assert (s.resolution.half_width, s.resolution.seeds, s.resolution.target_seeds) == (None, 1, None)
    assert s.rows[0].loss_sd is None and s.rows[0].delta.half_width is None


def test_rows_are_labelled_against_the_grids_references(tmp_path, monkeypatch):
    install(monkeypatch, two_factor)
    out = tmp_path / "lr"
    run_study(Study.from_options(axes=["opt=adamw", "lr=1e-3,1e-2"], scale="tiny", seeds=2, data="embedded",
                                 out=str(out), plot=False))
    s = summarise(out)
    assert sorted(row.label for row in s.rows) == ["lr=0.01", "reference"]
    assert s.reference_label == "reference"


def test_a_tuned_summary_keeps_the_requested_metric_and_the_picks_series(tmp_path, monkeypatch):
    from ablations.study.study import ReportOptions

    def by_lr(cfg: TrainConfig) -> float:
        return 2.0 + (0.1 if cfg.peak_lr == 1e-2 else 0.0) + 0.05 * (cfg.variant.init == "kaiming") \
            + SEED_SHIFT[cfg.training.seed]

    install(monkeypatch, by_lr)
    out = tmp_path / "tuned"
    run_study(Study.from_options(axes=["init=default,kaiming", "opt=adamw"], tune="lr=1e-3,1e-2", tune_extend=0, seeds=3,
                                 scale="tiny", data="embedded", out=str(out), plot=False))
    s = summarise(out, ReportOptions(metric="val_bpb"))
    assert (s.metric, s.metric_note, s.tuning.metric) == ("val_bpb", "", "val_loss")
    assert s.tuning.series == {"reference": {1e-3: [2.0], 1e-2: [2.1]},
                               "init=kaiming": {1e-3: [2.05], 1e-2: pytest.approx([2.15])}}
    [effect] = s.effects
    assert effect.name == "init: default -> kaiming" and effect.estimate.value == pytest.approx(0.025)  # in bits/2


def test_a_tuned_summary_names_every_shared_default_and_drops_failed_tuning_cells(tmp_path, monkeypatch):
    import json

    install(monkeypatch, lambda cfg: 2.0 + SEED_SHIFT[cfg.training.seed])
    out = tmp_path / "tuned"
    run_study(Study.from_options(axes=["opt=sgd,adamw"], tune="lr=1e-3,1e-2", tune_extend=0, seeds=3, scale="tiny",
                                 data="embedded", out=str(out), plot=False))
    [tuning_cell] = [p for p in out.glob("cells/*/record.json") if json.loads(p.read_text())["seed"] == 1337
                     and "lr=0.01" in json.loads(p.read_text())["point"] and "sgd" in p.parent.name]
    tuning_cell.write_text(json.dumps({**json.loads(tuning_cell.read_text()), "status": "diverged"}))
    s = summarise(out)
    defaults = sorted({f"{r['lr']:g}" for r in s.records if r["seed"] != 1337 and "lr=" not in r["point"]})
    assert len(defaults) == 2 and s.tuning.default_label == f"lr ({', '.join(defaults)})"
    assert s.tuning.series["baseline"] == {1e-3: [2.0], 1e-2: []}


def test_a_tuned_folder_before_its_defaults_ran_names_the_axis_alone(tmp_path, monkeypatch):
    import json

    install(monkeypatch, lambda cfg: 2.0 + SEED_SHIFT[cfg.training.seed])
    out = tmp_path / "tuned"
    run_study(Study.from_options(axes=["opt=sgd,adamw"], tune="lr=1e-3,1e-2", tune_extend=0, seeds=3, scale="tiny",
                                 data="embedded", out=str(out), plot=False))
    for path in out.glob("cells/*/record.json"):
        if "lr=" not in json.loads(path.read_text())["point"]:
            path.unlink()  # as if interrupted before the shared default's cells
    assert summarise(out).tuning.default_label == "lr"


def test_a_sweep_summary_says_when_there_is_nothing_to_read(tmp_path):
    from ablations.analysis.summary import SweepSummary
    from mainrun.errors import ConfigError

    (tmp_path / "sweep.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"/sweep.json cannot be read \(JSONDecodeError\)$"):
        summarise_sweep(tmp_path)
    assert SweepSummary(tmp_path, {"final": {"delta": None}}, {}).final_estimate() is None
    assert SweepSummary(tmp_path, {"final": None}, {}).final_estimate() is None
    estimate = SweepSummary(tmp_path, {"final": {"delta": {"value": -0.1, "ci95_half_width": 0.02, "seeds": 3}}},
                            {}).final_estimate()
    assert (estimate.value, estimate.half_width, estimate.n_seeds) == (-0.1, 0.02, 3)


@pytest.fixture(scope="module")
def best_pt(tmp_path_factory):
    """One tiny model's best.pt, trained once for the sample tests."""
    from mainrun.config import RunContext
    from mainrun.train import train
    from mainrun.variant import Variant

    folder = tmp_path_factory.mktemp("best")
    train(TrainConfig.from_scale("tiny", source="embedded", variant=Variant(opt="adamw"), max_steps=20),
          RunContext(checkpoint_dir=str(folder)), progress=False)
    return folder / "best.pt"


def test_samples_come_from_the_best_and_the_reference_rows_best_pt(grid_summary, best_pt):
    import shutil

    from ablations.execution.cells import cell_key
    from ablations.analysis.summary import with_samples

    s = grid_summary
    shutil.copy(best_pt, s.root / "cells" / cell_key(s.best.point, 1338) / "best.pt")  # its first seed has none
    shutil.copy(best_pt, s.root / "cells" / cell_key(s.reference.point, 1337) / "best.pt")
    with_samples(s, num=3)
    assert list(s.samples) == [s.best.label, s.reference.label]
    assert all(len(titles) == 3 and all(isinstance(t, str) for t in titles) for titles in s.samples.values())
    from mainrun.sample import generate, load_model

    model, tokenizer, _ = load_model(str(best_pt), __import__("torch").device("cpu"))
    assert s.samples[s.best.label] == generate(model, tokenizer, num=3, seed=0)  # the same titles every report
    assert [len(titles) for titles in with_samples(s).samples.values()] == [5, 5]  # five by default
    (s.root / "cells" / cell_key(s.reference.point, 1337) / "best.pt").write_text("not a checkpoint")
    assert with_samples(s).samples[s.reference.label][0].endswith("is not a mainrun checkpoint (UnpicklingError))")


def test_a_row_without_best_pt_has_no_samples(grid_summary):
    from ablations.analysis.summary import with_samples

    assert with_samples(grid_summary).samples == {grid_summary.best.label: [], grid_summary.reference.label: []}


def test_a_tuned_summary_honours_the_metric_asked_for(tmp_path, monkeypatch):
    from ablations import report
    from ablations.study.study import ReportOptions

    install(monkeypatch, lambda cfg: 2.0 + abs(math.log10(cfg.peak_lr / 1e-3)) * 0.1 + SEED_SHIFT[cfg.training.seed])
    out = tmp_path / "tuned"
    run_study(Study.from_options(axes=["opt=sgd,adamw"], tune="lr=1e-3,1e-2", tune_extend=0, seeds=3, scale="tiny",
                                 data="embedded", out=str(out), plot=False))
    s = summarise(out, ReportOptions(metric="val_bpb"))
    assert s.metric == "val_bpb", f"asked for val_bpb, the tuned summary ranks by {s.metric}"
    for row in s.rows:  # the synthetic cells' val_bpb is half their val_loss
        assert row.mean("val_bpb") == pytest.approx(row.mean("val_loss") / 2)
    assert report.main([str(out), "--metric", "val_bpb", "--no-plot"]) == 0
    header = next(line for line in (out / "results.md").read_text().splitlines()
                  if line.startswith("|") and "Δ vs reference" in line)
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns[columns.index("Δ vs reference") - 1] == "val bits/byte", header  # the column ranked by
