"""The plans (ablations/execution/plans.py), their folders pinned whole: every field of each Folder and Phase,
each shape line, and every line a sweep prints as it goes."""
from pathlib import Path
from types import SimpleNamespace

import pytest

import ablations.api
from ablations import Study, run_study
from ablations.execution import engine
from ablations.execution.engine import config_hash
from ablations.execution.plans import GridPlan, SweepPlan, TunePlan, default_out, grid_shape, plan_for
from ablations.study.axes import Point
from mainrun.data import sources
from mainrun.variant import Variant
from tests.ablations.synthetic import install

RUNNER = SimpleNamespace(source=SimpleNamespace(fingerprint="fp"))


def folder_fields(folder) -> dict:
    return {"root": folder.root, "seeds": list(folder.seeds), "digest": folder.digest, "extra": folder.extra,
            "shape": folder.shape, "planned": folder.planned, "swept": list(folder.swept)}


def test_a_grid_plan_is_one_folder_of_one_phase_named_after_the_grid_and_its_config():
    study = Study.from_options(grid="full", seeds=3, scale="tiny", data="embedded")
    plan = plan_for(study, RUNNER)
    assert type(plan) is GridPlan
    [folder] = list(plan.folders())
    digest = config_hash(study.base, "fp", [])
    assert folder_fields(folder) == {"root": Path("runs") / f"full-{digest}", "seeds": [1337, 1338, 1339],
                                     "digest": digest, "extra": {}, "shape": "16 variants x 3 seeds", "planned": None,
                                     "swept": []}
    assert plan.root == folder.root and folder.grid is study.grid and folder.base is study.base
    [phase] = list(folder.phases(None))
    assert (phase.points, list(phase.seeds), phase.note, phase.role) == (study.grid.points, [1337, 1338, 1339], "", "")


def test_grids_of_axes_share_the_config_hash_and_differ_by_a_hash_of_their_axes(tmp_path):
    one = Study.from_options(axes=["opt=sgd,adamw"], seeds=1, scale="tiny", data="embedded")
    other = Study.from_options(axes=["opt=sgd,muon"], seeds=1, scale="tiny", data="embedded")
    digest = config_hash(one.base, "fp", [])
    assert default_out(one, one.grid, digest) == Path("runs") / f"axes-3e45b8-{digest}"
    assert default_out(other, other.grid, digest).name.endswith(f"-{digest}")
    assert default_out(other, other.grid, digest) != default_out(one, one.grid, digest)
    assert len(default_out(other, other.grid, digest).name) == len(f"axes-3e45b8-{digest}")
    given = Study.from_options(axes=["opt=sgd,adamw"], seeds=1, scale="tiny", data="embedded", out=str(tmp_path))
    assert default_out(given, given.grid, digest) == tmp_path
    [folder] = list(plan_for(Study.from_options(axes=["opt=sgd,adamw"], seeds=1, scale="tiny", data="embedded",
                                                lr=0.01), RUNNER).folders())
    assert folder.shape == "2 variants x 1 seed"


def test_the_shape_of_a_fractional_grid_names_its_fraction_and_resolution():
    study = Study.from_options(grid="full", design="fractional", seeds=1, scale="tiny", data="embedded")
    assert grid_shape(study.grid, 1) == "8 variants x 1 seed; a 2^(4-1) fraction, resolution IV"
    assert grid_shape(study.grid, 2) == "8 variants x 2 seeds; a 2^(4-1) fraction, resolution IV"


