"""Train one variant the way the reference program does.

    python -m mainrun.train --scale cpu --variant norm=rmsnorm,opt=adamw --data ../shared/data/hn_titles.txt

`train(cfg, context)` is a plain loop: read a batch, take a step, evaluate when the reference does.
What happens around it (the JSONL log, checkpoints, TensorBoard, the progress bar, a caller's
callback) is a list of sinks in `mainrun.callbacks`, told of every step, validation and the end.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import platform
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from . import checkpoint, data
from .callbacks import Callback, CheckpointSink, LogSink, OnValidation, ProgressSink, TensorBoardSink
from .cli import (OneLineArgumentParser, add_train_arguments, context_overrides, ensure_writable, load_plugins,
                  run_cli, train_overrides)
from .components.optimizers import build_optimizer
from .config import RunContext, TrainConfig
from .errors import ConfigError, DataError
from .evaluation import Evaluation, evaluate
from .jsonlog import JsonlLogger
from .model import GPT, GPTConfig
from .runtime import keep_freed_memory_mapped
from .variant import Variant


@dataclass
class RunResult:
    """The outcome of one run: the one schema of what a cell's record says about its training (a cell
    that failed before training reports has these fields too, left None)."""

    status: str  # "ok" | "diverged" | "failed" (the last set by the runner)
    val_loss: float | None = None  # the reference metric at the last evaluation
    best_val_loss: float | None = None
    val_loss_per_token: float | None = None
    val_coverage: float | None = None  # share of val tokens the metric scores
    val_loss_full: float | None = None  # every val token scored once, independent of the batch
    val_bpb: float | None = None  # bits per UTF-8 byte of the val text
    tokenizer_roundtrip: str | None = None  # see CorpusInfo.tokenizer_roundtrip
    params: int | None = None
    steps: int | None = None
    max_steps: int | None = None
    tokens_per_s: float | None = None  # training tokens per second of training-step time (evaluation excluded)
    wall_s: float | None = None
    data: str | None = None
    fingerprint: str | None = None
    device: str | None = None
    flops_per_token: float | None = None  # forward + backward, for MFU
    resumed_from: int | None = None  # the step a checkpoint continued from, if one did
    gpu: str | None = None  # the GPU's name, when it trained on one
    peak_gpu_memory_mb: float | None = None  # torch's peak allocation on the GPU (None on CPU)
    peak_rss_mb: float | None = None  # the process's peak resident memory, data preparation included
    curve: list[tuple[int, float]] = field(default_factory=list)  # (step, val_loss); curve.json, not the record

    def record_fields(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "curve"}


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
    """Where a run stands: what a checkpoint stores to continue it, and the best loss so far."""

    step: int = 0
    ptr: int = 0  # the reader's position in the train ids
    curve: list[tuple[int, float]] = field(default_factory=list)
    train_time: float = 0.0
    elapsed: float = 0.0  # wall time before this process (a resumed run adds its own)
    best_val_loss: float = math.inf
    last: dict[str, float] | None = None  # the last Evaluation's fields
    resumed_from: int | None = None

    def observe(self, step: int, evaluation: Evaluation) -> bool:
        """Record a validation; whether it is the lowest finite loss so far."""
        self.curve.append((step, evaluation.loss))
        self.last = dataclasses.asdict(evaluation)
        improved = math.isfinite(evaluation.loss) and evaluation.loss < self.best_val_loss
        if improved:
            self.best_val_loss = evaluation.loss
        return improved

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step, "ptr": self.ptr, "curve": [list(p) for p in self.curve],
                "train_time": self.train_time, "elapsed": self.elapsed, "best_val_loss": self.best_val_loss,
                "last": self.last}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Progress":
        return cls(d["step"], d["ptr"], [(int(s), float(v)) for s, v in d["curve"]], d["train_time"], d["elapsed"],
                   d["best_val_loss"], d["last"], resumed_from=d["step"])


def prepare_process(cfg: TrainConfig, context: RunContext) -> torch.device:
    if context.threads:
        torch.set_num_threads(context.threads)
    device = resolve_device(context.device)
    if device.type == "cpu":
        keep_freed_memory_mapped()
    # The reference seeds both generators first thing; nothing below draws from torch's generator
    # before the model is built, so these seeds fix the initial weights.
    torch.manual_seed(cfg.training.seed)
    random.seed(cfg.training.seed)
    if device.type == "cuda":
        # Set both ways: one process may train several configurations (a notebook, the GPU smoke
        # checks), and an fp32 run after a tf32 one must not inherit TF32 matmuls.
        tf32 = cfg.training.precision in ("tf32", "bf16")
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.cuda.reset_peak_memory_stats(device)
    return device


def check_sizes(cfg: TrainConfig, info: data.CorpusInfo) -> int:
    """Batches per epoch, after checking that the splits fit the batch and evaluation shapes."""
    block, batch = cfg.model.block_size, cfg.training.batch_size
    batches = batches_per_epoch(info.train_tokens, block, batch)
    if batches < cfg.training.evals_per_epoch:
        raise DataError(f"the train split gives {batches} batches of {batch}x{block} tokens per epoch, "
                        f"fewer than --evals-per-epoch {cfg.training.evals_per_epoch}")
    span = batch * block + 1
    if info.val_tokens < span:
        raise DataError(f"the val split has {info.val_tokens} tokens, fewer than one evaluation window of "
                        f"batch_size*block_size+1 = {span}")
    return batches


@dataclass
class Training:
    """Everything one run holds while it trains: the data on its device, the model, the optimizer and
    its schedule, and where it stands (`state`)."""

    cfg: TrainConfig
    device: torch.device
    corpus: data.Corpus
    model: GPT
    opt: Any
    scheduler: Any
    state: Progress
    batches: int
    max_steps: int
    train_ids: torch.Tensor
    val_ids: torch.Tensor
    started: float = field(default_factory=time.time)
    elapsed_before: float = 0.0

    def elapsed(self) -> float:
        return self.elapsed_before + time.time() - self.started

    def evaluates_at(self, step: int) -> bool:
        return step == 1 or step % (self.batches // self.cfg.training.evals_per_epoch) == 0 or step == self.max_steps

    def evaluate(self) -> Evaluation:
        info, autocast = self.corpus.info, autocast_for(self.cfg.training.precision, self.device)
        return evaluate(self.model, self.val_ids, info.val_chars, self.cfg.model.block_size,
                        self.cfg.training.batch_size, autocast, info.val_bytes)

    def step(self) -> float:
        """Read the next batch and take one optimizer step; the batch's mean loss."""
        cfg, state = self.cfg, self.state
        start = time.perf_counter()
        x, y, state.ptr = get_batch(self.train_ids, state.ptr, cfg.model.block_size, cfg.training.batch_size)
        loss = train_step(self.model, self.opt, self.scheduler, x, y, autocast_for(cfg.training.precision, self.device),
                          cfg.training.grad_accum)
        state.train_time += time.perf_counter() - start
        return loss

    def result(self, status: str) -> RunResult:
        state, info = self.state, self.corpus.info
        last = Evaluation(**state.last) if state.last else Evaluation(math.nan, math.nan, math.nan)
        if not math.isfinite(last.loss):
            status = "diverged"
        finite = [loss for _, loss in state.curve if math.isfinite(loss)]
        tokens = state.step * self.cfg.training.batch_size * self.cfg.model.block_size
        params = self.model.num_params()
        return RunResult(
            status=status, val_loss=last.loss, best_val_loss=min(finite) if finite else math.nan,
            val_loss_per_token=last.loss_per_token, val_coverage=last.coverage, val_loss_full=last.loss_full,
            val_bpb=last.bpb, tokenizer_roundtrip=info.tokenizer_roundtrip, params=params, steps=state.step,
            max_steps=self.max_steps, tokens_per_s=tokens / state.train_time if state.train_time else 0.0,
            wall_s=self.elapsed(), data=info.source, fingerprint=info.fingerprint, device=str(self.device),
            flops_per_token=flops_per_token(self.cfg, params), resumed_from=state.resumed_from,
            **device_facts(self.device), peak_rss_mb=peak_rss_mb(), curve=state.curve)


