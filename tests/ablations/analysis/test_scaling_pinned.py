"""ablations/analysis/scaling.py pinned whole: the committed ladders re-read to their ladder.json, each
helper's full output on small hand-made inputs, and every verdict's boundaries."""
import dataclasses
import json
import math
import statistics
from pathlib import Path
from types import SimpleNamespace as NS

import pytest

from ablations.analysis import scaling
from ablations.analysis.backtest import Rung, predict
from ablations.analysis.effects import DEFAULT_MARGIN, Estimate, holm_adjust
from ablations.analysis.predictors import BASELINE, PREDICTORS, Measured, Prediction, t975
from ablations.analysis.scaling import Finding, verdict
from ablations.study.axes import Point
from ablations.study.study import ReportOptions

DOCS = Path(__file__).resolve().parents[3] / "docs"
PATH_NOTE = ("The rungs score 96.5% to 97.0% of their val text with the reference metric, so the ladder compares "
             "val_loss_full, which scores every val token once.")


def test_the_reference_run_is_6n_plus_12ltd_flops_per_token_over_994_steps_of_64_by_128_tokens():
    assert scaling.REFERENCE_RUN_FLOPS == (6 * 27_172_864 + 12 * 6 * 128 * 512) * 994 * 64 * 128 == 1366009785090048
    assert scaling.VERDICTS == ("negligible", "holds", "grows", "shrinks", "flips sign", "fades", "cannot tell")


@pytest.mark.parametrize("name", ["ladder-path", "ladder-modern-tuned", "ladder-modern-mup"])
def test_every_committed_ladder_reads_again_to_its_ladder_json(name):
    """A factorial path ladder (largest rung chosen), a tuned one whose reference sits at an edge on rung 1
    (the line chosen: every finding tainted), and an untuned one with its speed-up-free effects."""
    ladder = scaling.read_ladder(DOCS / name)
    committed = json.loads((DOCS / name / "ladder.json").read_text())
    assert json.loads(json.dumps(ladder.as_dict())) == committed
    assert ladder.compute == [r["flops"] for r in committed["measured_rungs"]]
    assert [r.metric for r in ladder.rungs] == [committed["metric"]] * len(ladder.rungs)
    assert ladder.metric_note == {"ladder-path": PATH_NOTE}.get(name, "")  # why, kept from the run that chose


def test_the_committed_path_ladder_s_rungs_read_their_reference_loss_compute_and_no_taint():
    ladder = scaling.read_ladder(DOCS / "ladder-path")
    assert [(r.index, r.compute, r.reference, r.tainted, r.metric) for r in ladder.rungs] == [
        (1, 318467481600.0, Measured(2.126544026167563, 0.007722413097574666, 3), frozenset(), "val_loss_full"),
        (2, 1047202490880.0, Measured(1.9707211947698573, 0.007451942257975659, 3), frozenset(), "val_loss_full"),
        (3, 3292176752640.0, Measured(1.8377424975108267, 0.021497780184927328, 3), frozenset(), "val_loss_full")]
    tuned = scaling.read_ladder(DOCS / "ladder-modern-tuned")
    assert [r.reference for r in tuned.rungs] == [Measured(2.0984624771783498, 0.009057678435154592, 2),
                                                  Measured(2.0852241408012406, 0.02159984282879166, 2),
                                                  Measured(2.05150691248093, 0.03115782578031082, 2)]
    assert [r.tainted for r in tuned.rungs] == [frozenset(tuned.rungs[0].findings), frozenset(tuned.rungs[1].findings),
                                                frozenset(tuned.rungs[2].findings)]
    assert len(tuned.rungs[0].findings) == 14


def test_a_ladder_left_to_choose_its_metric_and_margin_picks_val_loss_full_and_the_default_margin_and_says_why():
    committed = json.loads((DOCS / "ladder-path" / "ladder.json").read_text())
    spec = {k: committed[k] for k in ("axes", "rungs", "target_flops", "path")}
    ladder = scaling.summarise_ladder(DOCS / "ladder-path", spec)
    assert (ladder.metric, ladder.margin, ladder.metric_note) == ("val_loss_full", DEFAULT_MARGIN, PATH_NOTE)
    assert json.loads(json.dumps(ladder.as_dict())) == committed  # every finding recomputed on val_loss_full
    assert ladder.root == DOCS / "ladder-path" and ladder.planned == committed["rungs"]


