"""results.md and the console summary of small scripted studies, compared whole against text written here:
every number and its format, the order of rows and effects, verdicts, and the notes for failed and diverged
cells, a switched metric, one seed, a stack's parts and a tuned grid (ablations/writers/markdown.py, console.py)."""
import math

import pytest

import ablations.execution.engine
from ablations import run
from ablations.execution.cells import record
from ablations.execution.store import ResultsDir
from mainrun.training import RunResult
from tests.ablations.synthetic import Synthetic

TINY = ["--scale", "tiny", "--data", "embedded", "--no-plot"]
NOISE = {1337: 0.0, 1338: 0.01, 1339: -0.01, 1340: 0.02}
EMBEDDED = ("Data: the embedded synthetic corpus (no real titles were reachable or given), so these numbers test the "
            "harness, not a finding about Hacker News titles; pass --data FILE for real titles\n")
INTRO = ("Val loss is the reference metric (summed token cross-entropy over the characters of the val text) at the "
         "last evaluation: mean ± sd over the seeds that finished ok (n). Δ vs {} is paired by seed, ± its 95% "
         "interval. Loss/token divides the same sum by the tokens scored instead; coverage is the share of val "
         "tokens the metric scores. A seed sets the data split, the tokenizer, the initial weights and dropout, as "
         "in the reference.")
EFFECTS_INTRO = (
    "Main effect of a swap: mean loss of the cells with it minus the mean of the cells without it, over all levels "
    "of the other families. Interaction: half of (the effect of one swap with the other swap made) minus (the effect "
    "with it not made). 95% intervals are Student t intervals over per-seed estimates (the estimator is described in "
    "ablations/analysis/effects.py). Verdicts: negligible when the whole interval lies inside ±0.003 (--margin, the "
    "rerun noise of this task); else beyond noise when the p-value, adjusted by Holm's procedure over every effect "
    "in this table, is below 0.05; else within noise. Negative lowers the loss.")
NOTE = ("The cells differ in how much of the val text the reference metric scores (80.0% to 90.0%), so this table "
        "ranks by val_loss_full, which scores every val token once.")


class Scripted(Synthetic):
    """Each cell's outcome from `outcome(cfg)`: a RunResult committed as a real cell's, or an exception (the
    cell's worker died: the engine records it failed)."""

    def __init__(self, outcome):
        super().__init__(lambda cfg: 0.0)
        self.outcome = outcome

    def run(self, cells, results_root):
        store = ResultsDir(results_root)
        for cell in cells:
            out = self.outcome(cell.config)
            if isinstance(out, Exception):
                yield cell, out
                continue
            written = record(cell, out)
            store.write_cell(cell.key, written, [(1, 4.0), (10, 3.0)])
            yield cell, written


def ok(loss, rope, adamw):
    """rope cells score 80% of the val tokens, the others 90%; loss/token is 3x the loss."""
    coverage = 0.8 if rope else 0.9
    return RunResult("ok", val_loss=loss * coverage, val_loss_full=loss, val_loss_per_token=3 * loss,
                     val_bpb=loss / 2, val_coverage=coverage, params=1234567, wall_s=2.0 + adamw + 0.5 * rope,
                     tokens_per_s=12345.6 + 1000 * rope)


def study(tmp_path, monkeypatch, capsys, outcome, *args):
    """results.md and the console's closing lines, the folder written as OUT."""
    monkeypatch.setattr(ablations.execution.engine, "Local", lambda **settings: Scripted(outcome))
    out = tmp_path / "s"
    code = run.main([*args, *TINY, "--out", str(out)])
    printed = capsys.readouterr().out
    md = (out / "results.md").read_text().replace(str(out), "OUT")
    start = printed.index("\n", printed.index("results in ")) + 1  # after the runner's header line
    return code, md, printed[start:].replace(str(out), "OUT")


