"""`ablations.run_study` and `budget_study` (ablations/api.py), their outputs pinned whole: the budget
study's every option and folder, its refusal word for word, and each Outcome's every field."""
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

import ablations.api
from ablations import Study, run_study
from ablations.api import Outcome, budget_study
from ablations.analysis.summary import Summary, SweepSummary
from ablations.execution.cells import record
from ablations.study.axes import Point
from mainrun.errors import ConfigError
from mainrun.training import RunResult
from mainrun.variant import Variant
from tests.ablations.synthetic import Synthetic, install, synthetic_steps


def tuned_study(tmp_path: Path) -> Study:
    return Study.from_options(axes=["opt=sgd,adamw"], speedup="0.5,1,2", seeds=3, tune_seeds=1, tune="lr=1e-3,1e-2",
                              scale="tiny", data="embedded", out=str(tmp_path / "study"))


def summary_of(reference, seeds, tuning, root) -> SimpleNamespace:
    return SimpleNamespace(reference=reference, seeds=seeds, tuning=tuning, root=root)


def test_the_budget_study_before_training_keeps_the_studys_options_and_sits_beside_it(tmp_path):
    budgets = budget_study(tuned_study(tmp_path))
    assert budgets.options == {"seeds": 3, "scale": "tiny", "source": "embedded", "axes": ["budget=0.5,1,2"],
                               "out": str(tmp_path / "budgets-834c14a6")}
    assert budgets.execution.out == tmp_path / "budgets-834c14a6"
    assert budgets.seeds == (1337, 1338, 1339) and budgets.budgets == () and budgets.tune is None
    # Without --out: beside runs/study.
    plain = Study.from_options(axes=["opt=sgd,adamw"], speedup="0.5,1,2", seeds=2, scale="tiny", data="embedded")
    assert budget_study(plain).execution.out == Path("runs") / "budgets-75e196fd"


def test_the_budget_study_of_a_tuned_summary_trains_the_reference_at_its_pick_on_the_measuring_seeds(tmp_path):
    study = tuned_study(tmp_path)
    reference = SimpleNamespace(ok=True, point=Point.at({"lr": 0.01}, Variant(opt="adamw")))
    budgets = budget_study(study, summary_of(reference, [1338, 1339], object(), tmp_path / "elsewhere" / "study"))
    assert budgets.options == {"seeds": "1338,1339", "scale": "tiny", "source": "embedded", "lr": 0.01,
                               "variant": "norm=layernorm,pos=learned,init=default,opt=adamw",
                               "axes": ["opt=adamw", "budget=0.5,1,2"],
                               "out": str(tmp_path / "elsewhere" / "budgets-da5d4528")}
    # The reference's own variant: a grid's study ignores a --variant option, so its members are axes of one level.
    assert budgets.seeds == (1338, 1339) and budgets.base.optim.lr == 0.01
    assert [(str(p.variant), p.settings) for p in budgets.grid.points] == [
        ("norm=layernorm,pos=learned,init=default,opt=adamw", (("budget", b),)) for b in (0.5, 1.0, 2.0)]
    stack = SimpleNamespace(ok=True, point=Point(Variant.parse("norm=rmsnorm,opt=adamw,norm.eps=1e-06")))
    stacked = budget_study(study, summary_of(stack, [1338, 1339], None, tmp_path / "study"))
    assert stacked.options["axes"] == ["norm=rmsnorm", "opt=adamw", "norm.eps=1e-06", "budget=0.5,1,2"]
    assert {p.variant for p in stacked.grid.points} == {stack.point.variant}
    # Untuned: the study's own seeds, whatever the summary measured.
    untuned = budget_study(study, summary_of(reference, [1338, 1339], None, tmp_path / "study"))
    assert untuned.options["seeds"] == 3 and untuned.seeds == (1337, 1338, 1339)
    assert untuned.execution.out == tmp_path / "budgets-a6d7f888"


def test_a_tuned_study_measured_on_one_seed_trains_its_budgets_on_that_seed(tmp_path):
    """A lone number is a count of seeds: the one measuring seed 1338 must not become 1338 seeds (an error
    after the whole study has trained), nor 42 become 42 seeds."""
    study = tuned_study(tmp_path)
    reference = SimpleNamespace(ok=True, point=Point(Variant()))
    for seed in (1338, 42):
        budgets = budget_study(study, summary_of(reference, [seed], object(), tmp_path / "study"))
        assert budgets.seeds == (seed,)


@pytest.mark.parametrize("reference", [None, SimpleNamespace(ok=False, point=Point(Variant()))])
def test_a_reference_without_a_finished_cell_is_refused_in_these_words(tmp_path, reference):
    with pytest.raises(ConfigError) as refused:
        budget_study(tuned_study(tmp_path), summary_of(reference, [1337], None, tmp_path / "study"))
    assert str(refused.value) == "--speedup: the reference point has no finished cell to train its budgets from"


def test_run_study_of_a_grid_reports_each_folder_with_the_studys_plot_flag_and_returns_its_outcome(
        tmp_path, monkeypatch):
    install(monkeypatch, lambda cfg: 3.0 - (cfg.variant.opt == "adamw") * 0.1 + cfg.training.seed * 1e-3)
    written = []
    monkeypatch.setattr(ablations.api, "write_results", lambda summary, plot: written.append((summary, plot)))
    study = Study.from_options(axes=["opt=sgd,adamw"], seeds=2, scale="tiny", data="embedded", out=str(tmp_path / "g"),
                               plot=False)
    outcome = run_study(study)
    assert [(s.root, plot) for s, plot in written] == [(tmp_path / "g", False)]
    assert isinstance(outcome, Outcome) and isinstance(outcome.summary, Summary)
    assert (outcome.root, outcome.summary, outcome.failed, outcome.speedups) == (tmp_path / "g", written[0][0], 0, None)
    assert [row.label for row in outcome.summary.rows] == ["opt=adamw", "baseline"]


