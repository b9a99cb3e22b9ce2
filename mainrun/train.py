"""Train one variant the way the reference program does, and `evaluate()` with its metric.

    python -m mainrun.train --scale cpu --variant norm=rmsnorm,opt=adamw --data ../shared/data/hn_titles.txt
"""
from __future__ import annotations

import contextlib
import math
import platform
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
from tqdm.auto import tqdm

from . import data
from .cli import OneLineArgumentParser, add_train_arguments, load_plugins, run_cli, train_overrides
from .components.optimizers import build_optimizer, resolved_hyperparameters
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
    lr: float = float("nan")  # the peak lr the run used: the override, else its recipe's default
    weight_decay: float = float("nan")


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


@dataclass
class Evaluation:
    loss: float  # summed token cross-entropy / characters of val text: the reference metric
    loss_per_token: float
    coverage: float


@torch.no_grad()
def evaluate(model: GPT, val_ids: torch.Tensor, val_chars: int, block_size: int, batch_size: int,
             autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext) -> Evaluation:
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    for x, y in eval_windows(val_ids, block_size, batch_size):
        with autocast():
            total += model.loss_sum(x, y)
        tokens += y.numel()
    model.train(was_training)
    return Evaluation(loss=total / val_chars, loss_per_token=total / max(tokens, 1), coverage=tokens / len(val_ids))


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
               autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext) -> float:
    """One reference step: forward, zero_grad, backward, clip to 1.0, optimizer and scheduler step."""
    with autocast():
        loss = model.loss(x, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    scheduler.step()
    return loss.item()  # the reference logs every step; this also syncs the device


def train(cfg: TrainConfig, *, progress: bool = True, progress_position: int | None = None,
          on_validation: Callable[[int, float], None] | None = None) -> RunResult:
    """Run one training job. `on_validation(step, val_loss)` is called at each evaluation."""
    cfg.validate()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    if device.type == "cpu":
        keep_freed_memory_mapped()
    # The reference seeds both generators first thing; nothing below draws from torch's generator
    # before the model is built, so these seeds fix the initial weights.
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    if cfg.precision in ("tf32", "bf16") and device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    with JsonlLogger(cfg.log_file) as log:
        log.log("hyperparameters_configured", **cfg.as_dict())
        log.log("device_info", device=str(device), torch=torch.__version__, threads=torch.get_num_threads(),
                platform=platform.platform(),
                gpu=torch.cuda.get_device_name(device) if device.type == "cuda" else None)

        corpus = data.prepare(cfg.data, cfg.num_titles, cfg.val_frac, cfg.seed, cfg.vocab_size, cfg.cache_dir)
        info = corpus.info
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
        max_steps = cfg.max_steps or cfg.epochs * batches
        eval_interval = batches // cfg.evals_per_epoch
        log.log("dataset_info", titles_count=info.train_titles, epochs=cfg.epochs, batches_per_epoch=batches,
                tokens_per_epoch=info.train_tokens, vocab_size=info.vocab_size, source=info.source,
                fingerprint=info.fingerprint, val_titles_count=info.val_titles, val_tokens=info.val_tokens,
                val_chars=info.val_chars)

        model_cfg = ModelConfig(vocab_size=info.vocab_size, block_size=cfg.block_size, n_layer=cfg.n_layer,
                                n_head=cfg.n_head, d_model=cfg.d_model, dropout=cfg.dropout,
                                variant=cfg.variant, attention=cfg.attention)
        model = GPT(model_cfg).to(device)
        params = model.num_params()
        flops_per_token = model_flops_per_token(params, cfg.n_layer, cfg.block_size, cfg.d_model)
        log.log("model_info", parameters_count=params, variant=str(cfg.variant), flops_per_token=flops_per_token)

        recipe = resolved_hyperparameters(cfg.variant.opt, cfg.lr, cfg.weight_decay)
        log.log("optimizer_info", recipe=cfg.variant.opt, **recipe)
        opt, scheduler = build_optimizer(cfg.variant.opt, model, max_steps, **recipe)
        # Kept on the device once: each step then slices a view instead of copying a batch over.
        train_ids, val_ids = corpus.train_ids.to(device), corpus.val_ids.to(device)

        autocast = autocast_for(cfg.precision, device)

        def validate(step: int) -> Evaluation:
            ev = evaluate(model, val_ids, info.val_chars, cfg.block_size, cfg.batch_size, autocast)
            curve.append((step, ev.loss))
            log.log("validation_step", step=step, max_steps=max_steps, loss=ev.loss, elapsed_time=time.time() - t0,
                    loss_per_token=ev.loss_per_token, coverage=ev.coverage)
            if on_validation is not None:
                on_validation(step, ev.loss)
            if progress:
                bar.write(f"[{step:>6}/{max_steps}] validation loss {ev.loss:.6f} (per token {ev.loss_per_token:.4f})")
            return ev

        curve: list[tuple[int, float]] = []
        status, ptr, step, last = "ok", 0, 0, None
        train_time = 0.0
        tokens_per_step = cfg.batch_size * cfg.block_size
        bar = tqdm(total=max_steps, desc=str(cfg.variant), position=progress_position, leave=progress_position is None,
                   dynamic_ncols=True, disable=not progress)
        t0 = time.time()
        model.train()
        while step < max_steps:
            step += 1
            t_step = time.perf_counter()
            x, y, ptr = get_batch(train_ids, ptr, cfg.block_size, cfg.batch_size)
            loss_value = train_step(model, opt, scheduler, x, y, autocast)
            train_time += time.perf_counter() - t_step
            log.log("training_step", step=step, max_steps=max_steps, loss=loss_value, elapsed_time=time.time() - t0,
                    lr=opt.param_groups[0]["lr"])
            bar.update(1)
            if step % 10 == 0 or step == max_steps:
                bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)
            if not math.isfinite(loss_value):
                status = "diverged"
                log.log("diverged", step=step, max_steps=max_steps, loss=loss_value)
                break
            if step == 1 or step % eval_interval == 0 or step == max_steps:
                last = validate(step)
        bar.close()
        wall = time.time() - t0
        if last is None or not math.isfinite(last.loss):
            last = last or Evaluation(float("nan"), float("nan"), float("nan"))
            status = "diverged"
        finite = [loss for _, loss in curve if math.isfinite(loss)]
        result = RunResult(
            status=status, val_loss=last.loss, best_val_loss=min(finite) if finite else float("nan"),
            val_loss_per_token=last.loss_per_token, val_coverage=last.coverage, params=params, steps=step,
            max_steps=max_steps, tokens_per_s=step * tokens_per_step / train_time if train_time else 0.0,
            wall_s=wall, data=info.source, fingerprint=info.fingerprint, curve=curve,
            flops_per_token=flops_per_token, device=str(device), **recipe,
        )
        log.log("run_finished", status=status, val_loss=result.val_loss, best_val_loss=result.best_val_loss,
                steps=step, max_steps=max_steps, tokens_per_s=result.tokens_per_s, wall_s=wall)
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
    args = parser.parse_args(argv)
    cfg = build_config(args)
    result = train(cfg)
    print(f"{cfg.variant}  status={result.status}  val_loss={result.val_loss:.6f}  "
          f"per_token={result.val_loss_per_token:.4f}  params={result.params:,}  "
          f"{result.tokens_per_s:,.0f} tok/s  {result.wall_s:.1f}s  log={cfg.log_file}")
    return 0 if result.status == "ok" else 1


if __name__ == "__main__":
    run_cli(main)
