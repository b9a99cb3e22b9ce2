"""ladder.md pinned whole (writers/ladder.ladder_md and its tables) for a small made-up ladder: a rung not trained,
n/a cells, Holm p-values, a backtest with a predictor that predicted nothing, the tuned section, the path paragraph;
and what write_ladder writes."""
import dataclasses
import json
from pathlib import Path

from ablations.analysis.backtest import Check, Rung, Score
from ablations.analysis.predictors import Measured, Prediction
from ablations.analysis.scaling import Finding, LadderSummary
from ablations.writers import ladder as ladder_writer

R1 = Rung(1, {"n_layer": 1, "d_model": 32}, "rung1", 1.234e12, {}, reference=Measured(3.21, 0.01, 2),
          tuned={"opt=adamw": "0.001", "pos=rope": "0.003"})
R2 = Rung(2, {"n_layer": 2, "d_model": 64}, "rung2", 2.5e13, {}, reference=None,
          tuned={"opt=adamw": "0.001", "pos=rope": "0.01 (edge)", "act=gelu": "0.03"})
PLANNED = [{"settings": r.settings, "folder": r.folder} for r in (R1, R2)] + [
    {"settings": {"n_layer": 3, "d_model": 128}, "folder": "rung3"}]
ADAMW = Finding("opt: adamw", [Measured(-0.1, 0.01, 2), Measured(-0.2, 0.02, 2)],
                {"largest rung": Prediction(-0.2, -0.25, -0.15, 0.01),
                 "line in log compute": Prediction(-0.31, -0.41, -0.22, 0.02), "compute multiplier": None},
                "line in log compute", 0.0123, "grows")
ROPE = Finding("pos: rope", [None, Measured(0.05, 0.01, 2)], {"largest rung": Prediction(0.05, 0.0, 0.1, 0.1)},
               "largest rung", None, "cannot tell")
MISSED = Check("largest rung", "opt: adamw", 2, Prediction(0.1, 0.05, 0.15, 0.01), Measured(-0.2, 0.01, 2))
COVERED = Check("largest rung", "pos: rope", 2, Prediction(0.04, 0.0, 0.1, 0.3), Measured(0.05, 0.001, 2))
SCORES = {"largest rung": Score("largest rung", (MISSED, COVERED), 0.0765),
          "line in log compute": Score("line in log compute", (), None)}


def ladder(root=Path(".")):
    return LadderSummary(root=root, axes=["n_layer", "d_model"], rungs=[R1, R2], planned=PLANNED, target=3.3e15,
                         metric="val_loss", margin=0.005, findings=[ADAMW, ROPE], scores=SCORES,
                         choice=("largest rung", "it backtested best"))


