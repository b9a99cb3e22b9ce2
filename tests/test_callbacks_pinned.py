"""mainrun/callbacks.py, pinned: every line each sink logs, every argument it hands on."""
import math
import sys
from types import SimpleNamespace

import pytest

from mainrun import callbacks
from mainrun.callbacks import (Callback, CheckpointSink, LogSink, OnValidation, ProgressSink, TensorBoardSink)
from mainrun.errors import ConfigError, OutputError
from mainrun.evaluation import Evaluation
from mainrun.jsonlog import JsonlLogger, read_jsonl
from mainrun.training import RunResult
from mainrun.variant import Variant


def fake_run(max_steps=20, step=0):
    return SimpleNamespace(max_steps=max_steps, state=SimpleNamespace(step=step),
                           cfg=SimpleNamespace(variant=Variant(opt="adamw")), elapsed=lambda: 1.5,
                           corpus=SimpleNamespace(info=SimpleNamespace(tokenizer_roundtrip="prefix-space")))


def lines(path):
    out = read_jsonl(path)
    for line in out:
        assert isinstance(line.pop("timestamp"), float)
    return out


def test_the_base_callback_ignores_every_event():
    sink = Callback()
    assert sink.on_step(1, 2.0, 0.1) is None
    assert sink.on_evaluation(1, Evaluation(1.0, 1.0, 1.0), True) is None
    assert sink.on_end(RunResult(status="ok")) is None


def test_log_sink_logs_each_step_and_a_divergence(tmp_path):
    with JsonlLogger(tmp_path / "log.jsonl") as log:
        sink = LogSink(log, fake_run(max_steps=7))
        sink.on_step(3, 2.5, 0.01)
        sink.on_step(4, math.inf, 0.02)
        sink.on_step(5, math.nan, 0.03)
    out = lines(tmp_path / "log.jsonl")
    assert out[:3] == [
        {"event": "training_step", "step": 3, "max_steps": 7, "loss": 2.5, "elapsed_time": 1.5, "lr": 0.01},
        {"event": "training_step", "step": 4, "max_steps": 7, "loss": math.inf, "elapsed_time": 1.5, "lr": 0.02},
        {"event": "diverged", "step": 4, "max_steps": 7, "loss": math.inf},
    ]
    assert [e["event"] for e in out[3:]] == ["training_step", "diverged"]
    assert out[4]["step"] == 5 and out[4]["max_steps"] == 7 and math.isnan(out[4]["loss"])


def test_log_sink_logs_each_validation_with_every_metric(tmp_path):
    with JsonlLogger(tmp_path / "log.jsonl") as log:
        LogSink(log, fake_run(max_steps=9)).on_evaluation(
            6, Evaluation(loss=1.25, loss_per_token=2.5, coverage=0.75, loss_full=1.5, bpb=0.5), improved=False)
    assert lines(tmp_path / "log.jsonl") == [
        {"event": "validation_step", "step": 6, "max_steps": 9, "elapsed_time": 1.5, "loss": 1.25,
         "loss_per_token": 2.5, "coverage": 0.75, "loss_full": 1.5, "bpb": 0.5, "tokenizer_roundtrip": "prefix-space"}]


class FakeWriter:
    def __init__(self):
        self.calls = []

    def evaluated(self, *args):
        self.calls.append(("evaluated", args))

    def flush(self):
        self.calls.append(("flush",))


def test_checkpoint_sink_hands_the_writer_the_runs_state_and_flushes_at_the_end():
    state = SimpleNamespace(elapsed=0.0, curve=[(1, 3.0), (2, 2.0), (4, 2.5)],
                            as_dict=lambda: {"elapsed": state.elapsed, "marker": 1})
    run = SimpleNamespace(model="M", opt="O", scheduler="S", state=state, elapsed=lambda: 12.5)
    writer = FakeWriter()
    sink = CheckpointSink(writer, run)
    assert sink.writer is writer and sink.run is run
    sink.on_step(4, 1.0, 0.1)
    sink.on_evaluation(4, Evaluation(loss=2.5, loss_per_token=1.0, coverage=1.0), improved=False)
    assert state.elapsed == 12.5
    assert writer.calls == [("evaluated", ("M", "O", "S", {"elapsed": 12.5, "marker": 1}, 3, 4, 2.5, False))]
    sink.on_evaluation(5, Evaluation(loss=1.5, loss_per_token=1.0, coverage=1.0), improved=True)
    assert writer.calls[-1] == ("evaluated", ("M", "O", "S", {"elapsed": 12.5, "marker": 1}, 3, 5, 1.5, True))
    sink.on_end(RunResult(status="ok"))
    assert writer.calls[-1] == ("flush",) and len(writer.calls) == 3


class FakeBoard:
    made = []

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs, self.scalars, self.closed = args, kwargs, [], False
        FakeBoard.made.append(self)

    def add_scalar(self, *args):
        self.scalars.append(args)

    def close(self):
        self.closed = True


@pytest.fixture
def fake_board(monkeypatch):
    import torch.utils.tensorboard as tb

    FakeBoard.made = []
    monkeypatch.setattr(tb, "SummaryWriter", FakeBoard)
    return FakeBoard.made


@pytest.mark.parametrize("resumed_step, purge", [(0, None), (6, 7)])
def test_tensorboard_sink_opens_the_folder_and_purges_after_a_resumed_step(fake_board, tmp_path, resumed_step, purge):
    TensorBoardSink(str(tmp_path / "tb"), resumed_step)
    [board] = fake_board
    assert board.args == (str(tmp_path / "tb"),) and board.kwargs == {"purge_step": purge}


