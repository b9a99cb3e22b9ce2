"""What the training loop tells the world: each sink hears the same three events and keeps its own state.

    on_step(step, loss, lr)                after every optimizer step
    on_evaluation(step, evaluation, improved)   after every validation
    on_end(result)                         once, with the run's result

The loop (`mainrun.train.train`) knows none of them: the JSONL log, the checkpoints, TensorBoard,
the progress bar and a caller's own callback are each one of these.
"""
from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any, Callable

from tqdm.auto import tqdm

from . import checkpoint
from .errors import ConfigError, writing
from .evaluation import Evaluation
from .jsonlog import JsonlLogger

if TYPE_CHECKING:  # the sinks only read the run's state
    from .training import RunResult, Training


class Callback:
    def on_step(self, step: int, loss: float, lr: float) -> None:
        pass

    def on_evaluation(self, step: int, evaluation: Evaluation, improved: bool) -> None:
        pass

    def on_end(self, result: "RunResult") -> None:
        pass


class LogSink(Callback):
    """The reference log format: a line per step and per validation, then the result."""

    def __init__(self, log: JsonlLogger, run: "Training"):
        self.log, self.run = log, run

    def on_step(self, step: int, loss: float, lr: float) -> None:
        max_steps = self.run.max_steps
        self.log.log("training_step", step=step, max_steps=max_steps, loss=loss, elapsed_time=self.run.elapsed(), lr=lr)
        if not math.isfinite(loss):
            self.log.log("diverged", step=step, max_steps=max_steps, loss=loss)

    def on_evaluation(self, step: int, evaluation: Evaluation, improved: bool) -> None:
        fields = dataclasses.asdict(evaluation)
        self.log.log("validation_step", step=step, max_steps=self.run.max_steps, elapsed_time=self.run.elapsed(),
                     **fields, tokenizer_roundtrip=self.run.corpus.info.tokenizer_roundtrip)

    def on_end(self, result: "RunResult") -> None:
        self.log.log("run_finished", **{k: v for k, v in dataclasses.asdict(result).items() if k != "curve"})


class CheckpointSink(Callback):
    """checkpoint.pt at the evaluations `checkpoint.Writer` says, best.pt with them and at the end."""

    def __init__(self, writer: checkpoint.Writer, run: "Training"):
        self.writer, self.run = writer, run

    def on_evaluation(self, step: int, evaluation: Evaluation, improved: bool) -> None:
        run = self.run
        run.state.elapsed = run.elapsed()
        self.writer.evaluated(run.model, run.opt, run.scheduler, run.state.as_dict(), len(run.state.curve), step,
                              evaluation.loss, improved)

    def on_end(self, result: "RunResult") -> None:
        self.writer.flush()


class TensorBoardSink(Callback):
    """Train loss and lr per step, the validation metrics, tokens/s at the end. A resumed run purges
    what the killed run wrote after its checkpoint, so no step appears twice."""

    def __init__(self, folder: str, resumed_step: int):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("--tensorboard needs the tensorboard package: pip install "
                              "'mainrun-ablations[tensorboard]'") from None
        with writing(folder):
            self.board = SummaryWriter(folder, purge_step=resumed_step + 1 if resumed_step else None)

    def on_step(self, step: int, loss: float, lr: float) -> None:
        self.board.add_scalar("train/loss", loss, step)
        self.board.add_scalar("train/lr", lr, step)

    def on_evaluation(self, step: int, evaluation: Evaluation, improved: bool) -> None:
        for name in ("loss", "loss_full", "bpb"):
            if math.isfinite(getattr(evaluation, name)):  # the full-coverage metrics come at the end only
                self.board.add_scalar(f"val/{name}", getattr(evaluation, name), step)

    def on_end(self, result: "RunResult") -> None:
        self.board.add_scalar("speed/tokens_per_s", result.tokens_per_s, result.steps)
        self.board.close()


class ProgressSink(Callback):
    """A tqdm bar (at `position`, for one of several cells at once) with the loss and each validation."""

    def __init__(self, run: "Training", position: int | None, enabled: bool):
        self.bar = tqdm(total=run.max_steps, initial=run.state.step, desc=str(run.cfg.variant), position=position,
                        leave=position is None, dynamic_ncols=True, disable=not enabled)
        self.max_steps, self.enabled = run.max_steps, enabled

    def on_step(self, step: int, loss: float, lr: float) -> None:
        self.bar.update(1)
        if step % 10 == 0 or step == self.max_steps:
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def on_evaluation(self, step: int, evaluation: Evaluation, improved: bool) -> None:
        if self.enabled:
            full = (f" (full coverage {evaluation.loss_full:.6f}, {evaluation.bpb:.4f} bits/byte)"
                    if math.isfinite(evaluation.loss_full) else "")
            self.bar.write(f"[{step:>6}/{self.max_steps}] validation loss {evaluation.loss:.6f}{full}")

    def on_end(self, result: "RunResult") -> None:
        self.bar.close()


class OnValidation(Callback):
    """A caller's `on_validation(step, val_loss)`."""

    def __init__(self, function: Callable[[int, float], Any]):
        self.function = function

    def on_evaluation(self, step: int, evaluation: Evaluation, improved: bool) -> None:
        self.function(step, evaluation.loss)
