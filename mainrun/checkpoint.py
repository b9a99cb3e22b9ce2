"""Checkpoints: all that continuing a run needs (`checkpoint.pt`), and the weights worth keeping (`best.pt`).

    python -m mainrun.train --checkpoint-dir DIR            # writes DIR/checkpoint.pt at every evaluation
    python -m mainrun.train --checkpoint-dir DIR --resume   # continues from it

`checkpoint.pt` holds the model, optimizer and scheduler states, the step, the data pointer, the
random states (torch CPU, the training GPU's, Python, NumPy), the curve so far, the config, the tokenizer and
the code version: resuming on CPU gives the uninterrupted run's losses. `best.pt` holds the weights
at the lowest validation loss with the tokenizer and config needed to use them (`mainrun.sample`).
Both are written to a temporary name and renamed, so a kill mid-write leaves the previous file.
Everything is stored as tensors, numbers, strings, lists and dicts, so `torch.load(weights_only=True)`
reads it: loading a checkpoint never runs code from the file.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import uuid
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from .config import TrainConfig
from .errors import ConfigError, MainrunError, writing

FORMAT = "mainrun-checkpoint/1"
CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
class CheckpointError(MainrunError):
    """A file that is missing, unreadable, or not a checkpoint of this program."""


def source_hash(*modules: ModuleType) -> str:
    """A hash of the Python source files of these packages or modules (path and content), so a
    result can name the code that made it; the package version alone misses uncommitted edits."""
    digest = hashlib.sha256()
    for module in modules:
        root = Path(module.__file__).parent if module.__file__.endswith("__init__.py") else Path(module.__file__)
        files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
        for path in files:
            digest.update(str(path.relative_to(root.parent)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def package_version() -> str:
    try:
        return metadata.version("mainrun-ablations")
    except metadata.PackageNotFoundError:
        return "unknown"


def code_version(*extra: ModuleType) -> dict[str, str]:
    import mainrun

    return {"package": package_version(), "source": source_hash(mainrun, *extra)}


def rng_state(device: torch.device | None = None) -> dict[str, Any]:
    """Every random state a run draws from: torch's CPU generator, the training GPU's generator (only
    that one: a resume may see fewer or other GPUs), Python's and NumPy's."""
    state = np.random.get_state(legacy=False)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device is not None and device.type == "cuda" else None,
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
        "numpy": {"bit_generator": state["bit_generator"], "key": torch.from_numpy(state["state"]["key"].astype(np.int64)),
                  "pos": state["state"]["pos"], "has_gauss": state["has_gauss"], "gauss": state["gauss"]},
    }


def set_rng_state(state: dict[str, Any], device: torch.device | None = None) -> None:
    """Restore `rng_state`'s states; the GPU state goes to the training device, whatever index it
    had when it was saved. Checkpoints written before this kept a list of every visible GPU's
    state: the training device's entry is taken (a run trains on one device)."""
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if isinstance(cuda, list):
        index = (device.index or 0) if device is not None else 0
        cuda = cuda[index] if index < len(cuda) else (cuda[0] if cuda else None)
    if cuda is not None and device is not None and device.type == "cuda":
        torch.cuda.set_rng_state(cuda, device)
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy = state["numpy"]
    np.random.set_state({"bit_generator": numpy["bit_generator"],
                         "state": {"key": numpy["key"].numpy().astype(np.uint32), "pos": numpy["pos"]},
                         "has_gauss": numpy["has_gauss"], "gauss": numpy["gauss"]})


def save_atomic(payload: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.save(payload, tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


class Writer:
    """What a run saves into `folder` at its evaluations: `checkpoint.pt`, with all that continuing
    needs, at every `every`-th evaluation (0: never), and `best.pt`, the weights at the lowest
    validation loss so far, with each checkpoint and when the run ends. Between those, the best
    weights wait in memory, so that `best.pt` always matches the step its checkpoint continues from;
    sparse checkpoints spare a large model's disk and write time (at the reference scale each
    checkpoint is 326 MB with AdamW, and best.pt 109 MB). `common` is what every file carries: the
    config, the model config, the tokenizer, the code version and the data fingerprint."""

    def __init__(self, folder: Path, common: dict[str, Any], device: torch.device | None = None, every: int = 1):
        self.folder, self.common, self.device, self.every = Path(folder), common, device, every
        self.pending_best: tuple[dict[str, torch.Tensor], int, float] | None = None

    def save(self, kind: str, name: str, weights: dict[str, torch.Tensor], **extra: Any) -> None:
        save_atomic({"format": FORMAT, "kind": kind, **self.common, "model": weights, **extra}, self.folder / name)

    def evaluated(self, model: torch.nn.Module, opt: Any, scheduler: Any, state: dict[str, Any], evaluation: int,
                  step: int, val_loss: float, improved: bool) -> None:
        """After the `evaluation`-th evaluation of the run (counted from its start, across resumes)."""
        due = self.every > 0 and evaluation % self.every == 0
        if improved:
            weights = model.state_dict()
            if not due:  # kept until the next write: the live tensors move on with training
                weights = {name: tensor.detach().clone() for name, tensor in weights.items()}
            self.pending_best = (weights, step, val_loss)
        if due:
            self.flush()
            self.save("resume", CHECKPOINT, model.state_dict(), optimizer=opt.state_dict(),
                      scheduler=scheduler.state_dict(), state=state, rng=rng_state(self.device))

    def flush(self) -> None:
        """Write best.pt if the best weights improved since it was last written."""
        if self.pending_best is not None:
            weights, step, val_loss = self.pending_best
            self.save("best", BEST, weights, step=step, val_loss=val_loss)
            self.pending_best = None


def load(path: str | Path, kind: str | None = None) -> dict[str, Any]:
    """Read a checkpoint (`kind` "resume" or "best", or either); a missing or foreign file is a
    CheckpointError naming it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path} is not a mainrun checkpoint ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a mainrun checkpoint (no '{FORMAT}' marker)")
    if kind is not None and payload.get("kind") != kind:
        raise CheckpointError(f"{path} is a '{payload.get('kind')}' checkpoint, not a '{kind}' one")
    return payload


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The settings in which a run's config (as `TrainConfig.flat` writes it) differs from its
    checkpoint's, both with their defaults resolved. The data's path is left out (its content is
    checked by fingerprint), and so is whatever an older checkpoint stored of where it ran."""
    before = TrainConfig.from_flat(saved).resolved().flat()
    after = TrainConfig.from_flat(current).resolved().flat()
    return [f"{name} {before[name]!r} -> {after[name]!r}" for name in sorted(after)
            if name != "data" and before[name] != after[name]]


def check_resumable(payload: dict[str, Any], config: TrainConfig, fingerprint: str, path: Path) -> None:
    differences = config_differences(payload["config"], config.flat())
    if differences:
        raise ConfigError(f"cannot resume from {path}: the config differs ({'; '.join(differences)}); "
                          "start a new --checkpoint-dir")
    if payload.get("fingerprint") != fingerprint:
        raise ConfigError(f"cannot resume from {path}: it trained on data {payload.get('fingerprint')}, "
                          f"this run reads {fingerprint}")


def model_config_dict(model_cfg: Any) -> dict[str, Any]:
    fields = dataclasses.asdict(model_cfg)
    fields["variant"] = str(model_cfg.variant)
    return fields
