"""What a run prints (ablations/writers/console.py, the runner's header and progress lines): the answer,
on the console, for every kind of study."""
import math

import pytest

from ablations import run
from ablations.execution.engine import Interrupted
from mainrun.cli import run_cli
from mainrun.config import TrainConfig
from tests.ablations.synthetic import install

TINY = ["--scale", "tiny", "--data", "embedded", "--no-plot"]


def test_a_tuned_run_counts_every_cell_labels_its_phases_and_says_when_picks_sit_at_an_end(tmp_path, monkeypatch,
                                                                                            capsys):
    install(monkeypatch, lambda cfg: 3.0 - math.log10(cfg.optim.lr))  # the larger the lr the better: picks at the top
    assert run.main(["--axes", "opt=sgd,adamw", "--tune", "lr=1e-3,1e-2", "--tune-extend", "0", "--seeds", "3", *TINY,
                     "--out", str(tmp_path / "t")]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("ablations: 12 cells (2 variants x 3 seeds; 4 tuning (lr over 2 values on 1 seed), "
                                   "then 8 measuring)")
    progress = [line for line in captured.err.splitlines() if "] " in line]
    assert progress[0].startswith("tuning [1/4] ") and progress[4].startswith("measuring [1/8] ")
    assert "Tuned lr (on seed 1337): baseline 0.01; opt=adamw 0.01" in captured.out
    assert "ALARM: at an end of the lr candidates (the optimum may lie beyond): baseline 0.01; opt=adamw 0.01" in \
        captured.out


def test_target_effect_leave_one_out_and_the_embedded_corpus_are_said_on_the_console(tmp_path, monkeypatch, capsys):
    def loss(cfg: TrainConfig) -> float:  # rope helps by 0.05, adamw by 0.2; the seed moves every cell alike
        return 3.0 - 0.05 * (cfg.variant.pos == "rope") - 0.2 * (cfg.variant.opt == "adamw") \
            + {1337: 0.0, 1338: 0.01, 1339: -0.01}[cfg.training.seed] * (1 + (cfg.variant.pos == "rope"))

    install(monkeypatch, loss)
    assert run.main(["--grid", "single", "--around", "pos=rope,opt=adamw", "--target-effect", "0.01", *TINY,
                     "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "Removing each part of norm=layernorm,pos=rope,init=default,opt=adamw (Δ: without the part minus the " \
           "whole stack" in out
    [opt] = [line for line in out.splitlines() if line.startswith("  opt=sgd")]
    assert "+0.2000" in opt and opt.rstrip().endswith("beyond noise")
    assert "Data: the embedded synthetic corpus" in out
    text = (tmp_path / "a" / "results.md").read_text()
    assert "## What each part of the stack buys" in text and "the cost of removing the part" in text
    assert run.main(["--axes", "opt=sgd,adamw", "pos=learned,rope", "--target-effect", "0.01", *TINY,
                     "--out", str(tmp_path / "b")]) == 0
    assert "To tell an effect of 0.01 from noise would take about" in capsys.readouterr().out


def test_a_run_whose_every_cell_failed_ends_in_lines_not_a_traceback(tmp_path, monkeypatch, capsys):
    def broken(cfg: TrainConfig) -> float:
        raise RuntimeError("out of memory")

    from tests.ablations import synthetic

    class Failing(synthetic.Synthetic):
        def run(self, cells, results_root):
            for cell in cells:
                yield cell, RuntimeError("worker died")

    import ablations.execution.engine

    monkeypatch.setattr(ablations.execution.engine, "Local", lambda **settings: Failing(broken))
    assert run.main(["--axes", "opt=sgd,adamw", *TINY, "--out", str(tmp_path / "f")]) == 1
    out = capsys.readouterr().out
    assert "No cell finished ok" in out and "6 cells failed: see the report" in out


def test_an_interrupted_run_says_so_once(capsys):
    def interrupted(argv):
        raise Interrupted()

    with pytest.raises(SystemExit) as stop:
        run_cli(interrupted)
    assert stop.value.code == 130 and "interrupted" not in capsys.readouterr().err

    def plain(argv):
        raise KeyboardInterrupt()

    with pytest.raises(SystemExit):
        run_cli(plain)
    assert capsys.readouterr().err == "interrupted\n"


ADAMW_NOISE = {1337: 0.0, 1338: 0.01, 1339: -0.01}  # adamw's and rope's gains move alike by seed: each sd 0.01


def two_gains(cfg: TrainConfig) -> float:
    """adamw gains 0.2 and rope 0.05, each by 0.01 more or less on seeds 1338 and 1339; the two add up."""
    noise = ADAMW_NOISE[cfg.training.seed]
    return 3.0 + (-0.2 + noise) * (cfg.variant.opt == "adamw") + (-0.05 + noise) * (cfg.variant.pos == "rope")


@pytest.mark.parametrize("target, seeds", [("0.01", "about 7 seeds"), ("0.0001", "more than 1000 seeds")])
def test_a_factorial_runs_console_lines_give_each_effect_the_best_variant_and_the_seeds_a_target_effect_needs(
        tmp_path, monkeypatch, capsys, target, seeds):
    """The lines a factorial run ends with, whole: each main effect with its interval and verdict, the best
    variant against the baseline, and how many seeds would resolve --target-effect (past 1000: said so).
    By hand: per-seed contrasts -0.2 ± 0.01 and -0.05 ± 0.01 have sd 0.01, so half-width
    t(2) 4.303 x 0.01 / sqrt(3) = 0.0248; the best (2.75, 2.77, 2.73: mean 2.75) against the baseline 3.0 moves
    by -0.25 ± 0.02, half-width 0.0497; a 0.01 effect at sd 0.01 needs t(n-1) < sqrt(n): n = 7 (t(6) 2.447 <
    2.646; t(5) 2.571 > 2.449); 0.0001 would need n over 38000."""
    install(monkeypatch, two_gains)
    out = tmp_path / "g"
    assert run.main(["--axes", "opt=sgd,adamw", "pos=learned,rope", "--seeds", "3", "--target-effect", target,
                     *TINY, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed[printed.index("axes: "):] == f"""\
axes: 4 variants x 3 seeds, val loss
What mattered (main effects, 95% intervals over seeds):
  opt: sgd -> adamw                  -0.2000 ± 0.0248     beyond noise
  pos: learned -> rope               -0.0500 ± 0.0248     beyond noise
Best: pos=rope, opt=adamw at 2.7500, -0.2500 ± 0.0497 against the baseline (3.0000)
To tell an effect of {target} from noise would take {seeds} (this table: ±0.0248 with 3 seeds)
Data: the embedded synthetic corpus (no real titles were reachable or given), so these numbers test the harness, \
not a finding about Hacker News titles; pass --data FILE for real titles
Full report: {out}/results.md (and results.csv, results.json)
"""
