"""scripts/migrate_bpb.py: val_bpb written when <eos> counted five bytes, converted to one."""
import importlib.util
import json
from pathlib import Path

import pytest

from mainrun.data import split_titles, text_bytes
from mainrun.data.tokenizer import join_titles

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "migrate_bpb.py"


def load_script():
    # Named as mutation testing names its mutants (scripts.migrate_bpb.x_...), so that they reach this test.
    spec = importlib.util.spec_from_file_location("scripts.migrate_bpb", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_byte_per_separator_is_the_joined_text_less_four_per_title():
    titles = ["Show HN: a café", "Ask HN: ünïcode?", "x"]
    assert text_bytes(titles) == len(join_titles(titles).encode("utf-8")) - 4 * len(titles)
    assert text_bytes(titles, 5) == len(join_titles(titles).encode("utf-8"))


def test_old_records_and_their_logs_are_converted_once(tmp_path, capsys):
    titles = [f"title number {i} — é" * (1 + i % 3) for i in range(200)]
    data = tmp_path / "titles.txt"
    data.write_text("\n".join(titles) + "\n", encoding="utf-8")
    cell = tmp_path / "run" / "cells" / "baseline-seed7"
    cell.mkdir(parents=True)
    old = {"status": "ok", "seed": 7, "num_titles": 150, "val_frac": 0.2, "data": f"file:{data}", "val_bpb": 3.0}
    (cell / "record.json").write_text(json.dumps(old))
    (cell / "log.jsonl").write_text(json.dumps({"event": "validation_step", "bpb": 3.5}) + "\n"
                                    + json.dumps({"event": "run_finished", "val_bpb": 3.0}) + "\n")
    script = load_script()
    assert script.main([str(tmp_path / "run")]) == 0
    _, val = split_titles(titles, 150, 7, 0.2)
    factor = len(join_titles(val).encode("utf-8")) / (sum(len(t.encode("utf-8")) for t in val) + len(val))
    record = json.loads((cell / "record.json").read_text())
    assert record["val_bpb"] == pytest.approx(3.0 * factor) and record["bpb_separator_bytes"] == 1
    log = [json.loads(line) for line in (cell / "log.jsonl").read_text().splitlines()]
    assert log[0]["bpb"] == pytest.approx(3.5 * factor) and log[1]["val_bpb"] == pytest.approx(3.0 * factor)
    assert script.main([str(tmp_path / "run")]) == 0  # again: nothing left to convert
    assert json.loads((cell / "record.json").read_text())["val_bpb"] == pytest.approx(3.0 * factor)
    assert capsys.readouterr().out.splitlines()[-1].endswith("0 of 1 records converted")


def test_titles_that_moved_are_named_in_one_line(tmp_path, capsys):
    cell = tmp_path / "cells" / "baseline-seed7"
    cell.mkdir(parents=True)
    (cell / "record.json").write_text(json.dumps({"status": "ok", "seed": 7, "num_titles": 10, "val_frac": 0.1,
                                                  "data": "file:/nowhere/titles.txt", "val_bpb": 3.0}))
    assert load_script().main([str(tmp_path)]) == 2
    assert capsys.readouterr().err == "error: data path /nowhere/titles.txt does not exist\n"
    assert load_script().main([str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'missing'} is not a results folder\n"


def test_a_folder_with_a_failed_cell_migrates_the_rest_in_one_line(tmp_path, capsys):
    titles = [f"title number {i}" for i in range(200)]
    data = tmp_path / "titles.txt"
    data.write_text("\n".join(titles) + "\n", encoding="utf-8")
    folder = tmp_path / "run"
    old = {"status": "ok", "seed": 7, "num_titles": 150, "val_frac": 0.2, "data": f"file:{data}", "val_bpb": 3.0}
    # A failed cell's record as the runner writes it: no val_bpb (null), its other results null too; and
    # one from before the runner wrote val_bpb at all.
    failed = {"status": "failed", "seed": 8, "num_titles": 150, "val_frac": 0.2, "data": f"file:{data}",
              "val_bpb": None, "val_loss": None, "error": "RuntimeError: out of memory"}
    older_failed = {"status": "failed", "seed": 9, "num_titles": 150, "val_frac": 0.2, "data": None,
                    "error": "RuntimeError: out of memory"}
    for key, record in (("baseline-seed7", old), ("baseline-seed8", failed), ("baseline-seed9", older_failed)):
        (folder / "cells" / key).mkdir(parents=True)
        (folder / "cells" / key / "record.json").write_text(json.dumps(record))
    assert load_script().main([str(folder)]) == 0
    out, err = capsys.readouterr()
    assert err == "" and out == f"{folder}: 1 of 3 records converted\n"
    assert json.loads((folder / "cells" / "baseline-seed7" / "record.json").read_text())["bpb_separator_bytes"] == 1
    assert json.loads((folder / "cells" / "baseline-seed8" / "record.json").read_text()) == failed  # left alone