EXPECTED = """# Ladder over n_layer, d_model

The same study at each rung, moving n_layer, d_model; each rung is an ordinary results folder.

| rung   | settings               | results                   | training FLOPs per run   | reference val_loss   |
|--------|------------------------|---------------------------|--------------------------|----------------------|
| 1      | n_layer=1, d_model=32  | [rung1](rung1/results.md) | 1.23e+12                 | 3.2100               |
| 2      | n_layer=2, d_model=64  | [rung2](rung2/results.md) | 2.5e+13                  | n/a                  |
| 3      | n_layer=3, d_model=128 | not trained               | n/a                      | n/a                  |

Findings are differences in val_loss (95% intervals over seeds). The measured rungs span 1.31 decades of compute; the target lies 2.12 decades beyond the largest.

| finding    | rung 1           | rung 2           | at 3.3e+15 FLOPs (95%)     | predictor           | p (Holm)   | verdict     |
|------------|------------------|------------------|----------------------------|---------------------|------------|-------------|
| opt: adamw | -0.1000 ± 0.0430 | -0.2000 ± 0.0861 | -0.3100 [-0.4100, -0.2200] | line in log compute | 0.012      | grows       |
| pos: rope  | n/a              | +0.0500 ± 0.0430 | +0.0500 [+0.0000, +0.1000] | largest rung        | n/a        | cannot tell |

Verdicts at the target, from the predictor named: negligible (the whole 95% interval inside ±0.005), holds (beyond noise, Holm-adjusted over the ladder's findings, with the largest rung's sign), grows / shrinks (and clearly farther from / closer to zero than the largest rung), flips sign, fades (the largest rung's effect was clear, the prediction cannot be told from zero and is clearly smaller), cannot tell (anything else, or a tuned pick still at an end of its candidates).

## How well each predictor did on this ladder

Each finding at each rung predicted from the rungs below it. Coverage counts a prediction as right when its 95% interval, widened by the measurement's own, holds the measurement; decision accuracy is the share of pairs of findings at a rung whose order the predictions got right.

| predictor           | predictions   | mean abs error   | largest rung's, same predictions   | 95% coverage   | sign agreement   | decision accuracy   |
|---------------------|---------------|------------------|------------------------------------|----------------|------------------|---------------------|
| largest rung        | 2             | 0.1550           | 0.0765                             | 50%            | 50%              | 0%                  |
| line in log compute | 0             | n/a              | n/a                                | n/a            | n/a              | n/a                 |

**The verdicts use largest rung**: it backtested best.

![Each finding against compute](ladder.png)

## Every predictor at 3.3e+15 FLOPs

| finding    | largest rung               | line in log compute        | compute multiplier   |
|------------|----------------------------|----------------------------|----------------------|
| opt: adamw | -0.2000 [-0.2500, -0.1500] | -0.3100 [-0.4100, -0.2200] | n/a                  |
| pos: rope  | +0.0500 [+0.0000, +0.1000] | n/a                        | n/a                  |

## The tuned value at each rung

Each variant's pick on its tuning seeds at each rung; 1 of 3 chose the same value at every rung. "(edge)": the best was still at an end of the candidates after extending them, so the optimum may lie beyond.

| variant   | rung 1   | rung 2      |
|-----------|----------|-------------|
| opt=adamw | 0.001    | 0.001       |
| pos=rope  | 0.003    | 0.01 (edge) |
| act=gelu  | n/a      | 0.03        |

## Every backtest prediction

| predictor    | finding    | rung predicted   | predicted [95%]            | measured ± 95%   | agrees   |
|--------------|------------|------------------|----------------------------|------------------|----------|
| largest rung | opt: adamw | 2                | +0.1000 [+0.0500, +0.1500] | -0.2000 ± 0.0430 | no       |
| largest rung | pos: rope  | 2                | +0.0400 [+0.0000, +0.1000] | +0.0500 ± 0.0043 | yes      |
"""

PATH_PARAGRAPH = ("The rungs walk toward the `modern` preset from n_layer=1, d_model=32: double d_model. Each rung is an "
                  "ordinary results folder; the last rung of the path is the target run itself.")


def test_ladder_md_is_pinned_whole_with_its_tuned_section_and_the_plot():
    assert ladder_writer.ladder_md(ladder(), True) == EXPECTED


def test_a_path_ladder_without_compute_or_tuning_or_plot_reads_so():
    """The path paragraph instead of the axes one, n/a (and a zero) for compute, no decades sentence, no image, no
    tuned section."""
    walked = dataclasses.replace(
        ladder(), path={"toward": "modern", "start": {"n_layer": 1, "d_model": 32}, "rule": "double d_model"},
        rungs=[dataclasses.replace(R1, compute=None, tuned={}), dataclasses.replace(R2, compute=0.0, tuned={})])
    lines = EXPECTED.split("\n")
    lines[2] = PATH_PARAGRAPH
    lines[6] = lines[6].replace("1.23e+12", "n/a     ")
    lines[7] = lines[7].replace("2.5e+13", "0      ")
    lines[10] = "Findings are differences in val_loss (95% intervals over seeds)."
    lines[30] = ""
    tuned_start = lines.index("## The tuned value at each rung")
    del lines[tuned_start:tuned_start + 10]
    assert ladder_writer.ladder_md(walked, False) == "\n".join(lines)


