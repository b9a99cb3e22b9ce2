"""ablations/analysis/summary.py: rows, their statistics, the summary's properties, the resolution, the
folder readers and the sweep summary, each pinned whole on small hand-made inputs."""
import json
import math
import shutil
import statistics
from collections import Counter

import pytest

from ablations import Study, run_study
from ablations.analysis.effects import Effect, Estimate, holm, seeds_to_resolve
from ablations.analysis.summary import (Resolution, Row, Summary, SweepSummary, curves_of, effects_of,
                                        finished_losses, record_point, reference_point, references_of,
                                        resolution_of, rows_of, summarise, summarise_sweep)
from ablations.execution.cells import cell_key
from ablations.execution.store import ResultsDir
from ablations.study.axes import Point
from ablations.study.study import ReportOptions
from mainrun.config import TrainConfig
from mainrun.errors import ConfigError
from mainrun.variant import Variant
from tests.ablations.synthetic import install

BASE, ADAMW, ROPE = Point(Variant()), Point(Variant(opt="adamw")), Point(Variant(pos="rope"))


def rec(point, seed, loss=None, status="ok", **fields):
    return {"point": str(point), "variant": str(point.variant), "seed": seed, "status": status, "val_loss": loss,
            **fields}


def test_a_rows_statistics():
    records = [rec(ADAMW, 1, 2.0, params=None), rec(ADAMW, 2, 2.2, params=77, val_bpb=1.0),
               rec(ADAMW, 3, 9.0, status="failed", params=55), rec(ADAMW, 4, None, status="ok"),
               rec(ADAMW, 5, 5.0, status="diverged")]
    row = Row(ADAMW, records, missing=2)
    assert row.ok == [records[0], records[1], records[3]]
    assert row.variant == Variant(opt="adamw")
    assert row.mean("val_loss") == pytest.approx(2.1) and row.mean("val_bpb") == 1.0 and row.mean("wall_s") is None
    assert row.loss_sd == pytest.approx(statistics.stdev([2.0, 2.2]))
    assert row.params == 77
    assert Row(ADAMW, [records[2]], 0).params == 55  # a failed cell still says its size
    assert Row(ADAMW, [records[0]], 0).params is None
    assert row.status_counts == Counter({"ok": 3, "failed": 1, "diverged": 1, "not run": 2})
    assert row.sort_key == (False, pytest.approx(2.1), str(ADAMW))
    assert Row(ADAMW, [records[0]], 0).loss_sd is None
    by_bpb = Row(ADAMW, records, 0, metric="val_bpb")
    assert by_bpb.loss_sd is None and by_bpb.sort_key == (False, 1.0, str(ADAMW))
    assert Row(ROPE, [], 3).sort_key == (True, 0.0, str(ROPE))
    assert Row(ROPE, [], 3).status_counts == Counter({"not run": 3})
    fresh = Row(ROPE, [], 0)
    assert (fresh.metric, fresh.delta, fresh.is_reference, fresh.label, fresh.note) == ("val_loss", None, False, "", "")


def test_record_point_finished_losses_and_references():
    assert record_point({"point": str(ADAMW), "variant": str(BASE.variant)}) == ADAMW
    assert record_point({"point": None, "variant": str(ROPE.variant)}) == ROPE
    assert record_point({"variant": str(ROPE.variant)}) == ROPE
    records = [rec(ADAMW, 1, 2.0, val_bpb=1.5), rec(ADAMW, 2, float("inf")), rec(BASE, 1, 3.0, val_bpb=None),
               rec(BASE, 2, 1.0, status="failed", val_bpb=0.1)]
    assert finished_losses(records) == {(ADAMW, 1): 2.0, (BASE, 1): 3.0}
    assert finished_losses(records, "val_bpb") == {(ADAMW, 1): 1.5}
    assert references_of({"axes": {"opt": {"reference": "sgd", "levels": []}, "lr": {"reference": 1e-3}}}) == {
        "opt": "sgd", "lr": 1e-3}
    assert references_of({}) == {}