def flaky(cfg):
    """adamw gains 0.2 and rope 0.05, each by NOISE more on the seed; the two add up. rope+adamw's worker dies on
    seed 1339 and rope diverges on seed 1338: the effects stand on seeds 1337 and 1340 alone."""
    s, adamw, rope = cfg.training.seed, cfg.variant.opt == "adamw", cfg.variant.pos == "rope"
    if adamw and rope and s == 1339:
        return RuntimeError("worker died\nsecond line")
    if rope and not adamw and s == 1338:
        return RunResult("diverged", val_loss=float("nan"), params=1234567, wall_s=1.5, tokens_per_s=2000.0)
    return ok(3.0 + (-0.2 + NOISE[s]) * adamw + (-0.05 + NOISE[s]) * rope, rope, adamw)


def additive(cfg):
    s, adamw, rope = cfg.training.seed, cfg.variant.opt == "adamw", cfg.variant.pos == "rope"
    return ok(3.0 + (-0.2 + NOISE[s]) * adamw + (-0.05 + NOISE[s]) * rope, rope, adamw)


def note_line(printed, first):
    """The console's first line names the metric and the note's first sentence, lowercased, whole: its
    percentages' decimal points do not end it."""
    head, rest = printed.split("\n", 1)
    assert head == first + (" (the cells differ in how much of the val text the reference metric scores (80.0% to "
                            "90.0%), so this table ranks by val_loss_full, which scores every val token once)"), head
    return rest


def test_a_factorial_with_a_failed_and_a_diverged_cell_under_a_switched_metric(tmp_path, monkeypatch, capsys):
    """By hand: rope+adamw on 1337, 1338, 1340 is 2.75, 2.77, 2.79 (sd 0.02), against the baseline's 3.0 -0.25,
    -0.23, -0.21: -0.23 ± t(2) 4.303 x 0.02 / sqrt 3 = 0.0497; adamw on four seeds 2.80, 2.81, 2.79, 2.82: 2.805 ±
    0.0129, Δ ± t(3) 3.182 x 0.0129 / 2 = 0.0205; rope (1338 diverged) 2.95, 2.94, 2.97: 2.9533 ± 0.0153, Δ ±
    0.0379. The effects use seeds 1337 and 1340 only: opt -0.2, -0.18: -0.19 ± t(1) 12.706 x 0.01414 / sqrt 2 =
    0.1271 (t 19, p 0.0335, x3 by Holm: 0.1); pos -0.05, -0.03: -0.04 (t 4, p 0.156 x 2: 0.31). A 0.05 effect at
    spread 0.014 needs 3 seeds (4.303 x 0.01414 / sqrt 3 = 0.035 < 0.05; 0.127 with 2)."""
    code, md, printed = study(tmp_path, monkeypatch, capsys, flaky, "--axes", "opt=sgd,adamw", "pos=learned,rope",
                              "--seeds", "4", "--target-effect", "0.05")
    assert code == 1  # a cell failed
    assert md == f"""\
# Ablations: grid `axes`, 4 variants x 4 seeds (1337, 1338, 1339, 1340)

Command: `python -m ablations.run --axes opt=sgd,adamw pos=learned,rope --seeds 4 --target-effect 0.05 --scale tiny \
--data embedded --no-plot --out OUT`

Scale `tiny`; data `the embedded synthetic corpus` (fingerprint `embedded-v1-n120000`); device `cpu`; 16 of 16 cells \
have run.

{INTRO.format("baseline")}

{NOTE}

|          | norm      | pos     | init    | opt   | params    | val loss (full coverage)   | Δ vs baseline    | val loss (reference)   | loss/token   | coverage   | tokens/s   | wall s   | status           |
|----------|-----------|---------|---------|-------|-----------|----------------------------|------------------|------------------------|--------------|------------|------------|----------|------------------|
|          | layernorm | rope    | default | adamw | 1,234,567 | 2.7700 ± 0.0200 (n=3)      | -0.2300 ± 0.0497 | 2.2160                 | 8.3100       | 80.0%      | 13,346     | 3.5      | 3 ok, 1 failed   |
|          | layernorm | learned | default | adamw | 1,234,567 | 2.8050 ± 0.0129 (n=4)      | -0.1950 ± 0.0205 | 2.5245                 | 8.4150       | 90.0%      | 12,346     | 3.0      | 4 ok             |
|          | layernorm | rope    | default | sgd   | 1,234,567 | 2.9533 ± 0.0153 (n=3)      | -0.0467 ± 0.0379 | 2.3627                 | 8.8600       | 80.0%      | 13,346     | 2.5      | 3 ok, 1 diverged |
| baseline | layernorm | learned | default | sgd   | 1,234,567 | 3.0000 ± 0.0000 (n=4)      |                  | 2.7000                 | 9.0000       | 90.0%      | 12,346     | 2.0      | 4 ok             |

## Effects

{EFFECTS_INTRO}

| effect               | estimate   | 95% interval   | p (Holm)   | seeds   | verdict                    |
|----------------------|------------|----------------|------------|---------|----------------------------|
| opt: sgd -> adamw    | -0.1900    | ± 0.1271       | 0.1        | 2       | within noise               |
| pos: learned -> rope | -0.0400    | ± 0.1271       | 0.31       | 2       | within noise               |
| pos=rope x opt=adamw | +0.0000    | ± 0.0000       | 1          | 2       | negligible (inside ±0.003) |

Smallest effect this table resolves: about ±0.13 (the median half-width of its 95% intervals, 2 seeds); anything \
smaller reads as noise here.

To resolve an effect of 0.05 (95% half-width below it) would take about 3 seeds, from the median spread of the \
per-seed contrasts measured here (0.014).

## Failed cells

- `layernorm-rope-default-adamw-seed1339`: RuntimeError: worker died

## Plots

Plots were not requested (--no-plot).
"""
    assert note_line(printed, "axes: 4 variants x 4 seeds, val loss (full coverage)") == f"""\
What mattered (main effects, 95% intervals over seeds):
  opt: sgd -> adamw                  -0.1900 ± 0.1271     within noise
  pos: learned -> rope               -0.0400 ± 0.1271     within noise
Best: pos=rope, opt=adamw at 2.7700, -0.2300 ± 0.0497 against the baseline (3.0000)
To tell an effect of 0.05 from noise would take about 3 seeds (this table: ±0.1271 with 2 seeds)
1 cell failed: see the report
{EMBEDDED}Full report: OUT/results.md (and results.csv, results.json)
"""


