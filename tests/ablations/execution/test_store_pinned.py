"""The results folder (ablations/execution/store.py), what the other store tests leave loose pinned whole: each
refusal of a run.json word for word, what a heal leaves on disk and says, and where each file goes."""
import json
import os

import pytest

import ablations.execution.store as store_module
from ablations.execution.store import RUN_FIELDS, ResultsDir, set_aside, to_json, write_atomic
from mainrun import checkpoint
from mainrun.errors import MainrunError

GOOD = {"config_hash": "h", "variants": [], "seeds": [1]}


@pytest.mark.parametrize("run, field", [
    ([1, 2], "config_hash"), ({**GOOD, "config_hash": 1}, "config_hash"), ({"variants": [], "seeds": []}, "config_hash"),
    ({**GOOD, "variants": "a"}, "variants"), ({**GOOD, "seeds": None}, "seeds"), ({**GOOD, "seeds": 3}, "seeds")])
def test_a_run_json_missing_what_readers_rely_on_is_refused_naming_the_field(tmp_path, run, field):
    (tmp_path / "run.json").write_text(json.dumps(run))
    with pytest.raises(MainrunError) as refused:
        ResultsDir(tmp_path).read_run()
    assert str(refused.value) == (f"{tmp_path}/run.json is not a results folder's description (its {field} is missing "
                                  "or not what a run writes); nothing can be trusted to resume here: pass another --out")
    assert RUN_FIELDS == {"config_hash": str, "variants": list, "seeds": list}


def test_a_run_json_that_cannot_be_read_names_its_error(tmp_path):
    (tmp_path / "run.json").mkdir()  # an OSError, not a JSON one
    with pytest.raises(MainrunError) as refused:
        ResultsDir(tmp_path).read_run()
    assert str(refused.value) == (f"{tmp_path}/run.json cannot be read (IsADirectoryError); it describes the whole "
                                  "folder, so nothing can be trusted to resume here: pass another --out")
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


def test_a_good_run_json_reads_back_with_its_other_fields(tmp_path):
    store = ResultsDir(str(tmp_path))
    store.write_run({**GOOD, "extra": {"a": 1.5}})
    assert store.read_run() == {**GOOD, "extra": {"a": 1.5}}
    assert store.root == tmp_path and store.cell_dir("k") == tmp_path / "cells" / "k"
    assert store.partial_log("k") == tmp_path / "cells" / "k" / "log.jsonl.partial"


def test_the_report_leaves_a_damaged_record_where_it_is_and_the_runner_moves_it(tmp_path, capsys):
    store = ResultsDir(tmp_path)
    store.cell_dir("k").mkdir(parents=True)
    (store.cell_dir("k") / "record.json").write_text("{")
    assert store.read_record("k") is None and store.read_record("k", heal=False) is None
    assert sorted(os.listdir(store.cell_dir("k"))) == ["record.json"]
    assert store.read_record("k", heal=True) is None
    assert sorted(os.listdir(store.cell_dir("k"))) == ["record.json.damaged-1"]
    assert capsys.readouterr().err.splitlines() == [
        "warning: cell k: record.json cannot be read (JSONDecodeError); left out of this report"] * 2 + [
        "warning: cell k: record.json cannot be read (JSONDecodeError); moved to record.json.damaged-1, the cell "
        "trains again"]


def test_a_curve_read_by_the_runner_is_moved_aside_and_by_the_report_left(tmp_path, capsys):
    store = ResultsDir(tmp_path)
    store.cell_dir("k").mkdir(parents=True)
    (store.cell_dir("k") / "curve.json").write_text('[[1, "x"]]')
    assert store.read_curve("k") is None and (store.cell_dir("k") / "curve.json").exists()
    assert store.read_curve("k", heal=True) is None
    assert sorted(os.listdir(store.cell_dir("k"))) == ["curve.json.damaged-1"]
    assert capsys.readouterr().err.splitlines() == [
        "warning: cell k: curve.json cannot be read (ValueError); left out of this report",
        "warning: cell k: curve.json cannot be read (ValueError); moved to curve.json.damaged-1, the cell trains again"]


def test_a_finished_cells_record_and_curve_are_json_and_a_done_cell_with_a_readable_curve_is_done(tmp_path):
    store = ResultsDir(tmp_path)
    store.write_cell("k", {"status": "diverged", "val_loss": float("inf")}, [(1, 2.0)])
    assert (store.cell_dir("k") / "record.json").read_text() == to_json({"status": "diverged", "val_loss": None})
    assert store.is_done("k") is True
    assert sorted(os.listdir(store.cell_dir("k"))) == ["curve.json", "record.json"]  # no partial log: none moved


def test_a_checkpoint_that_cannot_be_read_is_set_aside_and_a_missing_one_is_none(tmp_path, capsys):
    store = ResultsDir(tmp_path)
    path = store.cell_dir("k") / checkpoint.CHECKPOINT
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    assert store.usable_checkpoint("k") is False
    assert sorted(os.listdir(path.parent)) == [f"{checkpoint.CHECKPOINT}.damaged-1"]
    err = capsys.readouterr().err
    assert err.startswith("warning: ") and err.endswith(
        f"; moved to {checkpoint.CHECKPOINT}.damaged-1, the cell starts over\n") and err.count("\n") == 1


def test_write_atomic_writes_utf8_and_a_temporary_name_beside_the_file(tmp_path, monkeypatch):
    seen = []
    real = os.replace
    monkeypatch.setattr(store_module.os, "replace", lambda src, dst: (seen.append((src, dst)), real(src, dst)))
    write_atomic(tmp_path / "r.json", "é ± —\n")
    assert (tmp_path / "r.json").read_bytes() == "é ± —\n".encode("utf-8")
    [(tmp, final)] = seen
    assert final == tmp_path / "r.json" and tmp.parent == tmp_path
    assert tmp.name.startswith(f".r.json.{os.getpid()}-") and tmp.name.endswith(".tmp")
    assert len(tmp.name) == len(f".r.json.{os.getpid()}-") + 8 + len(".tmp")


def test_set_aside_takes_the_first_number_free(tmp_path):
    path = tmp_path / "curve.json"
    path.write_text("a")
    assert set_aside(path) == tmp_path / "curve.json.damaged-1"
    path.write_text("b")
    assert set_aside(path) == tmp_path / "curve.json.damaged-2"
    assert (tmp_path / "curve.json.damaged-2").read_text() == "b"
