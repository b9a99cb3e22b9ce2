"""A results folder whose run.json is not what a run writes, and a flag spelled short: one line and exit 2,
before anything trains (the promise every command makes about bad input)."""
import json

import pytest

from ablations import report, run
from mainrun.cli import run_cli
from tests.ablations.synthetic import install

TINY = ["--axes", "opt=sgd,adamw", "--scale", "tiny", "--data", "embedded", "--seeds", "1", "--no-plot"]


def one_line_exit_2(main, argv, capsys):
    with pytest.raises(SystemExit) as stop:
        run_cli(main, argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("content, field", [
    ({}, "config_hash"), ([], "config_hash"), ({"config_hash": "deadbeef", "variants": ["baseline"]}, "seeds"),
    ({"config_hash": "deadbeef", "config": {}, "variants": "baseline", "seeds": [1]}, "variants"),
    ({"config_hash": 7, "config": {}, "variants": [], "seeds": []}, "config_hash"),
])
def test_a_run_json_that_is_json_but_not_a_runs_description_is_one_line_to_run_and_to_report(
        tmp_path, monkeypatch, capsys, content, field):
    backend = install(monkeypatch, lambda cfg: 3.0)
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text(json.dumps(content))
    expected = (f"error: {out / 'run.json'} is not a results folder's description (its {field} is missing or not "
                "what a run writes); nothing can be trusted to resume here: pass another --out\n")
    assert one_line_exit_2(run.main, [*TINY, "--out", str(out)], capsys) == expected
    assert one_line_exit_2(report.main, [str(out), "--no-plot"], capsys) == expected
    assert backend.trained == []


def test_a_flag_spelled_short_is_refused_not_read_as_a_longer_one(tmp_path, monkeypatch, capsys):
    """`--seed 42` is not `--seeds 42` (42 seeds): argparse's abbreviations are off."""
    backend = install(monkeypatch, lambda cfg: 3.0)
    err = one_line_exit_2(run.main, [*TINY, "--seed", "42", "--out", str(tmp_path / "out")], capsys)
    assert err == "python -m ablations.run: error: unrecognized arguments: --seed 42\n"
    assert backend.trained == []


def test_a_recorded_config_of_another_shape_is_another_experiment_not_a_traceback(tmp_path, monkeypatch, capsys):
    install(monkeypatch, lambda cfg: 3.0)
    out = tmp_path / "out"
    assert run.main([*TINY, "--out", str(out)]) == 0
    recorded = json.loads((out / "run.json").read_text())
    for config in ({"optim": "not a section"}, None, ["a", "list"]):
        recorded["config_hash"], recorded["config"] = "0ldha5h0", config
        (out / "run.json").write_text(json.dumps(recorded))
        capsys.readouterr()
        err = one_line_exit_2(run.main, [*TINY, "--out", str(out)], capsys)
        assert err.startswith(f"error: {out} holds results of another configuration (config hash 0ldha5h0, this run ")
