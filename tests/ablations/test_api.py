"""`ablations.run_study` (ablations/api.py): what a sweep run from Python leaves on disk as it goes."""
import pytest

from ablations import Study, run_study
from ablations.execution.engine import Interrupted
from ablations.writers import write_results
from tests.ablations.synthetic import Synthetic, install


class StopsAtFinal(Synthetic):
    """Ctrl-C as the final comparison's first cell starts: the one stage is trained and decided."""

    def run(self, cells, results_root):
        if results_root.name == "final":
            raise KeyboardInterrupt
        yield from super().run(cells, results_root)


def test_a_sweep_stopped_mid_way_has_a_sweep_md_of_its_decisions_so_far_and_its_plots_only_once_complete(
        tmp_path, monkeypatch):
    """sweep.md is rewritten after each stage's decision, so a stopped sweep says what it decided; its
    sensitivity plots are drawn once, when the sweep completes, not after every stage."""
    import ablations.api
    import ablations.execution.engine

    pytest.importorskip("matplotlib")
    # Each stage folder's own results.md is not what this reads: written without its plots, for speed.
    monkeypatch.setattr(ablations.api, "write_results", lambda summary, plot: write_results(summary, False))
    loss = lambda cfg: 3.0 - cfg.optim.lr  # noqa: E731 - the larger lr the better
    monkeypatch.setattr(ablations.execution.engine, "Local", lambda **settings: StopsAtFinal(loss))
    out = tmp_path / "sweep"
    study = Study.from_options(stage=["lr=1e-2"], variant="opt=adamw", seeds=2, scale="tiny", data="embedded",
                               out=str(out), plot=True)
    with pytest.raises(Interrupted):
        run_study(study)
    stopped = (out / "sweep.md").read_text()
    assert "## Stage 1: lr" in stopped and "Not run yet." in stopped
    assert "![sensitivity" not in stopped and not list(out.glob("*.png")), "a plot was drawn before the sweep ended"

    install(monkeypatch, loss)  # the same command again: resumes, finishes, and plots
    run_study(study)
    done = (out / "sweep.md").read_text()
    assert "![sensitivity of stage 1](sensitivity_stage1_lr.png)" in done
    assert [p.name for p in out.glob("*.png")] == ["sensitivity_stage1_lr.png"]
