"""Errors a user can fix. The CLIs turn these into one line on stderr and exit status 2."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator


class MainrunError(Exception):
    """Base for every error caused by the user's input rather than by a bug."""


class ConfigError(MainrunError, ValueError):
    """An unknown name, an impossible hyperparameter, a malformed spec."""


class DataError(MainrunError):
    """Data that is missing, unreadable, malformed or too small for the configuration."""


class OutputError(MainrunError):
    """An output that cannot be written: a full disk, a read-only folder, a path that cannot exist."""


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an OSError raised while writing `path` into one line naming it: what a full disk or a bad
    --out should say, instead of a traceback from deep inside the writer."""
    try:
        yield
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
