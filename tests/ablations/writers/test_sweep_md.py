"""sweep.md and the sweep's console lines (ablations/writers/sweep.py, console.sweep_console) from a
hand-written sweep.json: every section, table and sentence, compared whole."""
import copy
from pathlib import Path

import pytest

from ablations.analysis.summary import SweepSummary
from ablations.writers.console import sweep_console
from ablations.writers.sweep import sweep_md

# Two stages on seeds 1337, 1338: lr (its current 0.0003 added to the grid, 0.001 with no finished cell,
# 0.01 on one seed, adopted at the top of its grid: an alarm), then pos (rope best but within noise:
# learned kept); lr changed, so the final comparison ran on the held-out seeds 1340, 1341.
RECORD = {
    "command": "python -m ablations.sweep --stage lr=1e-3,1e-2 --stage pos=learned,rope --seeds 2",
    "variant": "norm=layernorm,pos=learned,init=default,opt=adamw", "seeds": [1337, 1338],
    "final_seeds": [1340, 1341], "metric": "auto", "margin": 0.003,
    "start": {"lr": 0.0003, "pos": "learned"},
    "stages": [
        {"stage": 1, "axis": "lr", "folder": "stage1-lr", "levels": [0.0003, 0.001, 0.01], "current": 0.0003,
         "added_current": True, "metric": "val_loss", "means": {"0.0003": 2.5, "0.01": 2.3},
         "sds": {"0.0003": 0.01, "0.01": None}, "seeds_ok": {"0.0003": 2, "0.001": 0, "0.01": 1}, "best": 0.01,
         "winner": 0.01, "kept_current": False,
         "delta_best_vs_current": {"value": -0.2, "ci95_half_width": 0.05, "seeds": 2},
         "decision": "best lr 0.01 beyond noise: adopted",
         "alarms": ["lr: best at the top of its grid (0.01); extend it"]},
        {"stage": 2, "axis": "pos", "folder": "stage2-pos", "levels": ["learned", "rope"], "current": "learned",
         "added_current": False, "metric": "val_loss_full", "means": {"learned": 2.3, "rope": 2.29},
         "sds": {"learned": 0.02, "rope": 0.03}, "seeds_ok": {"learned": 2, "rope": 2}, "best": "rope",
         "winner": "learned", "kept_current": True, "delta_best_vs_current": None,
         "decision": "within noise, learned kept", "alarms": []},
    ],
    "chosen": {"lr": 0.01, "pos": "learned", "lr_scaling": "sqrt"},
    "final": {"folder": "final", "changed": ["lr"], "metric": "val_loss", "metric_note": "", "seeds": [1340, 1341],
              "delta": {"value": -0.15, "ci95_half_width": 0.04, "seeds": 2}},
    "complete": True,
}

SWEEP_MD = """\
# Staged sweep of `norm=layernorm,pos=learned,init=default,opt=adamw`: 2 stages, seeds 1337, 1338

Command: `python -m ablations.sweep --stage lr=1e-3,1e-2 --stage pos=learned,rope --seeds 2`

Start: lr 0.0003, pos learned. Chosen: lr 0.01, pos learned.

Each stage trains its axis with the earlier choices fixed and ranks by the mean metric over the seeds. \
The best value replaces the current one only when their paired difference is beyond noise (its 95% interval \
excludes 0) and not negligible (not inside ±0.003); a best value at the edge of its grid raises an alarm.

| stage   | axis   | values              | metric        | best   | Δ best vs current (95% CI)   | decision                           | alarm                                             |
|---------|--------|---------------------|---------------|--------|------------------------------|------------------------------------|---------------------------------------------------|
| 1       | lr     | 0.0003, 0.001, 0.01 | val_loss      | 0.01   | -0.2000 ± 0.0500             | best lr 0.01 beyond noise: adopted | lr: best at the top of its grid (0.01); extend it |
| 2       | pos    | learned, rope       | val_loss_full | rope   |                              | within noise, learned kept         |                                                   |

**Boundary alarms**: lr: best at the top of its grid (0.01); extend it.

## Stage 1: lr

Results folder: [stage1-lr](stage1-lr/results.md). Current value 0.0003 (added to the grid to compare against).

| lr            | val loss (mean ± sd)   | seeds   |
|---------------|------------------------|---------|
| 0.0003        | 2.5000 ± 0.0100        | 2       |
| 0.001         |                        | 0       |
| 0.01 (chosen) | 2.3000                 | 1       |

Decision: best lr 0.01 beyond noise: adopted. Alarm: lr: best at the top of its grid (0.01); extend it.

![sensitivity of stage 1](sensitivity_stage1_lr.png)

## Stage 2: pos

Results folder: [stage2-pos](stage2-pos/results.md). Current value learned.

| pos              | val loss (full coverage) (mean ± sd)   | seeds   |
|------------------|----------------------------------------|---------|
| learned (chosen) | 2.3000 ± 0.0200                        | 2       |
| rope (best)      | 2.2900 ± 0.0300                        | 2       |

Decision: within noise, learned kept.

## Chosen against start, on held-out seeds

Δ chosen − start = -0.1500 ± 0.0400 (val loss, 2 seeds: 1340, 1341; beyond noise). Results folder: [final](final/results.md).

## Chosen configuration

`--lr 0.01 --lr-scaling sqrt --variant norm=layernorm,pos=learned,init=default,opt=adamw`

```json
{
 "lr": 0.01,
 "pos": "learned",
 "lr_scaling": "sqrt"
}
```
"""


