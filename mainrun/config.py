"""What a run computes (`TrainConfig`, the experiment: nested, frozen, hashed) and where it runs
(`RunContext`: device, threads, paths, resume; never hashed).

    TrainConfig
      scale     the preset it started from (mainrun, cpu, tiny)
      variant   one member per component family, with any member settings (mainrun.variant)
      data      source, num_titles, val_frac, vocab_size
      model     block_size, n_layer, n_head, d_model, dropout, attention
      optim     lr, weight_decay, lr_scaling (the recipe itself is the variant's `opt` member)
      training  batch_size, grad_accum, epochs, max_steps, budget, evals_per_epoch, seed, precision

Every field is declared once, with its type, default, help, check and whether a grid may sweep it
(`option`); `SETTINGS` is read off the dataclasses, and the command-line flags, the axis names and
the validation all come from it. Settings are named by their flag spelling's field name, unique
across sections (`lr`, `batch_size`), so `TrainConfig.from_scale("cpu", lr=1e-3)`, `--lr 1e-3` and
`--axes lr=1e-3,3e-3` mean one thing. `resolved()` fills in every default that depends on another
choice (the optimizer recipe's lr and weight decay) once, when a run's config is built.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

from .components.optimizers import recipe_defaults
from .errors import ConfigError
from .variant import Variant

# Bytes the ByteLevel pre-tokenizer can emit, plus <pad>, <eos>, <unk>.
MIN_VOCAB = 256 + 3
# `sdpa`: torch's fused attention and the chunked head+loss of `mainrun.losses` (the fast path).
# `reference`: the reference program's explicit softmax attention and unfused cross-entropy, for a
# bit-for-bit identical random stream and rounding wherever a fused kernel could differ (on CUDA the
# fused attention draws its dropout masks differently; on CPU both reproduce the reference figures).
ATTENTIONS = ("sdpa", "reference")
# fp32 is the default for parity; tf32 lets CUDA matmuls use TF32; bf16 adds autocast on top.
PRECISIONS = ("fp32", "tf32", "bf16")
# How the peak lr follows the batch size: linear (Goyal et al. 2017, the plan's rule), or the square
# root (the usual rule for Adam-type optimizers; Malladi et al. 2022).
LR_SCALINGS = {"none": lambda ratio: 1.0, "linear": lambda ratio: ratio, "sqrt": lambda ratio: ratio ** 0.5}
DEVICES = "auto, cpu, cuda, cuda:N"


@dataclass(frozen=True)
class Check:
    """A rule a value must keep, and the line that says it broke: `{flag}` and `{value}` are filled in."""

    ok: Callable[[Any], bool]
    message: str

    def __call__(self, flag: str, value: Any) -> None:
        if value is not None and not self.ok(value):
            raise ConfigError(self.message.format(flag=flag, value=value))


POSITIVE = Check(lambda v: v > 0, "--{flag} must be positive, got {value}")
NON_NEGATIVE = Check(lambda v: v >= 0, "--{flag} must be >= 0, got {value}")
OPEN_FRACTION = Check(lambda v: 0.0 < v < 1.0, "--{flag} must be in (0, 1), got {value}")
PROBABILITY = Check(lambda v: 0.0 <= v < 1.0, "--{flag} must be in [0, 1), got {value}")
VOCABULARY = Check(lambda v: v >= MIN_VOCAB,
                   "--{flag} {value} is smaller than the byte alphabet plus specials (" + str(MIN_VOCAB) + ")")
DEVICE = Check(lambda v: v in ("auto", "cpu", "cuda") or v.startswith("cuda:"),
               "unknown device '{value}'; valid: " + DEVICES)


def one_of(what: str, choices: Any) -> Check:
    return Check(lambda v: v in choices, f"unknown {what} '{{value}}'; valid: {', '.join(choices)}")


def option(default: Any, help: str, *, check: Check | None = None, axis: bool = True, flag: str | None = None,
           command_line: bool = True) -> Any:
    """A config field with what the rest of the program needs to know about it: its help, its check,
    whether a grid may sweep it (`axis`), its flag when that is not the field's name, and whether it is
    a flag at all (the runner sets some fields itself, per cell)."""
    metadata = {"help": help, "check": check, "axis": axis, "flag": flag, "command_line": command_line}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class DataConfig:
    source: str = option("auto", "auto (default), hub, embedded, or a .txt/.csv/.json/.jsonl/.parquet file or folder",
                         axis=False, flag="data")
    num_titles: int = option(100_000, "titles taken from the source", check=POSITIVE)
    val_frac: float = option(0.10, "share of the titles held out for validation", check=OPEN_FRACTION)
    vocab_size: int = option(16_000, "BPE vocabulary size", check=VOCABULARY)


@dataclass(frozen=True)
class ModelConfig:
    block_size: int = option(128, "tokens per training row", check=POSITIVE)
    n_layer: int = option(6, "transformer blocks", check=POSITIVE)
    n_head: int = option(8, "attention heads", check=POSITIVE)
    d_model: int = option(512, "model width", check=POSITIVE)
    dropout: float = option(0.1, "dropout probability", check=PROBABILITY)
    attention: str = option("sdpa", "sdpa (default, fused) or reference (bit-exact dropout stream)",
                            check=one_of("attention", ATTENTIONS), axis=False)


@dataclass(frozen=True)
class OptimConfig:
    lr: float | None = option(None, "peak learning rate (default: the optimizer recipe's)", check=POSITIVE)
    weight_decay: float | None = option(None, "weight decay (default: the optimizer recipe's)", check=NON_NEGATIVE)
    lr_scaling: str = option("none", "scale the peak lr with batch-size / the preset's: none (default), linear, sqrt",
                             check=one_of("lr scaling", LR_SCALINGS), axis=False)


@dataclass(frozen=True)
class TrainingConfig:
    batch_size: int = option(64, "rows per optimizer step", check=POSITIVE)
    grad_accum: int = option(1, "micro-batches per optimizer step: the same step with 1/K of the activations",
                             check=POSITIVE)
    epochs: int = option(7, "passes over the train split", check=POSITIVE)
    max_steps: int | None = option(None, "stop (and schedule) over N steps instead of epochs x batches",
                                   check=POSITIVE)
    budget: float = option(1.0, "train for this multiple of the run's steps (epochs x batches, or --max-steps), the "
                                "schedule spanning them: the token budgets --speedup trains the reference at",
                           check=POSITIVE)
    evals_per_epoch: int = option(3, "validations per epoch (and at step 1 and the end)", check=POSITIVE)
    seed: int = option(1337, "the seed of the split, the tokenizer, the weights and dropout", axis=False)
    precision: str = option("fp32", "fp32 (default), tf32, bf16 (autocast); CUDA only beyond fp32",
                            check=one_of("precision", PRECISIONS), axis=False)


SECTIONS = {"data": DataConfig, "model": ModelConfig, "optim": OptimConfig, "training": TrainingConfig}


@dataclass(frozen=True)
class Setting:
    """One field of a section, as flags, axes, study files and records name it."""

    name: str  # the field's name, unique across sections: lr, batch_size, source
    section: str
    type: type
    default: Any
    help: str
    check: Check | None
    axis: bool
    flag: str  # `--{flag}`: weight-decay, data
    command_line: bool

    def validate(self, value: Any) -> None:
        if self.check is not None:
            self.check(self.flag, value)

    def parse(self, text: str) -> Any:
        """A value typed as the field types it: `lr=1e-3` a float, `batch-size=32` an int."""
        try:
            return self.type(text.strip())
        except ValueError:
            expected = "an integer" if self.type is int else "a number"
            raise ConfigError(f"bad value '{text.strip()}' for {self.flag}: expected {expected}") from None


def _settings_of(section: str, cls: type) -> dict[str, Setting]:
    hints = {f.name: f.type for f in dataclasses.fields(cls)}
    out = {}
    for f in dataclasses.fields(cls):
        kind = {"int": int, "float": float, "str": str, "bool": bool}[hints[f.name].split(" | ")[0]]
        meta = f.metadata
        out[f.name] = Setting(f.name, section, kind, f.default, meta["help"], meta["check"], meta["axis"],
                              meta["flag"] or f.name.replace("_", "-"), meta["command_line"])
    return out


SETTINGS: dict[str, Setting] = {name: s for section, cls in SECTIONS.items() for name, s in _settings_of(section, cls).items()}
# What a grid can sweep besides component families and member settings (seeds have --seeds).
AXIS_SETTINGS = tuple(name for name, s in SETTINGS.items() if s.axis)


def setting_named(name: str) -> Setting | None:
    """The setting a name refers to, in its flag or its field spelling (`weight-decay`, `weight_decay`)."""
    return SETTINGS.get(name.strip().replace("-", "_"))


@dataclass(frozen=True)
class TrainConfig:
    scale: str = "mainrun"
    variant: Variant = Variant()  # frozen, so a shared default is safe
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    optim: OptimConfig = OptimConfig()
    training: TrainingConfig = TrainingConfig()

    @classmethod
    def from_scale(cls, scale: str, *, variant: Variant | None = None, **values: Any) -> "TrainConfig":
        """The named preset, with any setting replaced by name (`lr=1e-3`, `batch_size=32`)."""
        if scale not in SCALES:
            raise ConfigError(f"unknown scale '{scale}'; valid: {', '.join(SCALES)}")
        cfg = cls(scale=scale, variant=variant or Variant()).with_values(**{**SCALES[scale], **values})
        cfg.validate()
        return cfg

    def get(self, name: str) -> Any:
        return getattr(getattr(self, SETTINGS[name].section), name)

    def with_values(self, **values: Any) -> "TrainConfig":
        """A copy with settings replaced by name; `variant=` replaces the variant."""
        unknown = sorted(set(values) - set(SETTINGS) - {"variant"})
        if unknown:
            raise ConfigError(f"unknown training option(s): {', '.join(unknown)}")
        sections = {section: dataclasses.replace(getattr(self, section), **{
            name: value for name, value in values.items() if name in SETTINGS and SETTINGS[name].section == section})
            for section in SECTIONS}
        return dataclasses.replace(self, variant=values.get("variant", self.variant), **sections)

    def validate(self) -> None:
        for name, setting in SETTINGS.items():
            setting.validate(self.get(name))
        model, training = self.model, self.training
        if model.d_model % model.n_head:
            raise ConfigError(f"--d-model {model.d_model} is not divisible by --n-head {model.n_head}")
        if self.variant.pos == "rope" and (model.d_model // model.n_head) % 2:
            raise ConfigError(f"rope needs an even head dimension, got {model.d_model // model.n_head}")
        if training.batch_size % training.grad_accum:
            raise ConfigError(f"--grad-accum {training.grad_accum} must be positive and divide --batch-size "
                              f"{training.batch_size}")

    @property
    def preset_batch_size(self) -> int:
        return SCALES.get(self.scale, {}).get("batch_size", TrainingConfig.batch_size)

    def resolved(self) -> "TrainConfig":
        """Every default that depends on another choice, filled in: the lr and weight decay of the
        optimizer recipe the variant names (a grid over recipes resolves them per cell). Idempotent."""
        defaults = recipe_defaults(self.variant.opt)
        optim = dataclasses.replace(self.optim, **{name: defaults[name] for name in ("lr", "weight_decay")
                                                   if getattr(self.optim, name) is None})
        return dataclasses.replace(self, optim=optim)

    @property
    def peak_lr(self) -> float:
        """The lr the run peaks at: the resolved lr, scaled by `lr_scaling` when the batch differs from
        the preset's (the recipes' values were set at the preset's batch)."""
        lr = self.resolved().optim.lr
        return lr * LR_SCALINGS[self.optim.lr_scaling](self.training.batch_size / self.preset_batch_size)

    def flat(self) -> dict[str, Any]:
        """Every setting by name, the variant as its string and the scale: how records, run.json and
        checkpoints store a config (and how config hashes have always read it)."""
        return {"scale": self.scale, "variant": str(self.variant),
                **{s.flag if s.name == "source" else name: self.get(name) for name, s in SETTINGS.items()}}

    @classmethod
    def from_flat(cls, flat: dict[str, Any]) -> "TrainConfig":
        """The inverse of `flat`; keys it does not know (the run context of older checkpoints) are left out."""
        values = {("source" if key == "data" else key): value for key, value in flat.items()}
        values = {key: value for key, value in values.items() if key in SETTINGS}
        return cls(scale=flat.get("scale", "mainrun"), variant=Variant.parse(flat.get("variant", "baseline"))
                   ).with_values(**values)


