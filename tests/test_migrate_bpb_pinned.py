"""scripts/migrate_bpb.py pinned: the exact records and log lines a conversion writes, what it leaves alone, --data,
every folder's line and the one-line errors."""
import importlib.util
import json
from pathlib import Path

import pytest

from mainrun.data import split_titles

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "migrate_bpb.py"
TITLES = [f"title {i} — é" * (1 + i % 3) for i in range(60)]


def load_script():
    spec = importlib.util.spec_from_file_location("scripts.migrate_bpb", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def factor(num_titles=50, seed=7, val_frac=0.2):
    _, val = split_titles(TITLES, num_titles, seed, val_frac)
    title_bytes = sum(len(t.encode("utf-8")) for t in val)
    return (title_bytes + 5 * len(val)) / (title_bytes + len(val))


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "titles.txt"
    path.write_text("\n".join(TITLES) + "\n", encoding="utf-8")
    return path


def cell(folder, name, record, log=None):
    path = folder / "cells" / name
    path.mkdir(parents=True)
    (path / "record.json").write_text(json.dumps(record), encoding="utf-8")
    if log is not None:
        (path / "log.jsonl").write_text(log, encoding="utf-8")
    return path


def old(data, **extra):
    return {"status": "ok", "seed": 7, "num_titles": 50, "val_frac": 0.2, "data": f"file:{data}", "val_bpb": 3.0,
            **extra}


def test_a_record_and_its_log_are_converted_and_nothing_else_changes(tmp_path, data, capsys):
    log = (json.dumps({"event": "validation_step", "step": 5, "bpb": 4}) + "\n\n"
           + json.dumps({"event": "validation_step", "bpb": None, "note": "x"}) + "\n  \n"
           + json.dumps({"event": "run_finished", "val_bpb": 3.0, "bpb": "n/a"}) + "\n")
    path = cell(tmp_path / "run", "baseline-seed7", old(data, params=10), log)
    script = load_script()
    assert script.ratio(old(data), None) == pytest.approx(factor())
    assert script.main([str(tmp_path / "run")]) == 0
    assert capsys.readouterr() == (f"{tmp_path / 'run'}: 1 of 1 records converted\n", "")
    record = json.loads((path / "record.json").read_text(encoding="utf-8"))
    assert record == {**old(data, params=10), "val_bpb": pytest.approx(3.0 * factor()), "bpb_separator_bytes": 1}
    assert (path / "log.jsonl").read_text(encoding="utf-8").splitlines() == [
        json.dumps({"event": "validation_step", "step": 5, "bpb": 4 * factor()}),
        json.dumps({"event": "validation_step", "bpb": None, "note": "x"}),
        json.dumps({"event": "run_finished", "val_bpb": 3.0 * factor(), "bpb": "n/a"})]
    assert (path / "log.jsonl").read_text(encoding="utf-8").endswith("}\n")


def test_records_converted_or_without_val_bpb_are_left_alone_and_counted(tmp_path, data, capsys):
    folder = tmp_path / "run"
    done = cell(folder, "a-seed7", old(data, bpb_separator_bytes=1), "{\"bpb\": 2.0}\n")
    unscored = cell(folder, "b-seed7", old(data, val_bpb=None, status="failed"))
    five = cell(folder / "stage1-lr", "c-seed7", old(data, bpb_separator_bytes=5))  # deeper, still found
    assert load_script().main([str(folder)]) == 0
    assert capsys.readouterr().out == f"{folder}: 1 of 3 records converted\n"
    assert json.loads((done / "record.json").read_text()) == old(data, bpb_separator_bytes=1)
    assert (done / "log.jsonl").read_text() == "{\"bpb\": 2.0}\n"
    assert json.loads((unscored / "record.json").read_text()) == old(data, val_bpb=None, status="failed")
    assert json.loads((five / "record.json").read_text())["val_bpb"] == pytest.approx(3.0 * factor())
    assert not (five / "log.jsonl").exists()


def test_data_that_moved_is_found_with_data_and_each_folder_gets_its_line(tmp_path, data, capsys):
    moved = {**old(data), "data": "file:/nowhere/titles.txt"}
    cell(tmp_path / "one", "x-seed7", moved)
    cell(tmp_path / "two", "y-seed7", {**moved, "seed": 8})
    (tmp_path / "three").mkdir()
    assert load_script().main([str(tmp_path / "one"), str(tmp_path / "two"), str(tmp_path / "three"), "--data",
                               str(data)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{tmp_path / 'one'}: 1 of 1 records converted",
                                                    f"{tmp_path / 'two'}: 1 of 1 records converted",
                                                    f"{tmp_path / 'three'}: 0 of 0 records converted"]
    assert json.loads((tmp_path / "two" / "cells" / "y-seed7" / "record.json").read_text())["val_bpb"] == \
        pytest.approx(3.0 * factor(seed=8))
    assert load_script().ratio(moved, f"file:{data}") == pytest.approx(factor())


def test_errors_are_one_line_and_exit_2(tmp_path, data, capsys):
    record = old(data)
    del record["num_titles"]
    cell(tmp_path / "run", "x-seed7", record)
    assert load_script().main([str(tmp_path / "run")]) == 2
    assert capsys.readouterr() == ("", "error: 'num_titles'\n")
    (tmp_path / "file").write_text("x")
    assert load_script().main([str(tmp_path / "file")]) == 2
    assert capsys.readouterr() == ("", f"error: {tmp_path / 'file'} is not a results folder\n")


def test_the_old_separator_counted_five_bytes_and_the_parser_needs_a_folder(capsys):
    script = load_script()
    assert script.OLD_SEPARATOR_BYTES == 5
    with pytest.raises(SystemExit) as raised:
        script.main([])
    assert raised.value.code == 2
    assert "the following arguments are required: folders" in capsys.readouterr().err