def test_a_factorial_on_one_seed_has_no_intervals_and_says_so(tmp_path, monkeypatch, capsys):
    code, md, printed = study(tmp_path, monkeypatch, capsys, additive, "--axes", "opt=sgd,adamw", "pos=learned,rope",
                              "--seeds", "1")
    assert code == 0
    assert md == f"""\
# Ablations: grid `axes`, 4 variants x 1 seed (1337)

Command: `python -m ablations.run --axes opt=sgd,adamw pos=learned,rope --seeds 1 --scale tiny --data embedded \
--no-plot --out OUT`

Scale `tiny`; data `the embedded synthetic corpus` (fingerprint `embedded-v1-n120000`); device `cpu`; 4 of 4 cells \
have run.

{INTRO.format("baseline")}

{NOTE}

|          | norm      | pos     | init    | opt   | params    | val loss (full coverage)   | Δ vs baseline   | val loss (reference)   | loss/token   | coverage   | tokens/s   | wall s   | status   |
|----------|-----------|---------|---------|-------|-----------|----------------------------|-----------------|------------------------|--------------|------------|------------|----------|----------|
|          | layernorm | rope    | default | adamw | 1,234,567 | 2.7500 (n=1)               | -0.2500         | 2.2000                 | 8.2500       | 80.0%      | 13,346     | 3.5      | 1 ok     |
|          | layernorm | learned | default | adamw | 1,234,567 | 2.8000 (n=1)               | -0.2000         | 2.5200                 | 8.4000       | 90.0%      | 12,346     | 3.0      | 1 ok     |
|          | layernorm | rope    | default | sgd   | 1,234,567 | 2.9500 (n=1)               | -0.0500         | 2.3600                 | 8.8500       | 80.0%      | 13,346     | 2.5      | 1 ok     |
| baseline | layernorm | learned | default | sgd   | 1,234,567 | 3.0000 (n=1)               |                 | 2.7000                 | 9.0000       | 90.0%      | 12,346     | 2.0      | 1 ok     |

## Effects

{EFFECTS_INTRO}

| effect               | estimate   | 95% interval   | p (Holm)   | seeds   | verdict                    |
|----------------------|------------|----------------|------------|---------|----------------------------|
| opt: sgd -> adamw    | -0.2000    | n/a            |            | 1       | n/a: one seed, no interval |
| pos: learned -> rope | -0.0500    | n/a            |            | 1       | n/a: one seed, no interval |
| pos=rope x opt=adamw | +0.0000    | n/a            |            | 1       | n/a: one seed, no interval |

With one seed there is no interval: no effect here can be told from noise (run --seeds 3 or more).

## Plots

Plots were not requested (--no-plot).
"""
    assert note_line(printed, "axes: 4 variants x 1 seed, val loss (full coverage)") == f"""\
What mattered (main effects, 95% intervals over seeds):
  opt: sgd -> adamw                  -0.2000              n/a: one seed, no interval
  pos: learned -> rope               -0.0500              n/a: one seed, no interval
Best: pos=rope, opt=adamw at 2.7500, -0.2500 against the baseline (3.0000)
One seed: no interval, so nothing here can be told from noise; run --seeds 3 or more.
{EMBEDDED}Full report: OUT/results.md (and results.csv, results.json)
"""