def summary_of(record=RECORD, **changes) -> SweepSummary:
    return SweepSummary(Path("sweep"), {**copy.deepcopy(record), **changes}, {})


def test_sweep_md_tells_each_stage_its_decision_the_final_comparison_and_the_flags_to_rerun_the_choice():
    """A reader of sweep.md relies on every part of it: which values each stage tried and how they
    fared (numbers as text, not reformatted), which alarm fired, chosen against start on held-out
    seeds, and the flags to rerun the choice: --lr-scaling with the lr it scales, and the sweep's whole variant."""
    assert sweep_md(summary_of(), {1: "sensitivity_stage1_lr.png"}) == SWEEP_MD


def test_a_sweep_with_no_alarm_and_no_finished_cell_says_so_and_that_the_final_comparison_has_not_run():
    """A sweep stopped after one stage: no boundary alarm is said in words, a stage with no finished cell
    shows no best and no mean, the final section says it has not run, and a member setting is rerun through
    --variant."""
    stage = {**RECORD["stages"][1], "means": {}, "sds": {}, "seeds_ok": {"learned": 0, "rope": 0}, "best": None,
             "kept_current": False, "decision": "no cell finished: the current value is kept"}
    config = {"pos": "learned", "weight_decay": 0.1, "opt.warmup": 0.2}  # a member setting goes in the variant
    summary = summary_of(stages=[stage], start=config, chosen=config, final=None, seeds=[1337], margin=0.0,
                         complete=False)
    assert sweep_md(summary, {}) == """\
# Staged sweep of `norm=layernorm,pos=learned,init=default,opt=adamw`: 1 stage, seeds 1337

Command: `python -m ablations.sweep --stage lr=1e-3,1e-2 --stage pos=learned,rope --seeds 2`

Start: pos learned, weight-decay 0.1, opt.warmup 0.2. Chosen: pos learned, weight-decay 0.1, opt.warmup 0.2.

Each stage trains its axis with the earlier choices fixed and ranks by the mean metric over the seeds. \
The best value replaces the current one only when their paired difference is beyond noise (its 95% interval \
excludes 0) and not negligible (not inside ±0); a best value at the edge of its grid raises an alarm.

| stage   | axis   | values        | metric        | best   | Δ best vs current (95% CI)   | decision                                    | alarm   |
|---------|--------|---------------|---------------|--------|------------------------------|---------------------------------------------|---------|
| 2       | pos    | learned, rope | val_loss_full |        |                              | no cell finished: the current value is kept |         |

No boundary alarm: every best value lies inside its grid.

## Stage 2: pos

Results folder: [stage2-pos](stage2-pos/results.md). Current value learned.

| pos              | val loss (full coverage) (mean ± sd)   | seeds   |
|------------------|----------------------------------------|---------|
| learned (chosen) |                                        | 0       |
| rope             |                                        | 0       |

Decision: no cell finished: the current value is kept.

## Chosen against start, on held-out seeds

Not run yet.

## Chosen configuration

`--weight-decay 0.1 --variant norm=layernorm,pos=learned,init=default,opt=adamw,opt.warmup=0.2`

```json
{
 "pos": "learned",
 "weight_decay": 0.1,
 "opt.warmup": 0.2
}
```
"""