def test_reference_point():
    assert reference_point([ADAMW, BASE, ROPE], {}) == BASE
    assert reference_point([ADAMW, ROPE], {}) is None
    assert reference_point([BASE, ADAMW], {"opt": "adamw"}) == ADAMW
    lr = [Point.at({"lr": v}, Variant(opt="adamw")) for v in (1e-2, 1e-3)]
    assert reference_point(lr, {"lr": 1e-3, "opt": "adamw"}) == lr[1]
    assert reference_point(lr, {"lr": 1e-3 * (1 + 1e-14)}) == lr[1]  # the same level
    assert reference_point(lr, {"lr": 5e-3}) is None
    assert reference_point([], {}) is None


def test_rows_of_whole():
    seeds = [1, 2, 3]
    records = [rec(BASE, s, 3.0 + 0.1 * s) for s in seeds]
    records += [rec(ADAMW, 1, 2.5), rec(ADAMW, 2, 2.65), rec(ADAMW, 3, 2.8)]
    records += [rec(ROPE, 1, 3.2), rec(ROPE, 2, None, status="failed", error="boom")]
    rows = rows_of([Variant(pos="rope"), BASE, ADAMW], seeds, records, {"opt": "sgd", "pos": "learned"})
    assert [(r.point, r.label, r.missing, r.is_reference, r.metric) for r in rows] == [
        (ADAMW, "opt=adamw", 0, False, "val_loss"), (BASE, "baseline", 0, True, "val_loss"),
        (ROPE, "pos=rope", 1, False, "val_loss")]
    adamw, base, rope = rows
    assert base.delta is None and [len(r.records) for r in rows] == [3, 3, 2]
    assert adamw.delta.value == pytest.approx(-0.55) and adamw.delta.n_seeds == 3
    assert adamw.delta.sd == pytest.approx(0.05) and adamw.delta.half_width is not None
    assert rope.delta == Estimate(pytest.approx(0.1), None, 1, None, None)
    # every delta of the table is Holm-adjusted as one family
    assert adamw.delta.p_adjusted == holm([adamw.delta, rope.delta])[0].p_adjusted == adamw.delta.p_value
    unadjusted = Estimate(adamw.delta.value, adamw.delta.half_width, 3, adamw.delta.sd)
    assert adamw.delta.p_adjusted == pytest.approx(unadjusted.p_value)


def test_rows_of_holm_counts_every_tested_delta():
    seeds = [1, 2, 3]
    records = [rec(BASE, s, 3.0) for s in seeds]
    records += [rec(ADAMW, s, 3.0 + d) for s, d in zip(seeds, (-0.1, -0.12, -0.09))]
    records += [rec(ROPE, s, 3.0 + d) for s, d in zip(seeds, (-0.05, 0.02, -0.01))]
    rows = {r.label: r for r in rows_of([BASE, ADAMW, ROPE], seeds, records)}
    p = {k: r.delta.p_value for k, r in rows.items() if r.delta}
    assert rows["opt=adamw"].delta.p_adjusted == pytest.approx(min(1.0, 2 * p["opt=adamw"]))
    assert rows["pos=rope"].delta.p_adjusted == pytest.approx(max(2 * p["opt=adamw"], p["pos=rope"]))
    assert [r.label for r in rows_of([BASE, ADAMW, ROPE], seeds, records)] == ["opt=adamw", "pos=rope", "baseline"]
    by_full = rows_of([BASE, ADAMW], seeds, [{**r, "val_loss_full": -r["val_loss"]} for r in records[:6]],
                      metric="val_loss_full")
    assert [r.label for r in by_full] == ["baseline", "opt=adamw"] and by_full[0].metric == "val_loss_full"
    assert by_full[1].delta.value == pytest.approx(0.31 / 3)


