"""Mutants that a sample of the whole suite let through (seed 4), each pinned here: squeue's time limit,
the runner's cells bar following the terminal's width, the worker's parent-death signal, a variant's
optimizer settings reaching both the optimizer and its log record, and a resumed run's logged step."""
import signal
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from ablations.execution import backends, engine, worker
from mainrun import checkpoint
from mainrun import train as train_module
from mainrun.config import RunContext, TrainConfig
from mainrun.training import Progress
from mainrun.variant import Variant


# --- backends.queue: squeue is given a minute, not forever ---

def test_squeue_is_run_with_a_one_minute_time_limit(monkeypatch):
    calls = []

    def run(command, **keywords):
        calls.append((command, keywords))
        return SimpleNamespace(stdout="41|ablations-aa-x|RUNNING\n")

    monkeypatch.setattr(backends.subprocess, "run", run)
    assert backends.queue(job_ids=["41"]) == [("41", "ablations-aa-x", "RUNNING")]
    assert calls == [(["squeue", "--noheader", "--format=%i|%j|%T", "--jobs", "41"],
                      {"capture_output": True, "text": True, "timeout": 60, "check": True})]


def test_a_squeue_that_hangs_past_its_limit_lists_nothing(monkeypatch):
    def run(command, **keywords):
        if "timeout" not in keywords:
            raise AssertionError("squeue was run without a time limit")
        raise subprocess.TimeoutExpired(command, keywords["timeout"])

    monkeypatch.setattr(backends.subprocess, "run", run)
    assert backends.queue(user=True) == []


# --- engine.run_cells: the runner's bar over all cells ---

def test_the_cells_bar_is_row_0_and_follows_the_terminals_width(monkeypatch):
    made = []

    class Bar:
        def __init__(self, **keywords):
            made.append(keywords)

        def update(self, n):
            pass

        def close(self):
            pass

        write = staticmethod(lambda *args, **kwargs: None)
        format_interval = staticmethod(lambda seconds: "00:00")

    monkeypatch.setattr(engine, "tqdm", Bar)
    backend = SimpleNamespace(run=lambda cells, root: iter(()))
    assert engine.run_cells(backend, [], SimpleNamespace(root="runs/x")) == 0
    assert made == [{"total": 0, "desc": "cells", "unit": "cell", "position": 0, "dynamic_ncols": True,
                     "disable": not sys.stderr.isatty()}]


# --- worker.die_with_runner: the kernel is asked for SIGKILL on the runner's death ---

def test_the_worker_asks_the_kernel_for_sigkill_when_the_runner_dies(monkeypatch):
    opened, asked, exits = [], [], []

    class Libc:
        def prctl(self, *args):
            asked.append(args)
            return 0

    def cdll(name, **keywords):
        opened.append((name, keywords))
        return Libc()

    monkeypatch.setattr(worker.ctypes, "CDLL", cdll)
    monkeypatch.setattr(worker.sys, "platform", "linux")
    monkeypatch.setattr(worker.os, "_exit", exits.append)
    worker.die_with_runner(worker.os.getppid())
    assert opened == [(None, {"use_errno": True})]
    assert asked == [(1, signal.SIGKILL)]  # PR_SET_PDEATHSIG from <linux/prctl.h>
    assert exits == []


# --- train.prepare: the variant's optimizer settings, and a resume's step ---

class Built(Exception):
    pass


class Log:
    def __init__(self):
        self.records = []

    def log(self, event, **fields):
        self.records.append((event, fields))

    def record(self, event):
        found = [fields for name, fields in self.records if name == event]
        assert len(found) == 1, f"{event}: {found}"
        return found[0]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


def test_a_variants_optimizer_settings_reach_the_optimizer_and_its_log_record(monkeypatch, cache):
    variant = Variant.parse("opt=adamw,opt.warmup=0.2,opt.floor=0.3")
    cfg = TrainConfig.from_scale("tiny", source="embedded", variant=variant).resolved()
    settings = variant.settings_of("opt")
    assert settings["warmup"] == 0.2 and settings["floor"] == 0.3
    assert settings != Variant.parse("opt=adamw").settings_of("opt")  # not the defaults
    asked = []

    def build_optimizer(*args, **keywords):
        asked.append((args, keywords))
        raise Built

    monkeypatch.setattr(train_module, "build_optimizer", build_optimizer)
    log = Log()
    with pytest.raises(Built):
        train_module.prepare(cfg, RunContext(cache_dir=cache), torch.device("cpu"), log, None)
    assert log.record("optimizer_info") == {"recipe": "adamw", "lr_scaling": cfg.optim.lr_scaling,
                                            "grad_accum": cfg.training.grad_accum, "lr": cfg.peak_lr,
                                            "weight_decay": cfg.optim.weight_decay, **settings}
    [(args, keywords)] = asked
    assert args[0] == "adamw" and args[2:] == (args[2], cfg.peak_lr, cfg.optim.weight_decay)
    assert keywords == settings


def test_a_resumed_run_logs_the_step_it_resumes_from(cache, tmp_path):
    cfg = TrainConfig.from_scale("tiny", source="embedded").resolved()
    device = torch.device("cpu")
    first = train_module.prepare(cfg, RunContext(cache_dir=cache), device, Log(), None)
    state = Progress(step=7)
    saved = {"config": cfg.flat(), "fingerprint": first.corpus.info.fingerprint,
             "model": first.model.state_dict(), "optimizer": first.opt.state_dict(),
             "scheduler": first.scheduler.state_dict(), "rng": checkpoint.rng_state(device),
             "state": state.as_dict()}
    log = Log()
    run = train_module.prepare(cfg, RunContext(cache_dir=cache, checkpoint_dir=str(tmp_path)), device, log, saved)
    assert run.state.step == 7
    assert log.record("resumed") == {"step": 7, "max_steps": first.max_steps, "checkpoint": str(tmp_path)}
    assert "hyperparameters_configured" not in [event for event, _ in log.records]