@pytest.mark.parametrize("extra, shape, planned", [
    ({}, "2 variants x 4 seeds; 8 tuning (lr over 2 values on 2 seeds), then 8 measuring; up to 2 more values per "
         "variant where a pick is at an end", 16),
    ({"tune_extend": 0, "shared_default": False, "tune_seeds": 1},
     "2 variants x 4 seeds; 4 tuning (lr over 2 values on 1 seed), then 6 measuring", 10),
])
def test_a_tune_plans_folder_says_what_it_tunes_and_measures(extra, shape, planned):
    study = Study.from_options(axes=["opt=sgd,adamw"], seeds=4, scale="tiny", data="embedded", tune="lr=1e-3,1e-2",
                               **{"tune_seeds": 2, **extra})
    plan = plan_for(study, RUNNER)
    assert type(plan) is TunePlan
    [folder] = list(plan.folders())
    digest = config_hash(study.base, "fp", ["lr"])
    assert folder_fields(folder) == {"root": Path("runs") / f"axes-3e45b8-{digest}", "seeds": [1337, 1338, 1339, 1340],
                                     "digest": digest, "extra": {"tune": study.tune.describe()}, "shape": shape,
                                     "planned": planned, "swept": ["lr"]}
    assert plan.root == folder.root and folder.phases == plan.phases


def test_a_tune_plans_phases_tune_extend_the_picks_at_an_end_then_measure(tmp_path, monkeypatch):
    import math

    def loss(cfg):
        best = 1e-3 if cfg.variant.opt == "adamw" else 1.0  # SGD's beyond every value tried
        return 3.0 + 0.3 * abs(math.log10(cfg.optim.lr / best)) + cfg.training.seed * 1e-4

    install(monkeypatch, loss)
    monkeypatch.setattr(ablations.api, "write_results", lambda summary, plot: None)
    phases = []
    real = engine.Runner.run_folder

    def recording(self, folder, report):
        original = folder.phases

        def watched(store):
            for phase in original(store):
                phases.append((phase.note, phase.role, [str(p) for p in phase.points], list(phase.seeds)))
                yield phase
        folder.phases = watched
        return real(self, folder, report)

    monkeypatch.setattr(engine.Runner, "run_folder", recording)
    study = Study.from_options(axes=["opt=sgd,adamw"], seeds=3, tune_seeds=1, tune="lr=1e-3,1e-2", tune_extend=1,
                               scale="tiny", data="embedded", out=str(tmp_path / "t"), plot=False)
    run_study(study)
    sgd, adamw = "norm=layernorm,pos=learned,init=default,opt=sgd", "norm=layernorm,pos=learned,init=default,opt=adamw"
    assert [(note, role, seeds) for note, role, _, seeds in phases] == [
        ("", "tuning", [1337]),
        ("extending lr where the pick is at an end: baseline -> 0.1; opt=adamw -> 0.0001", "tuning, extended", [1337]),
        ("tuned lr: baseline -> 0.1 (still at an end); opt=adamw -> 0.001", "measuring", [1338, 1339])]
    assert phases[0][2] == [f"{sgd},lr=0.001", f"{sgd},lr=0.01", f"{adamw},lr=0.001", f"{adamw},lr=0.01"]
    assert phases[1][2] == [f"{sgd},lr=0.1", f"{adamw},lr=0.0001"]


def sweep_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(("sweep:", "stage ", "final:"))]