def test_a_one_rung_ladder_says_beside_every_verdict_that_nothing_was_backtested():
    committed = json.loads((DOCS / "ladder-path" / "ladder.json").read_text())
    spec = {**committed, "rungs": committed["rungs"][:1]}
    ladder = scaling.summarise_ladder(DOCS / "ladder-path", spec)
    assert ladder.choice == ("largest rung", "too few rungs to backtest any predictor: the largest rung, as is, "
                                             "not backtested")
    verdicts = [f.verdict for f in ladder.findings]
    assert verdicts[:3] == ["cannot tell (not backtested: too few rungs)", "holds (not backtested: too few rungs)",
                            "holds (not backtested: too few rungs)"]
    assert len(verdicts) == 14 and all(v.endswith(" (not backtested: too few rungs)") for v in verdicts)
    assert [r.index for r in ladder.rungs] == [1]


def test_a_rung_folder_is_summarised_with_the_metric_and_margin_given_a_sweep_as_a_sweep_and_else_none(tmp_path):
    from ablations.analysis.summary import SweepSummary

    folder = DOCS / "ladder-path" / json.loads((DOCS / "ladder-path" / "ladder.json").read_text())["rungs"][0]["folder"]
    summary = scaling.rung_summary(folder, "val_bpb", 0.5)
    assert (summary.options, summary.metric, summary.root) == (ReportOptions(metric="val_bpb", margin=0.5), "val_bpb",
                                                               folder)
    sweep = scaling.rung_summary(DOCS / "sweep-cpu", "val_loss", 0.003)
    assert type(sweep) is SweepSummary and sweep.final_estimate().n_seeds == 3
    assert scaling.rung_summary(tmp_path, "val_loss", 0.003) is None


def test_the_ladder_metric_is_the_one_asked_for_else_val_loss_full_when_the_rungs_score_different_shares():
    def summary(coverages, metric="val_loss", full=2.0, failed=()):
        records = [{"status": "ok", "val_coverage": c, "val_loss_full": full} for c in coverages]
        return NS(metric=metric, records=records + [{"status": "failed", "val_loss_full": None, **f} for f in failed])

    low, high = summary([0.90, 0.85, 0.99]), summary([0.95, 0.951], failed=[{"val_coverage": 0.1}])
    assert scaling.ladder_metric([low, high], "val_bpb") == ("val_bpb", "")
    assert scaling.ladder_metric([low, NS(metric="val_loss_full", records=[{"status": "ok", "val_loss_full": 2.0}]), high], "auto") == (
        "val_loss_full", "The rungs score 90.0% to 95.0% of their val text with the reference metric, so the ladder "
                         "compares val_loss_full, which scores every val token once.")
    # Shares that agree to 0.1% (a rung's median), or a finished cell without val_loss_full: the rungs' metric.
    assert scaling.ladder_metric([summary([0.9]), summary([0.9005], metric="val_bpb")], "auto") == ("val_loss", "")
    assert scaling.ladder_metric([low, summary([0.95], full=None)], "auto") == ("val_loss", "")
    assert scaling.ladder_metric([NS(), summary([0.9], metric="val_bpb")], "auto") == ("val_bpb", "")
    assert scaling.ladder_metric([NS()], "auto") == ("val_loss", "")  # sweeps: no records, no metric


