"""The results folder: the lock, atomic commits, and which cells count as finished."""
import json
import os

import pytest

from ablations.execution.store import ResultsDir, ResultsInUse, to_json, write_atomic


def test_second_lock_holder_fails_at_once_and_the_lock_is_released(tmp_path):
    store = ResultsDir(tmp_path / "out")
    with store.locked():
        with pytest.raises(ResultsInUse, match=f"in use by another ablations runner \\(pid {os.getpid()}\\)"):
            with ResultsDir(tmp_path / "out").locked():
                pass
    with store.locked():  # released on exit
        pass


def test_write_atomic_replaces_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "a" / "record.json"
    write_atomic(path, "old")
    write_atomic(path, "new")
    assert path.read_text() == "new"
    assert os.listdir(path.parent) == ["record.json"]
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~current_umask())


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_non_finite_numbers_become_null():
    assert json.loads(to_json({"loss": float("nan"), "curve": [[1, float("inf")], [2, 1.5]]})) == {
        "loss": None, "curve": [[1, None], [2, 1.5]]}


@pytest.mark.parametrize("status, done", [("ok", True), ("diverged", True), ("failed", False)])
def test_failed_cells_are_retried_and_the_rest_kept(tmp_path, status, done):
    store = ResultsDir(tmp_path)
    store.partial_log("cell").parent.mkdir(parents=True)
    store.partial_log("cell").write_text('{"event": "training_step"}\n')
    store.write_cell("cell", {"status": status}, [(1, 2.5), (2, float("nan"))])
    assert store.is_done("cell") is done
    assert not store.partial_log("cell").exists()
    assert (store.cell_dir("cell") / "log.jsonl").read_text() == '{"event": "training_step"}\n'
    assert store.read_curve("cell")[0] == (1, 2.5)


def test_a_cell_without_a_record_is_not_done(tmp_path):
    store = ResultsDir(tmp_path)
    store.partial_log("cell").parent.mkdir(parents=True)
    store.partial_log("cell").write_text("")  # killed mid-training
    assert not store.is_done("cell") and store.read_record("cell") is None


def test_a_crash_between_the_curve_and_the_record_leaves_the_cell_unfinished(tmp_path, monkeypatch):
    """record.json is the commit point: written last, so a crash after the log and the curve but
    before it leaves a cell that the next run trains again, and that run's commit completes it."""
    import ablations.execution.store as store_module

    store = ResultsDir(tmp_path)
    store.partial_log("cell").parent.mkdir(parents=True)
    store.partial_log("cell").write_text('{"event": "training_step"}\n')
    real_write = store_module.write_atomic

    def crash_at_the_record(path, text):
        if path.name == "record.json":
            raise KeyboardInterrupt("killed between the writes")
        real_write(path, text)

    monkeypatch.setattr(store_module, "write_atomic", crash_at_the_record)
    with pytest.raises(KeyboardInterrupt):
        store.write_cell("cell", {"status": "ok"}, [(1, 2.5)])
    assert (store.cell_dir("cell") / "curve.json").exists() and not store.is_done("cell")
    monkeypatch.setattr(store_module, "write_atomic", real_write)
    store.write_cell("cell", {"status": "ok"}, [(1, 2.4)])
    assert store.is_done("cell") and store.read_curve("cell") == [(1, 2.4)]


@pytest.mark.parametrize("text", ['{"val_loss": 2.5, "seed": 1}', '[1, 2]', '"ok"', '{"status": "ok"'])
def test_a_record_that_is_not_a_cell_record_is_moved_aside_and_the_cell_trains_again(tmp_path, text):
    """A JSON object without a status is not a finished cell: taken as one, the report would end in a
    KeyError traceback."""
    store = ResultsDir(tmp_path)
    store.cell_dir("cell").mkdir(parents=True)
    (store.cell_dir("cell") / "record.json").write_text(text)
    assert not store.is_done("cell")
    assert (store.cell_dir("cell") / "record.json.damaged-1").read_text() == text
    assert store.read_record("cell") is None


