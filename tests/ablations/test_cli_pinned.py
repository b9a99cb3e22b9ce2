"""ablations.cli, ablations.run and ablations.sweep pinned: every option parses to None when not given (so a study
file's value stands) and to its type when given; the study the flags describe; the command line recorded; what
`finish` prints and returns; what each main passes on. Training and the console writers are stood in for."""
import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import ablations.cli as cli
import ablations.run as run
import ablations.sweep as sweep
from ablations.analysis.summary import Summary
from mainrun.errors import ConfigError

GRID = {"grid": None, "around": None, "axes": None, "design": None, "seeds": None, "tune": None, "speedup": None,
        "tune_seeds": None, "tune_extend": None, "shared_default": None}
COMMON = {"study": None, "out": None, "plot": None, "tensorboard": None, "backend": None, "workers": None,
          "partition": None, "gpus_per_job": None, "timeout_min": None, "mem_gb": None, "allow_code_change": None,
          "metric": None, "margin": None, "target_effect": None}


def parser():
    p = argparse.ArgumentParser()
    cli.add_grid_arguments(p)
    cli.add_common_arguments(p, "OUT HELP")
    return p


def mine(namespace):
    return {k: v for k, v in vars(namespace).items() if k in GRID or k in COMMON}


def test_every_option_is_none_when_not_given():
    args = parser().parse_args([])
    assert mine(args) == {**GRID, **COMMON}
    assert args.plugin == [] and args.lr is None and not hasattr(args, "seed"), "training flags, without --seed"


def test_every_option_parses_to_its_type():
    args = parser().parse_args([
        "--grid", "modern", "--around", "opt=adamw", "--axes", "opt=adamw", "lr=1e-4,3e-4", "--design", "fractional",
        "--seeds", "1337,42", "--tune", "lr=1e-3,1e-2", "--speedup", "0.5,1", "--tune-seeds", "2", "--tune-extend", "0",
        "--no-shared-default", "--study", "s.toml", "--out", "o", "--no-plot", "--tensorboard", "--backend", "submitit",
        "--workers", "3", "--partition", "gpu", "--gpus-per-job", "1", "--timeout-min", "5", "--mem-gb", "7",
        "--allow-code-change", "--metric", "val_bpb", "--margin", "0.01", "--target-effect", "0.002"])
    assert mine(args) == {
        "grid": "modern", "around": "opt=adamw", "axes": ["opt=adamw", "lr=1e-4,3e-4"], "design": "fractional",
        "seeds": "1337,42", "tune": "lr=1e-3,1e-2", "speedup": "0.5,1", "tune_seeds": 2, "tune_extend": 0,
        "shared_default": False, "study": "s.toml", "out": "o", "plot": False, "tensorboard": True,
        "backend": "submitit", "workers": 3, "partition": "gpu", "gpus_per_job": 1, "timeout_min": 5, "mem_gb": 7,
        "allow_code_change": True, "metric": "val_bpb", "margin": 0.01, "target_effect": 0.002}
    assert [type(v) for v in (args.tune_seeds, args.tune_extend, args.workers, args.gpus_per_job, args.timeout_min,
                              args.mem_gb)] == [int] * 6
    assert type(args.margin) is float and type(args.target_effect) is float
    yes = parser().parse_args(["--shared-default", "--plot"])
    assert (yes.shared_default, yes.plot) == (True, True)


@pytest.mark.parametrize("flags", [["--design", "half"], ["--backend", "slurm"], ["--metric", "loss"],
                                   ["--workers", "two"], ["--margin", "x"]])