def test_the_pieces_read_n_a_when_missing():
    assert ladder_writer.rung_label({}) == ""
    assert ladder_writer.rung_label({"a": 1, "b": "x"}) == "a=1, b=x"
    assert ladder_writer.measured_text(None) == "n/a"
    assert ladder_writer.measured_text(Measured(0.12345, 0.001, 2)) == "+0.1235 ± 0.0043"
    assert ladder_writer.prediction_text(None) == "n/a"
    assert ladder_writer.prediction_text(Prediction(-0.5, -0.75, 0.25, 0.5)) == "-0.5000 [-0.7500, +0.2500]"
    assert ladder_writer.percent(None) == "n/a"
    assert ladder_writer.percent(0.0) == "0%"
    assert ladder_writer.percent(0.666) == "67%"
    assert ladder_writer.percent(1.0) == "100%"
    assert ladder_writer.number(None) == "n/a"
    assert ladder_writer.number(0.0) == "0.0000"
    assert ladder_writer.number(1.23456) == "1.2346"
    assert ladder_writer.tuned_section(dataclasses.replace(ladder(), rungs=[R1])) == [
        "## The tuned value at each rung", "",
        "Each variant's pick on its tuning seeds at each rung; 2 of 2 chose the same value at every rung. \"(edge)\": "
        "the best was still at an end of the candidates after extending them, so the optimum may lie beyond.", "",
        "| variant   | rung 1   |\n|-----------|----------|\n| opt=adamw | 0.001    |\n| pos=rope  | 0.003    |", ""]
    assert ladder_writer.tuned_section(dataclasses.replace(ladder(), rungs=[])) == []


def test_write_ladder_writes_the_json_the_markdown_and_the_plot_only_when_asked(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(ladder_writer, "plot_ladder", lambda ladder, path: drawn.append((ladder, path)))
    summary = ladder(tmp_path)
    assert ladder_writer.write_ladder(summary, True) == EXPECTED
    assert drawn == [(summary, tmp_path / "ladder.png")]
    assert (tmp_path / "ladder.md").read_text(encoding="utf-8") == EXPECTED
    assert json.loads((tmp_path / "ladder.json").read_text(encoding="utf-8")) == json.loads(
        json.dumps(summary.as_dict()))
    drawn.clear()
    (tmp_path / "ladder.md").unlink()
    text = ladder_writer.write_ladder(summary, False)
    assert drawn == [] and text == ladder_writer.ladder_md(summary, False) != EXPECTED
    assert (tmp_path / "ladder.md").read_text(encoding="utf-8") == text
    assert not (tmp_path / "ladder.png").exists()


def test_the_console_counts_measured_of_planned_rungs_and_names_the_predictor_reason():
    text = ladder_writer.ladder_console(ladder(Path("out")), False)
    assert text == ("ladder over n_layer, d_model: 2 of 3 rungs measured; predicted at 3.3e+15 FLOPs\n"
                    "  opt: adamw" + " " * 34 + " -0.3100 [-0.4100, -0.2200]" + " " * 9 + "grows\n"
                    "  pos: rope" + " " * 35 + " +0.0500 [+0.0000, +0.1000]" + " " * 9 + "cannot tell\n"
                    "Predictor: it backtested best\n"
                    "Full report: out/ladder.md (and ladder.json)\n")


def test_why_the_ladder_ranks_by_another_metric_is_said_under_the_findings_sentence():
    note = "The rungs score 12.0% to 80.0% of their val text with the reference metric, so the ladder compares val_loss_full."
    text = ladder_writer.ladder_md(dataclasses.replace(ladder(), metric_note=note), False)
    findings = next(line for line in text.split("\n") if line.startswith("Findings are differences"))
    assert f"{findings}\n\n{note}\n\n| finding" in text
    assert note not in ladder_writer.ladder_md(ladder(), False)