def test_a_cells_flops_and_a_rungs_median_over_its_finished_cells():
    record = {"flops_per_token": 1e6, "steps": 10, "batch_size": 8, "block_size": 32}
    assert scaling.tokens_trained(record) == 2560
    assert scaling.run_flops({**record, "steps": 0}) is None and scaling.run_flops({**record, "flops_per_token": 0}) is None
    assert scaling.run_flops({k: v for k, v in record.items() if k != "steps"}) is None
    records = [{**record, "status": "ok", "steps": 10}, {**record, "status": "ok", "steps": 30},
               {**record, "status": "ok", "steps": 20}, {**record, "status": "diverged", "steps": 1000},
               {**record, "status": "ok", "flops_per_token": None}]
    assert scaling.rung_compute(records) == 1e6 * 20 * 8 * 32
    assert scaling.rung_compute(records[:2]) == 1e6 * 20 * 8 * 32  # the median of two: their mean


def test_a_measurement_with_two_seeds_and_an_sd_reads_its_standard_error_from_the_sd():
    assert scaling.measured(Estimate(0.1, 0.3, 2, sd=0.02)) == Measured(0.1, 0.02 / math.sqrt(2), 1)
    assert scaling.measured(Estimate(0.1, None, 5, sd=0.02)) is None


def test_the_reference_loss_is_the_reference_rows_finite_losses_with_their_standard_error():
    def ok(*losses):
        return [{"val_loss": v} for v in losses]

    row = NS(ok=ok(2.0, 2.2, float("nan"), None, 2.4) + [{}])
    assert scaling.reference_loss(NS(metric="val_loss", reference=row)) == Measured(
        statistics.fmean([2.0, 2.2, 2.4]), statistics.stdev([2.0, 2.2, 2.4]) / math.sqrt(3), 2)
    assert scaling.reference_loss(NS(metric="val_loss", reference=NS(ok=ok(2.0, 2.5)))) == Measured(
        2.25, statistics.stdev([2.0, 2.5]) / math.sqrt(2), 1)
    assert scaling.reference_loss(NS(metric="val_loss", reference=NS(ok=ok(2.0, float("inf"))))) is None


def test_without_a_reference_row_the_reference_loss_is_the_mean_over_rows_seed_by_seed_where_every_row_finished():
    rows = [NS(ok=[{"seed": 1, "val_loss": 2.0}, {"seed": 2, "val_loss": 2.2}, {"seed": 3, "val_loss": 2.1},
                   {"seed": 4, "val_loss": 9.0}]),
            NS(ok=[{"seed": 1, "val_loss": 2.4}, {"seed": 2, "val_loss": 2.8}, {"seed": 3, "val_loss": None}])]
    summary = NS(metric="val_loss", reference=None, rows=rows, seeds=[1, 2, 3, 4])
    means = [statistics.fmean([2.0, 2.4]), statistics.fmean([2.2, 2.8])]
    assert scaling.reference_loss(summary) == Measured(statistics.fmean(means), statistics.stdev(means) / math.sqrt(2), 1)
    assert scaling.reference_loss(NS(metric="val_loss", reference=None, rows=rows, seeds=[1, 3, 4])) is None


ADAMW, MUON, BASE = Point.parse("opt=adamw"), Point.parse("opt=muon"), Point()
NAMES = ["opt=adamw vs baseline", "opt=muon vs baseline", "opt=adamw, norm=rmsnorm vs baseline",
         "log speed-up: opt=adamw", "log speed-up: opt=muon", "opt: sgd -> adamw"]


def tuned_summary(alarms, effects=None, reference=BASE, chosen=None):
    tuning = NS(alarms=alarms, chosen=chosen or {})
    return NS(tuning=tuning, effects=effects, reference=None if reference is None else NS(point=reference),
              references={})


def test_findings_resting_on_a_pick_at_an_edge_are_that_variants_deltas_and_speedups_or_every_one():
    assert scaling.tainted(NS(tuning=None, effects=["e"]), NAMES) == frozenset()
    assert scaling.tainted(tuned_summary({ADAMW: None, BASE: None}, effects=["e"]), NAMES) == frozenset()
    only_adamw = frozenset({"opt=adamw vs baseline", "log speed-up: opt=adamw"})
    assert scaling.tainted(tuned_summary({ADAMW: "high", MUON: None, BASE: None}), NAMES) == only_adamw
    assert scaling.tainted(tuned_summary({ADAMW: "high"}, reference=None), NAMES) == only_adamw
    assert scaling.tainted(tuned_summary({ADAMW: None, BASE: "low"}), NAMES) == frozenset(NAMES)
    assert scaling.tainted(tuned_summary({ADAMW: "high"}, effects=["e"]), NAMES) == frozenset(NAMES)