def test_a_sweep_prints_each_stage_and_its_decision_and_ends_on_the_held_out_comparison(tmp_path, monkeypatch, capsys):
    install(monkeypatch, lambda cfg: 3.0 - cfg.optim.lr * 10 * (1 + cfg.training.seed % 2 * 0.01)
            + abs(cfg.training.batch_size - 8) * 0.01 * (1 + cfg.training.seed % 2 * 0.1))
    monkeypatch.setattr(ablations.api, "write_results", lambda summary, plot: None)
    folders = []
    real = engine.Runner.run_folder
    monkeypatch.setattr(engine.Runner, "run_folder", lambda self, folder, report: (folders.append(folder),
                                                                                   real(self, folder, report))[1])
    out = tmp_path / "sw"
    study = Study.from_options(stage=["lr=1e-3,1e-2", "batch-size=4,8,16"], variant="opt=adamw", seeds=2,
                               final_seeds="7,8", scale="tiny", data="embedded", out=str(out), plot=False)
    plan = plan_for(study, RUNNER)
    assert type(plan) is SweepPlan
    run_study(study)
    assert sweep_lines(capsys.readouterr().out) == [
        f"sweep: 2 stages of norm=layernorm,pos=learned,init=default,opt=adamw over 2 seeds, then start against "
        f"chosen on 2 held-out seeds; results in {out}",
        "stage 1: lr over 0.0003, 0.001, 0.01 (the current 0.0003 added to compare against)",
        "stage 1: best lr 0.01: -0.0975 ± 0.0062 against the current 0.0003, beyond noise: adopted; ALARM lr: best at "
        "the top of its grid (0.01); extend it",
        "stage 2: batch-size over 4, 8, 16",
        "stage 2: the current batch-size 8 is the best: kept",
        "final: start against chosen (lr 0.0003 -> 0.01)"]
    adamw = Variant(opt="adamw")
    base = study.base.with_values(variant=adamw)
    fp = sources.resolve("embedded").fingerprint
    assert [folder_fields(f) for f in folders] == [
        {"root": out / "stage1-lr", "seeds": [1337, 1338], "digest": config_hash(base, fp, ["lr"]),
         "extra": {}, "shape": "3 variants x 2 seeds", "planned": None, "swept": ["lr"]},
        {"root": out / "stage2-batch-size", "seeds": [1337, 1338], "digest": config_hash(folders[1].base, fp, ["batch_size"]), "extra": {},
         "shape": "3 variants x 2 seeds", "planned": None, "swept": ["batch_size"]},
        {"root": out / "final", "seeds": [7, 8], "digest": config_hash(base, fp, ["lr"]), "extra": {},
         "shape": "2 variants x 2 seeds", "planned": None, "swept": ["lr"]}]
    # Each stage starts from what the stages before it chose, and measures every value against the current one.
    assert [f.base.optim.lr for f in folders] == [None, 1e-2, None]  # None: the recipe's own lr
    assert [f.base.variant for f in folders] == [adamw, adamw, adamw]
    assert [f.grid.references for f in folders] == [{"opt": "adamw", "lr": 3e-4}, {"opt": "adamw", "batch_size": 8},
                                                    {"lr": 3e-4, "batch_size": 8}]
    assert [str(p) for p in folders[2].grid.points] == [
        str(Point.at({"lr": 3e-4}, adamw)), str(Point.at({"lr": 1e-2}, adamw))]
    [phase] = list(folders[2].phases(None))
    assert (phase.points, list(phase.seeds)) == (folders[2].grid.points, [7, 8])


def test_a_sweep_that_keeps_every_value_compares_nothing_on_held_out_seeds(tmp_path, monkeypatch, capsys):
    install(monkeypatch, lambda cfg: 3.0 + cfg.optim.lr * 10 * (1 + cfg.training.seed % 2 * 0.01))
    monkeypatch.setattr(ablations.api, "write_results", lambda summary, plot: None)
    out = tmp_path / "kept"
    study = Study.from_options(stage=["lr=3e-4,1e-2"], variant="opt=adamw", seeds=2, scale="tiny", data="embedded",
                               out=str(out), plot=False)
    run_study(study)
    assert sweep_lines(capsys.readouterr().out) == [
        f"sweep: 1 stage of norm=layernorm,pos=learned,init=default,opt=adamw over 2 seeds, then start against "
        f"chosen on 2 held-out seeds; results in {out}",
        "stage 1: lr over 0.0003, 0.01",
        "stage 1: the current lr 0.0003 is the best: kept; ALARM lr: best at the bottom of its grid (0.0003); extend it"]
    assert not (out / "final").exists()


def test_a_default_folder_hashes_the_grids_description_with_its_keys_sorted():
    """A fraction's description is not built in sorted order: the hash of its sorted JSON names the folder."""
    from ablations import Study

    fraction = Study.from_options(axes=["opt=sgd,adamw", "pos=learned,rope", "norm=layernorm,rmsnorm", "mlp=gelu,swiglu"],
                                  design="fractional", scale="tiny", data="embedded")
    assert default_out(fraction, fraction.grid, "abcd1234") == Path("runs") / "axes-a5bed4-abcd1234"
