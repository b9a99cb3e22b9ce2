"""ablations/analysis/scaling.py: a ladder folder read back, or refused in one line."""
import json

import pytest

from ablations.analysis.scaling import read_ladder
from mainrun.errors import ConfigError


def test_an_unreadable_or_older_ladder_json_is_one_line_saying_what_to_do(tmp_path):
    with pytest.raises(ConfigError) as caught:
        read_ladder(tmp_path)
    assert str(caught.value) == f"{tmp_path / 'ladder.json'} cannot be read (FileNotFoundError)"
    (tmp_path / "ladder.json").write_text("{not json")
    with pytest.raises(ConfigError) as caught:
        read_ladder(tmp_path)
    assert str(caught.value) == f"{tmp_path / 'ladder.json'} cannot be read (JSONDecodeError)"
    older = f"{tmp_path / 'ladder.json'} was written by an older ladder; run its ladder command again to rewrite it"
    for spec in ({"rungs": []}, {"target_flops": 1e15}, {}):
        (tmp_path / "ladder.json").write_text(json.dumps(spec))
        with pytest.raises(ConfigError) as caught:
            read_ladder(tmp_path)
        assert str(caught.value) == older


def test_a_rung_without_finished_cells_has_no_compute_and_one_seed_no_measurement():
    from ablations.analysis.effects import Estimate
    from ablations.analysis.scaling import measured, rung_compute

    assert rung_compute([]) is None
    assert rung_compute([{"status": "diverged", "flops_per_token": 1e6, "steps": 10}]) is None
    assert measured(None) is None
    assert measured(Estimate(-0.02, None, 1)) is None and measured(Estimate(-0.02, 0.01, 1, sd=0.01)) is None
    two = measured(Estimate(-0.02, 0.05, 2, sd=0.004))
    assert (two.value, two.se, two.df) == (-0.02, pytest.approx(0.004 / 2 ** 0.5), 1)


def test_a_ladder_read_again_keeps_the_metric_and_margin_it_was_given():
    from pathlib import Path

    docs = Path(__file__).resolve().parents[3] / "docs" / "ladder-path"
    ladder = read_ladder(docs, {"margin": 0.01, "metric": "val_loss_full"})
    spec = ladder.spec()
    assert (spec["margin"], spec["metric"]) == (0.01, "val_loss_full")
    assert spec["path"]["toward"] == "mainrun" and len(spec["rungs"]) == 8 and spec["target_flops"] == ladder.target
    assert json.loads(json.dumps(ladder.as_dict()))["margin"] == 0.01


def test_ladder_json_writes_a_rung_without_a_reference_and_a_finding_without_an_interval_as_null():
    import dataclasses
    from pathlib import Path

    ladder = read_ladder(Path(__file__).resolve().parents[3] / "docs" / "ladder-path")
    first = dataclasses.replace(ladder.rungs[0], reference=None)
    finding = dataclasses.replace(ladder.findings[0], measured=[None, *ladder.findings[0].measured[1:]])
    record = dataclasses.replace(ladder, rungs=[first, *ladder.rungs[1:]], findings=[finding]).as_dict()
    assert record["measured_rungs"][0]["reference_loss"] is None and record["measured_rungs"][1]["reference_loss"] > 1
    assert record["findings"][0]["estimates"][0] is None and record["findings"][0]["estimates"][1]["seeds"] == 4


def test_a_finding_known_by_its_interval_alone_reads_its_standard_error_from_t():
    from scipy import stats

    from ablations.analysis.effects import Estimate
    from ablations.analysis.scaling import measured

    three = measured(Estimate(-0.02, 0.05, 3))
    assert (three.value, three.df) == (-0.02, 2) and three.se == pytest.approx(0.05 / stats.t.ppf(0.975, 2))


def test_a_rung_that_is_a_sweep_reads_its_final_comparison_as_its_one_finding():
    from ablations.analysis.effects import t_critical_975
    from ablations.analysis.scaling import read_rung
    from tests.ablations.writers.test_sweep_md import RECORD, summary_of

    planned = {"settings": {"d_model": 16}, "folder": "rung1"}
    rung = read_rung(1, planned, summary_of())  # chosen - start: -0.15 +- 0.04 on 2 held-out seeds
    assert (rung.index, rung.settings, rung.folder, rung.compute) == (1, {"d_model": 16}, "rung1", None)
    (name, found), = rung.findings.items()
    assert name == "sweep: chosen vs start"
    assert (found.value, found.df) == (-0.15, 1) and found.se == pytest.approx(0.04 / t_critical_975(1))
    assert read_rung(1, planned, summary_of(final=None)).findings == {}  # not compared yet: nothing to read
    assert RECORD["final"]["delta"]["seeds"] == 2