def test_tuned_values_are_each_variants_pick_marked_at_an_edge():
    assert scaling.tuned_values(NS(tuning=None, references={})) == {}
    summary = tuned_summary({ADAMW: "high", BASE: None}, chosen={BASE: 0.001, ADAMW: 0.01, MUON: 0.0316})
    assert scaling.tuned_values(summary) == {"baseline": "0.001", "opt=adamw": "0.01 (edge)", "opt=muon": "0.0316"}


def test_a_rung_finds_its_effects_else_each_rows_delta_against_the_reference():
    e1, e2 = Estimate(-0.1, 0.02, 3), Estimate(0.05, 0.01, 3)
    assert scaling.differences_of(NS(effects=[NS(name="opt: sgd -> adamw", estimate=e1), NS(name="b", estimate=e2)])) \
        == {"opt: sgd -> adamw": e1, "b": e2}
    rows = [NS(label="baseline", delta=None), NS(label="opt=adamw", delta=e1), NS(label="opt=muon", delta=e2)]
    assert scaling.differences_of(NS(effects=[], rows=rows, reference_label="reference")) == {
        "opt=adamw vs reference": e1, "opt=muon vs reference": e2}


def test_speedups_are_read_from_speedup_json_skipping_the_unlabelled_and_the_unmeasured(tmp_path):
    assert scaling.speedups_of(tmp_path) == {}
    entry = {"value": 0.69, "ci95_half_width": 0.1, "seeds": 3}
    (tmp_path / "speedup.json").write_text(json.dumps({"speedups": [
        {"label": "opt=adamw", "log_speedup": entry}, {"label": "", "log_speedup": entry},
        {"label": "opt=muon", "log_speedup": None}, {"label": "opt=lion"},
        {"label": "norm=rmsnorm", "log_speedup": {"value": -0.2, "ci95_half_width": None, "seeds": 1}}]}))
    assert scaling.speedups_of(tmp_path) == {"log speed-up: opt=adamw": Estimate(0.69, 0.1, 3),
                                             "log speed-up: norm=rmsnorm": Estimate(-0.2, None, 1)}


def test_the_tuned_table_lists_every_variant_with_none_where_a_rung_did_not_tune_it():
    ladder = scaling.read_ladder(DOCS / "ladder-modern-mup")
    rungs = [dataclasses.replace(ladder.rungs[0], tuned={"baseline": "0.01", "opt=muon": "0.1 (edge)"}),
             dataclasses.replace(ladder.rungs[1], tuned={}),
             dataclasses.replace(ladder.rungs[2], tuned={"norm=rmsnorm": "0.03", "baseline": "0.003"})]
    assert dataclasses.replace(ladder, rungs=rungs).tuned == {"baseline": ["0.01", None, "0.003"],
                                                              "opt=muon": ["0.1 (edge)", None, None],
                                                              "norm=rmsnorm": [None, None, "0.03"]}


# --- verdicts -----------------------------------------------------------------------------------------------


def m(value, half=0.002, df=3):
    return Measured(value, half / t975(df), df)


def judged(prediction, largest, p=None, margin=0.003):
    f = Finding("x", [largest], {BASELINE: prediction} if prediction else {}, BASELINE, p, "")
    return verdict(f, largest, tainted=False, margin=margin)


def test_a_finding_nobody_could_predict_cannot_be_told():
    assert judged(None, m(-0.1), 0.001) == "cannot tell"


