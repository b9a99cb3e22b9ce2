"""Command-line plumbing shared by `mainrun.train` and `ablations.run`.

Every user error ends as one line on stderr and exit status 2: argparse's own errors too, which by
default print a usage block first.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import sys
from pathlib import Path
from typing import Any, Callable

from .config import ATTENTIONS, LR_SCALINGS, PRECISIONS, TrainConfig
from .errors import ConfigError, MainrunError
from .hyperparameters import HYPERPARAMETERS


class OneLineArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> None:
    try:
        code = main(argv)
    except MainrunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)



def add_train_arguments(parser: argparse.ArgumentParser, *, seed: bool = True) -> None:
    """The options every training entry point accepts; all default to None = "not given"."""
    parser.add_argument("--scale", help="preset: mainrun (the reference), cpu (~1 min on 2 cores), tiny (tests)")
    parser.add_argument("--data", help="auto (default), hub, embedded, or a .txt/.csv/.json/.jsonl/.parquet file or folder")
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    parser.add_argument("--attention", choices=ATTENTIONS, help="sdpa (default, fused) or reference (bit-exact dropout stream)")
    parser.add_argument("--precision", choices=PRECISIONS, help="fp32 (default), tf32, bf16 (autocast); CUDA only beyond fp32")
    parser.add_argument("--cache-dir", help="tokenizer/ids cache (default $MAINRUN_CACHE or ~/.cache/mainrun)")
    parser.add_argument("--lr-scaling", choices=LR_SCALINGS,
                        help="scale the recipe's peak lr with batch-size / the preset's: none (default), linear, sqrt")
    parser.add_argument("--checkpoint-every", type=int, metavar="K",
                        help="write the resume checkpoint at every K-th evaluation (default 1; 0: never, so a killed "
                             "run starts over); best.pt is written with each checkpoint and at the end")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="import MODULE first, so the components it registers can be named (repeatable)")
    hp = parser.add_argument_group("hyperparameters (override the scale preset)")
    for name, kind in HYPERPARAMETERS.items():
        if name == "seed" and not seed:
            continue
        hp.add_argument(f"--{name.replace('_', '-')}", type=kind, metavar=kind.__name__.upper())


def load_plugins(modules: list[str]) -> None:
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:
            raise ConfigError(f"cannot import plugin '{module}': {exc}") from None


def train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig fields the user gave on the command line (besides the variant)."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    return {k: v for k, v in vars(args).items() if k in fields and k not in ("variant", "scale") and v is not None}


def ensure_writable(path: str | Path, what: str, directory: bool = False) -> None:
    """Fail now, in one line, if an output cannot be written: not after hours of training. Creates
    nothing: it checks that the path, or the nearest folder above it that exists, can take it."""
    path = Path(path).absolute()
    if not directory and path.is_dir():
        raise ConfigError(f"{what} {path} is a folder, not a file")
    if directory and path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path} is a file, not a folder")
    existing = path if path.exists() else path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() and existing != path:
        raise ConfigError(f"{what} {path} cannot be created: {existing} is a file")
    if not os.access(existing, os.W_OK) or (existing.is_dir() and not os.access(existing, os.X_OK)):
        raise ConfigError(f"{what} {path} is not writable")