def test_rows_of_without_a_reference_and_ties_broken_by_name():
    records = [rec(ADAMW, 1, 2.0), rec(ROPE, 1, 2.0)]
    rows = rows_of([ROPE, ADAMW], [1], records)
    assert [r.point for r in rows] == sorted([ROPE, ADAMW], key=str)
    assert all(r.delta is None and not r.is_reference for r in rows)


def effect(value, half_width, n, sd, order=1):
    return Effect(f"e{value}", Estimate(value, half_width, n, sd), order)


def test_resolution_of():
    options = ReportOptions(target_effect=0.05)
    effects = [effect(0.1, 0.3, 3, 0.12), effect(0.2, 0.1, 4, 0.04), effect(0.3, 0.2, 2, 0.02),
               effect(0.4, None, 1, None)]
    assert resolution_of(effects, options) == Resolution(0.2, 4, 0.05, seeds_to_resolve(0.05, 0.04), 0.04)
    assert resolution_of(effects, ReportOptions()) == Resolution(0.2, 4, None, None, 0.04)
    assert resolution_of([effect(0.4, None, 1, None), effect(0.1, None, 2, None)], options) == Resolution(None, 2)
    assert resolution_of([effect(0.1, 0.3, 3, None)], options) == Resolution(0.3, 3, None, None, None)
    assert resolution_of([], options) is None and resolution_of(None, options) is None


def test_effects_of_adjusts_over_the_table():
    points = [Point(Variant(opt=o, pos=p)) for o in ("sgd", "adamw") for p in ("learned", "rope")]
    losses = {(pt, s): 2.0 + 0.1 * (pt.variant.opt == "adamw") + 0.01 * s * (pt == points[3])
              for pt in points for s in (1, 2, 3)}
    effects = effects_of(points, losses, [1, 2, 3], {})
    assert [(e.name, e.order) for e in effects] == [("pos: learned -> rope", 1), ("opt: sgd -> adamw", 1),
                                                    ("pos=rope x opt=adamw", 2)]
    assert [e.estimate.p_adjusted for e in effects] == [e.p_adjusted for e in holm([e.estimate for e in effects])]
    assert all(e.estimate.p_adjusted is not None for e in effects)
    assert effects_of(points[:3], losses, [1, 2, 3], {}) is None


def test_summary_properties(tmp_path):
    failed = [rec(ROPE, 1, None, status="failed", error="CUDA out of memory\nTraceback ..."),
              rec(ROPE, 1, None, status="failed", error="CUDA out of memory\nagain"),
              rec(ROPE, 2, None, status="failed", error=ValueError("bad"))]
    records = [rec(BASE, 1, 3.0, code="abc"), rec(ADAMW, 1, 2.0, code=None), *failed]
    rows = [Row(ROPE, failed, 0), Row(ADAMW, [records[1]], 0), Row(BASE, [records[0]], 0, is_reference=True)]

    def summary(rows, **kw):
        return Summary(tmp_path, {}, ReportOptions(margin=0.5), "val_loss", "", [1], {}, rows, None, None, records,
                       {cell_key(ADAMW, 1): [(1, 3.0), (10, 2.0)]}, 3, **kw)

    s = summary(rows)
    assert s.reference is rows[2] and s.best is rows[1] and s.reference_label == "baseline"
    assert s.failures == [(cell_key(ROPE, 1), "CUDA out of memory"), (cell_key(ROPE, 2), "bad")]
    assert s.code_hashes == ["abc", "unrecorded"]
    assert s.curve(ADAMW, 1) == [(1, 3.0), (10, 2.0)] and s.curve(ADAMW, 2) == [] and s.curve(BASE, 1) == []
    assert s.verdict(effect(0.1, 0.2, 3, 0.05)) == "negligible (inside ±0.5)"
    assert (s.tuning, s.samples) == (None, {})
    none = summary([Row(ADAMW, [], 1), Row(ROPE, [], 1, is_reference=True)])
    assert none.reference.point == ROPE and none.best is None and none.reference_label == "reference"
    assert summary([Row(ADAMW, [], 1)]).reference is None
    assert summary([Row(ADAMW, [], 1, is_reference=False), Row(BASE, [], 1)]).reference_label == "reference"


