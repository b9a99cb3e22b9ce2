"""Convert the val_bpb of results folders written before <eos> counted as one byte.

Until 2026-11-28 bits per byte divided by the UTF-8 bytes of the joined val text, each `<eos>`
separator its five literal bytes. A record says how many bytes its val_bpb counted per separator
(`bpb_separator_bytes`); one without it counted five. Its val_bpb becomes
val_bpb x bytes(five per <eos>) / bytes(one per <eos>), from its own data and split (the same titles,
seed and fraction it trained on), and its log's evaluations with it. Records already converted are
left alone, so the command can run again.

    python scripts/migrate_bpb.py docs/results-cpu-3seeds [--data ../shared/data/hn_titles.txt]

`--data` is where the titles are now, if the records' path has moved.
"""
from __future__ import annotations

import argparse
import json
import sys
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ablations.execution.store import to_json, write_atomic  # noqa: E402
from mainrun.data import BPB_SEPARATOR_BYTES, sources, split_titles, text_bytes  # noqa: E402
from mainrun.errors import MainrunError  # noqa: E402

OLD_SEPARATOR_BYTES = 5  # len("<eos>")


@lru_cache(maxsize=None)
def titles_of(data: str) -> tuple[str, ...]:
    """The titles of a record's source name ("file:<path>", "embedded", "hub:<dataset>") or a path."""
    return tuple(sources.resolve(data.removeprefix("file:")).load())


def ratio(record: dict, data: str | None) -> float:
    """Old bytes over new bytes of the val split the record was scored on."""
    titles = list(titles_of(data or record["data"]))
    _, val = split_titles(titles, record["num_titles"], record["seed"], record["val_frac"])
    return text_bytes(val, OLD_SEPARATOR_BYTES) / text_bytes(val, BPB_SEPARATOR_BYTES)


def convert(record_path: Path, data: str | None) -> bool:
    record = json.loads(record_path.read_text(encoding="utf-8"))
    if record.get("bpb_separator_bytes") == BPB_SEPARATOR_BYTES or record.get("val_bpb") is None:
        return False
    factor = ratio(record, data)
    record["val_bpb"] *= factor
    record["bpb_separator_bytes"] = BPB_SEPARATOR_BYTES
    log = record_path.with_name("log.jsonl")
    if log.exists():
        lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
        for line in lines:  # validation_step lines say "bpb", run_finished "val_bpb"
            for key in ("bpb", "val_bpb"):
                if isinstance(line.get(key), (int, float)):
                    line[key] *= factor
        write_atomic(log, "".join(json.dumps(line) + "\n" for line in lines))
    write_atomic(record_path, to_json(record))
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/migrate_bpb.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--data", help="where the records' titles are now (default: the path each record names)")
    args = parser.parse_args(argv)
    try:
        for folder in args.folders:
            if not folder.is_dir():
                raise OSError(f"{folder} is not a results folder")
            records = sorted(folder.glob("**/cells/*/record.json"))
            converted = sum(convert(path, args.data) for path in records)
            print(f"{folder}: {converted} of {len(records)} records converted")
    except (MainrunError, OSError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
