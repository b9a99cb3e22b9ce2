"""Train one variant the way the reference program does.

    python -m mainrun.train --scale cpu --variant norm=rmsnorm,opt=adamw --data ../shared/data/hn_titles.txt

`train(cfg, context)` is a plain loop: read a batch, take a step, evaluate when the reference does.
What happens around it (the JSONL log, checkpoints, TensorBoard, the progress bar, a caller's
callback) is a list of sinks in `mainrun.callbacks`, told of every step, validation and the end.
"""
from __future__ import annotations

import math
import os
import platform
import random
from pathlib import Path
from typing import Any, Callable

import torch

from . import checkpoint, data
from .callbacks import Callback, CheckpointSink, LogSink, OnValidation, ProgressSink, TensorBoardSink
from .training import (Progress, RunResult, Training, batches_per_epoch, device_facts, flops_per_token, resolve_device,
                       run_steps)
from .cli import (OneLineArgumentParser, add_train_arguments, context_overrides, ensure_writable, load_plugins,
                  run_cli, train_overrides)
from .components.optimizers import build_optimizer
from .config import RunContext, TrainConfig
from .errors import ConfigError, DataError
from .jsonlog import JsonlLogger
from .model import GPT, GPTConfig
from .runtime import keep_freed_memory_mapped
from .variant import Variant


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
    max_steps = run_steps(cfg, batches)
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
    parser = OneLineArgumentParser(prog="python -m mainrun.train", description=" ".join(__doc__.split("\n\n")[0].split()))
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