def flops_per_token(cfg: TrainConfig, params: int) -> float:
    return model_flops_per_token(params, cfg.model.n_layer, cfg.model.block_size, cfg.model.d_model)


def prepare(cfg: TrainConfig, context: RunContext, device: torch.device, log: JsonlLogger,
            saved: dict[str, Any] | None) -> Training:
    """Data, model, optimizer and state of a run (restored from `saved` when it resumes), logged as the
    reference logs them."""
    if saved is None:
        log.log("hyperparameters_configured", **cfg.flat())
    log.log("device_info", device=str(device), torch=torch.__version__, threads=torch.get_num_threads(),
            platform=platform.platform(), gpu=device_facts(device)["gpu"],
            visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"))
    d = cfg.data
    corpus = data.prepare(d.source, d.num_titles, d.val_frac, cfg.training.seed, d.vocab_size, context.cache_dir)
    info = corpus.info
    batches = check_sizes(cfg, info)
    max_steps = cfg.training.max_steps or cfg.training.epochs * batches
    log.log("dataset_info", titles_count=info.train_titles, epochs=cfg.training.epochs, batches_per_epoch=batches,
            tokens_per_epoch=info.train_tokens, vocab_size=info.vocab_size, source=info.source,
            fingerprint=info.fingerprint, val_titles_count=info.val_titles, val_tokens=info.val_tokens,
            val_chars=info.val_chars, val_bytes=info.val_bytes, tokenizer_roundtrip=info.tokenizer_roundtrip)
    if saved is not None:
        checkpoint.check_resumable(saved, cfg, info.fingerprint, Path(context.checkpoint_dir) / checkpoint.CHECKPOINT)
    model = GPT(GPTConfig.of(cfg, info.vocab_size, corpus.eos_id)).to(device)
    log.log("model_info", parameters_count=model.num_params(), variant=str(cfg.variant),
            flops_per_token=flops_per_token(cfg, model.num_params()))
    log.log("optimizer_info", recipe=cfg.variant.opt, lr_scaling=cfg.optim.lr_scaling,
            grad_accum=cfg.training.grad_accum, lr=cfg.peak_lr, weight_decay=cfg.optim.weight_decay,
            **cfg.variant.settings_of("opt"))
    opt, scheduler = build_optimizer(cfg.variant.opt, model, max_steps, cfg.peak_lr, cfg.optim.weight_decay,
                                     **cfg.variant.settings_of("opt"))
    state = Progress()
    if saved is not None:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        checkpoint.set_rng_state(saved["rng"], device)  # last: building the model drew from the generators
        state = Progress.from_dict(saved["state"])
        log.log("resumed", step=state.step, max_steps=max_steps, checkpoint=str(context.checkpoint_dir))
    # Kept on the device once: each step then slices a view instead of copying a batch over.
    return Training(cfg, device, corpus, model, opt, scheduler, state, batches, max_steps,
                    corpus.train_ids.to(device), corpus.val_ids.to(device), elapsed_before=state.elapsed)


def sinks(run: Training, context: RunContext, log: JsonlLogger, progress: bool, progress_position: int | None,
          on_validation: Callable[[int, float], Any] | None) -> list[Callback]:
    found: list[Callback] = [LogSink(log, run)]
    if context.checkpoint_dir is not None:
        common = {"config": run.cfg.flat(), "model_config": checkpoint.model_config_dict(run.model.cfg),
                  "tokenizer": run.corpus.tokenizer_path.read_text(encoding="utf-8"),
                  "code": checkpoint.code_version(), "fingerprint": run.corpus.info.fingerprint}
        found.append(CheckpointSink(checkpoint.Writer(Path(context.checkpoint_dir), common, run.device,
                                                      context.checkpoint_every), run))
    if context.tensorboard_dir is not None:
        found.append(TensorBoardSink(context.tensorboard_dir, run.state.step))
    if on_validation is not None:
        found.append(OnValidation(on_validation))
    return [*found, ProgressSink(run, progress_position, progress)]


def train(cfg: TrainConfig, context: RunContext = RunContext(), *, progress: bool = True,
          progress_position: int | None = None, on_validation: Callable[[int, float], Any] | None = None) -> RunResult:
    """Run one training job. With `context.checkpoint_dir`, checkpoints and best.pt are written there
    (`mainrun.checkpoint.Writer`); with `context.resume`, the run continues from its checkpoint.
    `on_validation(step, val_loss)` is called at each evaluation."""
    cfg = cfg.resolved()
    cfg.validate()
    context.validate()
    saved = None
    if context.resume:
        if context.checkpoint_dir is None:
            raise ConfigError("--resume needs --checkpoint-dir, the folder of the checkpoint to continue")
        saved = checkpoint.load(Path(context.checkpoint_dir) / checkpoint.CHECKPOINT, kind="resume")
    device = prepare_process(cfg, context)
    with JsonlLogger(context.log_file, append=saved is not None) as log:
        run = prepare(cfg, context, device, log, saved)
        listeners = sinks(run, context, log, progress, progress_position, on_validation)
        status = "ok"
        run.model.train()
        while run.state.step < run.max_steps:
            run.state.step += 1
            step, lr = run.state.step, run.opt.param_groups[0]["lr"]  # the lr this step uses
            loss = run.step()
            for sink in listeners:
                sink.on_step(step, loss, lr)
            if not math.isfinite(loss):
                status = "diverged"
                break
            if run.evaluates_at(step):
                evaluation = run.evaluate()
                improved = run.state.observe(step, evaluation)
                for sink in listeners:
                    sink.on_evaluation(step, evaluation, improved)
        result = run.result(status)
        for sink in listeners:
            sink.on_end(result)
        return result


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(prog="python -m mainrun.train", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--variant", help="baseline, or e.g. norm=rmsnorm,pos=rope,opt=adamw,norm.eps=1e-5")
    add_train_arguments(parser)
    parser.add_argument("--log-file", help="JSONL log (default logs/mainrun.log)", default="logs/mainrun.log")
    parser.add_argument("--checkpoint-dir", help="write DIR/checkpoint.pt at evaluations and DIR/best.pt at the "
                                                 "lowest validation loss")
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint-dir's checkpoint.pt")
    parser.add_argument("--tensorboard", dest="tensorboard_dir", metavar="DIR",
                        help="write TensorBoard events (train loss, lr, validation metrics, tokens/s) into DIR")
    args = parser.parse_args(argv)
    load_plugins(args.plugin)
    cfg = TrainConfig.from_scale(args.scale or "mainrun", variant=Variant.parse(args.variant or "baseline"),
                                 **train_overrides(args))
    context = RunContext(**context_overrides(args))  # --log-file, --checkpoint-dir, ... included
    context.validate()
    ensure_writable(context.log_file, "--log-file")
    if context.checkpoint_dir:
        ensure_writable(context.checkpoint_dir, "--checkpoint-dir", directory=True)
    result = train(cfg, context)
    print(f"{cfg.variant}  status={result.status}  val_loss={result.val_loss:.6f}  "
          f"val_loss_full={result.val_loss_full:.6f}  bpb={result.val_bpb:.4f}  "
          f"per_token={result.val_loss_per_token:.4f}  params={result.params:,}  "
          f"{result.tokens_per_s:,.0f} tok/s  {result.wall_s:.1f}s  log={context.log_file}")
    return 0 if result.status == "ok" else 1


if __name__ == "__main__":
    run_cli(main)
