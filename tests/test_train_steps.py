"""Training steps (mainrun/train.py): gradient accumulation is the same step, the schedule spans the
optimizer steps taken, and --lr-scaling scales the peak lr the record states."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mainrun.components.optimizers import build_optimizer, lr_curve
from mainrun.config import RunContext, TrainConfig
from mainrun.variant import Variant
from mainrun.jsonlog import read_jsonl
from mainrun.model import GPT, GPTConfig
from mainrun.train import train
from mainrun.training import train_step

VOCAB, BLOCK, BATCH = 97, 16, 8


def run_steps(grad_accum: int, variant: Variant, steps: int, seed: int):
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=VOCAB, block_size=BLOCK, n_layer=2, n_head=2, d_model=32, dropout=0.0,
                            variant=variant))
    opt, scheduler = build_optimizer(variant.opt, model, 50)
    stream = torch.randint(VOCAB, (steps * BATCH * BLOCK + 1,), generator=torch.Generator().manual_seed(seed))
    losses = []
    for i in range(steps):
        chunk = stream[i * BATCH * BLOCK : (i + 1) * BATCH * BLOCK + 1]
        x, y = chunk[:-1].view(BATCH, BLOCK), chunk[1:].view(BATCH, BLOCK)
        losses.append(train_step(model, opt, scheduler, x, y, grad_accum=grad_accum))
    return losses, model


@pytest.mark.usefixtures("single_torch_thread")
@settings(max_examples=6)
@given(opt=st.sampled_from(["sgd", "adamw"]), steps=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_accumulated_micro_batches_make_the_same_step(opt, steps, seed):
    variant = Variant(opt=opt)
    reference_losses, reference = run_steps(1, variant, steps, seed)
    for k in (2, 4):
        losses, model = run_steps(k, variant, steps, seed)
        assert losses == pytest.approx(reference_losses, abs=1e-5)
        for (name, a), b in zip(reference.named_parameters(), model.parameters()):
            assert torch.allclose(a, b, atol=1e-5, rtol=0), f"K={k}: {name} differs"


def tiny(**settings) -> TrainConfig:
    return TrainConfig.from_scale("tiny", source="embedded", **settings)


def logged(path) -> RunContext:
    return RunContext(log_file=str(path))


@pytest.mark.parametrize("opt", ["sgd", "adamw"])
def test_the_schedule_spans_the_optimizer_steps_taken_with_accumulation_and_a_larger_batch(tmp_path, opt):
    """A batch change changes the steps per epoch; the lr reaches the schedule's final value on the
    last step, whatever the accumulation."""
    log = tmp_path / "log.jsonl"
    cfg = tiny(batch_size=16, grad_accum=4, variant=Variant(opt=opt))
    result = train(cfg, logged(log), progress=False)
    events = read_jsonl(log)
    info = next(e for e in events if e["event"] == "dataset_info")
    steps = [e for e in events if e["event"] == "training_step"]
    assert result.steps == result.max_steps == len(steps) == info["batches_per_epoch"]
    assert info["batches_per_epoch"] == info["tokens_per_epoch"] // (16 * cfg.model.block_size)
    assert [e["lr"] for e in steps] == pytest.approx(lr_curve(opt, result.max_steps), rel=1e-9)


@pytest.mark.parametrize("scaling, factor", [("none", 1.0), ("linear", 4.0), ("sqrt", 2.0)])
def test_lr_scaling_scales_the_recipe_peak_with_the_batch(scaling, factor):
    cfg = tiny(batch_size=32, lr_scaling=scaling, variant=Variant(opt="adamw"))  # the tiny preset's batch is 8
    assert cfg.preset_batch_size == 8
    assert cfg.peak_lr == pytest.approx(3e-4 * factor) and cfg.resolved().optim.weight_decay == 0.1
    explicit = cfg.with_values(lr=1e-3)
    assert explicit.peak_lr == pytest.approx(1e-3 * factor)


def test_the_record_states_the_scaled_lr(tmp_path):
    cfg = tiny(batch_size=16, lr_scaling="linear", max_steps=3)
    train(cfg, logged(tmp_path / "log.jsonl"), progress=False)
    events = read_jsonl(tmp_path / "log.jsonl")
    assert next(e for e in events if e["event"] == "optimizer_info")["lr"] == pytest.approx(2 * 6e-3)
    steps = [e for e in events if e["event"] == "training_step"]
    assert steps[0]["lr"] == pytest.approx(2 * 6e-3)


def test_recorded_metrics_agree_with_the_curve_and_an_independent_token_count(tmp_path):
    log = tmp_path / "log.jsonl"
    cfg = tiny(variant=Variant(opt="adamw"), lr=3e-2)
    result = train(cfg, logged(log), progress=False)
    losses = [loss for _, loss in result.curve]
    assert len(losses) >= 3
    assert result.best_val_loss == min(losses) and result.val_loss == losses[-1]
    info = next(e for e in read_jsonl(log) if e["event"] == "dataset_info")
    # Scored tokens, counted here from the reference's window rule: floor(len / span) windows of B*T.
    span = cfg.training.batch_size * cfg.model.block_size + 1
    scored = (info["val_tokens"] // span) * cfg.training.batch_size * cfg.model.block_size
    assert result.val_coverage == pytest.approx(scored / info["val_tokens"])
    assert result.val_loss_per_token == pytest.approx(result.val_loss * info["val_chars"] / scored)
    # Training FLOPs per token: 6 x parameters + 12 x layers x block x width (PaLM, appendix B).
    assert result.flops_per_token == 6 * result.params + 12 * cfg.model.n_layer * cfg.model.block_size * cfg.model.d_model
    assert result.steps == result.max_steps == len([e for e in read_jsonl(log) if e["event"] == "training_step"])
    # Bits per byte and the full-coverage loss are one sum (nats) in two units.
    assert result.val_bpb * math.log(2) * info["val_bytes"] == pytest.approx(result.val_loss_full * info["val_chars"])
    assert info["tokenizer_roundtrip"] == "prefix-space"


@pytest.mark.parametrize("grad_accum", [1, 2])
def test_the_loss_is_read_after_the_optimizer_step(monkeypatch, grad_accum):
    """`.item()` waits for the device: read before clipping and the optimizer step, it would stall a
    GPU once a step until the CPU had launched the rest. The value read is the same."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=VOCAB, block_size=BLOCK, n_layer=1, n_head=2, d_model=16, dropout=0.0))
    opt, scheduler = build_optimizer("adamw", model, 10)
    events = []
    step = opt.step
    monkeypatch.setattr(opt, "step", lambda *a, **k: (events.append("step"), step(*a, **k))[1])
    item = torch.Tensor.item
    monkeypatch.setattr(torch.Tensor, "item", lambda self: (events.append("item"), item(self))[1])
    x = torch.randint(VOCAB, (BATCH, BLOCK), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model.loss(x, x).item()
    events.clear()
    value = train_step(model, opt, scheduler, x, x, grad_accum=grad_accum)
    assert events[0] == "step" and events.count("step") == 1 and "item" in events
    assert value == pytest.approx(expected, abs=1e-6)


def test_records_carry_what_evaluation_cost(monkeypatch):
    import time

    from mainrun import training as train_module

    real = train_module.evaluate
    calls = []

    def slow_evaluate(*args, **kwargs):
        calls.append(1)
        time.sleep(0.05)
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "evaluate", slow_evaluate)
    result = train(tiny(max_steps=4), progress=False)
    assert len(calls) >= 2 and result.eval_s >= 0.05 * len(calls)
    assert result.eval_share == pytest.approx(result.eval_s / result.wall_s) and 0 < result.eval_share < 1