def test_a_value_outside_an_options_choices_or_type_is_refused(flags, capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(flags)
    assert f"argument {flags[0]}" in capsys.readouterr().err


def test_the_report_arguments_alone():
    p = argparse.ArgumentParser()
    cli.add_report_arguments(p)
    assert vars(p.parse_args([])) == {"metric": None, "margin": None, "target_effect": None}


@pytest.fixture
def studies(monkeypatch):
    made = []
    monkeypatch.setattr(cli.Study, "from_toml", lambda path, **kw: made.append(("toml", path, kw)) or "FROM TOML")
    monkeypatch.setattr(cli.Study, "from_options", lambda **kw: made.append(("options", kw)) or "FROM OPTIONS")
    return made


def test_a_study_file_takes_only_the_flags_given(studies):
    args = argparse.Namespace(study="s.toml", grid=None, axes=[], plugin=[], seeds="3", plot=False, workers=0,
                              margin=0.0)
    assert cli.study_from_args(args) == "FROM TOML"
    assert studies == [("toml", "s.toml", {"seeds": "3", "plot": False, "workers": 0, "margin": 0.0})]


def test_without_a_study_file_every_option_goes_to_the_study(studies):
    args = argparse.Namespace(study=None, grid="full", axes=[], seeds=None, plot=False)
    assert cli.study_from_args(args) == "FROM OPTIONS"
    assert studies == [("options", {"grid": "full", "axes": [], "seeds": None, "plot": False})]
    studies.clear()
    assert cli.study_from_args(argparse.Namespace(study="", grid=None)) == "FROM OPTIONS"
    assert studies == [("options", {"grid": None})]


def test_the_command_line_recorded_quotes_what_it_must(monkeypatch):
    assert cli.command_line("ablations.run", ["--axes", "opt=sgd,adamw", "--out", "my dir"]) == \
        "python -m ablations.run --axes opt=sgd,adamw --out 'my dir'"
    assert cli.command_line("ablations.sweep", []) == "python -m ablations.sweep "
    monkeypatch.setattr(sys, "argv", ["/x/run.py", "--grid", "full", "a b"])
    assert cli.command_line("ablations.run", None) == "python -m ablations.run --grid full 'a b'"


class FakeSummary(Summary):
    def __init__(self):  # only its type matters to finish
        pass


@pytest.fixture
def consoles(monkeypatch):
    seen = []
    monkeypatch.setattr(run, "console_summary", lambda s, written: seen.append(("grid", s, written)) or "GRID\n")
    monkeypatch.setattr(run, "sweep_console", lambda s, written: seen.append(("sweep", s, written)) or "SWEEP\n")
    return seen


def speedup(label, text):
    return SimpleNamespace(label=label, text=lambda: text)


def test_finish_prints_the_grid_lines_naming_the_files_and_the_speed_ups(tmp_path, consoles, capsys):
    summary = FakeSummary()
    outcome = SimpleNamespace(root=tmp_path, summary=summary, failed=0,
                              speedups=[speedup("", "1.00x"), speedup("opt=adamw", "2.00x (1.50-2.60)"),
                                        speedup("opt=muon", "at least 4.00x")])
    assert run.finish(outcome) == 0
    assert consoles == [("grid", summary, f"{tmp_path}/results.md (and results.csv, results.json)")]
    assert capsys.readouterr().out == (
        "GRID\nSpeed-ups against the reference's budgets: opt=adamw 2.00x (1.50-2.60); opt=muon at least 4.00x "
        f"({tmp_path}/speedup.md)\n")
    (tmp_path / "report.pdf").write_bytes(b"%PDF")
    consoles.clear()
    assert run.finish(SimpleNamespace(root=tmp_path, summary=summary, failed=2, speedups=None)) == 1
    assert consoles == [("grid", summary, f"{tmp_path}/results.md (and results.csv, results.json, report.pdf)")]
    assert capsys.readouterr().out == "GRID\n"
    assert run.finish(SimpleNamespace(root=tmp_path, summary=summary, failed=1, speedups=[])) == 1
    assert capsys.readouterr().out == "GRID\n"


def test_finish_prints_a_sweeps_lines(tmp_path, consoles, capsys):
    outcome = SimpleNamespace(root=tmp_path, summary="SWEEP SUMMARY", failed=0, speedups=None)
    assert run.finish(outcome) == 0
    assert consoles == [("sweep", "SWEEP SUMMARY", f"{tmp_path}/sweep.md (and sweep.json)")]
    assert capsys.readouterr().out == "SWEEP\n"


@pytest.fixture
def trained(monkeypatch):
    seen = []
    for module in (run, sweep):
        monkeypatch.setattr(module, "run_study", lambda study, command: seen.append((study, command)) or "OUTCOME")
        monkeypatch.setattr(module, "finish", lambda outcome: seen.append(outcome) or 7)
    return seen


def test_run_main_builds_the_study_checks_out_and_finishes(tmp_path, trained):
    out = tmp_path / "new"
    argv = ["--axes", "opt=sgd,adamw", "--scale", "tiny", "--data", "embedded", "--out", str(out), "--no-plot"]
    assert run.main(argv) == 7
    (study, command), outcome = trained
    assert command == f"python -m ablations.run --axes opt=sgd,adamw --scale tiny --data embedded --out {out} --no-plot"
    assert outcome == "OUTCOME" and study.execution.out == out and not out.exists()
    assert study.options["axes"] == ["opt=sgd,adamw"] and study.options["plot"] is False
    trained.clear()
    assert run.main(["--axes", "opt=sgd,adamw", "--scale", "tiny", "--out", str(tmp_path)]) == 7, "an existing folder"
    assert trained[0][0].execution.out == tmp_path


def test_run_main_refuses_an_out_that_is_a_file_before_training(tmp_path, trained):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError) as raised:
        run.main(["--axes", "opt=sgd,adamw", "--scale", "tiny", "--out", str(tmp_path / "f")])
    assert str(raised.value) == f"--out {tmp_path / 'f'} is a file, not a folder"
    assert trained == []


def test_sweep_main_needs_a_stage_or_a_study(tmp_path, trained, capsys):
    with pytest.raises(SystemExit) as raised:
        sweep.main(["--seeds", "2"])
    assert raised.value.code == 2
    assert capsys.readouterr().err.strip().endswith("error: the following arguments are required: --stage")
    assert trained == []
    out = tmp_path / "sw"
    argv = ["--stage", "lr=1e-3,1e-2", "--stage", "dropout=0.0,0.1", "--scale", "tiny", "--data", "embedded",
            "--out", str(out), "--final-seeds", "2", "--variant", "opt=adamw"]
    assert sweep.main(argv) == 7
    (study, command), outcome = trained
    assert command == "python -m ablations.sweep " + " ".join(argv)
    assert outcome == "OUTCOME" and study.execution.out == out
    assert (study.options["variant"], study.options["stage"], study.options["final_seeds"]) == (
        "opt=adamw", ["lr=1e-3,1e-2", "dropout=0.0,0.1"], "2")
    trained.clear()
    assert sweep.main(["--stage", "lr=1e-3,1e-2", "--scale", "tiny", "--out", str(tmp_path)]) == 7, "an existing folder"
    assert trained[0][0].execution.out == tmp_path
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        sweep.main(["--stage", "lr=1e-3,1e-2", "--scale", "tiny", "--out", str(tmp_path / "file")])
