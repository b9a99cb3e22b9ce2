"""Configuration: a `Variant` (which components) and a `TrainConfig` (everything else).

Both are plain dataclasses of strings and numbers, so they serialise into logs and results as is.
`TrainConfig.from_scale("cpu", n_layer=4)` starts from a named preset and overrides fields.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .components import FAMILIES
from .components.optimizers import resolved_hyperparameters
from .errors import ConfigError

# Bytes the ByteLevel pre-tokenizer can emit, plus <pad>, <eos>, <unk>.
MIN_VOCAB = 256 + 3


def _restore_variant(choices: tuple[tuple[str, str], ...]) -> "Variant":
    """Unpickling: a worker process unpickles its cell before it imports the plugins that register
    the cell's families, so the choices are restored as they were, unchecked."""
    variant = Variant.__new__(Variant)
    object.__setattr__(variant, "_choices", choices)
    return variant


class Variant:
    """One member of every component family; families not named stay at their reference member.

    A small frozen value of names, read like a dataclass (`variant.norm`, `variant.opt`) for every
    registered family, the families a plugin adds included. Only the choices that leave a family's
    reference member are stored, so registering a new family changes no existing variant.
    """

    __slots__ = ("_choices",)

    def __init__(self, **choices: str):
        for family, name in choices.items():
            if family not in FAMILIES:
                raise ConfigError(f"unknown component family '{family}'; valid: {', '.join(FAMILIES)}")
            FAMILIES[family].get(name)  # raises ConfigError listing the valid names
        departures = tuple((family, choices[family]) for family, registry in FAMILIES.items()
                           if family in choices and choices[family] != registry.reference)
        object.__setattr__(self, "_choices", departures)

    def __getattr__(self, family: str) -> str:
        if family.startswith("_"):
            raise AttributeError(family)
        for key, name in self._choices:
            if key == family:
                return name
        if family in FAMILIES:
            return FAMILIES[family].reference
        raise AttributeError(f"no component family '{family}'; registered: {', '.join(FAMILIES)}")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Variant is frozen; use variant.replace(family=name)")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Variant) and dict(self._choices) == dict(other._choices)

    def __hash__(self) -> int:
        return hash(frozenset(self._choices))

    def __reduce__(self):
        return _restore_variant, (self._choices,)

    def __repr__(self) -> str:
        return f"Variant({', '.join(f'{f}={n!r}' for f, n in self._choices)})"

    def replace(self, **changes: str) -> "Variant":
        return Variant(**{**dict(self._choices), **changes})

    def level(self, family: str) -> str:
        """The member chosen for a family: the variant's level on that axis of a grid."""
        return getattr(self, family)

    def departures(self) -> dict[str, str]:
        """{family: member} for the families that leave their reference member."""
        return dict(self._choices)

    @classmethod
    def parse(cls, spec: str) -> "Variant":
        """`baseline`, or `norm=rmsnorm,pos=rope,...`; families left out stay at the baseline."""
        spec = spec.strip()
        if spec in ("", "baseline"):
            return cls()
        choices: dict[str, str] = {}
        for part in spec.split(","):
            key, sep, value = (s.strip() for s in part.partition("="))
            if not sep or not value:
                raise ConfigError(f"bad variant part '{part}': expected family=name, e.g. norm=rmsnorm")
            if key in choices:
                raise ConfigError(f"variant names family '{key}' twice")
            choices[key] = value
        return cls(**choices)

    def __str__(self) -> str:
        """`norm=layernorm,pos=learned,init=default,opt=sgd`, plus any other family it changes."""
        departures = dict(self._choices)
        return ",".join(f"{family}={getattr(self, family)}" for family, registry in FAMILIES.items()
                        if registry.always_named or family in departures)

    @property
    def is_baseline(self) -> bool:
        return not self._choices

    def as_dict(self) -> dict[str, str]:
        """Every registered family's member, in registration order."""
        return {family: getattr(self, family) for family in FAMILIES}


