"""The results folder's files, compared whole (ablations/execution/store.py): what run.json, record.json
and curve.json hold as text, the lock's holder, and the warnings for each damaged file."""
import fcntl
import math
import os

import pytest

import ablations.execution.store as store_module
from ablations.execution.store import DONE_STATUSES, ResultsDir, ResultsInUse, set_aside, to_json, write_atomic
from mainrun.errors import OutputError


def test_json_is_indented_by_one_ends_in_a_newline_and_writes_non_finite_numbers_as_null():
    value = {"a": (1, float("-inf")), "b": {"c": [float("nan"), {"d": float("inf")}]}, "e": 2.5, "f": "x"}
    assert to_json(value) == ('{\n "a": [\n  1,\n  null\n ],\n "b": {\n  "c": [\n   null,\n   {\n    "d": null\n'
                              '   }\n  ]\n },\n "e": 2.5,\n "f": "x"\n}\n')
    assert to_json(float("nan")) == "null\n" and to_json([]) == "[]\n"


def test_a_damaged_file_is_set_aside_under_the_first_free_number(tmp_path):
    path = tmp_path / "record.json"
    (tmp_path / "record.json.damaged-1").write_text("one")
    (tmp_path / "record.json.damaged-2").write_text("two")
    path.write_text("three")
    assert set_aside(path) == tmp_path / "record.json.damaged-3"
    assert (tmp_path / "record.json.damaged-3").read_text() == "three" and not path.exists()
    assert (tmp_path / "record.json.damaged-1").read_text() == "one"


def test_a_write_that_fails_at_the_rename_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    path = tmp_path / "run.json"
    write_atomic(path, "old")

    def refuse(src, dst):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OutputError, match=f"^cannot write {path}: Read-only file system$"):
        write_atomic(path, "new")
    assert os.listdir(tmp_path) == ["run.json"] and path.read_text() == "old"


def test_the_lock_holds_the_runners_pid_and_makes_the_folder(tmp_path):
    store = ResultsDir(tmp_path / "a" / "out")
    with store.locked():
        assert (tmp_path / "a" / "out" / ".lock").read_text() == f"{os.getpid()}\n"
        with pytest.raises(ResultsInUse) as refused:
            with ResultsDir(tmp_path / "a" / "out").locked():
                pass
    assert str(refused.value) == (f"{tmp_path}/a/out is in use by another ablations runner (pid {os.getpid()}); "
                                  "wait for it to finish or pass another --out")


