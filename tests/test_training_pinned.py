"""mainrun/training.py, pinned: every field of a run's result, its state and the arguments each step hands on."""
import contextlib
import math
from types import SimpleNamespace

import pytest
import torch

from mainrun import training
from mainrun.config import TrainConfig
from mainrun.data import Corpus, CorpusInfo
from mainrun.errors import ConfigError
from mainrun.evaluation import Evaluation
from mainrun.training import (Progress, RunResult, Training, autocast_for, batches_per_epoch, device_facts,
                              flops_per_token, model_flops_per_token, peak_rss_mb, resolve_device, run_steps, train_step)


def cfg(**settings):
    return TrainConfig.from_scale("tiny", source="embedded", **settings).resolved()


def test_batches_per_epoch_and_run_steps():
    assert batches_per_epoch(1000, 10, 9) == 11 and batches_per_epoch(89, 10, 9) == 0
    assert run_steps(cfg(), 7) == 7
    assert run_steps(cfg(epochs=3), 7) == 21
    assert run_steps(cfg(max_steps=5, epochs=3), 7) == 5
    assert run_steps(cfg(budget=0.5), 7) == 4  # round(3.5), to even
    assert run_steps(cfg(budget=0.5), 5) == 2  # round(2.5), to even
    assert run_steps(cfg(budget=0.01), 7) == 1  # never below one step
    assert run_steps(cfg(budget=2.0, max_steps=3), 7) == 6


@pytest.mark.parametrize("platform, divisor", [("linux", 2**10), ("darwin", 2**20)])
def test_peak_rss_reads_kilobytes_on_linux_and_bytes_on_macos(monkeypatch, platform, divisor):
    asked = []
    monkeypatch.setattr(training.resource, "getrusage", lambda who: asked.append(who) or SimpleNamespace(ru_maxrss=3 * 2**20))
    monkeypatch.setattr(training.sys, "platform", platform)
    assert peak_rss_mb() == 3 * 2**20 / divisor
    assert asked == [training.resource.RUSAGE_SELF]


def test_device_facts_on_cpu_name_no_gpu():
    assert device_facts(torch.device("cpu")) == {"gpu": None, "peak_gpu_memory_mb": None}


def test_resolve_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError) as info:
        resolve_device("cuda:1")
    assert str(info.value) == "--device cuda:1 asked for, but torch sees no CUDA device"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


def test_flops_per_token():
    assert model_flops_per_token(1000, 2, 16, 8) == 6.0 * 1000 + 12.0 * 2 * 16 * 8
    c = cfg()
    assert flops_per_token(c, 500) == 6.0 * 500 + 12.0 * c.model.n_layer * c.model.block_size * c.model.d_model


def test_autocast_for_bf16_only():
    assert autocast_for("fp32", torch.device("cpu")) is contextlib.nullcontext
    assert autocast_for("tf32", torch.device("cpu")) is contextlib.nullcontext
    context = autocast_for("bf16", torch.device("cpu"))()
    assert isinstance(context, torch.autocast) and context.device == "cpu" and context.fast_dtype == torch.bfloat16


def test_run_result_defaults_and_record_fields():
    result = RunResult(status="ok", val_loss=1.0, curve=[(1, 1.0)])
    fields = result.record_fields()
    assert "curve" not in fields and fields["status"] == "ok" and fields["val_loss"] == 1.0
    assert fields["bpb_separator_bytes"] == 1
    assert {k for k, v in fields.items() if v is not None} == {"status", "val_loss", "bpb_separator_bytes"}
    assert RunResult(status="x").curve == []


def test_progress_observes_the_lowest_finite_loss():
    state = Progress()
    assert (state.step, state.ptr, state.curve, state.train_time, state.elapsed, state.best_val_loss, state.last,
            state.resumed_from, state.eval_time) == (0, 0, [], 0.0, 0.0, math.inf, None, None, 0.0)
    assert state.observe(1, Evaluation(3.0, 4.0, 0.5)) is True
    assert state.observe(2, Evaluation(3.0, 4.0, 0.5)) is False  # equal is no improvement
    assert state.observe(3, Evaluation(math.nan, 4.0, 0.5)) is False
    assert state.observe(4, Evaluation(2.0, 1.0, 0.25, 1.5, 0.5)) is True
    assert state.observe(5, Evaluation(-math.inf, 1.0, 0.25)) is False
    assert state.best_val_loss == 2.0
    assert state.curve[:3] == [(1, 3.0), (2, 3.0)] + state.curve[2:3] and len(state.curve) == 5
    assert state.last["loss"] == -math.inf and state.last["coverage"] == 0.25


