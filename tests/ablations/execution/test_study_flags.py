"""The flags of the commands that train studies (ablations/cli.py): what each parses to, that a flag not
given is None (so a study file's value stands), the study they make, and the command run.json records."""
import argparse
import sys

import pytest

from ablations.cli import add_common_arguments, add_grid_arguments, add_report_arguments, command_line, study_from_args
from mainrun.cli import OneLineArgumentParser

GRID_FLAGS = {"grid", "around", "axes", "design", "seeds", "tune", "speedup", "tune_seeds", "tune_extend",
              "shared_default"}
RUN_FLAGS = {"study", "out", "plot", "tensorboard", "backend", "workers", "partition", "gpus_per_job", "timeout_min",
             "mem_gb", "allow_code_change", "metric", "margin", "target_effect"}


def parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m ablations.run")
    add_grid_arguments(p)
    add_common_arguments(p, "results folder")
    return p


def test_every_flag_not_given_is_none():
    args = vars(parser().parse_args([]))
    assert GRID_FLAGS | RUN_FLAGS <= set(args)
    assert "seed" not in args  # a study trains every cell on each of its seeds: it has no one seed
    assert {name: args[name] for name in GRID_FLAGS | RUN_FLAGS} == dict.fromkeys(GRID_FLAGS | RUN_FLAGS)


def test_each_flag_parses_to_its_type():
    args = vars(parser().parse_args([
        "--grid", "full", "--around", "opt=adamw", "--axes", "opt=sgd,adamw", "lr=1e-3", "--design", "fractional",
        "--seeds", "2", "--tune", "lr=1e-3,1e-2", "--speedup", "0.5,1", "--tune-seeds", "2", "--tune-extend", "0",
        "--no-shared-default", "--study", "s.toml", "--out", "o", "--no-plot", "--tensorboard", "--backend",
        "submitit-local", "--workers", "3", "--partition", "gpu", "--gpus-per-job", "1", "--timeout-min", "30",
        "--mem-gb", "8", "--allow-code-change", "--metric", "val_bpb", "--margin", "0.01", "--target-effect", "0.02"]))
    assert {name: args[name] for name in GRID_FLAGS | RUN_FLAGS} == {
        "grid": "full", "around": "opt=adamw", "axes": ["opt=sgd,adamw", "lr=1e-3"], "design": "fractional",
        "seeds": "2", "tune": "lr=1e-3,1e-2", "speedup": "0.5,1", "tune_seeds": 2, "tune_extend": 0,
        "shared_default": False, "study": "s.toml", "out": "o", "plot": False, "tensorboard": True,
        "backend": "submitit-local", "workers": 3, "partition": "gpu", "gpus_per_job": 1, "timeout_min": 30,
        "mem_gb": 8, "allow_code_change": True, "metric": "val_bpb", "margin": 0.01, "target_effect": 0.02}
    assert all(type(args[name]) is int for name in ("tune_seeds", "tune_extend", "workers", "gpus_per_job",
                                                        "timeout_min", "mem_gb"))
    assert all(type(args[name]) is float for name in ("margin", "target_effect"))
    flags = vars(parser().parse_args(["--shared-default", "--plot"]))
    assert (flags["shared_default"], flags["plot"]) == (True, True)


@pytest.mark.parametrize("flag, value", [("--backend", "slurm"), ("--design", "half"), ("--metric", "loss"),
                                         ("--workers", "two"), ("--margin", "wide"), ("--tune-seeds", "1.5")])
def test_a_bad_value_is_one_line_and_exit_2(flag, value, capsys):
    with pytest.raises(SystemExit) as stop:
        parser().parse_args([flag, value])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m ablations.run: error: ") and err.count("\n") == 1 and flag in err


def test_the_report_takes_only_the_report_flags():
    p = argparse.ArgumentParser()
    add_report_arguments(p)
    assert vars(p.parse_args(["--metric", "val_loss_full", "--margin", "0", "--target-effect", "1"])) == {
        "metric": "val_loss_full", "margin": 0.0, "target_effect": 1.0}


def test_the_flags_make_the_study_and_flags_beside_a_study_file_replace_its_values(tmp_path):
    study = study_from_args(parser().parse_args(["--axes", "opt=sgd,adamw", "--scale", "tiny", "--data", "embedded",
                                                 "--seeds", "2", "--margin", "0.01", "--workers", "2"]))
    assert (study.seeds, study.report.margin, study.execution.workers, study.base.scale) == (
        (1337, 1338), 0.01, 2, "tiny")
    path = tmp_path / "study.toml"
    path.write_text('[study]\nscale = "tiny"\naxes = ["opt=sgd,adamw"]\nseeds = "1337,1338"\n\n[data]\n'
                    'source = "embedded"\n\n[report]\nmargin = 0.002\n\n[run]\nworkers = 1\n')
    from_file = study_from_args(parser().parse_args(["--study", str(path)]))
    assert (from_file.seeds, from_file.report.margin, from_file.execution.workers) == ((1337, 1338), 0.002, 1)
    replaced = study_from_args(parser().parse_args(["--study", str(path), "--seeds", "3", "--workers", "4"]))
    assert (replaced.seeds, replaced.report.margin, replaced.execution.workers) == ((1337, 1338, 1339), 0.002, 4)


def test_the_command_recorded_is_the_one_a_shell_runs_again(monkeypatch):
    assert command_line("ablations.run", ["--axes", "opt=sgd,adamw", "--out", "my runs"]) == \
        "python -m ablations.run --axes opt=sgd,adamw --out 'my runs'"
    assert command_line("ablations.sweep", []) == "python -m ablations.sweep "
    monkeypatch.setattr(sys, "argv", ["/x/ablations/run.py", "--grid", "full", "--seeds", "1;2"])
    assert command_line("ablations.run", None) == "python -m ablations.run --grid full --seeds '1;2'"
