"""Pinned outputs of ablations/study/study.py: the study file written and read back, and every error to the letter."""
from pathlib import Path

import pytest

from ablations.study.study import (Execution, ReportOptions, Stages, Study, held_out, parse_budgets, read_toml,
                                   seeds_spec, toml_value, write_toml)
from mainrun.errors import ConfigError
from mainrun.variant import Variant

HEADER = "# An ablations study: python -m ablations.run --study THIS_FILE (flags given beside it win)\n\n"


def message(call, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


def test_toml_values_and_the_written_file():
    assert [toml_value(v) for v in (True, False, 3, 0.5, [1, "a"], 'q"\\x')] == \
        ["true", "false", "3", "0.5", '[1, "a"]', '"q\\"\\\\x"']
    assert write_toml({"scale": "tiny", "seeds": [1, 2], "lr": 0.001, "margin": 0.01, "out": ".", "plot": False,
                       "grid": None}) == (HEADER + '[study]\nscale = "tiny"\nseeds = [1, 2]\n\n[optim]\nlr = 0.001\n\n'
                                          '[report]\nmargin = 0.01\n\n[run]\nout = "."\nplot = false\n')


def test_seeds_budgets_and_held_out_seeds():
    assert (seeds_spec([4]), seeds_spec((1, 2)), seeds_spec(3), seeds_spec("1,2")) == ("4,", "1,2", "3", "1,2")
    assert held_out((1, 2, 3)) == [1337, 1338, 1339] and held_out((5000, 7000)) == [7001, 7002]
    assert parse_budgets("2,0.5,1,1") == (0.5, 1.0, 2.0) and parse_budgets([4, 1]) == (1.0, 4.0)
    assert message(parse_budgets, "a,1") == \
        "--speedup a,1: expected budgets as multiples of the study's steps, e.g. 0.5,1,2,4"
    assert message(parse_budgets, "1") == "--speedup 1: at least two positive budgets, e.g. 0.5,1,2,4"
    assert message(parse_budgets, "0,1") == "--speedup 0,1: at least two positive budgets, e.g. 0.5,1,2,4"
    assert parse_budgets("0.01,1") == (0.01, 1.0)


def test_report_and_execution_errors_to_the_letter():
    assert message(Execution, workers=0) == "--workers must be positive, got 0"
    assert message(Execution, gpus_per_job=-1) == "--gpus-per-job must be >= 0, got -1"
    assert message(Execution, timeout_min=0) == "--timeout-min must be positive, got 0"
    assert message(Execution, mem_gb=0) == "--mem-gb must be positive, got 0"
    assert message(Execution, backend="ray") == "unknown backend 'ray'; valid: local, submitit, submitit-local"
    Execution(workers=1, gpus_per_job=0, timeout_min=1, mem_gb=1)
    Execution(gpus_per_job=1)
    assert message(ReportOptions, margin=-0.5) == "--margin must be >= 0, got -0.5"
    assert message(ReportOptions, target_effect=0.0) == "--target-effect must be positive, got 0.0"
    assert ReportOptions(margin=0.0, target_effect=0.01) == ReportOptions(metric="auto", margin=0.0, target_effect=0.01)


def test_study_option_errors_to_the_letter():
    assert message(Study.from_options, bogus=1, zeta=2) == "unknown study option(s): bogus, zeta"
    assert message(Study.from_options, seed=3) == (
        "seed: a study trains every cell on each of its seeds; set them with seeds ([study] seeds = [4], or "
        "--seeds 4,), not seed")
    assert message(Study.from_options, speedup="1,2", budget=2.0, scale="tiny") == \
        "--budget is what --speedup sets for each of the reference's budgets; drop --budget"
    assert message(Study.from_options, speedup="1,2", stage=["lr=1e-3,1e-2"], scale="tiny") == (
        "--speedup measures a grid's variants at one budget against the reference's budgets; it does not combine "
        "with --stage yet")
    assert message(Study.from_options, stage=["lr=1e-3,1e-2"], axes=["opt=adamw"], scale="tiny") == \
        "a sweep (--stage) takes no --grid, --axes or --tune: each stage is its own grid"
    assert message(Study.from_options, stage=["lr="], scale="tiny") == \
        "stage 'lr=' is empty: list the values to try, e.g. lr=1e-4,3e-4"
    assert message(Study.from_options, stage=["lr=1e-3,1e-2", "lr=1e-4"], scale="tiny") == \
        "lr has two stages; give each axis one"
    assert message(Study.from_options, stage=["weight-decay=0.0,0.1"], weight_decay=0.1, scale="tiny") == \
        "weight-decay is given both as --weight-decay and as a stage; drop one"
    assert message(Study.from_options, grid="full", tune_extend=1, scale="tiny") == \
        "--tune-extend goes with --tune, which is not given"


def test_sweeps_and_kinds():
    sweep = Study.from_options(stage="lr=1e-3,1e-2", scale="tiny", seeds=2, data="embedded", speedup=None)
    assert (sweep.kind, sweep.stages, sweep.grid, sweep.budgets) == \
        ("sweep", Stages(Variant(), (("lr", (1e-3, 1e-2)),), (1339, 1340)), None, ())
    named = Study.from_options(stage=["lr=1e-3,1e-2"], scale="tiny", seeds=2, final_seeds="7,8", variant="opt=adamw")
    assert named.stages == Stages(Variant(opt="adamw"), (("lr", (1e-3, 1e-2)),), (7, 8))
    tuned = Study.from_options(axes=["opt=sgd,adamw"], tune="lr=1e-3,1e-2", scale="tiny", seeds=3, data="embedded")
    assert (tuned.kind, tuned.tune.tune_seeds, tuned.tune.eval_seeds, tuned.tune.extend) == \
        ("tuned grid", (1337,), (1338, 1339), 2)
    grid = Study.from_options(axes=["opt=sgd,adamw"], scale="tiny", speedup="2,1")
    assert (grid.kind, grid.seeds, grid.budgets, grid.options["source"] if "source" in grid.options else None) == \
        ("grid", (1337, 1338, 1339), (1.0, 2.0), None)


def test_a_tuned_study_writes_itself_out_without_its_tuned_setting():
    study = Study.from_options(axes=["opt=sgd,adamw"], tune="lr=1e-3,1e-2", scale="tiny", seeds=3, data="embedded",
                               lr_scaling="none")
    assert study.to_toml(data="embedded", out=Path("runs")) == HEADER + (
        '[study]\nscale = "tiny"\naxes = ["opt=sgd,adamw"]\nseeds = [1337, 1338, 1339]\ntune = "lr=1e-3,1e-2"\n\n'
        '[data]\nsource = "embedded"\nnum_titles = 2000\nval_frac = 0.1\nvocab_size = 300\n\n'
        '[model]\nblock_size = 32\nn_layer = 1\nn_head = 2\nd_model = 32\ndropout = 0.1\nattention = "sdpa"\n\n'
        '[optim]\nlr_scaling = "none"\n\n'
        '[training]\nbatch_size = 8\ngrad_accum = 1\nepochs = 1\nbudget = 1.0\nevals_per_epoch = 2\n'
        'precision = "fp32"\n\n[run]\nout = "runs"\n')


def test_study_file_errors_to_the_letter(tmp_path):
    path = tmp_path / "s.toml"
    assert message(read_toml, path) == f"no study file at {path}"
    path.write_text("[grid]\nname = 'full'\n")
    assert message(read_toml, path) == (f"study file {path}: unknown section [grid]; valid: [study], [data], [model], "
                                        "[optim], [training], [report], [run]")
    path.write_text("study = 3\n")
    assert message(read_toml, path).startswith(f"study file {path}: unknown section [study]; valid: [study], ")
    path.write_text("[study]\nlr = 0.1\n")
    assert message(read_toml, path) == f"study file {path}: unknown key 'lr' in [study] (it belongs in [optim])"
    path.write_text("[study]\nspeed = 0.1\n")
    assert message(read_toml, path) == f"study file {path}: unknown key 'speed' in [study]"
    path.write_text("[study]\nseeds = \n")
    assert message(read_toml, path).startswith(f"study file {path} cannot be read: ")
    path.write_text('[study]\nscale = "tiny"\n[run]\nout = "results"\nworkers = 2\n')
    assert read_toml(path) == {"scale": "tiny", "out": str(tmp_path / "results"), "workers": 2}
    path.write_text('[run]\nout = "/abs/results"\n')
    assert read_toml(path) == {"out": "/abs/results"}