def test_a_lock_held_by_a_runner_that_wrote_no_pid_names_it_unknown(tmp_path):
    (tmp_path / ".lock").write_text("")
    with open(tmp_path / ".lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ResultsInUse) as refused:
            with ResultsDir(tmp_path).locked():
                pass
    assert str(refused.value) == (f"{tmp_path} is in use by another ablations runner (pid unknown); "
                                  "wait for it to finish or pass another --out")
    # The holder's lock file is left as it was, and once it lets go the folder is free.
    assert (tmp_path / ".lock").read_text() == ""
    with ResultsDir(tmp_path).locked():
        pass


def test_run_json_is_none_until_written_and_then_reads_back(tmp_path):
    store = ResultsDir(tmp_path)
    assert store.run_file == tmp_path / "run.json" and store.read_run() is None
    store.write_run({"config_hash": "h", "variants": [], "seeds": [1], "loss": float("nan")})
    assert store.run_file.read_text() == '{\n "config_hash": "h",\n "variants": [],\n "seeds": [\n  1\n ],\n "loss": null\n}\n'
    assert store.read_run() == {"config_hash": "h", "variants": [], "seeds": [1], "loss": None}


def test_a_committed_cell_is_its_curve_then_its_record_and_a_cell_without_a_log_gets_none(tmp_path):
    store = ResultsDir(tmp_path)
    store.write_cell("k", {"status": "ok", "val_loss": 2.5}, [(1, 3.0), (10, float("nan"))])
    cell = tmp_path / "cells" / "k"
    assert sorted(os.listdir(cell)) == ["curve.json", "record.json"]
    assert (cell / "curve.json").read_text() == "[\n [\n  1,\n  3.0\n ],\n [\n  10,\n  null\n ]\n]\n"
    assert store.read_record("k") == {"status": "ok", "val_loss": 2.5}
    curve = store.read_curve("k")
    assert curve[0] == (1, 3.0) and curve[1][0] == 10 and math.isnan(curve[1][1])
    assert all(type(step) is int and type(loss) is float for step, loss in curve)
    assert store.is_done("k")


@pytest.mark.parametrize("status, done", [("ok", True), ("diverged", True), ("failed", False), ("running", False)])
def test_only_ok_and_diverged_cells_are_done_and_a_failed_ones_files_stay(tmp_path, capsys, status, done):
    store = ResultsDir(tmp_path)
    store.write_cell("k", {"status": status}, [(1, 3.0)])
    assert store.is_done("k") is done
    assert sorted(os.listdir(tmp_path / "cells" / "k")) == ["curve.json", "record.json"]
    assert capsys.readouterr().err == ""
    assert DONE_STATUSES == ("ok", "diverged")


def test_a_cell_with_no_curve_yet_has_an_empty_one(tmp_path):
    store = ResultsDir(tmp_path)
    assert store.read_curve("k") == [] and store.read_record("k") is None and not store.is_done("k")
    store.write_cell("k", {"status": "ok"}, [])
    (tmp_path / "cells" / "k" / "curve.json").unlink()
    assert store.is_done("k")  # a record with no curve file: a cell that evaluated nothing


@pytest.mark.parametrize("text, error", [('{"status": ', "JSONDecodeError"), ('{"loss": 1}', "ValueError"),
                                         ('["status"]', "ValueError")])
def test_a_damaged_record_is_moved_aside_by_the_runner_with_a_warning_naming_it(tmp_path, capsys, text, error):
    store = ResultsDir(tmp_path)
    store.write_cell("k", {"status": "ok"}, [(1, 3.0)])
    (tmp_path / "cells" / "k" / "record.json").write_text(text)
    assert store.read_record("k") is None  # the report: left where it is
    assert (tmp_path / "cells" / "k" / "record.json").exists()
    assert store.is_done("k") is False  # the runner: moved aside
    assert (tmp_path / "cells" / "k" / "record.json.damaged-1").read_text() == text
    assert capsys.readouterr().err == (
        f"warning: cell k: record.json cannot be read ({error}); left out of this report\n"
        f"warning: cell k: record.json cannot be read ({error}); moved to record.json.damaged-1, the cell trains again\n")


@pytest.mark.parametrize("text, error", [("[[1, null], [2]]", "ValueError"), ("[[1, [2]]]", "TypeError"),
                                         ("[[1, 2.0]", "JSONDecodeError")])
def test_a_damaged_curve_sets_its_record_aside_too(tmp_path, capsys, text, error):
    store = ResultsDir(tmp_path)
    store.write_cell("k", {"status": "ok"}, [(1, 3.0)])
    (tmp_path / "cells" / "k" / "curve.json").write_text(text)
    assert store.is_done("k") is False
    assert sorted(os.listdir(tmp_path / "cells" / "k")) == ["curve.json.damaged-1", "record.json.damaged-1"]
    assert capsys.readouterr().err == (
        f"warning: cell k: curve.json cannot be read ({error}); moved to curve.json.damaged-1, the cell trains again\n"
        "warning: cell k: its record moved to record.json.damaged-1 with the curve; the cell trains again\n")


def test_a_curve_of_nulls_reads_as_nan(tmp_path):
    store = ResultsDir(tmp_path)
    (tmp_path / "cells" / "k").mkdir(parents=True)
    (tmp_path / "cells" / "k" / "curve.json").write_text('[[1, null], ["2", "2.5"]]')
    [(one, first), (two, second)] = store.read_curve("k")
    assert (one, two, second) == (1, 2, 2.5) and math.isnan(first)


def test_the_warning_is_one_line_on_stderr(capsys):
    store_module.warn("x y")
    assert capsys.readouterr() == ("", "warning: x y\n")


def test_a_lock_file_left_by_an_earlier_runner_is_rewritten_with_this_runners_pid(tmp_path):
    (tmp_path / ".lock").write_text("99999999\n")
    with ResultsDir(tmp_path).locked():
        assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