def test_grows_and_shrinks_weigh_the_side_of_a_lopsided_interval_that_faces_the_largest_rung():
    # The interval's short side faces the largest rung: apart (the long side would have covered it).
    assert judged(Prediction(-0.20, -0.30, -0.19, 0.001), m(-0.10), 0.001) == "grows"
    assert judged(Prediction(-0.05, -0.06, 0.05, 0.001), m(-0.10), 0.001) == "shrinks"
    # The long side faces it: not apart.
    assert judged(Prediction(-0.20, -0.21, -0.10, 0.001), m(-0.12), 0.001) == "holds"
    assert judged(Prediction(-0.05, -0.15, -0.04, 0.001), m(-0.10), 0.001) == "holds"


def test_beyond_noise_is_a_holm_p_strictly_below_alpha_and_none_is_not_beyond_noise():
    assert judged(Prediction(-0.10, -0.11, -0.09, 0.05), m(-0.10), 0.05) == "cannot tell"
    assert judged(Prediction(-0.10, -0.11, -0.09, 0.0499), m(-0.10), 0.0499) == "holds"
    assert judged(Prediction(-0.01, -0.03, 0.01, 0.4), m(-0.10), None) == "fades"


def test_negligible_includes_an_interval_ending_exactly_at_the_margin():
    assert judged(Prediction(0.0, -0.003, 0.003, 0.9), m(0.05), 0.9) == "negligible"
    assert judged(Prediction(0.0, -0.003, 0.0031, 0.9), m(0.001), 0.9) == "cannot tell"
    assert judged(Prediction(0.0, -0.0031, 0.003, 0.9), m(0.001), 0.9) == "cannot tell"
    assert judged(Prediction(0.0, -0.001, 0.001, 0.9), m(0.001), 0.9, margin=0.0) == "cannot tell"


def test_a_finding_fades_only_where_the_largest_rung_was_beyond_its_own_interval():
    # Closer to zero and apart, but the largest rung's own interval held zero: nothing faded.
    assert judged(Prediction(0.009, 0.0089, 0.0091, 0.4), m(-0.01, half=0.015), 0.4, margin=0.0) == "cannot tell"
    assert judged(Prediction(0.009, 0.0089, 0.0091, 0.4), m(-0.02, half=0.015), 0.4, margin=0.0) == "fades"
    # Not closer to zero: nothing faded either.
    assert judged(Prediction(-0.2, -0.21, -0.19, 0.4), m(-0.1), 0.4) == "cannot tell"


# --- findings at the target --------------------------------------------------------------------------------


def ladder_rungs():
    """Out of compute order; rung 4 has no compute (its measurements are never used); finding B is
    measured on the smallest rung only; A rests on an edge at the middle rung, C at the largest."""
    r1 = Rung(1, {"d_model": 16}, "r1", 1e12, {"A": m(-0.05), "B": m(0.02), "C": m(0.03)}, m(3.0, 0.01))
    r2 = Rung(2, {"d_model": 32}, "r2", 4e12, {"A": m(-0.08), "B": None, "C": m(0.031)}, m(2.9, 0.01),
              tainted=frozenset({"A"}))
    r3 = Rung(3, {"d_model": 64}, "r3", 1.6e13, {"A": m(-0.11), "B": None, "C": m(0.03)}, m(2.8, 0.01),
              tainted=frozenset({"C"}))
    r4 = Rung(4, {"d_model": 128}, "r4", None, {"A": m(+0.5), "D": m(0.2)}, m(2.7, 0.01))
    return [r3, r1, r4, r2]