def test_records_name_the_hardware_and_its_peak_memory(tmp_path, monkeypatch):
    from mainrun import training as train_module

    result = train(tiny(max_steps=2), progress=False)
    assert result.gpu is None and result.peak_gpu_memory_mb is None and result.peak_rss_mb > 50
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "NVIDIA H200")
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device: 3 * 2**30)
    assert train_module.device_facts(torch.device("cuda", 0)) == {"gpu": "NVIDIA H200", "peak_gpu_memory_mb": 3072.0}


def test_an_fp32_run_after_a_tf32_one_in_the_same_process_does_not_inherit_tf32(monkeypatch):
    from mainrun import train as train_module

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device: None)
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    seen = []
    try:
        for precision in ("tf32", "fp32", "bf16"):
            train_module.prepare_process(tiny(precision=precision), RunContext(device="cuda"))
            seen.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
    finally:  # torch's flag objects refuse monkeypatch; restored by hand
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
    assert seen == [(True, True), (False, False), (True, True)]


def test_lr_scaling_against_a_preset_that_keeps_the_reference_batch():
    """The `mainrun` preset names no batch size: it is the reference's 64, so batch 128 doubles the lr."""
    cfg = TrainConfig.from_scale("mainrun", batch_size=128, lr_scaling="linear", variant=Variant(opt="adamw"))
    assert cfg.preset_batch_size == 64
    assert cfg.peak_lr == pytest.approx(6e-4)


def test_on_validation_is_handed_the_reference_metric_at_every_evaluation(tmp_path):
    seen = []
    cfg = tiny(max_steps=6, evals_per_epoch=79)  # 159 batches // 79: evaluations at steps 1, 2, 4 and 6
    result = train(cfg, logged(tmp_path / "log.jsonl"), progress=False,
                   on_validation=lambda step, loss: seen.append((step, loss)))
    assert [step for step, _ in seen] == [1, 2, 4, 6]
    assert all(math.isfinite(loss) for _, loss in seen), f"on_validation was handed {seen}"
    assert seen == result.curve  # the curve is the reference metric at each evaluation
    assert seen[-1][1] == result.val_loss != result.val_loss_full
