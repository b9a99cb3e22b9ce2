"""Train one variant the way the reference program does, and `evaluate()` with its metric.

    python -m mainrun.train --scale cpu --variant norm=rmsnorm,opt=adamw --data ../shared/data/hn_titles.txt
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import platform
import os
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from tqdm.auto import tqdm

from . import checkpoint, data
from .cli import OneLineArgumentParser, add_train_arguments, ensure_writable, load_plugins, run_cli, train_overrides
from .components.optimizers import build_optimizer
from .config import TrainConfig, Variant
from .errors import ConfigError, DataError
from .jsonlog import JsonlLogger
from .model import GPT, ModelConfig
from .runtime import keep_freed_memory_mapped


@dataclass
class RunResult:
    status: str  # "ok" | "diverged"
    val_loss: float  # the reference metric at the last evaluation
    best_val_loss: float
    val_loss_per_token: float
    val_coverage: float  # share of val tokens the metric scores
    val_loss_full: float  # every val token scored once, independent of the batch: see evaluate_full
    val_bpb: float  # bits per UTF-8 byte of the val text
    params: int
    steps: int
    max_steps: int
    tokens_per_s: float  # training tokens per second of training-step time (evaluation excluded)
    wall_s: float
    data: str
    fingerprint: str
    curve: list[tuple[int, float]] = field(default_factory=list)  # (step, val_loss)
    flops_per_token: float = 0.0  # forward + backward, for MFU
    device: str = "cpu"
    tokenizer_roundtrip: str = ""  # see CorpusInfo.tokenizer_roundtrip
    resumed_from: int | None = None  # the step a checkpoint continued from, if one did
    lr: float = float("nan")  # the peak lr the run used: the override, else its recipe's default
    weight_decay: float = float("nan")
    gpu: str | None = None  # the GPU's name, when it trained on one
    peak_gpu_memory_mb: float | None = None  # torch's peak allocation on the GPU (None on CPU)
    peak_rss_mb: float = 0.0  # the process's peak resident memory, data preparation included


def batches_per_epoch(n_tokens: int, block_size: int, batch_size: int) -> int:
    return n_tokens // (block_size * batch_size)


def get_batch(ids: torch.Tensor, ptr: int, block_size: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The reference reader: sequential spans, pointer reset near the end, advance by B*T (not span)."""
    span = block_size * batch_size + 1
    if ptr + span >= len(ids):
        ptr = 0
    chunk = ids[ptr : ptr + span]
    x = chunk[:-1].view(batch_size, block_size)
    y = chunk[1:].view(batch_size, block_size)
    return x, y, ptr + block_size * batch_size


