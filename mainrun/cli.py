"""Command-line plumbing shared by `mainrun.train` and `ablations.run`.

Every user error ends as one line on stderr and exit status 2: argparse's own errors too, which by
default print a usage block first.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import Any, Callable

from .config import CONTEXT_SETTINGS, SCALES, SETTINGS, Setting
from .errors import ConfigError, MainrunError


class OneLineArgumentParser(argparse.ArgumentParser):
    """Errors in one line, exit 2; and no abbreviated flags: `--seed 42` would otherwise be read as
    `--seeds 42` (42 seeds) and slip past the refusal that names the difference."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{"allow_abbrev": False, **kwargs})

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> None:
    try:
        code = main(argv)
    except MainrunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as exc:
        if not getattr(exc, "announced", False):  # the runner's Interrupted has already said what was kept
            print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)



def add_train_arguments(parser: argparse.ArgumentParser, *, seed: bool = True) -> None:
    """The options every training entry point accepts, one per setting of the config and of the run
    context (`mainrun.config`), all defaulting to None = "not given"."""
    parser.add_argument("--scale", help=f"preset: {', '.join(SCALES)} (the reference; ~1 min per run on 2 cores; "
                                        "seconds, for tests)")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="import MODULE first, so the components it registers can be named (repeatable)")
    run = parser.add_argument_group("where it runs")
    for setting in CONTEXT_SETTINGS.values():
        if setting.command_line:
            add_setting(run, setting)
    hp = parser.add_argument_group("training settings (override the scale preset)")
    for setting in SETTINGS.values():
        if setting.name != "seed" or seed:
            add_setting(hp, setting)


def add_setting(group: argparse._ArgumentGroup, setting: Setting) -> None:
    kind = setting.type
    group.add_argument(f"--{setting.flag}", dest=setting.name, type=kind, help=setting.help,
                       metavar=kind.__name__.upper() if kind is not str else None)


def load_plugins(modules: list[str]) -> None:
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:
            raise ConfigError(f"cannot import plugin '{module}': {exc}") from None


def train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the user gave on the command line, by name."""
    return {name: value for name, value in vars(args).items() if name in SETTINGS and value is not None}


def context_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The run-context fields the user gave on the command line, by name."""
    return {name: value for name, value in vars(args).items() if name in CONTEXT_SETTINGS and value is not None}


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
