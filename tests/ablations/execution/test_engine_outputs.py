"""What a user sees from the runner (ablations/execution/engine.py), compared whole against literal text:
the header and progress lines, every field of run.json, which cells train and which resume, the
one-line refusals, and the workers x threads placement for given core counts. Synthetic cells: each
study here runs in a fraction of a second."""
import json
import os
import platform
import re
import shutil
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import ablations
import ablations.execution.engine as engine
from ablations import Study, run_study
from ablations.execution.cells import record as cell_record
from ablations.execution.engine import (GPU_JOB_CPUS, GPU_JOB_MEM_GB, Interrupted, Placement, config_hash,
                                        data_spec, placement, progress_line, usable_cores)
from ablations.execution.store import ResultsDir
from ablations.study.study import Execution
from mainrun import checkpoint
from mainrun.config import RunContext, TrainConfig
from mainrun.data.sources import Source
from mainrun.errors import ConfigError
from mainrun.training import RunResult
from tests.ablations.synthetic import Synthetic, install

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"
SGD = "layernorm-learned-default-sgd"
ADAMW = "layernorm-learned-default-adamw"
TINY_CONFIG = {
    "scale": "tiny", "data": "embedded", "num_titles": 2000, "val_frac": 0.1, "vocab_size": 300, "block_size": 32,
    "n_layer": 1, "n_head": 2, "d_model": 32, "dropout": 0.1, "attention": "sdpa", "lr": None, "weight_decay": None,
    "lr_scaling": "none", "batch_size": 8, "grad_accum": 1, "epochs": 1, "max_steps": None, "budget": 1.0,
    "evals_per_epoch": 2, "precision": "fp32",
}


@pytest.fixture(autouse=True)
def no_reports(monkeypatch):
    """The runner calls the report with each finished folder; the reports themselves are the writers' tests'."""
    import ablations.api

    monkeypatch.setattr(ablations.api, "summarise", lambda root, options: SimpleNamespace(root=root))
    monkeypatch.setattr(ablations.api, "write_results", lambda summary, plot: None)


def two_optimisers(out: Path, **options) -> Study:
    settings = dict(axes=["opt=sgd,adamw"], scale="tiny", seeds=1, data="embedded", out=str(out), plot=False)
    return Study.from_options(**{**settings, **options})


def tuned(out: Path, **options) -> Study:
    return two_optimisers(out, tune="lr=1e-3,1e-2", tune_extend=0, seeds=3, **options)


def cores(monkeypatch, n: int) -> None:
    monkeypatch.setattr(engine, "usable_cores", lambda: n)


def header(out: Path, cells: str, workers: str, backend: str = "local", device: str = "cpu") -> str:
    return (f"ablations: {cells}, scale tiny, data embedded, device {device}; {backend} backend, {workers}; "
            f"results in {out}\n")


def read_run(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())


# ---- placement: workers x threads ----

@pytest.mark.parametrize("n, requested_workers, requested_threads, cells, expected", [
    (4, None, None, 10, (4, 1)),  # one single-threaded worker per core
    (4, None, None, 2, (2, 2)),  # fewer cells than cores: the cores go to threads
    (4, None, None, 1, (1, 4)),
    (4, None, None, 0, (1, 4)),  # nothing left to run: still one worker
    (3, None, None, 2, (2, 1)),  # 3 cores over 2 workers: one thread each
    (4, 3, None, 10, (3, 1)),
    (4, 8, None, 10, (8, 1)),  # more workers asked for than cores: never zero threads
    (4, 8, None, 5, (5, 1)),  # never more workers than cells
    (4, None, 2, 10, (4, 2)),
    (4, 2, 3, 1, (1, 3)),
    (6, 2, None, 10, (2, 3)),
])
def test_local_cpu_cells_get_one_worker_per_core_and_the_rest_as_threads(monkeypatch, n, requested_workers,
                                                                         requested_threads, cells, expected):
    cores(monkeypatch, n)
    where = Placement("local", None, "cpu", 0, cells_get_gpu=False)
    where.size(requested_workers, requested_threads, cells)
    assert (where.workers, where.threads) == expected


@pytest.mark.parametrize("gpus, requested_workers, cells, expected", [
    (2, None, 10, (2, 8)),  # one worker per GPU, the cores shared among them
    (2, None, 1, (1, 16)),
    (0, None, 10, (1, 16)),  # --device cuda: one GPU, one worker
    (2, 3, 10, (3, 5)),
])
def test_local_gpu_cells_get_one_worker_per_gpu(monkeypatch, gpus, requested_workers, cells, expected):
    cores(monkeypatch, 16)
    where = Placement("local", None, "cuda", gpus, cells_get_gpu=True)
    where.size(requested_workers, None, cells)
    assert (where.workers, where.threads) == expected