def eval_windows(ids: torch.Tensor, block_size: int, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive non-overlapping windows of B*T+1 tokens, as the reference's iter_full_split."""
    span = block_size * batch_size + 1
    for ptr in range(0, len(ids) - span + 1, span):
        chunk = ids[ptr : ptr + span]
        yield chunk[:-1].view(batch_size, block_size), chunk[1:].view(batch_size, block_size)


# Rows per forward pass of the full-coverage metric: fixed, so that the metric never depends on the
# training batch (rows are independent: the row count only changes how many run at once).
FULL_EVAL_ROWS = 64


def full_windows(ids: torch.Tensor, block_size: int, rows: int = FULL_EVAL_ROWS
                 ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Every token but the first (which has no context) as a target exactly once: rows of block_size
    tokens at 0, T, 2T, ... with their next-token targets, `rows` at a time, then the shorter tail."""
    targets = len(ids) - 1
    whole = targets // block_size
    x = ids[: whole * block_size].view(whole, block_size)
    y = ids[1 : whole * block_size + 1].view(whole, block_size)
    for start in range(0, whole, rows):
        yield x[start : start + rows], y[start : start + rows]
    if targets > whole * block_size:
        yield ids[whole * block_size : targets].view(1, -1), ids[whole * block_size + 1 :].view(1, -1)


@dataclass
class Evaluation:
    loss: float  # summed token cross-entropy / characters of val text: the reference metric
    loss_per_token: float
    coverage: float
    loss_full: float = float("nan")  # every val token once, summed / characters: the reference's units
    bpb: float = float("nan")  # the same sum in bits, per UTF-8 byte of the val text


@torch.no_grad()
def evaluate(model: GPT, val_ids: torch.Tensor, val_chars: int, block_size: int, batch_size: int,
             autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
             val_bytes: int | None = None) -> Evaluation:
    """The reference metric; with `val_bytes`, also the full-coverage metric and bits per byte."""
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    for x, y in eval_windows(val_ids, block_size, batch_size):
        with autocast():
            total += model.loss_sum(x, y)
        tokens += y.numel()
    ev = Evaluation(loss=total / val_chars, loss_per_token=total / max(tokens, 1), coverage=tokens / len(val_ids))
    if val_bytes is not None:
        full = evaluate_full_sum(model, val_ids, block_size, autocast)
        ev.loss_full, ev.bpb = full / val_chars, full / math.log(2) / val_bytes
    model.train(was_training)
    return ev


@torch.no_grad()
def evaluate_full_sum(model: GPT, val_ids: torch.Tensor, block_size: int,
                      autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext) -> float:
    """Summed cross-entropy (nats) of every val token after the first, in `full_windows`."""
    total = 0.0
    for x, y in full_windows(val_ids, block_size):
        with autocast():
            total += model.loss_sum(x, y)
    return total


def peak_rss_mb() -> float:
    """The process's peak resident set size so far (Linux reports kilobytes, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def device_facts(device: torch.device) -> dict[str, Any]:
    """What a record says of the hardware it ran on: the GPU's name and torch's peak allocation on it."""
    if device.type != "cuda":
        return {"gpu": None, "peak_gpu_memory_mb": None}
    return {"gpu": torch.cuda.get_device_name(device),
            "peak_gpu_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name} asked for, but torch sees no CUDA device")
    return torch.device(name)


def model_flops_per_token(params: int, n_layer: int, block_size: int, d_model: int) -> float:
    """Training FLOPs per token: 6 x parameters plus attention's scores and mixing (PaLM appendix B)."""
    return 6.0 * params + 12.0 * n_layer * block_size * d_model


def autocast_for(precision: str, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    if precision == "bf16":
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def train_step(model: GPT, opt: torch.optim.Optimizer, scheduler: Any, x: torch.Tensor, y: torch.Tensor,
               autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
               grad_accum: int = 1) -> float:
    """One reference step: forward, zero_grad, backward, clip to 1.0, optimizer and scheduler step.

    With grad_accum K, the batch's rows go through in K micro-batches whose mean losses are each
    divided by K, so the accumulated gradient is the full batch's mean-loss gradient: the same step
    with 1/K of the activations. Returns the batch's mean loss."""
    if grad_accum == 1:
        with autocast():
            loss = model.loss(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
    else:
        opt.zero_grad(set_to_none=True)
        parts = []
        for x_micro, y_micro in zip(x.chunk(grad_accum), y.chunk(grad_accum)):
            with autocast():
                part = model.loss(x_micro, y_micro) / grad_accum
            part.backward()
            parts.append(part.detach())
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    scheduler.step()
    # Read last: .item() waits for the device, so a read before clipping would leave the GPU idle
    # while the CPU launched the rest of the step. The value is the same either way.
    if grad_accum == 1:
        return loss.item()
    return sum(part.item() for part in parts)


@dataclass
class Progress:
    """Where a run stands: what a checkpoint stores to continue it and what the result reports."""

    step: int = 0
    ptr: int = 0  # the reader's position in the train ids
    curve: list[tuple[int, float]] = field(default_factory=list)
    train_time: float = 0.0
    elapsed: float = 0.0  # wall time before this process (a resumed run adds its own)
    best_val_loss: float = math.inf
    last: dict[str, float] | None = None  # the last Evaluation's fields
    resumed_from: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step, "ptr": self.ptr, "curve": [list(p) for p in self.curve],
                "train_time": self.train_time, "elapsed": self.elapsed, "best_val_loss": self.best_val_loss,
                "last": self.last}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Progress":
        return cls(d["step"], d["ptr"], [(int(s), float(v)) for s, v in d["curve"]], d["train_time"], d["elapsed"],
                   d["best_val_loss"], d["last"], resumed_from=d["step"])


def restore(saved: dict[str, Any], model: GPT, opt: Any, scheduler: Any, device: torch.device) -> Progress:
    """Load a resume checkpoint into the freshly built model, optimizer and scheduler."""
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    checkpoint.set_rng_state(saved["rng"], device)  # last: building the model drew from the generators
    return Progress.from_dict(saved["state"])


def prepare_process(cfg: TrainConfig) -> torch.device:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    if device.type == "cpu":
        keep_freed_memory_mapped()
    # The reference seeds both generators first thing; nothing below draws from torch's generator
    # before the model is built, so these seeds fix the initial weights.
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    if device.type == "cuda":
        # Set both ways: one process may train several configurations (a notebook, the GPU smoke
        # checks), and an fp32 run after a tf32 one must not inherit TF32 matmuls.
        tf32 = cfg.precision in ("tf32", "bf16")
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.cuda.reset_peak_memory_stats(device)
    return device


def tensorboard_writer(folder: str | None, resumed_step: int) -> Any:
    """A TensorBoard SummaryWriter for the folder, or None. A resumed run purges what the killed run
    wrote after its checkpoint, so no step appears twice."""
    if folder is None:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError("--tensorboard needs the tensorboard package: pip install 'mainrun-ablations[tensorboard]'") \
            from None
    return SummaryWriter(folder, purge_step=resumed_step + 1 if resumed_step else None)


def check_sizes(cfg: TrainConfig, info: data.CorpusInfo) -> int:
    """Batches per epoch, after checking that the splits fit the batch and evaluation shapes."""
    batches = batches_per_epoch(info.train_tokens, cfg.block_size, cfg.batch_size)
    if batches < cfg.evals_per_epoch:
        raise DataError(
            f"the train split gives {batches} batches of {cfg.batch_size}x{cfg.block_size} tokens per epoch, "
            f"fewer than --evals-per-epoch {cfg.evals_per_epoch}"
        )
    span = cfg.batch_size * cfg.block_size + 1
    if info.val_tokens < span:
        raise DataError(
            f"the val split has {info.val_tokens} tokens, fewer than one evaluation window of "
            f"batch_size*block_size+1 = {span}"
        )
    return batches


def train(cfg: TrainConfig, *, progress: bool = True, progress_position: int | None = None,
          on_validation: Callable[[int, float], None] | None = None) -> RunResult:
    """Run one training job. `on_validation(step, val_loss)` is called at each evaluation. With
    `cfg.checkpoint_dir`, a checkpoint is written at every evaluation (and `best.pt` whenever the
    validation loss improves); with `cfg.resume`, the run continues from that checkpoint."""
    cfg.validate()
    checkpoint_dir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else None
    saved = None
    if cfg.resume:
        if checkpoint_dir is None:
            raise ConfigError("--resume needs --checkpoint-dir, the folder of the checkpoint to continue")
        saved = checkpoint.load(checkpoint_dir / checkpoint.CHECKPOINT, kind="resume")
    device = prepare_process(cfg)

    with JsonlLogger(cfg.log_file, append=saved is not None) as log:
        if saved is None:
            log.log("hyperparameters_configured", **cfg.as_dict())
        log.log("device_info", device=str(device), torch=torch.__version__, threads=torch.get_num_threads(),
                platform=platform.platform(), gpu=device_facts(device)["gpu"],
                visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"))

        corpus = data.prepare(cfg.data, cfg.num_titles, cfg.val_frac, cfg.seed, cfg.vocab_size, cfg.cache_dir)
        info = corpus.info
        batches = check_sizes(cfg, info)
        max_steps = cfg.max_steps or cfg.epochs * batches
        eval_interval = batches // cfg.evals_per_epoch
        log.log("dataset_info", titles_count=info.train_titles, epochs=cfg.epochs, batches_per_epoch=batches,
                tokens_per_epoch=info.train_tokens, vocab_size=info.vocab_size, source=info.source,
                fingerprint=info.fingerprint, val_titles_count=info.val_titles, val_tokens=info.val_tokens,
                val_chars=info.val_chars, val_bytes=info.val_bytes, tokenizer_roundtrip=info.tokenizer_roundtrip)
        if saved is not None:
            checkpoint.check_resumable(saved, cfg.as_dict(), info.fingerprint, checkpoint_dir / checkpoint.CHECKPOINT)

        model_cfg = ModelConfig(vocab_size=info.vocab_size, block_size=cfg.block_size, n_layer=cfg.n_layer,
                                n_head=cfg.n_head, d_model=cfg.d_model, dropout=cfg.dropout,
                                variant=cfg.variant, attention=cfg.attention, eos_id=corpus.eos_id)
        model = GPT(model_cfg).to(device)
        params = model.num_params()
        flops_per_token = model_flops_per_token(params, cfg.n_layer, cfg.block_size, cfg.d_model)
        log.log("model_info", parameters_count=params, variant=str(cfg.variant), flops_per_token=flops_per_token)

        recipe = cfg.optimizer_hyperparameters()
        log.log("optimizer_info", recipe=cfg.variant.opt, lr_scaling=cfg.lr_scaling, grad_accum=cfg.grad_accum,
                **recipe)
        opt, scheduler = build_optimizer(cfg.variant.opt, model, max_steps, **recipe)
        state = Progress()
        if saved is not None:
            state = restore(saved, model, opt, scheduler, device)
            log.log("resumed", step=state.step, max_steps=max_steps, checkpoint=str(checkpoint_dir))
        # Kept on the device once: each step then slices a view instead of copying a batch over.
        train_ids, val_ids = corpus.train_ids.to(device), corpus.val_ids.to(device)
        autocast = autocast_for(cfg.precision, device)
        board = tensorboard_writer(cfg.tensorboard_dir, state.step)
        writer = None if checkpoint_dir is None else checkpoint.Writer(checkpoint_dir, {
            "config": cfg.as_dict(), "model_config": checkpoint.model_config_dict(model_cfg),
            "tokenizer": corpus.tokenizer_path.read_text(encoding="utf-8"), "code": checkpoint.code_version(),
            "fingerprint": info.fingerprint}, device, cfg.checkpoint_every)

        def validate(step: int) -> Evaluation:
            ev = evaluate(model, val_ids, info.val_chars, cfg.block_size, cfg.batch_size, autocast, info.val_bytes)
            state.curve.append((step, ev.loss))
            state.last = dataclasses.asdict(ev)
            log.log("validation_step", step=step, max_steps=max_steps, loss=ev.loss, elapsed_time=elapsed(),
                    loss_per_token=ev.loss_per_token, coverage=ev.coverage, loss_full=ev.loss_full, bpb=ev.bpb,
                    tokenizer_roundtrip=info.tokenizer_roundtrip)
            improved = math.isfinite(ev.loss) and ev.loss < state.best_val_loss
            if improved:
                state.best_val_loss = ev.loss
            if writer is not None:
                state.elapsed = elapsed()
                writer.evaluated(model, opt, scheduler, state.as_dict(), len(state.curve), step, ev.loss, improved)
            if board is not None:
                for name, value in (("loss", ev.loss), ("loss_full", ev.loss_full), ("bpb", ev.bpb)):
                    board.add_scalar(f"val/{name}", value, step)
            if on_validation is not None:
                on_validation(step, ev.loss)
            if progress:
                bar.write(f"[{step:>6}/{max_steps}] validation loss {ev.loss:.6f} (full coverage {ev.loss_full:.6f}, "
                          f"{ev.bpb:.4f} bits/byte)")
            return ev

        status = "ok"
        tokens_per_step = cfg.batch_size * cfg.block_size
        bar = tqdm(total=max_steps, initial=state.step, desc=str(cfg.variant), position=progress_position,
                   leave=progress_position is None, dynamic_ncols=True, disable=not progress)
        t0, base_elapsed = time.time(), state.elapsed
        elapsed = lambda: base_elapsed + time.time() - t0  # noqa: E731
        model.train()
        while state.step < max_steps:
            state.step += 1
            step = state.step
            t_step = time.perf_counter()
            x, y, state.ptr = get_batch(train_ids, state.ptr, cfg.block_size, cfg.batch_size)
            lr = opt.param_groups[0]["lr"]  # the lr this step uses (the scheduler moves it after the step)
            loss_value = train_step(model, opt, scheduler, x, y, autocast, cfg.grad_accum)
            state.train_time += time.perf_counter() - t_step
            log.log("training_step", step=step, max_steps=max_steps, loss=loss_value, elapsed_time=elapsed(), lr=lr)
            if board is not None:
                board.add_scalar("train/loss", loss_value, step)
                board.add_scalar("train/lr", lr, step)
            bar.update(1)
            if step % 10 == 0 or step == max_steps:
                bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)
            if not math.isfinite(loss_value):
                status = "diverged"
                log.log("diverged", step=step, max_steps=max_steps, loss=loss_value)
                break
            if step == 1 or step % eval_interval == 0 or step == max_steps:
                validate(step)
        bar.close()
        if writer is not None:
            writer.flush()
        wall = base_elapsed + time.time() - t0
        last = Evaluation(**state.last) if state.last else None
        if last is None or not math.isfinite(last.loss):
            last = last or Evaluation(float("nan"), float("nan"), float("nan"))
            status = "diverged"
        finite = [loss for _, loss in state.curve if math.isfinite(loss)]
        result = RunResult(
            status=status, val_loss=last.loss, best_val_loss=min(finite) if finite else float("nan"),
            val_loss_per_token=last.loss_per_token, val_coverage=last.coverage, val_loss_full=last.loss_full,
            val_bpb=last.bpb, params=params, steps=state.step, max_steps=max_steps,
            tokens_per_s=state.step * tokens_per_step / state.train_time if state.train_time else 0.0,
            wall_s=wall, data=info.source, fingerprint=info.fingerprint, curve=state.curve,
            flops_per_token=flops_per_token, device=str(device), tokenizer_roundtrip=info.tokenizer_roundtrip,
            resumed_from=state.resumed_from, **recipe, **device_facts(device), peak_rss_mb=peak_rss_mb(),
        )
        if board is not None:
            board.add_scalar("speed/tokens_per_s", result.tokens_per_s, state.step)
            board.close()
        log.log("run_finished", status=status, val_loss=result.val_loss, val_loss_full=result.val_loss_full,
                val_bpb=result.val_bpb, tokenizer_roundtrip=info.tokenizer_roundtrip, best_val_loss=result.best_val_loss,
                steps=state.step, max_steps=max_steps, tokens_per_s=result.tokens_per_s, wall_s=wall)
        return result


def build_config(args: Any) -> TrainConfig:
    load_plugins(args.plugin)
    variant = Variant.parse(args.variant or "baseline")
    return TrainConfig.from_scale(args.scale or "mainrun", variant=variant, **train_overrides(args))


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(prog="python -m mainrun.train", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--variant", help="baseline, or e.g. norm=rmsnorm,pos=rope,init=kaiming,opt=adamw")
    add_train_arguments(parser)
    parser.add_argument("--log-file", help="JSONL log (default logs/mainrun.log)", default="logs/mainrun.log")
    parser.add_argument("--checkpoint-dir", help="write DIR/checkpoint.pt at every evaluation and DIR/best.pt at "
                                                 "the lowest validation loss")
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint-dir's checkpoint.pt")
    parser.add_argument("--tensorboard", dest="tensorboard_dir", metavar="DIR",
                        help="write TensorBoard events (train loss, lr, validation metrics, tokens/s) into DIR")
    args = parser.parse_args(argv)
    cfg = build_config(args)
    ensure_writable(cfg.log_file, "--log-file")
    if cfg.checkpoint_dir:
        ensure_writable(cfg.checkpoint_dir, "--checkpoint-dir", directory=True)
    result = train(cfg)
    print(f"{cfg.variant}  status={result.status}  val_loss={result.val_loss:.6f}  "
          f"val_loss_full={result.val_loss_full:.6f}  bpb={result.val_bpb:.4f}  "
          f"per_token={result.val_loss_per_token:.4f}  params={result.params:,}  "
          f"{result.tokens_per_s:,.0f} tok/s  {result.wall_s:.1f}s  log={cfg.log_file}")
    return 0 if result.status == "ok" else 1


if __name__ == "__main__":
    run_cli(main)