class FailsSome(Synthetic):
    """Synthetic cells, but the named ones fail."""

    def __init__(self, loss_of, fails):
        super().__init__(loss_of)
        self.fails = fails

    def run(self, cells, results_root):
        from ablations.execution.store import ResultsDir

        ok = [c for c in cells if not self.fails(c)]
        yield from super().run(ok, results_root)
        for cell in cells:
            if self.fails(cell):
                written = record(cell, RunResult("failed", data=cell.source, fingerprint=cell.fingerprint), "boom")
                ResultsDir(results_root).write_cell(cell.key, written, [])
                yield cell, written


def test_run_study_with_speedup_counts_the_failed_cells_of_both_folders_and_returns_the_speedups(
        tmp_path, monkeypatch):
    import ablations.execution.engine

    def loss(cfg):
        return 3.0 - 0.1 * math.log2(synthetic_steps(cfg) / 10) - (cfg.variant.opt == "adamw") * 0.1 + \
            {1337: 0.0, 1338: 0.01, 1339: -0.01}[cfg.training.seed]

    backend = FailsSome(loss, lambda c: c.seed == 1339 and (c.variant.opt == "muon" or c.config.training.budget == 2))
    monkeypatch.setattr(ablations.execution.engine, "Local", lambda **settings: backend)
    study = Study.from_options(axes=["opt=sgd,adamw,muon"], speedup="0.5,1,2", seeds=3, scale="tiny",
                               data="embedded", out=str(tmp_path / "s"), plot=False)
    outcome = run_study(study)
    assert outcome.root == tmp_path / "s" and outcome.failed == 2
    assert [s.label for s in outcome.speedups] == [row.label for row in outcome.summary.rows]
    assert (tmp_path / "s" / "speedup.json").exists()
    assert len([c for c in backend.trained if "budget" in dict(c.point.settings)]) == 8


def test_run_study_of_a_sweep_returns_the_sweep_summary_of_its_top_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(ablations.api, "write_results", lambda summary, plot: None)
    install(monkeypatch, lambda cfg: 3.0 - cfg.optim.lr * 10 * (1 + cfg.training.seed % 2 * 0.01))
    study = Study.from_options(stage=["lr=1e-3,1e-2"], variant="opt=adamw", seeds=2, scale="tiny", data="embedded",
                               out=str(tmp_path / "sw"), plot=False)
    outcome = run_study(study)
    assert isinstance(outcome.summary, SweepSummary)
    assert (outcome.root, outcome.failed, outcome.speedups) == (tmp_path / "sw", 0, None)
    assert (tmp_path / "sw" / "sweep.json").exists() and (tmp_path / "sw" / "sweep.md").exists()


def test_the_budgets_of_a_grid_whose_reference_is_not_the_baseline_train_the_reference(tmp_path, monkeypatch):
    """--axes opt=adamw,muon: the reference is AdamW, and it is AdamW that trains the budgets, not the baseline's
    SGD (the budget study's --variant option went unread by a grid's study)."""
    backend = install(monkeypatch, lambda cfg: 3.0 - 0.1 * math.log2(synthetic_steps(cfg) / 10)
                      - (cfg.variant.opt == "muon") * 0.1 + cfg.training.seed * 1e-3)
    monkeypatch.setattr(ablations.api, "write_results", lambda summary, plot: None)
    run_study(Study.from_options(axes=["opt=adamw,muon"], speedup="0.5,1,2", seeds=2, scale="tiny", data="embedded",
                                 out=str(tmp_path / "study"), plot=False))
    assert sorted({(c.config.variant.opt, c.config.training.budget) for c in backend.trained}) == [
        ("adamw", 0.5), ("adamw", 1.0), ("adamw", 2.0), ("muon", 1.0)]


def test_the_budget_study_drops_the_grid_its_design_and_its_tuning_and_hashes_a_path_as_its_text(tmp_path):
    data = tmp_path / "titles.txt"
    options = dict(grid="single", around="opt=adamw", speedup="1,2", seeds=2, tune="lr=1e-3,1e-2", tune_extend=True,
                   shared_default=True, scale="tiny", out=str(tmp_path / "study"))
    budgets = budget_study(Study.from_options(**options, data=data))
    folder = budgets.execution.out
    assert budgets.options == {"seeds": 2, "scale": "tiny", "source": data, "axes": ["budget=1,2"], "out": str(folder)}
    assert folder.parent == tmp_path and folder.name.startswith("budgets-")
    assert budget_study(Study.from_options(**options, data=str(data))).execution.out == folder  # one experiment
    fraction = Study.from_options(axes=["opt=sgd,adamw", "pos=learned,rope", "norm=layernorm,rmsnorm", "mlp=gelu,swiglu"],
                                  design="fractional", speedup="1,2", seeds=2, scale="tiny", data="embedded",
                                  out=str(tmp_path / "study"))
    assert budget_study(fraction).options == {"seeds": 2, "scale": "tiny", "source": "embedded", "axes": ["budget=1,2"],
                                              "out": str(budget_study(fraction).execution.out)}