@pytest.mark.parametrize("gpus, requested, cells, expected", [
    (1, (None, None), 16, (16, GPU_JOB_CPUS)),  # a job per cell, each with CPUs to feed its GPU
    (1, (None, None), 0, (1, GPU_JOB_CPUS)),
    (0, (None, None), 3, (3, 1)),
    (1, (5, 2), 16, (5, 2)),
    (0, (40, None), 3, (40, 1)),  # Slurm queues what it cannot run: the bound is the user's
])
def test_slurm_jobs_are_one_per_cell_and_ask_for_cpus_by_their_gpu(monkeypatch, gpus, requested, cells, expected):
    cores(monkeypatch, 2)  # this machine's cores are no part of a Slurm job's size
    where = Placement("submitit (slurm)", "slurm", "slurm", gpus, cells_get_gpu=gpus > 0)
    where.size(*requested, cells)
    assert (where.workers, where.threads) == expected
    assert GPU_JOB_CPUS == 4 and GPU_JOB_MEM_GB == 16


def test_usable_cores_are_this_processes_affinity_or_the_cpu_count(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
    assert usable_cores() == 3
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 5)
    assert usable_cores() == 5
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert usable_cores() == 1


def fields(where: Placement) -> tuple:
    return where.backend, where.cluster, where.device, where.gpus, where.cells_get_gpu


