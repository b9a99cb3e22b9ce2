"""The results folder: one subfolder per finished cell, a run description, and an exclusive lock.

    DIR/
      run.json                  what was run: grid, seeds, scale, data, device, config and its hash
      .lock                     held (flock) by the one runner writing here; holds its pid
      cells/<key>/record.json   the cell's result; its presence means "this cell is finished"
      cells/<key>/log.jsonl     the full training log (log.jsonl.partial while the cell trains)
      cells/<key>/curve.json    [[step, val_loss], ...]
      results.{md,csv,json}, *.png   written by `ablations.report`

Every file is written to a temporary name and renamed into place, so a crash (or SIGKILL) leaves
either the old file or the new one, never half of one. `record.json` is renamed last, which makes
it the commit point of a cell: a cell killed before it simply trains again on resume.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import sys
import uuid
from pathlib import Path
from typing import Any, Iterator

from mainrun import checkpoint
from mainrun.errors import MainrunError, writing

# A failed cell (an exception) is retried by the next run; ok and diverged are results to keep.
DONE_STATUSES = ("ok", "diverged")


class ResultsInUse(MainrunError):
    """Another runner holds the folder's lock."""


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def set_aside(path: Path) -> Path:
    """Rename a damaged file next to itself (`record.json` -> `record.json.damaged-1`): kept for whoever
    wants to look, out of the way of the run that replaces it."""
    n = 1
    while (aside := path.with_name(f"{path.name}.damaged-{n}")).exists():
        n += 1
    os.replace(path, aside)
    return aside


def write_atomic(path: Path, text: str) -> None:
    # Unique per writer, and created by open() so that it gets the usual umask permissions.
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def to_json(value: Any) -> str:
    """JSON with NaN/inf written as null: strict JSON that any reader accepts."""
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(value), indent=1, allow_nan=False) + "\n"


# What every reader of run.json relies on (the engine's resume check, every report): checked before it is read.
RUN_FIELDS = {"config_hash": str, "variants": list, "seeds": list}


class ResultsDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def run_file(self) -> Path:
        return self.root / "run.json"

    def cell_dir(self, key: str) -> Path:
        return self.root / "cells" / key

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's lock for the duration; a second holder fails at once with ResultsInUse.

        flock belongs to the open file, so the kernel releases it when the runner dies, however
        it dies: there is never a stale lock to clean up by hand."""
        with writing(self.root / ".lock"):
            self.root.mkdir(parents=True, exist_ok=True)
            lock = open(self.root / ".lock", "a+", encoding="utf-8")
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.seek(0)
                holder = lock.read().strip() or "unknown"
                raise ResultsInUse(
                    f"{self.root} is in use by another ablations runner (pid {holder}); "
                    "wait for it to finish or pass another --out"
                ) from None
            with writing(self.root / ".lock"):
                lock.seek(0)
                lock.truncate()
                lock.write(f"{os.getpid()}\n")
                lock.flush()
            yield

    def read_run(self) -> dict[str, Any] | None:
        if not self.run_file.exists():
            return None
        try:
            run = json.loads(self.run_file.read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:
            raise MainrunError(f"{self.run_file} cannot be read ({type(exc).__name__}); it describes the whole "
                               "folder, so nothing can be trusted to resume here: pass another --out") from None
        for field, kind in RUN_FIELDS.items():
            if not isinstance(run, dict) or not isinstance(run.get(field), kind):
                raise MainrunError(f"{self.run_file} is not a results folder's description (its {field} is missing or "
                                   "not what a run writes); nothing can be trusted to resume here: pass another --out")
        return run

    def write_run(self, run: dict[str, Any]) -> None:
        write_atomic(self.run_file, to_json(run))

    def read_record(self, key: str, heal: bool = False) -> dict[str, Any] | None:
        """The cell's record, or None when it has none or it cannot be read. `heal` (the runner, which
        holds the lock) moves an unreadable record aside so that the cell trains again; without it
        (the report) the cell is only left out. Either way a warning names it."""
        path = self.cell_dir(key) / "record.json"
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(record, dict) or "status" not in record:
                raise ValueError("not a cell record")
        except (ValueError, OSError) as exc:
            self._damaged(key, path, exc, heal)
            return None
        return record

    def is_done(self, key: str) -> bool:
        """A cell is finished when its record says ok or diverged and its curve can be read; an
        unreadable record or curve is moved aside and the cell trains again."""
        record = self.read_record(key, heal=True)
        if record is None or record["status"] not in DONE_STATUSES:
            return False
        if self.read_curve(key, heal=True) is None:
            aside = set_aside(self.cell_dir(key) / "record.json")
            warn(f"cell {key}: its record moved to {aside.name} with the curve; the cell trains again")
            return False
        return True

    def read_curve(self, key: str, heal: bool = False) -> list[tuple[int, float]] | None:
        """[(step, val_loss)], [] when there is none, None when it cannot be read."""
        path = self.cell_dir(key) / "curve.json"
        if not path.exists():
            return []
        try:
            return [(int(step), float("nan") if loss is None else float(loss))
                    for step, loss in json.loads(path.read_text(encoding="utf-8"))]
        except (ValueError, TypeError, OSError) as exc:
            self._damaged(key, path, exc, heal)
            return None

    def _damaged(self, key: str, path: Path, exc: Exception, heal: bool) -> None:
        if heal:
            aside = set_aside(path)
            warn(f"cell {key}: {path.name} cannot be read ({type(exc).__name__}); moved to {aside.name}, "
                 "the cell trains again")
        else:
            warn(f"cell {key}: {path.name} cannot be read ({type(exc).__name__}); left out of this report")

    def usable_checkpoint(self, key: str) -> bool:
        """Whether the cell has a checkpoint to resume from; one that cannot be read is moved aside
        (kept, never deleted) with a warning, and the cell starts over."""
        path = self.cell_dir(key) / checkpoint.CHECKPOINT
        if not path.exists():
            return False
        try:
            checkpoint.load(path, kind="resume")
        except checkpoint.CheckpointError as exc:
            aside = set_aside(path)
            warn(f"{exc}; moved to {aside.name}, the cell starts over")
            return False
        return True

    def partial_log(self, key: str) -> Path:
        return self.cell_dir(key) / "log.jsonl.partial"

    def write_cell(self, key: str, record: dict[str, Any], curve: list[tuple[int, float]]) -> None:
        """Commit a cell: its log and curve first, then the record that marks it finished."""
        cell = self.cell_dir(key)
        partial = self.partial_log(key)
        with writing(cell / "log.jsonl"):
            cell.mkdir(parents=True, exist_ok=True)
            if partial.exists():
                os.replace(partial, cell / "log.jsonl")
        write_atomic(cell / "curve.json", to_json([list(point) for point in curve]))
        write_atomic(cell / "record.json", to_json(record))