def test_around_a_stack_each_row_is_what_removing_its_part_costs(tmp_path, monkeypatch, capsys):
    """The stack itself is the best row: no `Best` line. Removing adamw costs 0.2 (0.19, 0.21 on seeds 1338,
    1339: ± 4.303 x 0.01 / sqrt 3 = 0.0248), removing rope 0.05; largest first."""
    code, md, printed = study(tmp_path, monkeypatch, capsys, additive, "--grid", "single", "--around",
                              "pos=rope,opt=adamw", "--seeds", "3")
    assert code == 0
    assert md == f"""\
# Ablations: grid `single`, 3 variants x 3 seeds (1337, 1338, 1339)

Command: `python -m ablations.run --grid single --around pos=rope,opt=adamw --seeds 3 --scale tiny --data embedded \
--no-plot --out OUT`

Scale `tiny`; data `the embedded synthetic corpus` (fingerprint `embedded-v1-n120000`); device `cpu`; 9 of 9 cells \
have run.

{INTRO.format("reference")}

{NOTE}

|           | norm      | pos     | init    | opt   | params    | val loss (full coverage)   | Δ vs reference   | val loss (reference)   | loss/token   | coverage   | tokens/s   | wall s   | status   |
|-----------|-----------|---------|---------|-------|-----------|----------------------------|------------------|------------------------|--------------|------------|------------|----------|----------|
| reference | layernorm | rope    | default | adamw | 1,234,567 | 2.7500 ± 0.0200 (n=3)      |                  | 2.2000                 | 8.2500       | 80.0%      | 13,346     | 3.5      | 3 ok     |
|           | layernorm | learned | default | adamw | 1,234,567 | 2.8000 ± 0.0100 (n=3)      | +0.0500 ± 0.0248 | 2.5200                 | 8.4000       | 90.0%      | 12,346     | 3.0      | 3 ok     |
|           | layernorm | rope    | default | sgd   | 1,234,567 | 2.9500 ± 0.0100 (n=3)      | +0.2000 ± 0.0248 | 2.3600                 | 8.8500       | 80.0%      | 13,346     | 2.5      | 3 ok     |

## What each part of the stack buys

Each row removes one part of the stack `norm=layernorm,pos=rope,init=default,opt=adamw` (reverts its family to the \
reference member); Δ is that row minus the whole stack, paired by seed: the cost of removing the part. Positive: the \
stack is better with the part, by that much; negative: the part hurt. Verdicts as for effects: negligible inside \
±0.003, else beyond noise when the p-value, adjusted by Holm's procedure over every Δ in this table, is below 0.05, \
else within noise.

| removed part   | Δ       | 95% interval   | p (Holm)   | seeds   | verdict      |
|----------------|---------|----------------|------------|---------|--------------|
| opt=sgd        | +0.2000 | ± 0.0248       | 0.0017     | 3       | beyond noise |
| pos=learned    | +0.0500 | ± 0.0248       | 0.013      | 3       | beyond noise |

## Plots

Plots were not requested (--no-plot).
"""
    assert note_line(printed, "single: 3 variants x 3 seeds, val loss (full coverage)") == f"""\
Removing each part of norm=layernorm,pos=rope,init=default,opt=adamw (Δ: without the part minus the whole stack, 95% \
intervals; positive: the part helped):
  opt=sgd                            +0.2000 ± 0.0248     beyond noise
  pos=learned                        +0.0500 ± 0.0248     beyond noise
{EMBEDDED}Full report: OUT/results.md (and results.csv, results.json)
"""


