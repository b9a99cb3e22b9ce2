"""A run in progress and what it ends with: the state a checkpoint keeps (`Progress`), everything one run
holds while it trains (`Training`), one optimizer step (`train_step`), and `RunResult`, the one schema
of what a cell's record says about its training.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from . import data
from .config import TrainConfig
from .data import BPB_SEPARATOR_BYTES
from .evaluation import Evaluation, evaluate
from .errors import ConfigError
from .model import GPT


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
    val_bpb: float | None = None  # bits per UTF-8 byte of the val text, each <eos> one byte
    bpb_separator_bytes: int | None = BPB_SEPARATOR_BYTES  # how many bytes val_bpb counted per <eos>
    tokenizer_roundtrip: str | None = None  # see CorpusInfo.tokenizer_roundtrip
    params: int | None = None
    steps: int | None = None
    max_steps: int | None = None
    tokens_per_s: float | None = None  # training tokens per second of training-step time (evaluation excluded)
    wall_s: float | None = None
    eval_s: float | None = None  # seconds spent in evaluations (this run's, a resumed one's included)
    eval_share: float | None = None  # eval_s over wall_s: what evaluation costs the cell
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


def run_steps(cfg: TrainConfig, batches: int) -> int:
    """The optimizer steps a run takes (and its schedule spans): --max-steps or epochs x batches, times
    --budget (1 for every run but a speed-up's budgets; round(1 x n) is n, so the reference is untouched)."""
    t = cfg.training
    return max(1, round(t.budget * (t.max_steps or t.epochs * batches)))


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
    eval_time: float = 0.0

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
                "last": self.last, "eval_time": self.eval_time}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Progress":
        return cls(d["step"], d["ptr"], [(int(s), float(v)) for s, v in d["curve"]], d["train_time"], d["elapsed"],
                   d["best_val_loss"], d["last"], resumed_from=d["step"],
                   eval_time=d.get("eval_time", 0.0))  # checkpoints before 2026-11-28 did not time evaluation


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
        """The reference metric at every evaluation; the full-coverage loss and bits per byte, which
        double an evaluation's cost, only at the last step: records, tables and effects read the last
        evaluation's, while the curve, best.pt and the sweep's and tuning's choices read the reference
        metric."""
        info, autocast = self.corpus.info, autocast_for(self.cfg.training.precision, self.device)
        start = time.perf_counter()
        final = self.state.step >= self.max_steps
        evaluation = evaluate(self.model, self.val_ids, info.val_chars, self.cfg.model.block_size,
                              self.cfg.training.batch_size, autocast, info.val_bytes if final else None)
        self.state.eval_time += time.perf_counter() - start
        return evaluation

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
        params, wall_s = self.model.num_params(), self.elapsed()
        return RunResult(
            status=status, val_loss=last.loss, best_val_loss=min(finite) if finite else math.nan,
            val_loss_per_token=last.loss_per_token, val_coverage=last.coverage, val_loss_full=last.loss_full,
            val_bpb=last.bpb, tokenizer_roundtrip=info.tokenizer_roundtrip, params=params, steps=state.step,
            max_steps=self.max_steps, tokens_per_s=tokens / state.train_time if state.train_time else 0.0,
            wall_s=wall_s, eval_s=state.eval_time, eval_share=state.eval_time / wall_s if wall_s else None,
            data=info.source, fingerprint=info.fingerprint, device=str(self.device),
            flops_per_token=flops_per_token(self.cfg, params), resumed_from=state.resumed_from,
            **device_facts(self.device), peak_rss_mb=peak_rss_mb(), curve=state.curve)


def flops_per_token(cfg: TrainConfig, params: int) -> float:
    return model_flops_per_token(params, cfg.model.n_layer, cfg.model.block_size, cfg.model.d_model)