def test_damaged_files_are_set_aside_one_after_another_and_the_warnings_name_them(tmp_path, capsys):
    store = ResultsDir(tmp_path)
    cell = store.cell_dir("cell")
    cell.mkdir(parents=True)
    for attempt in (1, 2):
        (cell / "record.json").write_text('{"status": "ok"}')
        (cell / "curve.json").write_text("[[1, oops]]")
        assert not store.is_done("cell")
        assert (cell / f"curve.json.damaged-{attempt}").exists() and (cell / f"record.json.damaged-{attempt}").exists()
    err = capsys.readouterr().err.splitlines()
    assert err[:2] == ["warning: cell cell: curve.json cannot be read (JSONDecodeError); moved to curve.json.damaged-1, "
                       "the cell trains again",
                       "warning: cell cell: its record moved to record.json.damaged-1 with the curve; the cell trains "
                       "again"]
    (cell / "curve.json").write_text("[[1, oops]]")
    assert store.read_curve("cell") is None and (cell / "curve.json").exists()  # the report only leaves it out
    assert capsys.readouterr().err == ("warning: cell cell: curve.json cannot be read (JSONDecodeError); left out of "
                                       "this report\n")


def test_a_running_cells_partial_log_is_committed_as_its_log(tmp_path):
    store = ResultsDir(tmp_path)
    (store.cell_dir("cell")).mkdir(parents=True)
    (store.cell_dir("cell") / "log.jsonl.partial").write_text('{"event": "x"}\n')
    store.write_cell("cell", {"status": "ok"}, [])
    assert (store.cell_dir("cell") / "log.jsonl").read_text() == '{"event": "x"}\n'
    assert store.partial_log("cell") == store.cell_dir("cell") / "log.jsonl.partial"


def test_write_atomic_makes_missing_folders_and_names_a_path_it_cannot_write(tmp_path, monkeypatch):
    import builtins

    from mainrun.errors import OutputError

    write_atomic(tmp_path / "a" / "b" / "c.json", "x")
    assert (tmp_path / "a" / "b" / "c.json").read_text() == "x"
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match=f"^cannot write {tmp_path}/file/d.json: "):
        write_atomic(tmp_path / "file" / "d.json", "x")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(builtins, "open", full_disk)
    with pytest.raises(OutputError, match=f"^cannot write {tmp_path}/e.json: No space left on device$"):
        write_atomic(tmp_path / "e.json", "x")  # the disk's reason, not a missing temporary file's


def test_a_damaged_run_json_is_one_line_that_says_what_to_do(tmp_path):
    from mainrun.errors import MainrunError

    (tmp_path / "run.json").write_text("{")
    with pytest.raises(MainrunError, match=f"^{tmp_path}/run.json cannot be read \\(JSONDecodeError\\); it describes "
                                           "the whole folder, so nothing can be trusted to resume here: pass another "
                                           "--out$"):
        ResultsDir(tmp_path).read_run()


def test_a_damaged_record_is_named_in_its_warning(tmp_path, capsys):
    store = ResultsDir(tmp_path)
    store.cell_dir("k1").mkdir(parents=True)
    (store.cell_dir("k1") / "record.json").write_text('{"val_loss": 1}')
    assert store.read_record("k1") is None
    assert capsys.readouterr().err == ("warning: cell k1: record.json cannot be read (ValueError); left out of this "
                                       "report\n")


def test_a_cell_folder_that_cannot_be_made_is_named_in_one_line(tmp_path):
    from mainrun.errors import OutputError

    store = ResultsDir(tmp_path)
    cell = store.cell_dir("a-seed1")
    cell.parent.mkdir(parents=True, exist_ok=True)
    cell.write_text("a file where the cell's folder goes")
    with pytest.raises(OutputError, match=f"^cannot write {cell}/log.jsonl: "):
        store.write_cell("a-seed1", {"status": "ok"}, [])


def test_a_cell_resumes_from_a_readable_checkpoint_and_sets_a_damaged_one_aside(tmp_path, capsys):
    from mainrun import checkpoint

    store = ResultsDir(tmp_path)
    assert store.usable_checkpoint("a-seed1") is False  # none yet
    path = store.cell_dir("a-seed1") / checkpoint.CHECKPOINT
    checkpoint.save_atomic({"format": checkpoint.FORMAT, "kind": "resume"}, path)
    assert store.usable_checkpoint("a-seed1") is True and path.exists()
    checkpoint.save_atomic({"format": checkpoint.FORMAT, "kind": "best"}, path)  # not one to resume from
    assert store.usable_checkpoint("a-seed1") is False and not path.exists()
    [aside] = [p.name for p in path.parent.iterdir()]
    assert aside.startswith("checkpoint.pt") and aside != "checkpoint.pt"  # kept, never deleted
    assert capsys.readouterr().err == (f"warning: {path} is a 'best' checkpoint, not a 'resume' one; moved to {aside}, "
                                       "the cell starts over\n")