def tuned(cfg):
    """The additive gains plus 0.1 x (decades from the optimum)^2: sgd's optimum at lr 10^-2.4 (0.01 is the best
    of 0.001, 0.01, 0.1), adamw's at 1 (0.1, the top even after extending). rope+adamw diverges on both tuning seeds."""
    s, adamw, rope = cfg.training.seed, cfg.variant.opt == "adamw", cfg.variant.pos == "rope"
    if adamw and rope and s in (1337, 1338):
        return RunResult("diverged", val_loss=float("nan"), params=1234567, wall_s=1.5, tokens_per_s=2000.0)
    loss = 3.0 + (-0.2 + NOISE[s]) * adamw + (-0.05 + NOISE[s]) * rope
    return ok(loss + 0.1 * (math.log10(cfg.optim.lr) + (0 if adamw else 2.4)) ** 2, rope, adamw)


def test_a_tuned_grid_with_an_extension_an_alarm_and_a_variant_that_never_finished(tmp_path, monkeypatch, capsys):
    """By hand: baseline at 0.001, 0.01, 0.1: 3 + 0.1 x 0.36, 0.016, 1.96; adamw 2.805 (mean of its two tuning seeds)
    + 0.9, 0.4, 0.1. Measured on 1339, 1340: adamw at 0.1 2.89, 2.92 (2.905 ± 0.0212) against the reference's 3.016:
    -0.126, -0.096, -0.111 ± 12.706 x 0.0212 / sqrt 2 = 0.1906."""
    code, md, printed = study(tmp_path, monkeypatch, capsys, tuned, "--axes", "opt=sgd,adamw", "pos=learned,rope",
                              "--tune", "lr=1e-3,1e-2", "--tune-extend", "1", "--tune-seeds", "2", "--seeds", "4",
                              "--no-shared-default")
    assert code == 0
    alarm = "lr: best at the top of its grid (0.1) after 1 extension; extend it"
    assert md == f"""\
# Ablations: grid `axes`, 4 variants x 2 seeds (1339, 1340), lr tuned per variant

Command: `python -m ablations.run --axes opt=sgd,adamw pos=learned,rope --tune lr=1e-3,1e-2 --tune-extend 1 \
--tune-seeds 2 --seeds 4 --no-shared-default --scale tiny --data embedded --no-plot --out OUT`

Scale `tiny`; data `the embedded synthetic corpus` (fingerprint `embedded-v1-n120000`); device `cpu`; 28 of 30 cells \
have run.

{INTRO.format("reference")}

## Tuning: lr per variant, on seeds 1337, 1338

Mean val loss (full coverage) over the tuning seeds at each candidate; each variant takes the lowest. These seeds \
are used for nothing else: the tables below measure on the other seeds (1339, 1340), so the luck of the pick does not \
inflate them.

| variant             | lr=0.001   | lr=0.01   | lr=0.1   | chosen        | alarm                                                              |
|---------------------|------------|-----------|----------|---------------|--------------------------------------------------------------------|
| baseline            | 3.0360     | 3.0160    | 3.1960   | 0.01          |                                                                    |
| pos=rope            | 2.9910     | 2.9710    | 3.1510   | 0.01          |                                                                    |
| opt=adamw           | 3.7050     | 3.2050    | 2.9050   | 0.1           | {alarm} |
| pos=rope, opt=adamw |            |           |          | none finished |                                                                    |

A pick at an end of the candidates is extended by the grid's own ratio, up to 1 new value(s) per variant: baseline \
(0.1); pos=rope (0.1); opt=adamw (0.1).

## Each variant at its own lr

{NOTE}

|           | norm      | pos     | init    | opt   | lr   | params    | val loss (full coverage)   | Δ vs reference   | val loss (reference)   | loss/token   | coverage   | tokens/s   | wall s   | status   | note                                                               |
|-----------|-----------|---------|---------|-------|------|-----------|----------------------------|------------------|------------------------|--------------|------------|------------|----------|----------|--------------------------------------------------------------------|
|           | layernorm | learned | default | adamw | 0.1  | 1,234,567 | 2.9050 ± 0.0212 (n=2)      | -0.1110 ± 0.1906 | 2.6145                 | 8.7150       | 90.0%      | 12,346     | 3.0      | 2 ok     | {alarm} |
|           | layernorm | rope    | default | sgd   | 0.01 | 1,234,567 | 2.9710 ± 0.0212 (n=2)      | -0.0450 ± 0.1906 | 2.3768                 | 8.9130       | 80.0%      | 13,346     | 2.5      | 2 ok     |                                                                    |
| reference | layernorm | learned | default | sgd   | 0.01 | 1,234,567 | 3.0160 ± 0.0000 (n=2)      |                  | 2.7144                 | 9.0480       | 90.0%      | 12,346     | 2.0      | 2 ok     |                                                                    |

## Effects at each variant's tuned lr

{EFFECTS_INTRO}

No effect can be estimated yet: no seed has every cell finished ok.

## Plots

Plots were not requested (--no-plot).
"""
    assert note_line(printed.split("\n", 2)[2], "axes: 3 variants x 2 seeds, val loss (full coverage)") == f"""\
Each variant against the reference (Δ, 95% intervals over seeds):
  opt=adamw, lr=0.1                  -0.1110 ± 0.1906     within noise
  pos=rope, lr=0.01                  -0.0450 ± 0.1906     within noise
Tuned lr (on seeds 1337, 1338): baseline 0.01; pos=rope 0.01; opt=adamw 0.1
  ALARM: at an end of the lr candidates even after extending them (the optimum may lie beyond): opt=adamw 0.1
Best: opt=adamw, lr=0.1 at 2.9050, -0.1110 ± 0.1906 against the reference (3.0160)
{EMBEDDED}Full report: OUT/results.md (and results.csv, results.json)
"""


