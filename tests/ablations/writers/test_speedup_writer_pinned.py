"""speedup.md and speedup.json (writers/speedup.py) pinned whole for made-up speed-ups: the reference's row named by
the summary, per-seed values sorted by seed with their bounds, the effects section only when there are effects."""
import json
import math
from pathlib import Path
from types import SimpleNamespace

from ablations.analysis.effects import Effect, Estimate
from ablations.analysis.speedup import SpeedUp
from ablations.writers import speedup as writer

REF = SpeedUp("", "POINT0", {1338: (1.0, "exact"), 1337: (1.0, "exact")}, Estimate(0.0, 0.0, 2))
ADAMW = SpeedUp("opt=adamw", "POINT1", {1338: (2.5, "exact"), 1337: (2.0, "exact")}, Estimate(math.log(2.25), 0.1, 2))
MUON = SpeedUp("opt=muon", "POINT2", {1337: (4.0, "at least"), 1338: (3.0, "exact")}, None)
EFFECTS = [Effect("opt: sgd -> adamw", Estimate(0.81, 0.05, 2), 1)]

INTRO = ("The reference point trained at {budgets} the study's steps, each run with its own full schedule ([its folder]"
         "({link}/results.md)). A variant's speed-up is the tokens the reference needs to reach its final val_loss_full "
         "(interpolated in log tokens) over the tokens it used: above 1, the variant gets there with less data. "
         "Geometric means with paired 95% intervals over seeds, on the log ratio; a loss outside the reference's "
         "budgets is a bound.")


def summary(root=Path("/r/study")):
    return SimpleNamespace(root=root, reference_label="baseline", metric="val_loss_full")


def test_speedup_md_names_the_reference_sorts_seeds_marks_bounds_and_adds_the_effects():
    text = writer.speedup_md(summary(), [REF, ADAMW, MUON], EFFECTS, Path("/r/study-budgets"), (0.5, 1.0, 2.0))
    assert text.split("\n") == [
        "# Speed-ups against the reference's budgets", "",
        INTRO.format(budgets="0.5x, 1x, 2x", link="../study-budgets"), "",
        "| variant   | speed-up (95% interval)   | per seed                            |",
        "|-----------|---------------------------|-------------------------------------|",
        "| baseline  | 1.00x (1.00-1.00)         | 1337: 1.00x, 1338: 1.00x            |",
        "| opt=adamw | 2.25x (2.04-2.49)         | 1337: 2.00x, 1338: 2.50x            |",
        "| opt=muon  | at least 3.00x            | 1337: 4.00x (at least), 1338: 3.00x |", "",
        "## Effects on log speed-up (positive: faster)", "",
        "| effect            | on log speed-up   | as a factor   |",
        "|-------------------|-------------------|---------------|",
        "| opt: sgd -> adamw | +0.8100 ± 0.0500  | 2.248x        |", ""]


def test_speedup_md_without_effects_stops_after_the_table():
    expected = [
        "# Speed-ups against the reference's budgets", "",
        INTRO.format(budgets="1x, 4x", link="budgets"), "",
        "| variant   | speed-up (95% interval)   | per seed                 |",
        "|-----------|---------------------------|--------------------------|",
        "| opt=adamw | 2.25x (2.04-2.49)         | 1337: 2.00x, 1338: 2.50x |", ""]
    for effects in (None, []):
        assert writer.speedup_md(summary(), [ADAMW], effects, Path("/r/study/budgets"), (1, 4)).split("\n") == expected


def per_seed(*items):
    return {str(seed): {"speedup": value, "kind": kind} for seed, value, kind in items}


def test_speedup_json_holds_every_speed_up_and_the_effects_or_null():
    assert json.loads(writer.speedup_json([REF, MUON], EFFECTS, Path("/r/b"))) == {
        "budgets_folder": "/r/b",
        "speedups": [
            {"point": "POINT0", "label": "", "text": "1.00x (1.00-1.00)", "bound": None,
             "log_speedup": {"value": 0.0, "ci95_half_width": 0.0, "seeds": 2},
             "per_seed": per_seed((1338, 1.0, "exact"), (1337, 1.0, "exact"))},
            {"point": "POINT2", "label": "opt=muon", "text": "at least 3.00x", "bound": "at least",
             "log_speedup": None, "per_seed": per_seed((1337, 4.0, "at least"), (1338, 3.0, "exact"))}],
        "effects_on_log_speedup": [{"name": "opt: sgd -> adamw", "value": 0.81, "ci95_half_width": 0.05, "seeds": 2}]}
    assert json.loads(writer.speedup_json([ADAMW], None, Path("/r/b"))) == {
        "budgets_folder": "/r/b",
        "speedups": [{"point": "POINT1", "label": "opt=adamw", "text": "2.25x (2.04-2.49)", "bound": None,
                      "log_speedup": {"value": math.log(2.25), "ci95_half_width": 0.1, "seeds": 2},
                      "per_seed": per_seed((1338, 2.5, "exact"), (1337, 2.0, "exact"))}],
        "effects_on_log_speedup": None}
    assert json.loads(writer.speedup_json([], [], Path("b")))["effects_on_log_speedup"] == []


def test_write_speedups_writes_both_files_into_the_study_folder(tmp_path):
    budgets = tmp_path / "budgets"
    writer.write_speedups(summary(tmp_path), [ADAMW, MUON], EFFECTS, budgets, (0.5, 2))
    assert (tmp_path / "speedup.md").read_text(encoding="utf-8") == writer.speedup_md(
        summary(tmp_path), [ADAMW, MUON], EFFECTS, budgets, (0.5, 2))
    assert (tmp_path / "speedup.json").read_text(encoding="utf-8") == writer.speedup_json(
        [ADAMW, MUON], EFFECTS, budgets)
    assert "[its folder](budgets/results.md)" in (tmp_path / "speedup.md").read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["speedup.json", "speedup.md"]