def test_progress_round_trips_through_a_dict():
    state = Progress(step=7, ptr=120, curve=[(1, 3.0), (7, 2.5)], train_time=1.5, elapsed=9.0, best_val_loss=2.5,
                     last={"loss": 2.5}, resumed_from=3, eval_time=0.75)
    d = state.as_dict()
    assert d == {"step": 7, "ptr": 120, "curve": [[1, 3.0], [7, 2.5]], "train_time": 1.5, "elapsed": 9.0,
                 "best_val_loss": 2.5, "last": {"loss": 2.5}, "eval_time": 0.75}
    assert Progress.from_dict(d) == Progress(7, 120, [(1, 3.0), (7, 2.5)], 1.5, 9.0, 2.5, {"loss": 2.5},
                                             resumed_from=7, eval_time=0.75)
    del d["eval_time"]
    assert Progress.from_dict(d).eval_time == 0.0


def make_training(c=None, max_steps=12, batches=10, device="cpu"):
    c = c or cfg()
    info = CorpusInfo(source="embedded", fingerprint="abc123", train_titles=90, val_titles=10, vocab_size=300,
                      val_chars=500, train_tokens=4000, val_tokens=600, val_bytes=520, tokenizer_roundtrip="prefix-space")
    corpus = Corpus(info=info, train_ids=torch.arange(4000) % 300, val_ids=torch.arange(600) % 300,
                    tokenizer_path=None, eos_id=1)
    model = SimpleNamespace(num_params=lambda: 1234)
    return Training(c, torch.device(device), corpus, model, "OPT", "SCHED", Progress(), batches, max_steps,
                    corpus.train_ids, corpus.val_ids, started=100.0, elapsed_before=5.0)


def test_elapsed_counts_the_time_before_a_resume(monkeypatch):
    run = make_training()
    monkeypatch.setattr(training.time, "time", lambda: 130.0)
    assert run.elapsed() == 35.0


@pytest.mark.parametrize("batches, per_epoch, max_steps, expected", [
    (10, 2, 12, [1, 5, 10, 12]), (10, 3, 7, [1, 3, 6, 7]), (4, 4, 5, [1, 2, 3, 4, 5])])
def test_evaluations_come_at_the_first_step_every_batches_over_evals_and_the_last(batches, per_epoch, max_steps,
                                                                                   expected):
    run = make_training(cfg(evals_per_epoch=per_epoch), max_steps=max_steps, batches=batches)
    assert [s for s in range(1, max_steps + 1) if run.evaluates_at(s)] == expected


def test_evaluate_hands_on_the_data_and_adds_full_coverage_only_at_the_last_step(monkeypatch):
    run = make_training()
    calls = []
    monkeypatch.setattr(training, "evaluate", lambda *args: calls.append(args) or Evaluation(1.0, 2.0, 0.5))
    clock = iter([10.0, 10.25, 20.0, 20.5])
    monkeypatch.setattr(training.time, "perf_counter", lambda: next(clock))
    run.state.step = 11
    assert run.evaluate() == Evaluation(1.0, 2.0, 0.5)
    run.state.step = 12
    run.evaluate()
    assert run.state.eval_time == 0.75
    for args, val_bytes in zip(calls, (None, 520)):
        model, val_ids, val_chars, block, batch, autocast, given_bytes = args
        assert (model, val_ids is run.val_ids, val_chars, block, batch, autocast, given_bytes) == (
            run.model, True, 500, 32, 8, contextlib.nullcontext, val_bytes)


def test_step_reads_the_next_batch_and_hands_on_the_accumulation(monkeypatch):
    run = make_training(cfg(grad_accum=2))
    run.state.ptr = 256
    calls = []
    monkeypatch.setattr(training, "train_step", lambda *args: calls.append(args) or 2.5)
    clock = iter([1.0, 1.5])
    monkeypatch.setattr(training.time, "perf_counter", lambda: next(clock))
    assert run.step() == 2.5
    [(model, opt, scheduler, x, y, autocast, grad_accum)] = calls
    assert (model, opt, scheduler, autocast, grad_accum) == (run.model, "OPT", "SCHED", contextlib.nullcontext, 2)
    assert torch.equal(x, run.train_ids[256:512].view(8, 32)) and torch.equal(y, run.train_ids[257:513].view(8, 32))
    assert run.state.ptr == 512 and run.state.train_time == 0.5


def test_the_result_states_every_field(monkeypatch):
    run = make_training(max_steps=12)
    state = run.state
    state.step, state.train_time, state.eval_time, state.resumed_from = 10, 2.0, 1.0, 4
    state.curve = [(1, 3.0), (5, math.nan), (10, 2.5)]
    state.last = {"loss": 2.75, "loss_per_token": 3.5, "coverage": 0.8, "loss_full": 2.9, "bpb": 1.1}
    monkeypatch.setattr(training.time, "time", lambda: 115.0)  # 5 s before + 15 s now
    monkeypatch.setattr(training, "peak_rss_mb", lambda: 321.0)
    result = run.result("ok")
    expected = dict(status="ok", val_loss=2.75, best_val_loss=2.5, val_loss_per_token=3.5, val_coverage=0.8,
                    val_loss_full=2.9, val_bpb=1.1, bpb_separator_bytes=1, tokenizer_roundtrip="prefix-space",
                    params=1234, steps=10, max_steps=12, tokens_per_s=10 * 8 * 32 / 2.0, wall_s=20.0, eval_s=1.0,
                    eval_share=0.05, data="embedded", fingerprint="abc123", device="cpu",
                    flops_per_token=flops_per_token(run.cfg, 1234), resumed_from=4, gpu=None,
                    peak_gpu_memory_mb=None, peak_rss_mb=321.0)
    assert result.record_fields() == expected
    assert result.curve is state.curve