def test_a_tuning_cell_that_failed_is_listed_with_the_measured_ones_and_counted_on_the_console(tmp_path, monkeypatch,
                                                                                                 capsys):
    """A failed cell is a failed cell wherever the plan put it: a tuning cell's failure is in the report's
    "Failed cells" and the console's count, as a measured cell's is (the run exits 1 for it either way)."""
    def failing(cfg):
        if cfg.variant.opt == "adamw" and cfg.variant.pos == "rope" and cfg.training.seed == 1337:
            return RuntimeError("CUDA out of memory\nsecond line")
        return tuned(cfg)

    code, md, printed = study(tmp_path, monkeypatch, capsys, failing, "--axes", "opt=sgd,adamw", "pos=learned,rope",
                              "--tune", "lr=1e-3,1e-2", "--tune-extend", "0", "--tune-seeds", "2", "--seeds", "4",
                              "--no-shared-default")
    assert code == 1
    failed = md.split("## Failed cells\n\n")[1].split("\n\n")[0].splitlines()
    assert failed == [f"- `layernorm-rope-default-adamw-lr={lr}-seed1337`: RuntimeError: CUDA out of memory"
                      for lr in ("0.001", "0.01")]
    assert "\n2 cells failed: see the report\n" in printed


def test_results_csv_names_its_mean_and_sd_by_the_metric_the_deltas_are_of(tmp_path, monkeypatch, capsys):
    """Under a switched metric every number of a row is of val_loss_full: the mean, the sd and the delta."""
    import csv

    assert study(tmp_path, monkeypatch, capsys, additive, "--axes", "opt=sgd,adamw", "pos=learned,rope",
                 "--seeds", "2")[0] == 0
    rows = list(csv.DictReader((tmp_path / "s" / "results.csv").open()))
    assert "val_loss_mean" not in rows[0] and "val_loss_sd" not in rows[0]
    best = next(r for r in rows if (r["opt"], r["pos"]) == ("adamw", "rope"))  # 2.75 and 2.77 on val_loss_full
    assert float(best["val_loss_full_mean"]) == pytest.approx(2.76)
    assert float(best["val_loss_full_sd"]) == pytest.approx(0.02 / math.sqrt(2))
    assert float(best["delta_vs_baseline"]) == pytest.approx(2.76 - 3.0)
