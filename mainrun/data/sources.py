"""Where titles come from: the Hugging Face hub, a local file, or the embedded synthetic corpus.

Every source yields all of its titles in stored order plus a fingerprint of its content; the
reference procedure (`mainrun.data.split_titles`) then shuffles, takes and splits them. Sources
fingerprint cheaply (file bytes, dataset fingerprint) so that a cache hit never parses the data.
"""
from __future__ import annotations

import hashlib
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import DataError

HUB_DATASET = "julien040/hacker-news-posts"
TABLE_SUFFIXES = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


@dataclass(frozen=True)
class Source:
    name: str  # what results record: "hub:<dataset>", "file:<path>", "embedded"
    fingerprint: str
    load: Callable[[], list[str]]  # every title, in stored order, not yet stripped


def resolve(spec: str) -> Source:
    """`auto`, `hub`, `embedded`, or a path to a .txt/.csv/.json/.jsonl/.parquet file or a folder."""
    if spec == "embedded":
        return embedded_source()
    if spec == "hub":
        return hub_source()
    if spec == "auto":
        try:
            return hub_source()
        except DataError as exc:
            print(f"warning: {exc}; using the embedded synthetic corpus (--data embedded)", file=sys.stderr)
            return embedded_source()
    return file_source(spec)


def embedded_source() -> Source:
    from . import embedded

    return Source(
        name="embedded",
        fingerprint=f"embedded-v{embedded.EMBEDDED_VERSION}-n{embedded.DEFAULT_COUNT}",
        load=lambda: embedded.generate_titles(embedded.DEFAULT_COUNT, seed=0),
    )


def _hub_reachable(timeout: float = 3.0) -> bool:
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def hub_source(dataset: str = HUB_DATASET) -> Source:
    """The reference dataset through `datasets.load_dataset`: online, or from the HF cache offline."""
    if not _hub_reachable():
        # Without a network `datasets` retries for a long time; its offline mode goes straight to
        # the local cache, which is what a machine without network can use.
        os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        import datasets

        datasets.config.HF_HUB_OFFLINE = os.environ.get("HF_HUB_OFFLINE") == "1"
        datasets.utils.logging.disable_progress_bar()
        ds = datasets.load_dataset(dataset, split="train")
    except Exception as exc:  # connection, cache miss, or a hub-side error: all mean "not available"
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"hub dataset {dataset} is not reachable or cached ({first_line[:160]})") from None
    _require_title_column(ds.column_names, dataset)
    return Source(name=f"hub:{dataset}", fingerprint=f"hub-{ds._fingerprint}", load=lambda: list(ds["title"]))


def _require_title_column(columns: list[str], where: str) -> None:
    if "title" not in columns:
        raise DataError(f"{where} has no 'title' column (columns: {', '.join(columns) or 'none'})")


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.parquet") if p.is_file())
        if not files:
            raise DataError(f"data folder {path} holds no .parquet files")
        return files
    return [path]


def file_source(spec: str) -> Source:
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError(f"data path {spec} does not exist")
    files = _files(path)
    suffix = files[0].suffix.lower()
    if suffix != ".txt" and suffix not in TABLE_SUFFIXES:
        raise DataError(f"data file {spec} has unsupported type '{suffix}'; use .txt, .csv, .json, .jsonl or .parquet")
    digest = hashlib.sha256()
    for f in files:
        try:
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
        except OSError as exc:
            raise DataError(f"cannot read data file {f}: {exc.strerror}") from None
        if path.is_dir():  # the shard layout is part of the content; a single file's name is not
            digest.update(b"\0" + str(f.relative_to(path)).encode() + b"\0")
    loader = (lambda: _read_txt(files[0])) if suffix == ".txt" else (lambda: _read_table(files, suffix))
    return Source(name=f"file:{path.resolve()}", fingerprint=f"file-{digest.hexdigest()[:20]}", load=loader)


def _read_txt(path: Path) -> list[str]:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"data file {path} is not UTF-8 (bad byte at offset {exc.start})") from None
    # One title per line. Not splitlines(): titles may hold \u2028 or form feeds, which are not
    # line breaks in a text file.
    if text.endswith("\n"):
        text = text[:-1]
    return text.split("\n") if text else []


def _read_table(files: list[Path], suffix: str) -> list[str]:
    import datasets

    datasets.utils.logging.disable_progress_bar()
    try:
        ds = datasets.load_dataset(
            TABLE_SUFFIXES[suffix], data_files=[str(f) for f in files], split="train"
        )
    except UnicodeDecodeError:
        raise DataError(f"data file {files[0]} is not UTF-8") from None
    except Exception as exc:
        message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if "utf-8" in message.lower() or "utf8" in message.lower():
            raise DataError(f"data file {files[0]} is not UTF-8") from None
        raise DataError(f"cannot parse data file {files[0]}: {message[:200]}") from None
    _require_title_column(ds.column_names, f"data file {files[0]}")
    return ["" if t is None else str(t) for t in ds["title"]]