def test_where_cells_run_for_each_backend_and_device(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert fields(placement(Execution(context=RunContext(device="cpu")))) == ("local", None, "cpu", 0, False)
    assert fields(placement(Execution(backend="submitit-local"))) == ("submitit-local", "local", "cpu", 0, False)
    assert fields(placement(Execution(backend="submitit-local", gpus_per_job=1))) == (
        "submitit-local", "local", "cuda", 1, True)
    assert fields(placement(Execution(backend="submitit"))) == (
        "submitit (local jobs: no sbatch here)", "local", "cpu", 0, False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # unset --gpus-per-job: one if there is a GPU
    assert fields(placement(Execution(backend="submitit"))) == (
        "submitit (local jobs: no sbatch here)", "local", "cuda", 1, True)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}" if name == "sbatch" else None)
    assert fields(placement(Execution(backend="submitit", gpus_per_job=0))) == (
        "submitit (slurm)", "slurm", "slurm jobs with 0 GPU(s) each", 0, False)
    assert fields(placement(Execution(backend="submitit"))) == (
        "submitit (slurm)", "slurm", "slurm jobs with 1 GPU(s) each", 1, True)
    # submitit-local runs local jobs even where sbatch is.
    assert fields(placement(Execution(backend="submitit-local", gpus_per_job=0))) == (
        "submitit-local", "local", "cpu", 0, False)


def test_local_gpus_are_dealt_one_per_worker_only_when_the_device_was_left_to_the_runner(monkeypatch):
    asked = []
    monkeypatch.setattr(engine, "resolve_device", lambda name: asked.append(name) or torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert fields(placement(Execution())) == ("local", None, "cuda (2 GPU(s), one per worker)", 2, True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert fields(placement(Execution())) == ("local", None, "cuda (1 GPU(s), one per worker)", 1, True)
    assert asked == ["auto", "auto"]


def test_an_explicit_cuda_device_is_one_worker_on_that_device(monkeypatch):
    monkeypatch.setattr(engine, "resolve_device", lambda name: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    execution = SimpleNamespace(backend="local", context=SimpleNamespace(device="cuda:1"))
    assert fields(placement(execution)) == ("local", None, "cuda", 0, True)


# ---- the data every cell gets, and the config hash ----

def test_the_data_spec_is_resolved_once_and_a_path_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    def source(name: str) -> Source:
        return Source(name, "fp", list)

    assert data_spec(source("embedded"), "auto") == "embedded"
    assert data_spec(source("hub:someone/titles"), "auto") == "hub"
    assert data_spec(source("file:x"), "sub/../titles.txt") == str(tmp_path / "titles.txt")
    assert data_spec(source("file:x"), "~/titles.txt") == str(tmp_path / "home" / "titles.txt")
    assert data_spec(source("hubby"), "hubby") == str(tmp_path / "hubby")


def test_the_config_hash_covers_every_setting_off_the_axes_and_the_datas_content():
    cfg = TrainConfig.from_scale("tiny", source="embedded")
    assert config_hash(cfg, "fp") == "50e69900"
    assert config_hash(cfg, "fp", ("lr",)) == "cd6148b0"
    assert config_hash(cfg, "other") != "50e69900"
    # The seed, the variant and the data's spelling are not the experiment; an axis setting is only on its axis.
    assert config_hash(cfg.with_values(seed=7, source="titles.txt"), "fp") == "50e69900"
    assert config_hash(cfg.with_values(lr=0.5), "fp", ("lr",)) == "cd6148b0"
    assert config_hash(cfg.with_values(lr=0.5), "fp") != "50e69900"
    assert config_hash(cfg.with_values(dropout=0.0), "fp", ("lr",)) != "cd6148b0"


# ---- a whole run: the header, progress lines, run.json and study.toml ----

def test_a_first_run_prints_its_header_and_a_line_per_cell_and_writes_run_json(tmp_path, monkeypatch, capsys):
    cores(monkeypatch, 3)
    backend = install(monkeypatch, lambda cfg: 3.0 - 0.25 * (cfg.variant.opt == "adamw"))
    out = tmp_path / "out"
    outcome = run_study(two_optimisers(out, seeds=2), command="ablations.run --axes opt=sgd,adamw")
    captured = capsys.readouterr()
    assert captured.out == header(out, "4 cells (2 variants x 2 seeds)", "3 workers x 1 thread")
    assert captured.err == (f"[1/4] {SGD}-seed1337: ok, val loss 3.0000 (eta 00:00)\n"
                            f"[2/4] {SGD}-seed1338: ok, val loss 3.0000 (eta 00:00)\n"
                            f"[3/4] {ADAMW}-seed1337: ok, val loss 2.7500 (eta 00:00)\n"
                            f"[4/4] {ADAMW}-seed1338: ok, val loss 2.7500 (eta 00:00)\n")
    assert outcome.failed == 0 and outcome.root == out and outcome.summary.root == out
    assert [c.key for c in backend.trained] == [f"{SGD}-seed1337", f"{SGD}-seed1338", f"{ADAMW}-seed1337",
                                                f"{ADAMW}-seed1338"]
    run = read_run(out)
    assert run == {
        "grid": "axes",
        "variants": ["norm=layernorm,pos=learned,init=default,opt=sgd",
                     "norm=layernorm,pos=learned,init=default,opt=adamw"],
        "axes": {"opt": {"levels": ["sgd", "adamw"], "reference": "sgd"}},
        "design": {"fraction": "full"},
        "seeds": [1337, 1338], "plugins": [], "cells": 4, "scale": "tiny", "data": "embedded",
        "fingerprint": "embedded-v1-n120000", "device": "cpu", "backend": "local", "workers": 3, "threads": 1,
        "config": TINY_CONFIG, "config_hash": "d58e2c82", "command": "ablations.run --axes opt=sgd,adamw",
        "resumed": [], "torch": torch.__version__, "code": checkpoint.code_version(ablations), "code_changes": [],
        "machine": f"{platform.platform()}, {os.cpu_count()} logical cores, cpu",
    }
    assert re.fullmatch(r"[0-9a-f]{12}", run["code"]["source"])
    # Every cell carries the code that made it, the folder's data and this run's threads.
    assert {(c.code, c.source, c.fingerprint, c.context.threads, c.context.device, c.context.tensorboard_dir)
            for c in backend.trained} == {(run["code"]["source"], "embedded", "embedded-v1-n120000", 1, "auto", None)}
    assert [c.config.training.seed for c in backend.trained] == [1337, 1338, 1337, 1338]
    assert {c.config.data.source for c in backend.trained} == {"embedded"}


def test_the_study_file_kept_in_the_folder_resumes_the_folder_it_is_in(tmp_path, monkeypatch):
    install(monkeypatch, lambda cfg: 3.0)
    out = tmp_path / "out"
    run_study(two_optimisers(out, seeds=2))
    text = (out / "study.toml").read_text()
    assert '[run]\nout = "."\nplot = false\n' in text
    assert 'axes = ["opt=sgd,adamw"]\nseeds = [1337, 1338]\n' in text
    assert '[data]\nsource = "embedded"\n' in text
    assert Study.from_toml(out / "study.toml").execution.out == out


def test_each_later_run_is_added_to_resumed_and_the_first_command_stays(tmp_path, monkeypatch, capsys):
    cores(monkeypatch, 3)
    backend = install(monkeypatch, lambda cfg: 3.0)
    out = tmp_path / "out"
    study = two_optimisers(out, seeds=2)
    run_study(study, command="first")
    (out / "cells" / f"{ADAMW}-seed1338" / "record.json").unlink()
    capsys.readouterr()
    run_study(study, command="second")
    captured = capsys.readouterr()
    assert captured.out == (header(out, "4 cells (2 variants x 2 seeds)", "1 worker x 3 threads")
                            + "resuming: 3 of 4 cells already finished\n")
    assert captured.err == f"[1/1] {ADAMW}-seed1338: ok, val loss 3.0000 (eta 00:00)\n"
    assert [c.key for c in backend.trained[4:]] == [f"{ADAMW}-seed1338"]
    assert backend.trained[-1].context.threads == 3
    run_study(study, command="third")
    captured = capsys.readouterr()
    assert captured.out == (header(out, "4 cells (2 variants x 2 seeds)", "1 worker x 3 threads")
                            + "resuming: 4 of 4 cells already finished\n")
    assert captured.err == "" and len(backend.trained) == 5
    run = read_run(out)
    assert run["command"] == "first" and [r["command"] for r in run["resumed"]] == ["second", "third"]
    assert all(set(r) == {"command", "at"} and re.fullmatch(STAMP, r["at"]) for r in run["resumed"])
    assert (run["workers"], run["threads"], run["code_changes"]) == (1, 3, [])
    assert "migrated" not in run


def test_a_tuned_study_prints_its_planned_cells_its_decision_and_each_phases_width(tmp_path, monkeypatch, capsys):
    cores(monkeypatch, 6)
    backend = install(monkeypatch, lambda cfg: 3.0 + abs(cfg.optim.lr - 1e-2) if cfg.optim.lr else 3.5)
    out = tmp_path / "out"
    study = tuned(out)
    outcome = run_study(study, command="tuned")
    captured = capsys.readouterr()
    assert captured.out == (
        header(out, "12 cells (2 variants x 3 seeds; 4 tuning (lr over 2 values on 1 seed), then 8 measuring)",
               "4 workers x 1 thread")
        + "tuned lr: baseline -> 0.01 (still at an end); opt=adamw -> 0.01 (still at an end)\n"
        + "this phase: 6 workers x 1 thread\n")
    lines = captured.err.splitlines()
    assert lines[:4] == [f"tuning [1/4] {SGD}-lr=0.001-seed1337: ok, val loss 3.0090 (eta 00:00)",
                         f"tuning [2/4] {SGD}-lr=0.01-seed1337: ok, val loss 3.0000 (eta 00:00)",
                         f"tuning [3/4] {ADAMW}-lr=0.001-seed1337: ok, val loss 3.0090 (eta 00:00)",
                         f"tuning [4/4] {ADAMW}-lr=0.01-seed1337: ok, val loss 3.0000 (eta 00:00)"]
    assert lines[4] == f"measuring [1/8] {SGD}-lr=0.01-seed1338: ok, val loss 3.0000 (eta 00:00)"
    assert lines[11] == f"measuring [8/8] {ADAMW}-seed1339: ok, val loss 3.0097 (eta 00:00)"
    assert len(lines) == 12 and outcome.failed == 0 and len(backend.trained) == 12
    run = read_run(out)
    assert run["tune"] == {"axis": "lr", "values": [0.001, 0.01], "tune_seeds": [1337], "eval_seeds": [1338, 1339],
                           "metric": "auto", "extend": 0, "shared_default": True}
    assert (run["cells"], run["workers"], run["threads"]) == (6, 4, 1)

    # Again, with nothing left: each phase says so, and the width is the first phase's.
    run_study(study, command="tuned")
    assert capsys.readouterr().out == (
        header(out, "12 cells (2 variants x 3 seeds; 4 tuning (lr over 2 values on 1 seed), then 8 measuring)",
               "1 worker x 6 threads")
        + "resuming: 4 of 4 tuning cells already finished\n"
        + "tuned lr: baseline -> 0.01 (still at an end); opt=adamw -> 0.01 (still at an end)\n"
        + "resuming: 8 of 8 measuring cells already finished\n")
    assert len(backend.trained) == 12

    # Two measuring cells lost: that phase gets two workers of three threads, and says so.
    for key in (f"{SGD}-seed1338", f"{ADAMW}-seed1339"):
        (out / "cells" / key / "record.json").unlink()
    run_study(study, command="tuned")
    assert capsys.readouterr().out == (
        header(out, "12 cells (2 variants x 3 seeds; 4 tuning (lr over 2 values on 1 seed), then 8 measuring)",
               "1 worker x 6 threads")
        + "resuming: 4 of 4 tuning cells already finished\n"
        + "tuned lr: baseline -> 0.01 (still at an end); opt=adamw -> 0.01 (still at an end)\n"
        + "this phase: 2 workers x 3 threads\n"
        + "resuming: 6 of 8 measuring cells already finished\n")
    assert [(c.key, c.context.threads) for c in backend.trained[12:]] == [(f"{SGD}-seed1338", 3),
                                                                          (f"{ADAMW}-seed1339", 3)]

    # Two tuning cells lost: they train two wide; the measuring phase, with nothing left, says nothing.
    for key in (f"{SGD}-lr=0.001-seed1337", f"{ADAMW}-lr=0.01-seed1337"):
        (out / "cells" / key / "record.json").unlink()
    run_study(study, command="tuned")
    assert capsys.readouterr().out == (
        header(out, "12 cells (2 variants x 3 seeds; 4 tuning (lr over 2 values on 1 seed), then 8 measuring)",
               "2 workers x 3 threads")
        + "resuming: 2 of 4 tuning cells already finished\n"
        + "tuned lr: baseline -> 0.01 (still at an end); opt=adamw -> 0.01 (still at an end)\n"
        + "resuming: 8 of 8 measuring cells already finished\n")
    assert read_run(out)["command"] == "tuned" and len(read_run(out)["resumed"]) == 3


# ---- refusals ----

def rewrite_run(out: Path, **changes) -> dict:
    run = {**read_run(out), **changes}
    (out / "run.json").write_text(json.dumps(run))
    return run


def test_a_folder_of_another_configuration_is_refused_in_one_line_and_left_as_it_was(tmp_path, monkeypatch):
    backend = install(monkeypatch, lambda cfg: 3.0)
    out = tmp_path / "out"
    run_study(two_optimisers(out))
    message = (f"{out} holds results of another configuration (config hash deadbeef, this run d58e2c82); "
               "pass another --out")
    for config in ({**TINY_CONFIG, "d_model": 64}, {**TINY_CONFIG, "n_layer": 3}):
        before = rewrite_run(out, config_hash="deadbeef", config=config)
        with pytest.raises(ConfigError) as refused:
            run_study(two_optimisers(out))
        assert str(refused.value) == message
        assert read_run(out) == before and len(backend.trained) == 2
    # A run.json without its config cannot be read as this experiment either.
    run = read_run(out)
    del run["config"]
    (out / "run.json").write_text(json.dumps(run))
    with pytest.raises(ConfigError) as refused:
        run_study(two_optimisers(out))
    assert str(refused.value) == message
    # Nor one whose recorded data differs: the same settings over other data.
    rewrite_run(out, config=TINY_CONFIG, fingerprint="embedded-v0")
    with pytest.raises(ConfigError) as refused:
        run_study(two_optimisers(out))
    assert str(refused.value) == message


def test_a_folder_of_an_unreadable_config_is_refused_not_a_traceback(tmp_path, monkeypatch):
    install(monkeypatch, lambda cfg: 3.0)
    out = tmp_path / "out"
    run_study(two_optimisers(out))
    for config in ({**TINY_CONFIG, "batch_size": "eight"}, {**TINY_CONFIG, "scale": "huge"}):
        rewrite_run(out, config_hash="deadbeef", config=config)
        with pytest.raises(ConfigError, match=r"holds results of another configuration \(config hash deadbeef"):
            run_study(two_optimisers(out))


def test_a_folder_swept_over_a_setting_migrates_with_that_setting_left_out_of_its_hash(tmp_path, monkeypatch):
    backend = install(monkeypatch, lambda cfg: 3.0)
    out = tmp_path / "out"
    study = Study.from_options(axes=["lr=1e-3,1e-2"], scale="tiny", seeds=1, data="embedded", out=str(out),
                               plot=False)
    run_study(study)
    run = read_run(out)
    rewrite_run(out, config_hash="0ldha5h0", config={**run["config"], "lr": 0.5})
    run_study(study)
    after = read_run(out)
    assert len(backend.trained) == 2 and after["config_hash"] == run["config_hash"]
    assert after["migrated"]["config_hash"] == "0ldha5h0" and re.fullmatch(STAMP, after["migrated"]["at"])


def test_a_folder_made_by_other_code_is_refused_in_one_line_unless_allowed(tmp_path, monkeypatch, capsys):
    backend = install(monkeypatch, lambda cfg: 3.0)
    out = tmp_path / "out"
    run_study(two_optimisers(out))
    code = checkpoint.code_version(ablations)["source"]
    before = rewrite_run(out, code={"package": "0.0.1", "source": "feedface0000"})
    with pytest.raises(ConfigError) as refused:
        run_study(two_optimisers(out))
    assert str(refused.value) == (f"{out} holds cells made by other code (source hash feedface0000; this code {code}); "
                                  "pass another --out, or --allow-code-change to add to it anyway")
    assert read_run(out) == before
    for missing in ({"code": None}, {}):  # a folder from before code hashes were recorded
        run = {k: v for k, v in read_run(out).items() if k != "code"}
        (out / "run.json").write_text(json.dumps({**run, **missing}))
        with pytest.raises(ConfigError) as refused:
            run_study(two_optimisers(out))
        assert str(refused.value) == (
            f"{out} holds cells made by other code (source hash unknown (made before code hashes were recorded); "
            f"this code {code}); pass another --out, or --allow-code-change to add to it anyway")
    assert len(backend.trained) == 2
    # Allowed: the change is recorded, the cells kept, and an earlier change kept before it.
    earlier = {"from": "0ld", "to": "feedface0000", "at": "2026-01-01T00:00:00"}
    rewrite_run(out, code={"package": "0.0.1", "source": "feedface0000"}, code_changes=[earlier])
    capsys.readouterr()
    run_study(two_optimisers(out, allow_code_change=True))
    assert capsys.readouterr().out.endswith("resuming: 2 of 2 cells already finished\n")
    after = read_run(out)
    assert len(backend.trained) == 2 and after["code"]["source"] == code
    assert after["code_changes"][0] == earlier and len(after["code_changes"]) == 2
    assert set(after["code_changes"][1]) == {"from", "to", "at"}
    assert (after["code_changes"][1]["from"], after["code_changes"][1]["to"]) == ("feedface0000", code)
    assert re.fullmatch(STAMP, after["code_changes"][1]["at"])
    # The same code again: the recorded changes stay as they are, with or without the flag.
    run_study(two_optimisers(out))
    assert read_run(out)["code_changes"] == after["code_changes"]


# ---- what the cells get, and what the backend is asked for ----

def test_each_seed_data_is_prepared_once_before_any_cell_with_the_cells_settings(tmp_path, monkeypatch):
    backend = install(monkeypatch, lambda cfg: 3.0)
    prepared = []
    monkeypatch.setattr(engine.data, "prepare", lambda *args: prepared.append((args, len(backend.trained))))
    study = two_optimisers(tmp_path / "out", seeds=2, num_titles=300, val_frac=0.2, vocab_size=280)
    run_study(study)
    cache = study.execution.context.cache_dir
    assert prepared == [(("embedded", 300, 0.2, 1337, 280, cache), 0), (("embedded", 300, 0.2, 1338, 280, cache), 0)]


def test_the_local_backend_is_as_wide_as_the_placement_and_draws_bars_only_on_a_terminal(tmp_path, monkeypatch):
    cores(monkeypatch, 2)
    asked = []
    synthetic = Synthetic(lambda cfg: 3.0)
    monkeypatch.setattr(engine, "Local", lambda **settings: asked.append(settings) or synthetic)
    run_study(two_optimisers(tmp_path / "out", seeds=3))
    assert asked == [{"workers": 2, "gpus": 0, "cell_bars": False}]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    run_study(two_optimisers(tmp_path / "again", seeds=1, workers=1))
    assert asked[1] == {"workers": 1, "gpus": 0, "cell_bars": True}


@pytest.mark.parametrize("options, slurm, expected, device", [
    # Local jobs share this machine: sized as local workers are, one per core, or one per job's GPU.
    ({}, False, dict(cluster="local", max_in_flight=2, gpus_per_job=0, cpus_per_job=4, mem_gb=None), "auto"),
    ({"mem_gb": 3, "timeout_min": 7}, False,
     dict(cluster="local", max_in_flight=2, gpus_per_job=0, cpus_per_job=4, mem_gb=3, timeout_min=7), "auto"),
    ({"gpus_per_job": 1}, False,
     dict(cluster="local", max_in_flight=1, gpus_per_job=1, cpus_per_job=8, mem_gb=16), "cuda"),
    ({"gpus_per_job": 1, "mem_gb": 5, "threads": 2, "workers": 1}, False,
     dict(cluster="local", max_in_flight=1, gpus_per_job=1, cpus_per_job=2, mem_gb=5), "cuda"),
    ({"gpus_per_job": 1, "device": "cpu"}, False,
     dict(cluster="local", max_in_flight=1, gpus_per_job=1, cpus_per_job=8, mem_gb=16), "cpu"),
    ({"partition": "gpu"}, True, dict(cluster="slurm", max_in_flight=2, gpus_per_job=0, cpus_per_job=1, mem_gb=None,
                                      partition="gpu"), "auto"),
])
def test_jobs_ask_for_what_the_placement_says_and_a_job_given_a_gpu_trains_on_it(tmp_path, monkeypatch, options, slurm,
                                                                                   expected, device):
    cores(monkeypatch, 8)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/sbatch" if slurm else None)
    asked = []
    synthetic = Synthetic(lambda cfg: 3.0)
    monkeypatch.setattr(engine, "Submitit", lambda **settings: asked.append(settings) or synthetic)
    run_study(two_optimisers(tmp_path / "out", backend="submitit" if slurm else "submitit-local", **options))
    assert asked == [{"timeout_min": 240, "partition": None, **expected}]
    assert {c.context.device for c in synthetic.trained} == {device}
    assert {c.context.threads for c in synthetic.trained} == {expected["cpus_per_job"]}


def test_a_slurm_runs_header_names_its_jobs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/sbatch")
    monkeypatch.setattr(engine, "Submitit", lambda **settings: Synthetic(lambda cfg: 3.0))
    out = tmp_path / "out"
    run_study(two_optimisers(out, backend="submitit", gpus_per_job=1, seeds=2))
    assert capsys.readouterr().out == header(out, "4 cells (2 variants x 2 seeds)", "4 workers x 4 threads",
                                             backend="submitit (slurm)", device="slurm jobs with 1 GPU(s) each")
    run = read_run(out)
    assert (run["backend"], run["device"], run["workers"], run["threads"]) == (
        "submitit (slurm)", "slurm jobs with 1 GPU(s) each", 4, 4)
    assert run["machine"].endswith(" logical cores, slurm jobs with 1 GPU(s) each")


def test_a_setting_no_cell_can_train_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    backend = install(monkeypatch, lambda cfg: 3.0)
    study = two_optimisers(tmp_path / "out")  # valid as a study: only its adamw cells cannot train

    def validate(self):
        if self.variant.opt == "adamw":
            raise ConfigError("no such cell")

    monkeypatch.setattr(TrainConfig, "validate", validate)
    with pytest.raises(ConfigError, match="^no such cell$"):
        run_study(study)
    assert backend.trained == [] and not (tmp_path / "out" / "run.json").exists()


# ---- cells that die, and Ctrl-C ----

class Dying:
    """Yields each cell's outcome from `fates`: "ok" commits a record; "dies" raises in the worker before
    committing; "dies after" commits, then the process dies; "ctrl-c" is the user's Ctrl-C."""

    def __init__(self, fates: dict[str, str]):
        self.fates = fates

    def run(self, cells, results_root):
        store = ResultsDir(results_root)
        for cell in cells:
            fate = self.fates.get(cell.key, "ok")
            if fate == "ctrl-c":
                raise KeyboardInterrupt
            if fate in ("ok", "dies after", "diverged"):
                loss = None if fate == "diverged" else 2.5
                result = RunResult("diverged" if fate == "diverged" else "ok", val_loss=loss, val_loss_full=loss,
                                   steps=10, max_steps=10, params=1, data=cell.source, fingerprint=cell.fingerprint)
                store.write_cell(cell.key, cell_record(cell, result), [(10, 2.5)])
            if fate in ("ok", "diverged"):
                yield cell, store.read_record(cell.key)
            else:
                yield cell, RuntimeError("worker died\nsecond line")


def test_a_cell_whose_worker_died_is_a_failed_record_and_one_that_had_committed_is_kept(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(engine, "Local", lambda **settings: Dying({f"{SGD}-seed1337": "dies",
                                                                   f"{ADAMW}-seed1337": "dies after",
                                                                   f"{ADAMW}-seed1338": "diverged"}))
    out = tmp_path / "out"
    outcome = run_study(two_optimisers(out, seeds=2))
    assert outcome.failed == 1
    assert capsys.readouterr().err == (
        f"[1/4] {SGD}-seed1337: failed: RuntimeError: worker died (eta 00:00)\n"
        f"[2/4] {SGD}-seed1338: ok, val loss 2.5000 (eta 00:00)\n"
        f"[3/4] {ADAMW}-seed1337: ok, val loss 2.5000 (eta 00:00)\n"
        f"[4/4] {ADAMW}-seed1338: diverged (eta 00:00)\n")  # a result, not a failure
    failed = json.loads((out / "cells" / f"{SGD}-seed1337" / "record.json").read_text())
    assert (failed["status"], failed["error"]) == ("failed", "RuntimeError: worker died\nsecond line")
    assert json.loads((out / "cells" / f"{SGD}-seed1337" / "curve.json").read_text()) == []
    kept = json.loads((out / "cells" / f"{ADAMW}-seed1337" / "record.json").read_text())
    assert (kept["status"], kept["val_loss"]) == ("ok", 2.5)
    # The failed cell, and only it, trains on the next run.
    backend = install(monkeypatch, lambda cfg: 3.0)
    assert run_study(two_optimisers(out, seeds=2)).failed == 0
    assert [c.key for c in backend.trained] == [f"{SGD}-seed1337"]


def test_failures_of_every_phase_are_counted(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(engine, "Local", lambda **settings: Dying({f"{SGD}-lr=0.001-seed1337": "dies"}))
    assert run_study(tuned(tmp_path / "out")).failed == 1


def test_ctrl_c_keeps_the_finished_cells_and_says_how_to_resume(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(engine, "Local", lambda **settings: Dying({f"{ADAMW}-seed1337": "ctrl-c"}))
    out = tmp_path / "out"
    with pytest.raises(Interrupted):
        run_study(two_optimisers(out))
    assert capsys.readouterr().err == (
        f"[1/2] {SGD}-seed1337: ok, val loss 2.5000 (eta 00:00)\n"
        f"interrupted: finished cells are kept in {out}; run the same command again to resume\n")
    assert Interrupted.announced is True and issubclass(Interrupted, KeyboardInterrupt)
    backend = install(monkeypatch, lambda cfg: 3.0)
    run_study(two_optimisers(out))
    assert [c.key for c in backend.trained] == [f"{ADAMW}-seed1337"]


def test_the_eta_is_the_mean_time_per_finished_cell_times_the_cells_left(tmp_path, monkeypatch, capsys):
    clock = iter([100.0, 110.0, 130.0, 190.0])
    monkeypatch.setattr(engine, "time", SimpleNamespace(time=lambda: next(clock), strftime=time.strftime))
    install(monkeypatch, lambda cfg: 3.0)
    run_study(two_optimisers(tmp_path / "out", seeds=3, workers=1, axes=["opt=sgd"]))
    assert [line.rpartition("(eta ")[2] for line in capsys.readouterr().err.splitlines()] == [
        "00:20)", "00:15)", "00:00)"]


@pytest.mark.parametrize("outcome, eta, expected", [
    ({"status": "ok", "val_loss": 3.14159}, 75.0, "[2/5] k: ok, val loss 3.1416 (eta 01:15)"),
    ({"status": "ok", "val_loss": 3.0, "resumed_from": 40}, 3725.0,
     "[2/5] k: ok, val loss 3.0000 (resumed from its checkpoint at step 40) (eta 1:02:05)"),
    ({"status": "ok", "val_loss": 3.0, "resumed_from": 0}, 0.0, "[2/5] k: ok, val loss 3.0000 (eta 00:00)"),
    ({"status": "diverged", "val_loss": None}, 9.0, "[2/5] k: diverged (eta 00:09)"),
    ({"status": "failed", "error": "ValueError: bad\nTraceback ..."}, 0.0, "[2/5] k: failed: ValueError: bad (eta 00:00)"),
    ({"status": "failed", "error": ""}, 0.0, "[2/5] k: failed (eta 00:00)"),
    ({"status": "ok", "val_loss": 0.0}, 0.0, "[2/5] k: ok, val loss 0.0000 (eta 00:00)"),
])
def test_a_progress_line_says_the_cells_status_loss_resume_and_first_error_line(outcome, eta, expected):
    assert progress_line(2, 5, SimpleNamespace(key="k"), outcome, eta) == expected


def test_local_gpu_workers_leave_each_cells_device_to_the_worker(tmp_path, monkeypatch, capsys):
    """Local workers each get a GPU of their own and train on it at `auto`; only a job is told cuda."""
    cores(monkeypatch, 4)
    monkeypatch.setattr(engine, "resolve_device", lambda name: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    asked = []
    synthetic = Synthetic(lambda cfg: 3.0)
    monkeypatch.setattr(engine, "Local", lambda **settings: asked.append(settings) or synthetic)
    out = tmp_path / "out"
    run_study(two_optimisers(out, seeds=2))
    assert asked == [{"workers": 2, "gpus": 2, "cell_bars": False}]
    assert {(c.context.device, c.context.threads) for c in synthetic.trained} == {("auto", 2)}
    assert capsys.readouterr().out == header(out, "4 cells (2 variants x 2 seeds)", "2 workers x 2 threads",
                                             device="cuda (2 GPU(s), one per worker)")


def test_a_job_given_a_gpu_keeps_a_device_the_user_named(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    synthetic = Synthetic(lambda cfg: 3.0)
    monkeypatch.setattr(engine, "Submitit", lambda **settings: synthetic)
    run_study(two_optimisers(tmp_path / "out", backend="submitit-local", gpus_per_job=1, device="cuda:0"))
    assert {c.context.device for c in synthetic.trained} == {"cuda:0"}


def test_every_cell_reads_the_data_file_by_its_absolute_path(tmp_path, monkeypatch):
    """A job started in another directory reads the same file; run.json's config names it the same way."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "titles.txt").write_text("\n".join(f"title number {i} about some thing" for i in range(200)) + "\n")
    backend = install(monkeypatch, lambda cfg: 3.0)
    run_study(two_optimisers(tmp_path / "out", data="./sub/../titles.txt", num_titles=200))
    assert {c.config.data.source for c in backend.trained} == {str(tmp_path / "titles.txt")}
    run = read_run(tmp_path / "out")
    assert run["config"]["data"] == str(tmp_path / "titles.txt") and run["data"].startswith("file:")
    assert f'[data]\nsource = "{tmp_path / "titles.txt"}"\n' in (tmp_path / "out" / "study.toml").read_text()


def test_a_phase_as_wide_as_the_one_before_it_says_nothing_of_its_width(tmp_path, monkeypatch, capsys):
    cores(monkeypatch, 3)
    install(monkeypatch, lambda cfg: 3.0 + abs(cfg.optim.lr - 1e-2))
    out = tmp_path / "out"
    run_study(tuned(out))
    assert capsys.readouterr().out == (
        header(out, "12 cells (2 variants x 3 seeds; 4 tuning (lr over 2 values on 1 seed), then 8 measuring)",
               "3 workers x 1 thread")
        + "tuned lr: baseline -> 0.01 (still at an end); opt=adamw -> 0.01 (still at an end)\n")