@dataclass
class TrainConfig:
    # Data
    data: str = "auto"
    num_titles: int = 100_000
    val_frac: float = 0.10
    vocab_size: int = 16_000
    # Model
    block_size: int = 128
    n_layer: int = 6
    n_head: int = 8
    d_model: int = 512
    dropout: float = 0.1
    variant: Variant = field(default_factory=Variant)
    # Optimisation; None means "the optimizer recipe's default"
    batch_size: int = 64
    grad_accum: int = 1  # micro-batches per optimizer step; the step is the same, activations 1/K
    lr: float | None = None
    weight_decay: float | None = None
    lr_scaling: str = "none"  # none | linear | sqrt: the peak lr scaled with batch_size / the preset's
    epochs: int = 7
    max_steps: int | None = None
    evals_per_epoch: int = 3
    seed: int = 1337
    # Execution
    scale: str = "mainrun"
    device: str = "auto"
    attention: str = "sdpa"
    precision: str = "fp32"
    threads: int | None = None
    log_file: str | None = None
    cache_dir: str | None = None
    checkpoint_dir: str | None = None  # write DIR/checkpoint.pt at evaluations, DIR/best.pt at the best
    checkpoint_every: int = 1  # checkpoint.pt at every K-th evaluation; 0: never (a killed run starts over)
    resume: bool = False  # continue from DIR/checkpoint.pt
    tensorboard_dir: str | None = None  # TensorBoard event files: train loss, lr, validation metrics, tokens/s

    @classmethod
    def from_scale(cls, scale: str, **overrides: Any) -> "TrainConfig":
        if scale not in SCALES:
            raise ConfigError(f"unknown scale '{scale}'; valid: {', '.join(SCALES)}")
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        cfg = cls(scale=scale, **{**SCALES[scale], **overrides})
        cfg.validate()
        return cfg

    def validate(self) -> None:
        positive = ("num_titles", "vocab_size", "block_size", "n_layer", "n_head", "d_model",
                    "batch_size", "epochs", "evals_per_epoch")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.vocab_size < MIN_VOCAB:
            raise ConfigError(
                f"--vocab-size {self.vocab_size} is smaller than the byte alphabet plus specials ({MIN_VOCAB})"
            )
        if not 0.0 < self.val_frac < 1.0:
            raise ConfigError(f"--val-frac must be in (0, 1), got {self.val_frac}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.d_model % self.n_head:
            raise ConfigError(f"--d-model {self.d_model} is not divisible by --n-head {self.n_head}")
        if self.variant.pos == "rope" and (self.d_model // self.n_head) % 2:
            raise ConfigError(f"rope needs an even head dimension, got {self.d_model // self.n_head}")
        if self.max_steps is not None and self.max_steps <= 0:
            raise ConfigError(f"--max-steps must be positive, got {self.max_steps}")
        if self.lr is not None and not self.lr > 0:
            raise ConfigError(f"--lr must be positive, got {self.lr}")
        if self.weight_decay is not None and self.weight_decay < 0:
            raise ConfigError(f"--weight-decay must be >= 0, got {self.weight_decay}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"unknown device '{self.device}'; valid: auto, cpu, cuda, cuda:N")
        if self.attention not in ATTENTIONS:
            raise ConfigError(f"unknown attention '{self.attention}'; valid: {', '.join(ATTENTIONS)}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision '{self.precision}'; valid: {', '.join(PRECISIONS)}")
        if self.checkpoint_every < 0:
            raise ConfigError(f"--checkpoint-every must be >= 0 (0: no resume checkpoints), got {self.checkpoint_every}")
        if self.threads is not None and self.threads <= 0:
            raise ConfigError(f"--threads must be positive, got {self.threads}")
        if self.grad_accum <= 0 or self.batch_size % self.grad_accum:
            raise ConfigError(f"--grad-accum {self.grad_accum} must be positive and divide --batch-size {self.batch_size}")
        if self.lr_scaling not in LR_SCALINGS:
            raise ConfigError(f"unknown lr scaling '{self.lr_scaling}'; valid: {', '.join(LR_SCALINGS)}")

    @property
    def preset_batch_size(self) -> int:
        return SCALES.get(self.scale, {}).get("batch_size", TrainConfig.batch_size)

    def optimizer_hyperparameters(self) -> dict[str, float]:
        """The peak lr and weight decay the run uses: the overrides, else the recipe's defaults, with
        the lr scaled by `lr_scaling` when the batch differs from the preset's (the recipes' values
        were set at the preset batch)."""
        values = resolved_hyperparameters(self.variant.opt, self.lr, self.weight_decay)
        ratio = self.batch_size / self.preset_batch_size
        values["lr"] *= {"none": 1.0, "linear": ratio, "sqrt": ratio ** 0.5}[self.lr_scaling]
        return values

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["variant"] = str(self.variant)
        return d


# `sdpa`: torch's fused attention and the chunked head+loss of `mainrun.losses` (the fast path).
# `reference`: the reference program's explicit softmax attention and unfused cross-entropy, for a
# bit-for-bit identical random stream and rounding wherever a fused kernel could differ (on CUDA the
# fused attention draws its dropout masks differently; on CPU both reproduce the reference figures).
ATTENTIONS = ("sdpa", "reference")
# fp32 is the default for parity; tf32 lets CUDA matmuls use TF32; bf16 adds autocast on top.
PRECISIONS = ("fp32", "tf32", "bf16")
# How the peak lr follows the batch size: linear (Goyal et al. 2017, the plan's rule), or the square
# root (the usual rule for Adam-type optimizers; Malladi et al. 2022).
LR_SCALINGS = ("none", "linear", "sqrt")

# Named presets. Every field not named keeps the reference value above.
SCALES: dict[str, dict[str, Any]] = {
    # The reference program's hyperparameters exactly.
    "mainrun": {},
    # About a minute per run on 2 CPU cores, yet SGD and AdamW end far apart.
    "cpu": dict(num_titles=20_000, vocab_size=2_000, block_size=64, batch_size=32,
                n_layer=2, n_head=4, d_model=128, epochs=1),
    # Seconds per run: for tests.
    "tiny": dict(num_titles=2_000, vocab_size=300, block_size=32, batch_size=8,
                 n_layer=1, n_head=2, d_model=32, epochs=1, evals_per_epoch=2),
}