def test_a_result_without_an_evaluation_or_time_is_diverged_with_nans(monkeypatch):
    run = make_training()
    monkeypatch.setattr(training.time, "time", lambda: 95.0)  # elapsed 0
    result = run.result("ok")
    assert result.status == "diverged" and math.isnan(result.val_loss) and math.isnan(result.best_val_loss)
    assert math.isnan(result.val_loss_per_token) and math.isnan(result.val_coverage)
    assert math.isnan(result.val_loss_full) and math.isnan(result.val_bpb)
    assert result.tokens_per_s == 0.0 and result.wall_s == 0.0 and result.eval_share is None


def test_a_nan_last_loss_is_diverged_whatever_status_was_given(monkeypatch):
    run = make_training()
    run.state.last = {"loss": math.inf, "loss_per_token": 1.0, "coverage": 1.0, "loss_full": 1.0, "bpb": 1.0}
    run.state.curve = [(1, math.inf)]
    assert run.result("ok").status == "diverged"
    run.state.last["loss"] = 1.0
    assert run.result("failed").status == "failed"


def test_from_dict_reads_curve_steps_as_ints_and_losses_as_floats():
    state = Progress.from_dict({"step": 2, "ptr": 0, "curve": [[1.0, 3], [2, "2.5"]], "train_time": 0.0,
                                "elapsed": 0.0, "best_val_loss": 2.5, "last": None})
    assert [(type(s), type(v)) for s, v in state.curve] == [(int, float), (int, float)]
    assert state.curve == [(1, 3.0), (2, 2.5)]


def test_a_fresh_run_has_no_time_before_it(monkeypatch):
    run = make_training()
    fresh = Training(run.cfg, run.device, run.corpus, run.model, "OPT", "SCHED", Progress(), 10, 12,
                     run.train_ids, run.val_ids, started=100.0)
    monkeypatch.setattr(training.time, "time", lambda: 130.0)
    assert fresh.elapsed() == 30.0


def test_step_adds_to_the_training_time(monkeypatch):
    run = make_training()
    run.state.train_time = 1.0
    monkeypatch.setattr(training, "train_step", lambda *args: 0.0)
    clock = iter([3.0, 3.5])
    monkeypatch.setattr(training.time, "perf_counter", lambda: next(clock))
    run.step()
    assert run.state.train_time == 1.5


class Linear(torch.nn.Module):
    """loss: the mean over rows of w . x_row; its gradient is the mean row."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))

    def loss(self, x, y):
        return (x * self.w).sum() / x.size(0)


class Recorder:
    def __init__(self, events):
        self.events = events

    def zero_grad(self, set_to_none=False):
        self.events.append(("zero_grad", set_to_none))

    def step(self):
        self.events.append(("step",))


@pytest.mark.parametrize("grad_accum", [1, 2, 4])
def test_train_step_clips_the_full_batch_gradient_to_norm_1_and_steps_both(grad_accum):
    model, events = Linear(), []
    opt = Recorder(events)
    opt.step = lambda: events.append(("opt.step", model.w.grad.tolist()))
    scheduler = SimpleNamespace(step=lambda: events.append(("scheduler.step",)))
    x = torch.tensor([[3.0, 0.0], [5.0, 8.0], [1.0, 4.0], [3.0, 0.0]])  # mean row (3, 3), norm 4.24
    loss = train_step(model, opt, scheduler, x, x, grad_accum=grad_accum)
    assert loss == pytest.approx(3.0 * 1.0 + 3.0 * 2.0)
    assert events[0] == ("zero_grad", True) and events[-1] == ("scheduler.step",)
    [(name, grad)] = [e for e in events if e[0] == "opt.step"]
    assert grad == pytest.approx([2**-0.5, 2**-0.5], abs=1e-6)
    assert len(events) == 3


def test_train_step_leaves_a_small_gradient_unclipped():
    model, events = Linear(), []
    opt = Recorder(events)
    opt.step = lambda: events.append(("opt.step", model.w.grad.tolist()))
    x = torch.tensor([[0.3, 0.4], [0.3, 0.4]])
    train_step(model, opt, SimpleNamespace(step=lambda: None), x, x, grad_accum=2)
    assert events[-1] == ("opt.step", pytest.approx([0.3, 0.4]))

