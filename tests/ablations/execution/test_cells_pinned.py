"""A cell (ablations/execution/cells.py), its outputs pinned whole: its key, every field of its record, what
`run_cell` passes to train() and leaves on disk, and the readers of a folder's records."""
import json
import math
from pathlib import Path

import pytest

import ablations.execution.cells as cells
from ablations.execution.cells import (Cell, cell_key, failed_record, finished_value, read_records, record,
                                       run_cell, seed_values, settings_fields)
from ablations.execution.store import ResultsDir
from ablations.study.axes import Point
from mainrun import checkpoint
from mainrun.config import RunContext, TrainConfig
from mainrun.training import RunResult
from mainrun.variant import Variant

ADAMW = "norm=layernorm,pos=learned,init=default,opt=adamw"


def adamw_cell(seed: int = 1338, **context) -> Cell:
    point = Point.at({"lr": 0.01}, Variant(opt="adamw"))
    config = point.apply(TrainConfig.from_scale("tiny", source="embedded", seed=seed)).resolved()
    return Cell(point, config, RunContext(threads=1, **context), ("plug.in",), "embedded", "fp", code="abc")


def test_a_cells_key_names_its_members_departures_settings_axes_and_seed():
    assert cell_key(Variant(), 1337) == "layernorm-learned-default-sgd-seed1337"
    variant = Variant.parse("norm=rmsnorm,mlp=swiglu,qknorm=rmsnorm,norm.eps=1e-06,opt=adamw")
    assert cell_key(variant, 3) == "rmsnorm-learned-default-adamw-mlp=swiglu-qknorm=rmsnorm-norm.eps=1e-06-seed3"
    point = Point.at({"lr": 0.01, "batch_size": 16}, variant)
    assert cell_key(point, 3) == \
        "rmsnorm-learned-default-adamw-mlp=swiglu-qknorm=rmsnorm-norm.eps=1e-06-lr=0.01-batch-size=16-seed3"
    cell = adamw_cell()
    assert (cell.key, cell.seed, cell.variant) == ("layernorm-learned-default-adamw-lr=0.01-seed1338", 1338,
                                                   Variant(opt="adamw"))


SETTINGS = {"num_titles": 2000, "val_frac": 0.1, "vocab_size": 300, "block_size": 32, "n_layer": 1, "n_head": 2,
            "d_model": 32, "dropout": 0.1, "lr": 0.01, "weight_decay": 0.1, "batch_size": 8, "grad_accum": 1,
            "epochs": 1, "max_steps": None, "budget": 1.0, "evals_per_epoch": 2, "lr_scaling": "none",
            "norm.eps": 1e-05, "opt.warmup": 0.1, "opt.warmup_start": 0.01, "opt.floor": 0.1}
RESULT_NONE = {"val_loss": None, "best_val_loss": None, "val_loss_per_token": None, "val_coverage": None,
               "val_loss_full": None, "val_bpb": None, "bpb_separator_bytes": 1, "tokenizer_roundtrip": None,
               "params": None, "steps": None, "tokens_per_s": None, "wall_s": None, "eval_s": None,
               "eval_share": None, "data": None, "fingerprint": None, "device": None, "flops_per_token": None,
               "resumed_from": None, "gpu": None, "peak_gpu_memory_mb": None, "peak_rss_mb": None}
WHERE = {"norm": "layernorm", "pos": "learned", "init": "default", "opt": "adamw", "mlp": "gelu", "mask": "causal",
         "qknorm": "none", "param": "standard", "variant": ADAMW, "point": f"{ADAMW},lr=0.01", "seed": 1338}


def test_a_record_is_where_the_cell_sits_every_setting_it_trained_with_and_the_results_fields():
    cell = adamw_cell()
    assert settings_fields(cell.config) == SETTINGS
    assert record(cell, RunResult("ok", val_loss=2.5, steps=10)) == {
        **WHERE, **SETTINGS, "scale": "tiny", "status": "ok", **RESULT_NONE, "val_loss": 2.5, "steps": 10,
        "error": None, "threads": None, "code": "abc"}
    assert failed_record(cell, "RuntimeError: x", wall_s=1.5) == {
        **WHERE, **SETTINGS, "scale": "tiny", "status": "failed", **RESULT_NONE, "wall_s": 1.5, "data": "embedded",
        "fingerprint": "fp", "error": "RuntimeError: x", "threads": None, "code": "abc"}
    assert failed_record(cell, "E")["wall_s"] is None


def test_the_readers_of_a_folders_records_keep_the_order_asked_and_only_finished_values(tmp_path, capsys):
    store = ResultsDir(tmp_path)
    a, b = Point(Variant()), Point(Variant(opt="adamw"))
    store.write_cell(cell_key(a, 1), {"status": "ok", "val_loss": 2.0}, [])
    store.write_cell(cell_key(a, 2), {"status": "failed", "val_loss": 1.0}, [])
    store.write_cell(cell_key(b, 2), {"status": "ok", "val_loss": 3.0}, [])
    store.write_cell(cell_key(b, 1), {"status": "ok"}, [])
    assert read_records(store, [b, a], (1, 2, 3)) == [{"status": "ok"}, {"status": "ok", "val_loss": 3.0},
                                                      {"status": "ok", "val_loss": 2.0},
                                                      {"status": "failed", "val_loss": 1.0}]
    assert seed_values(store, a, [2, 1, 3], "val_loss") == [2.0]
    assert seed_values(store, b, (2, 1), "val_loss") == [3.0]
    assert finished_value(None, "val_loss") is None
    assert finished_value({"status": "diverged", "val_loss": 9.0}, "val_loss") is None
    assert finished_value({"status": "ok", "val_loss": 9.0}, "val_loss") == 9.0
    assert finished_value({"status": "ok"}, "val_loss") is None