def test_curves_of_reads_the_finished_cells_only(tmp_path):
    store = ResultsDir(tmp_path)
    store.write_cell(cell_key(ADAMW, 1), rec(ADAMW, 1, 2.0), [(1, 3.0), (5, 2.0)])
    store.write_cell(cell_key(ADAMW, 2), rec(ADAMW, 2, 2.0), [])
    store.write_cell(cell_key(BASE, 1), rec(BASE, 1, None, status="failed"), [(1, 3.0)])
    records = [rec(ADAMW, 1, 2.0), rec(ADAMW, 2, 2.0), rec(BASE, 1, None, status="failed"), rec(ROPE, 1, 2.0)]
    assert curves_of(store, records) == {cell_key(ADAMW, 1): [(1, 3.0), (5, 2.0)]}


SHIFT = {1337: 0.0, 1338: 0.02, 1339: -0.01}


def loss_of(cfg: TrainConfig) -> float:
    return 2.5 - 0.3 * (cfg.variant.opt == "adamw") + 0.1 * (cfg.peak_lr > 5e-3) + SHIFT[cfg.training.seed] \
        + 0.001 * (cfg.training.seed - 1337) * (cfg.variant.opt == "adamw")


@pytest.fixture(scope="module")
def grid_folder(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    try:
        install(mp, loss_of)
        out = tmp_path_factory.mktemp("pinned") / "grid"
        run_study(Study.from_options(axes=["opt=sgd,adamw", "lr=1e-3,1e-2"], scale="tiny", seeds=3, data="embedded",
                                     out=str(out), plot=False))
    finally:
        mp.undo()
    return out


def test_summarise_whole(grid_folder):
    s = summarise(grid_folder)
    points = [Point.parse(v) for v in json.loads((grid_folder / "run.json").read_text())["variants"]]
    assert (s.root, s.metric, s.metric_note, s.seeds, s.cells, s.tuning) == (grid_folder, "val_loss", "",
                                                                             [1337, 1338, 1339], 12, None)
    assert s.references == {"opt": "sgd", "lr": 0.001} and s.options == ReportOptions()
    assert s.run == json.loads((grid_folder / "run.json").read_text())
    assert [r.label for r in s.rows] == ["opt=adamw", "opt=adamw, lr=0.01", "reference", "lr=0.01"]
    assert [r.mean("val_loss") for r in s.rows] == pytest.approx([2.20433333, 2.30433333, 2.50333333, 2.60333333])
    assert [r.delta.value if r.delta else None for r in s.rows] == pytest.approx([-0.299, -0.199, None,
                                                                                  0.1])
    assert [(e.name, e.order) for e in s.effects] == [("opt: sgd -> adamw", 1), ("lr: 0.001 -> 0.01", 1),
                                                      ("opt=adamw x lr=0.01", 2)]
    assert [e.estimate.value for e in s.effects] == pytest.approx([-0.299, 0.1, 0.0], abs=1e-9)
    assert s.resolution.seeds == 3 and s.resolution.half_width == pytest.approx(
        statistics.median([e.estimate.half_width for e in s.effects]))
    assert len(s.records) == 12 and {(record_point(r), r["seed"]) for r in s.records} == {
        (p, seed) for p in points for seed in (1337, 1338, 1339)}
    assert set(s.curves) == {cell_key(p, seed) for p in points for seed in (1337, 1338, 1339)}
    assert s.curve(s.rows[0].point, 1337) == [(1, pytest.approx(3.2)), (10, pytest.approx(2.2))]
    by_bpb = summarise(grid_folder, ReportOptions(metric="val_bpb", margin=0.2))
    assert by_bpb.metric == "val_bpb" and by_bpb.options.margin == 0.2
    assert [r.metric for r in by_bpb.rows] == ["val_bpb"] * 4
    assert by_bpb.effects[0].estimate.value == pytest.approx(-0.299 / 2)


def test_summarise_with_a_failed_cell_and_a_missing_one(grid_folder, tmp_path):
    out = tmp_path / "grid"
    shutil.copytree(grid_folder, out)
    adamw = Point.parse(str(Point.at({"lr": 1e-3}, Variant(opt="adamw"))))
    key = cell_key(adamw, 1338)
    record = json.loads((out / "cells" / key / "record.json").read_text())
    (out / "cells" / key / "record.json").write_text(json.dumps({**record, "status": "failed", "error": "x\ny"}))
    shutil.rmtree(out / "cells" / cell_key(adamw, 1339))
    s = summarise(out)
    row = next(r for r in s.rows if r.point == adamw)
    assert row.missing == 1 and row.status_counts == Counter({"ok": 1, "failed": 1, "not run": 1})
    assert s.failures == [(key, "x")] and len(s.records) == 11 and s.cells == 12
    assert cell_key(adamw, 1338) not in s.curves and row.delta.n_seeds == 1


def test_summarise_sweep_reads_numeric_stages_with_a_folder(grid_folder, tmp_path):
    shutil.copytree(grid_folder, tmp_path / "lr-stage")
    high = Point.at({"lr": 1e-2}, Variant(opt="adamw"))  # the last point at lr 0.01: the one the series keeps
    path = tmp_path / "lr-stage" / "cells" / cell_key(high, 1338) / "record.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "status": "diverged"}))
    path = tmp_path / "lr-stage" / "cells" / cell_key(high, 1339) / "record.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "val_loss_full": None}))
    stages = [{"stage": 1, "axis": "norm", "levels": ["layernorm", "rmsnorm"], "folder": "nowhere"},
              {"stage": 2, "axis": "dropout", "levels": [0.0, 0.1], "folder": ""},
              {"stage": 3, "axis": "dropout", "levels": [0.0, 0.1]},
              {"stage": 4, "axis": "lr", "levels": [1e-3, 1e-2], "folder": "lr-stage", "metric": "val_loss_full"}]
    record = {"stages": stages, "final": None}
    (tmp_path / "sweep.json").write_text(json.dumps(record), encoding="utf-8")
    s = summarise_sweep(str(tmp_path))
    assert (s.root, s.record, s.stages) == (tmp_path, record, stages)
    assert list(s.series) == [4]
    # points are the grid's four; the lr level of each, its finished per-seed val_loss_full
    assert list(s.series[4]) == [1e-3, 1e-2]
    assert s.series[4] == {1e-3: pytest.approx([2.2 + SHIFT[k] + 0.001 * (k - 1337) for k in SHIFT]),
                           1e-2: pytest.approx([2.3])}
    assert s.final_estimate() is None


def test_summarise_sweep_refuses_an_unreadable_or_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        summarise_sweep(tmp_path)
    assert str(info.value) == f"{tmp_path}/sweep.json cannot be read (FileNotFoundError)"
    (tmp_path / "sweep.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ConfigError) as info:
        summarise_sweep(tmp_path)
    assert str(info.value) == f"{tmp_path}/sweep.json cannot be read (UnicodeDecodeError)"
    (tmp_path / "sweep.json").write_text(json.dumps({"stages": [{"stage": 1, "axis": "lr", "levels": [0.1],
                                                                  "folder": "x", "metric": "val_loss"}]}))
    with pytest.raises(ConfigError) as info:
        summarise_sweep(tmp_path)
    assert str(info.value) == f"{tmp_path}/x is not an ablations results folder (no run.json)"


def test_a_sweep_summarys_final_estimate():
    s = SweepSummary(None, {"final": {"delta": {"value": -0.1, "ci95_half_width": 0.3, "seeds": 3}}}, {})
    est = s.final_estimate()
    assert (est.value, est.half_width, est.n_seeds) == (-0.1, 0.3, 3) and est.sd == pytest.approx(
        0.3 * math.sqrt(3) / 4.302652729911275)
    assert SweepSummary(None, {}, {}).final_estimate() is None