FINAL = RECORD["final"]


@pytest.mark.parametrize("final, section", [
    ({"folder": None, "changed": [], "note": "every stage kept its current value: nothing to compare"},
     "every stage kept its current value: nothing to compare.\n"),
    ({**FINAL, "delta": None}, "No seed of 1340, 1341 has both cells finished.\n"),
    ({**FINAL, "seeds": [1340], "delta": {"value": 0.02, "ci95_half_width": None, "seeds": 1}},
     "Δ chosen − start = +0.0200 (val loss, 1 seed: 1340; one seed: no interval). "
     "Results folder: [final](final/results.md).\n"),
    ({**FINAL, "metric": "val_loss_full", "metric_note": "Ranked by val loss (full coverage): coverage differs.",
      "seeds": [1340, 1341, 1342], "delta": {"value": -0.001, "ci95_half_width": 0.0005, "seeds": 3}},
     "Δ chosen − start = -0.00100 ± 0.00050 (val loss (full coverage), 3 seeds: 1340, 1341, 1342; negligible "
     "(inside ±0.003)). Results folder: [final](final/results.md).\n\n"
     "Ranked by val loss (full coverage): coverage differs.\n"),
])
def test_the_final_section_says_what_the_held_out_comparison_found_or_why_there_is_none(final, section):
    """chosen − start on the held-out seeds, its seeds listed and its verdict; or why it has no number."""
    text = sweep_md(summary_of(final=final), {})
    found = text.split("## Chosen against start, on held-out seeds\n\n")[1].split("## Chosen configuration")[0]
    assert found == section + "\n"


def test_the_sweep_console_lines_name_each_stages_decision_the_final_delta_and_the_choice():
    """What a sweep prints at its end: each stage's decision and alarm, chosen against start, the choice."""
    assert sweep_console(summary_of(), "runs/sweep/sweep.md") == """\
sweep of norm=layernorm,pos=learned,init=default,opt=adamw: 2 stages over seeds 1337, 1338
  stage 1 lr: best lr 0.01 beyond noise: adopted ALARM: lr: best at the top of its grid (0.01); extend it
  stage 2 pos: within noise, learned kept
Chosen against start on held-out seeds 1340, 1341: -0.1500 ± 0.0400 (beyond noise)
Chosen: lr 0.01, pos learned, lr-scaling sqrt
Full report: runs/sweep/sweep.md
"""
    kept = summary_of(final={"folder": None, "changed": [], "note": "every stage kept its current value: nothing to "
                                                                    "compare"}, stages=RECORD["stages"][1:])
    assert sweep_console(kept, "sweep.md").splitlines()[1:3] == [
        "  stage 2 pos: within noise, learned kept", "every stage kept its current value: nothing to compare"]
    one_seed = summary_of(final={**FINAL, "seeds": [1340], "delta": {"value": 0.02, "ci95_half_width": None,
                                                                     "seeds": 1}})
    assert sweep_console(one_seed, "sweep.md").splitlines()[3] == \
        "Chosen against start on held-out seeds 1340: +0.0200 (one seed)"


def test_the_chosen_variant_is_the_sweeps_whole_variant_with_the_chosen_members_in_their_places():
    from ablations.writers.sweep import chosen_variant

    variant = "norm=layernorm,pos=learned,init=default,opt=adamw"
    assert chosen_variant(variant, {"pos": "rope", "norm.eps": 1e-6}) == \
        "norm=layernorm,pos=rope,init=default,opt=adamw,norm.eps=1e-06"
    assert chosen_variant(variant, {}) == variant
    assert chosen_variant("", {}) == "baseline" and chosen_variant("", {"pos": "rope"}) == "pos=rope"