class Train:
    """train() as run_cell calls it: records its arguments, writes a log line and a checkpoint, returns `result`."""

    def __init__(self, result=None, error=None, saves=True):
        self.result, self.error, self.calls, self.plugins, self.saves = result, error, [], [], saves

    def __call__(self, config, context, progress, progress_position):
        self.calls.append((config, context, progress, progress_position))
        with open(context.log_file, "a", encoding="utf-8") as log:
            log.write('{"event": "training_step"}\n')
        if self.saves:
            (Path(context.checkpoint_dir) / checkpoint.CHECKPOINT).write_text("")  # its last evaluation's
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def fake_train(monkeypatch):
    def install(**kwargs):
        train = Train(**kwargs)
        monkeypatch.setattr(cells, "train", train)
        monkeypatch.setattr(cells, "load_plugins", train.plugins.append)
        monkeypatch.setattr(cells.torch, "get_num_threads", lambda: 7)
        return train
    return install


@pytest.mark.parametrize("status, kept", [("ok", False), ("diverged", False)])
def test_a_finished_cell_is_committed_with_its_curve_and_threads_and_its_resume_state_dropped(
        tmp_path, fake_train, status, kept):
    train = fake_train(result=RunResult(status, val_loss=2.5, curve=[(1, 3.0), (2, float("nan"))]))
    cell = adamw_cell()
    written = run_cell(cell, str(tmp_path), progress_position=3)
    folder = tmp_path / "cells" / cell.key
    [(config, context, progress, position)] = train.calls
    assert config is cell.config and (progress, position) == (True, 3)
    assert context == RunContext(threads=1, log_file=str(folder / "log.jsonl.partial"), checkpoint_dir=str(folder),
                                 resume=False)
    assert train.plugins == [["plug.in"]]
    assert written == {**record(cell, RunResult(status, val_loss=2.5)), "threads": 7}
    assert json.loads((folder / "record.json").read_text()) == written
    assert (folder / "curve.json").read_text() == "[\n [\n  1,\n  3.0\n ],\n [\n  2,\n  null\n ]\n]\n"
    assert (folder / "log.jsonl").read_text() == '{"event": "training_step"}\n'
    assert sorted(p.name for p in folder.iterdir()) == ["curve.json", "log.jsonl", "record.json"]


def test_a_cell_that_raises_is_a_failed_record_its_traceback_logged_and_its_checkpoint_kept(
        tmp_path, fake_train, monkeypatch):
    train = fake_train(error=ValueError("bad shape\nsecond line"))
    times = iter([100.0, 100.5, 102.0])
    monkeypatch.setattr(cells.time, "time", lambda: next(times))
    cell = adamw_cell()
    written = run_cell(cell, str(tmp_path))
    folder = tmp_path / "cells" / cell.key
    assert train.calls[0][2:] == (False, None)  # no bar
    assert written == {**failed_record(cell, "ValueError: bad shape\nsecond line", wall_s=2.0), "threads": 7}
    assert json.loads((folder / "record.json").read_text()) == written
    assert (folder / "curve.json").read_text() == "[]\n"
    first, failure = (folder / "log.jsonl").read_text().splitlines()
    assert first == '{"event": "training_step"}'
    logged = json.loads(failure)
    assert list(logged) == ["event", "timestamp", "error", "traceback"]
    assert (logged["event"], logged["timestamp"], logged["error"]) == ("cell_failed", 100.5,
                                                                        "ValueError: bad shape\nsecond line")
    assert logged["traceback"].startswith("Traceback (most recent call last):\n")
    assert logged["traceback"].endswith("ValueError: bad shape\nsecond line\n")
    assert (folder / checkpoint.CHECKPOINT).exists(), "a failed cell's checkpoint is what its next run resumes from"


def test_a_cell_resumes_from_its_checkpoint(tmp_path, fake_train):
    train = fake_train(result=RunResult("ok", val_loss=2.5, curve=[]))
    cell = adamw_cell()
    folder = tmp_path / "cells" / cell.key
    checkpoint.save_atomic({"format": checkpoint.FORMAT, "kind": "resume"}, folder / checkpoint.CHECKPOINT)
    run_cell(cell, str(tmp_path), progress_position=0)
    assert train.calls[0][1].resume is True and train.calls[0][2:] == (True, 0)
    assert not math.isnan(json.loads((folder / "record.json").read_text())["val_loss"])


def test_a_cell_that_finished_without_a_checkpoint_is_committed_all_the_same(tmp_path, fake_train):
    fake_train(result=RunResult("ok", val_loss=2.5, curve=[]), saves=False)
    cell = adamw_cell()
    assert run_cell(cell, str(tmp_path))["status"] == "ok"
    assert ResultsDir(tmp_path).is_done(cell.key)
