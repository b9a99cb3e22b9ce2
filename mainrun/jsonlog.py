"""The reference log format: one JSON object per line, each with `event` and `timestamp`."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .errors import writing


class JsonlLogger:
    def __init__(self, path: str | Path | None, append: bool = False):
        """`append`: a resumed run continues its log instead of starting it over (after dropping a
        last line cut short, by a kill or a full disk, so that every line stays one JSON object)."""
        self.path = Path(path) if path else None
        self._file = None
        if self.path is not None:
            with writing(self.path):
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if append and self.path.exists():
                    drop_partial_last_line(self.path)
                self._file = open(self.path, "a" if append else "w", encoding="utf-8")

    def log(self, event: str, **fields: Any) -> None:
        if self._file is None:
            return
        with writing(self.path):
            self._file.write(json.dumps({"event": event, "timestamp": time.time(), **fields}) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "JsonlLogger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def drop_partial_last_line(path: Path) -> None:
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
