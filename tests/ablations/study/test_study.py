"""A study is data: the same from flags, from a TOML file and from Python; a results folder keeps it
resolved, and running that file again resumes; member settings are axes; every option is checked
before anything trains."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ablations import Study, run_study
from ablations.study.study import read_toml
from mainrun.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
OPTIONS = dict(axes=["opt=adamw", "lr=1e-3,1e-2"], scale="tiny", seeds="1337,1338", source="embedded",
               margin=0.002, workers=1)
STUDY_FILE = """
[study]
scale = "tiny"
axes = ["opt=adamw", "lr=1e-3,1e-2"]
seeds = "1337,1338"

[data]
source = "embedded"

[report]
margin = 0.002

[run]
workers = 1
"""


def same(a: Study, b: Study) -> bool:
    return (a.base, a.seeds, a.grid.points, a.grid.references, a.report, a.execution, a.tune) == \
        (b.base, b.seeds, b.grid.points, b.grid.references, b.report, b.execution, b.tune)


def test_a_study_file_means_what_the_command_line_means(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text(STUDY_FILE)
    assert same(Study.from_toml(path), Study.from_options(**OPTIONS))
    # Flags given beside the file replace its values.
    assert Study.from_toml(path, seeds="3").seeds == (1337, 1338, 1339)
    assert Study.from_toml(path, margin=0.01).report.margin == 0.01


@pytest.mark.parametrize("text, message", [
    ("[grid]\nname = 'full'\n", "unknown section [grid]"),
    ("[study]\nlr = 0.1\n", "unknown key 'lr' in [study] (it belongs in [optim])"),
    ("[study]\nseeds = \n", "cannot be read"),
    ("[report]\nmargin = -1.0\n", "--margin must be >= 0, got -1.0"),
])
def test_a_bad_study_file_is_one_line_and_exit_2(tmp_path, text, message):
    path = tmp_path / "study.toml"
    path.write_text(text)
    result = subprocess.run([sys.executable, "-m", "ablations.run", "--study", str(path), "--out", str(tmp_path / "o")],
                            capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "o").exists()


def test_every_option_is_checked_before_the_first_cell_trains(tmp_path):
    """A new user's --margin -1 used to train the whole grid and only then fail."""
    result = subprocess.run([sys.executable, "-m", "ablations.run", "--grid", "full", "--scale", "tiny", "--data",
                             "embedded", "--margin", "-1", "--out", str(tmp_path / "o")],
                            capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 2 and "--margin must be >= 0" in result.stderr
    assert not (tmp_path / "o").exists()
    with pytest.raises(ConfigError, match="--target-effect must be positive"):
        Study.from_options(grid="full", target_effect=0.0)


@pytest.mark.slow
def test_the_python_api_returns_the_summary_and_the_kept_study_file_resumes(tmp_path):
    out = tmp_path / "first"
    # The docs' example (docs/usage.md, "From Python"), with two seeds to keep it short.
    outcome = run_study(Study.from_options(grid="full", scale="tiny", seeds=2, data="embedded", out=str(out),
                                           plot=False))
    summary = outcome.summary
    assert outcome.failed == 0 and outcome.root == out and len(summary.rows) == 16
    assert {e.name for e in summary.effects} >= {"opt: sgd -> adamw", "init: default -> kaiming"}
    assert summary.best.mean(summary.metric) == min(row.mean(summary.metric) for row in summary.rows)
    assert summary.reference.point.is_baseline

    text = (out / "study.toml").read_text()
    assert 'seeds = [1337, 1338]' in text and 'out = "."' in text  # a list, as the docs say; the folder it is in
    kept = read_toml(out / "study.toml")
    assert kept["seeds"] == [1337, 1338] and kept["source"] == "embedded" and kept["out"] == str(out / ".")
    assert kept["n_layer"] == 1 and kept["batch_size"] == 8  # the preset written out
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("cells/*/record.json")}
    again = run_study(Study.from_toml(out / "study.toml"))
    assert again.root.resolve() == out.resolve() and again.failed == 0
    assert {p: p.stat().st_mtime_ns for p in out.glob("cells/*/record.json")} == mtimes, "the study file retrained"
    # A copied folder's study resumes the copy, never the original.
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    moved = run_study(Study.from_toml(copy / "study.toml"))
    assert moved.root.resolve() == copy.resolve() and moved.failed == 0
    assert {p: p.stat().st_mtime_ns for p in out.glob("cells/*/record.json")} == mtimes


def test_a_one_seed_study_file_keeps_its_seed_and_a_lone_axis_string_is_that_axis(tmp_path):
    study = Study.from_options(axes=["opt=sgd,adamw"], scale="tiny", seeds="4,", data="embedded")
    (tmp_path / "one.toml").write_text(study.to_toml(data="embedded", out=Path(".")))
    again = Study.from_toml(tmp_path / "one.toml")
    assert again.seeds == (4,)  # [4] is the seed 4, not a count of four seeds
    assert again.execution.out == tmp_path / "."
    lone = Study.from_options(axes="opt=sgd,adamw", scale="tiny", data="embedded")
    assert [str(p) for p in lone.grid.points] == [str(p) for p in study.grid.points]