@dataclass(frozen=True)
class RunContext:
    """Where and how a run executes, never what it computes: a resumed run may change any of it."""

    device: str = option("auto", f"{DEVICES} (default auto)", check=DEVICE, axis=False)
    threads: int | None = option(None, "torch threads (default: torch's, or one per core shared out between "
                                       "the runner's workers)", check=POSITIVE, axis=False)
    cache_dir: str | None = option(None, "tokenizer/ids cache (default $MAINRUN_CACHE or ~/.cache/mainrun)",
                                   axis=False)
    checkpoint_every: int = option(1, "write the resume checkpoint at every K-th evaluation (default 1; 0: never, "
                                      "so a killed run starts over); best.pt is written with each and at the end",
                                   check=Check(lambda v: v >= 0, "--{flag} must be >= 0 (0: no resume checkpoints), "
                                                                 "got {value}"), axis=False)
    # Set by each command in its own way (the runner sets them per cell):
    log_file: str | None = option(None, "JSONL log in the reference format", axis=False, command_line=False)
    checkpoint_dir: str | None = option(None, "checkpoint.pt at evaluations, best.pt at the best", axis=False,
                                        command_line=False)
    resume: bool = option(False, "continue from checkpoint_dir/checkpoint.pt", axis=False, command_line=False)
    tensorboard_dir: str | None = option(None, "TensorBoard events: train loss, lr, validation metrics, tokens/s",
                                         axis=False, command_line=False)

    def validate(self) -> None:
        for name, setting in CONTEXT_SETTINGS.items():
            setting.validate(getattr(self, name))


CONTEXT_SETTINGS = _settings_of("context", RunContext)


# Named presets, by setting name. Every setting not named keeps the reference value above.
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