@pytest.mark.parametrize("chosen, verdicts", [
    (BASELINE, {"A": "holds", "B": "holds", "C": "cannot tell (a tuned pick at an end)", "D": "cannot tell"}),
    ("line in log compute", {"A": "cannot tell (a tuned pick at an end)", "B": "holds",
                             "C": "cannot tell (a tuned pick at an end)", "D": "cannot tell"}),
])
def test_each_finding_is_predicted_by_every_predictor_judged_by_the_chosen_one_or_the_largest_rung(chosen, verdicts):
    rungs, target = ladder_rungs(), 1e15
    found = scaling.findings_at_target(rungs, target, 0.003, chosen)
    names = ["A", "B", "C", "D"]
    predictions = {n: {p: predict(p, rungs, n, target) for p in PREDICTORS} for n in names}
    used = {"A": chosen, "B": BASELINE, "C": chosen, "D": BASELINE}
    adjusted = holm_adjust([None if predictions[n][used[n]] is None else predictions[n][used[n]].p_value
                            for n in names])
    assert found == [Finding(n, [r.findings.get(n) for r in rungs], predictions[n], used[n], p, verdicts[n])
                     for n, p in zip(names, adjusted)]
    assert predictions["A"][BASELINE].value == -0.11 and predictions["B"][BASELINE].value == 0.02
    assert predictions["D"] == {p: None for p in PREDICTORS} and adjusted[3] is None
    assert all(p is not None and p < 0.05 for p in adjusted[:3])


def test_at_the_boundaries_equal_values_are_never_apart_and_a_largest_rung_at_its_own_half_width_has_not_faded():
    assert judged(Prediction(-0.1, -0.1, -0.1, 0.001), Measured(-0.1, 0.0, 3), 0.001) == "holds"
    edge = Measured(0.0, 0.01, 3)
    edge = Measured(-edge.half_width, 0.01, 3)  # |value| exactly its half-width: not beyond its own interval
    assert judged(Prediction(0.001, 0.0009, 0.0011, 0.4), edge, 0.4, margin=0.0) == "cannot tell"
    assert judged(Prediction(0.001, 0.0009, 0.0011, 0.4), Measured(edge.value * 1.001, 0.01, 3), 0.4,
                  margin=0.0) == "fades"


def test_a_rung_reads_its_speedups_beside_its_effects_and_a_ladder_json_without_its_target_is_older(tmp_path):
    import shutil

    from mainrun.errors import ConfigError

    folder = tmp_path / "rung"
    shutil.copytree(DOCS / "ladder-modern-mup" / "rung1-d_model=64", folder)
    (folder / "speedup.json").write_text(json.dumps({"speedups": [
        {"label": "opt=muon", "log_speedup": {"value": 0.3, "ci95_half_width": 0.1, "seeds": 3}}]}))
    summary = scaling.rung_summary(folder, "val_loss", 0.003)
    rung = scaling.read_rung(1, {"settings": {"d_model": 64}, "folder": "rung"}, summary)
    assert rung.findings["log speed-up: opt=muon"] == Measured(0.3, 0.1 / t975(2), 2)
    assert list(rung.findings)[:-1] == list(scaling.read_ladder(DOCS / "ladder-modern-mup").rungs[0].findings)
    (tmp_path / "ladder.json").write_text(json.dumps({"rungs": []}))
    with pytest.raises(ConfigError, match="was written by an older ladder"):
        scaling.read_ladder(tmp_path)


def test_the_reason_for_the_chosen_metric_survives_a_re_render_and_is_dropped_when_another_metric_replaces_it(tmp_path):
    committed = json.loads((DOCS / "ladder-path" / "ladder.json").read_text())
    assert (committed["metric"], committed["metric_note"]) == ("val_loss_full", PATH_NOTE)
    assert scaling.read_ladder(DOCS / "ladder-path", {"metric": "val_loss_full"}).metric_note == PATH_NOTE
    other = scaling.read_ladder(DOCS / "ladder-path", {"metric": "val_loss"})
    assert (other.metric, other.metric_note, other.as_dict()["metric_note"]) == ("val_loss", "", "")


def test_a_ladder_json_written_before_the_metric_note_takes_another_metric(tmp_path):
    import shutil

    shutil.copytree(DOCS / "ladder-path", tmp_path / "ladder", ignore=shutil.ignore_patterns("*.png", "*.md"))
    spec = json.loads((tmp_path / "ladder" / "ladder.json").read_text())
    del spec["metric_note"]
    (tmp_path / "ladder" / "ladder.json").write_text(json.dumps(spec))
    assert scaling.read_ladder(tmp_path / "ladder", {"metric": "val_loss"}).metric_note == ""