def test_a_seed_in_a_study_file_is_refused_in_one_line(tmp_path):
    (tmp_path / "s.toml").write_text('[study]\nscale = "tiny"\n[training]\nseed = 4\n')
    with pytest.raises(ConfigError, match="set them with seeds"):
        Study.from_toml(tmp_path / "s.toml")


@pytest.mark.slow
def test_member_settings_are_axes_and_records_carry_every_resolved_setting(tmp_path):
    out = tmp_path / "eps"
    outcome = run_study(Study.from_options(axes=["norm=rmsnorm", "norm.eps=1e-8,1e-5", "opt=adamw",
                                                 "opt.warmup=0.1,0.3"], scale="tiny", seeds=1, data="embedded",
                                           out=str(out), plot=False))
    assert outcome.failed == 0
    keys = sorted(p.parent.name for p in out.glob("cells/*/record.json"))
    assert keys == ["rmsnorm-learned-default-adamw-norm.eps=1e-05-opt.warmup=0.3-seed1337",
                    "rmsnorm-learned-default-adamw-norm.eps=1e-05-seed1337",
                    "rmsnorm-learned-default-adamw-opt.warmup=0.3-seed1337",
                    "rmsnorm-learned-default-adamw-seed1337"]
    records = {p.parent.name: json.loads(p.read_text()) for p in out.glob("cells/*/record.json")}
    first = records["rmsnorm-learned-default-adamw-seed1337"]
    assert (first["norm.eps"], first["opt.warmup"], first["opt.floor"], first["lr"]) == (1e-8, 0.1, 0.1, 3e-4)
    assert records["rmsnorm-learned-default-adamw-norm.eps=1e-05-seed1337"]["norm.eps"] == 1e-5
    # The warmup setting reached the schedule: the lr peaks at the end of the longer warmup.
    log = (out / "cells" / "rmsnorm-learned-default-adamw-opt.warmup=0.3-seed1337" / "log.jsonl").read_text()
    lrs = [json.loads(line)["lr"] for line in log.splitlines() if '"training_step"' in line]
    assert lrs.index(max(lrs)) == int(len(lrs) * 0.3)
    effects = {e.name for e in outcome.summary.effects}
    assert {"norm.eps: 1e-08 -> 1e-05", "opt.warmup: 0.1 -> 0.3"} <= effects


def test_an_unknown_member_setting_is_refused_by_name():
    with pytest.raises(ConfigError, match="no norm member has a setting 'epsilon'"):
        Study.from_options(axes=["norm.epsilon=1e-5,1e-6"], scale="tiny")
    with pytest.raises(ConfigError, match="norm 'layernorm' has no setting"):
        from mainrun.variant import Variant
        Variant.parse("norm=layernorm,norm.base=3.0")


@pytest.mark.parametrize("option, message", [("plot", "--plot needs the plot extra"),
                                             ("tensorboard", "--tensorboard needs the tensorboard extra")])
def test_an_output_that_needs_a_missing_extra_is_refused_before_anything_trains(monkeypatch, option, message):
    import ablations.study.study

    monkeypatch.setattr(ablations.study.study, "module_available", lambda name: False)
    with pytest.raises(ConfigError, match=message):
        Study.from_options(grid="full", scale="tiny", **{option: True})
    Study.from_options(grid="full", scale="tiny", **{option: False})  # not asked for: nothing needed


def test_without_scale_a_study_whose_cells_get_no_gpu_uses_the_cpu_preset(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for options in ({}, {"device": "cpu"}, {"backend": "submitit-local", "gpus_per_job": 0}):
        study = Study.from_options(axes=["opt=sgd,adamw"], data="embedded", **options)
        assert study.base.scale == "cpu", f"{options}: cells without a GPU got the {study.base.scale} preset"
    # Cells that do get one (a job's GPU) train the reference scale.
    gpu_jobs = Study.from_options(axes=["opt=sgd,adamw"], data="embedded", backend="submitit-local", gpus_per_job=1)
    assert gpu_jobs.base.scale == "mainrun"


def test_report_and_execution_options_refuse_bad_values_in_one_exact_line():
    from ablations.study.study import Execution, ReportOptions

    with pytest.raises(ConfigError) as error:
        ReportOptions(metric="loss")
    assert str(error.value) == "unknown metric 'loss'; valid: auto, val_loss, val_loss_full, val_bpb"
    with pytest.raises(ConfigError) as error:
        Execution(gpus_per_job=2)
    assert str(error.value) == ("--gpus-per-job 2: a cell trains on one device, so all but one GPU of each job would "
                                "sit idle; use --gpus-per-job 1 (and --workers for more jobs at once)")


def test_a_member_setting_axis_reads_its_values_as_the_type_of_the_settings_default():
    from ablations.study.axes import parse_values

    eps = parse_values("norm.eps", ["1e-5", "1e-6"])
    assert eps == [1e-5, 1e-6] and all(type(v) is float for v in eps)
    with pytest.raises(ConfigError, match="norm.eps"):
        parse_values("norm.eps", ["small"])
