"""The sinks (mainrun/callbacks.py): what the JSONL log and the progress bar say of a run."""
from types import SimpleNamespace

from mainrun.callbacks import LogSink, ProgressSink
from mainrun.evaluation import Evaluation
from mainrun.jsonlog import JsonlLogger, read_jsonl
from mainrun.training import RunResult
from mainrun.variant import Variant


def fake_run(max_steps=20, step=0):
    """The little of a `Training` the sinks read."""
    return SimpleNamespace(max_steps=max_steps, state=SimpleNamespace(step=step),
                           cfg=SimpleNamespace(variant=Variant(opt="adamw")), elapsed=lambda: 1.5)


def test_the_logs_last_line_is_run_finished_with_every_record_field_but_the_curve(tmp_path):
    result = RunResult(status="ok", val_loss=1.75, best_val_loss=1.7, steps=20, max_steps=20, params=1234,
                       curve=[(1, 3.0), (20, 1.75)])
    with JsonlLogger(tmp_path / "log.jsonl") as log:
        LogSink(log, fake_run()).on_end(result)
    [line] = read_jsonl(tmp_path / "log.jsonl")
    assert isinstance(line.pop("timestamp"), float)
    assert line == {"event": "run_finished", **result.record_fields()}
    assert "curve" not in line and line["val_loss"] == 1.75 and line["params"] == 1234


def test_the_progress_bar_prints_each_validation_with_full_coverage_when_there_is_one(capsys):
    sink = ProgressSink(fake_run(max_steps=20), position=None, enabled=True)
    sink.on_evaluation(5, Evaluation(loss=2.1234567, loss_per_token=3.0, coverage=0.5), improved=True)
    sink.on_evaluation(20, Evaluation(loss=1.75, loss_per_token=2.5, coverage=0.5, loss_full=1.7654321,
                                      bpb=1.23456), improved=True)
    sink.on_end(RunResult(status="ok"))
    assert capsys.readouterr().out.splitlines() == [
        "[     5/20] validation loss 2.123457",
        "[    20/20] validation loss 1.750000 (full coverage 1.765432, 1.2346 bits/byte)",
    ]


def test_a_disabled_progress_bar_prints_nothing(capsys):
    sink = ProgressSink(fake_run(), position=None, enabled=False)
    sink.on_step(10, 2.0, 0.1)
    sink.on_evaluation(10, Evaluation(loss=2.0, loss_per_token=2.0, coverage=1.0, loss_full=2.0, bpb=1.0), True)
    sink.on_end(RunResult(status="ok"))
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""