def test_tensorboard_sink_writes_train_validation_and_speed_scalars(fake_board, tmp_path):
    sink = TensorBoardSink(str(tmp_path), 0)
    [board] = fake_board
    sink.on_step(3, 2.5, 0.01)
    sink.on_evaluation(3, Evaluation(loss=2.0, loss_per_token=1.0, coverage=1.0), improved=True)
    sink.on_evaluation(8, Evaluation(loss=1.5, loss_per_token=1.0, coverage=1.0, loss_full=1.25, bpb=0.75), True)
    assert not board.closed
    sink.on_end(RunResult(status="ok", tokens_per_s=1234.5, steps=8))
    assert board.scalars == [("train/loss", 2.5, 3), ("train/lr", 0.01, 3), ("val/loss", 2.0, 3),
                             ("val/loss", 1.5, 8), ("val/loss_full", 1.25, 8), ("val/bpb", 0.75, 8),
                             ("speed/tokens_per_s", 1234.5, 8)]
    assert board.closed


def test_tensorboard_sink_without_the_package_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ConfigError) as info:
        TensorBoardSink(str(tmp_path), 0)
    assert str(info.value) == ("--tensorboard needs the tensorboard package: pip install "
                               "'mainrun-ablations[tensorboard]'")
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_tensorboard_sink_names_a_folder_it_cannot_write(monkeypatch, tmp_path):
    import torch.utils.tensorboard as tb

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tb, "SummaryWriter", refuse)
    with pytest.raises(OutputError, match=r"^cannot write /nowhere/tb: Permission denied$"):
        TensorBoardSink("/nowhere/tb", 0)


class FakeBar:
    def __init__(self, **kwargs):
        self.kwargs, self.events = kwargs, []

    def update(self, n):
        self.events.append(("update", n))

    def set_postfix(self, **kwargs):
        self.events.append(("postfix", kwargs))

    def write(self, text):
        self.events.append(("write", text))

    def close(self):
        self.events.append(("close",))


@pytest.fixture
def bars(monkeypatch):
    made = []
    monkeypatch.setattr(callbacks, "tqdm", lambda **kwargs: made.append(FakeBar(**kwargs)) or made[-1])
    return made


@pytest.mark.parametrize("position, enabled, leave", [(None, True, True), (3, False, False), (0, True, False)])
def test_progress_sink_opens_its_bar_where_the_run_stands(bars, position, enabled, leave):
    sink = ProgressSink(fake_run(max_steps=20, step=5), position=position, enabled=enabled)
    [bar] = bars
    assert bar.kwargs == {"total": 20, "initial": 5, "desc": "norm=layernorm,pos=learned,init=default,opt=adamw", "position": position, "leave": leave,
                          "dynamic_ncols": True, "disable": not enabled}
    assert sink.bar is bar and sink.max_steps == 20 and sink.enabled is enabled


def test_a_disabled_progress_bar_is_disabled():
    sink = ProgressSink(fake_run(), position=None, enabled=False)
    assert sink.bar.disable is True
    enabled = ProgressSink(fake_run(), position=None, enabled=True)
    assert enabled.bar.disable is False
    enabled.bar.close()


def test_progress_sink_shows_the_loss_every_tenth_and_the_last_step(bars):
    sink = ProgressSink(fake_run(max_steps=25), position=None, enabled=True)
    for step in (9, 10, 11, 20, 25):
        sink.on_step(step, step / 8, 0.1)
    sink.on_end(RunResult(status="ok"))
    assert bars[0].events == [
        ("update", 1), ("update", 1), ("postfix", {"loss": "1.2500", "refresh": False}), ("update", 1),
        ("update", 1), ("postfix", {"loss": "2.5000", "refresh": False}),
        ("update", 1), ("postfix", {"loss": "3.1250", "refresh": False}), ("close",)]


def test_progress_sink_writes_validations_only_when_enabled(bars):
    on = ProgressSink(fake_run(max_steps=120), position=None, enabled=True)
    off = ProgressSink(fake_run(max_steps=120), position=None, enabled=False)
    for sink in (on, off):
        sink.on_evaluation(7, Evaluation(loss=2.0, loss_per_token=1.0, coverage=1.0), True)
        sink.on_evaluation(120, Evaluation(loss=1.5, loss_per_token=1.0, coverage=1.0, loss_full=1.25, bpb=0.5), True)
    assert bars[0].events == [
        ("write", "[     7/120] validation loss 2.000000"),
        ("write", "[   120/120] validation loss 1.500000 (full coverage 1.250000, 0.5000 bits/byte)")]
    assert bars[1].events == []


def test_on_validation_hands_the_caller_the_step_and_reference_loss():
    seen = []
    sink = OnValidation(lambda step, loss: seen.append((step, loss)))
    sink.on_step(1, 9.0, 0.1)
    sink.on_evaluation(4, Evaluation(loss=2.5, loss_per_token=1.0, coverage=1.0, loss_full=2.0), True)
    sink.on_end(RunResult(status="ok"))
    assert seen == [(4, 2.5)]


def test_log_sink_ends_with_run_finished_and_every_field_but_the_curve(tmp_path):
    result = RunResult(status="diverged", val_loss=2.0, steps=3, curve=[(1, 2.0)])
    with JsonlLogger(tmp_path / "log.jsonl") as log:
        LogSink(log, fake_run()).on_end(result)
    [line] = lines(tmp_path / "log.jsonl")
    expected = {k: v for k, v in vars(result).items() if k != "curve"}
    assert line == {"event": "run_finished", **expected} and "curve" not in line
