"""mainrun/jsonlog.py, pinned: the exact bytes a log holds, appended or started over."""
import json

import pytest

from mainrun import jsonlog
from mainrun.errors import OutputError
from mainrun.jsonlog import JsonlLogger, drop_partial_last_line, read_jsonl


@pytest.fixture
def clock(monkeypatch):
    monkeypatch.setattr(jsonlog.time, "time", lambda: 1700000000.25)


def test_each_event_is_one_line_of_json_with_event_and_timestamp_first(tmp_path, clock):
    path = tmp_path / "sub" / "dir" / "log.jsonl"
    log = JsonlLogger(path)
    assert log.path == path
    log.log("start", a=1, b="é")
    assert path.read_bytes() == b'{"event": "start", "timestamp": 1700000000.25, "a": 1, "b": "\\u00e9"}\n'
    log.log("end")
    assert path.read_text(encoding="utf-8").splitlines()[1] == '{"event": "end", "timestamp": 1700000000.25}'
    log.close()
    assert log._file is None
    log.close()  # a second close does nothing
    log.log("after", x=1)  # nor does a line after it
    assert len(path.read_text().splitlines()) == 2


def test_a_new_log_starts_over_and_an_appended_one_continues(tmp_path, clock):
    path = tmp_path / "log.jsonl"
    path.write_text('{"event": "old"}\n', encoding="utf-8")
    with JsonlLogger(path, append=True) as log:
        log.log("more")
    assert [e["event"] for e in read_jsonl(path)] == ["old", "more"]
    with JsonlLogger(path) as log:
        log.log("new")
    assert [e["event"] for e in read_jsonl(path)] == ["new"]
    with JsonlLogger(tmp_path / "fresh.jsonl", append=True) as log:
        log.log("first")
    assert read_jsonl(tmp_path / "fresh.jsonl") == [{"event": "first", "timestamp": 1700000000.25}]


def test_an_appended_log_drops_a_line_cut_short(tmp_path, clock):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"event": "a"}\n{"event": "b"}\n{"event": "c", "los')
    with JsonlLogger(path, append=True) as log:
        log.log("d")
    assert path.read_bytes() == (b'{"event": "a"}\n{"event": "b"}\n'
                                 b'{"event": "d", "timestamp": 1700000000.25}\n')


def test_the_logger_is_its_own_context_and_closes_on_exit(tmp_path):
    logger = JsonlLogger(tmp_path / "log.jsonl")
    with logger as entered:
        assert entered is logger
        assert not logger._file.closed
        handle = logger._file
    assert handle.closed and logger._file is None


@pytest.mark.parametrize("path", [None, ""])
def test_without_a_path_nothing_is_written(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with JsonlLogger(path) as log:
        assert log.path is None and log._file is None
        log.log("event", a=1)
    assert list(tmp_path.iterdir()) == []


def test_a_log_that_cannot_be_written_names_its_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError) as info:
        JsonlLogger(blocker / "log.jsonl")
    assert str(info.value).startswith(f"cannot write {blocker / 'log.jsonl'}: ")


def test_a_failing_write_names_the_log(tmp_path):
    class Broken:
        def write(self, text):
            raise OSError(28, "No space left on device")

    log = JsonlLogger(tmp_path / "log.jsonl")
    log._file.close()
    log._file = Broken()
    with pytest.raises(OutputError, match=r"^cannot write .*log\.jsonl: No space left on device$"):
        log.log("x")


@pytest.mark.parametrize("data, kept", [
    (b"", b""), (b'{"a": 1}\n', b'{"a": 1}\n'), (b'{"a": 1}\n{"b"', b'{"a": 1}\n'), (b'{"b"', b""),
    (b'1\n2\n3', b"1\n2\n")])
def test_drop_partial_last_line(tmp_path, data, kept):
    path = tmp_path / "log.jsonl"
    path.write_bytes(data)
    drop_partial_last_line(path)
    assert path.read_bytes() == kept


def test_read_jsonl_skips_blank_lines_and_reads_utf8(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes('{"a": "é"}\n\n   \n{"b": 2}\n'.encode("utf-8"))
    assert read_jsonl(path) == [{"a": "é"}, {"b": 2}]
    assert read_jsonl(str(path)) == [{"a": "é"}, {"b": 2}]
    path.write_bytes(b'{"a": 1}\nnot json\n')
    with pytest.raises(json.JSONDecodeError):
        read_jsonl(path)


def test_logs_are_opened_as_utf8_whatever_the_locale(tmp_path, monkeypatch):
    opened = []

    def spy(path, mode="r", **kwargs):
        opened.append((mode, kwargs))
        return open(path, mode, **kwargs)

    monkeypatch.setattr(jsonlog, "open", spy, raising=False)
    path = tmp_path / "log.jsonl"
    with JsonlLogger(path) as log:
        log.log("a")
    with JsonlLogger(path, append=True):
        pass
    read_jsonl(path)
    assert opened == [("w", {"encoding": "utf-8"}), ("a", {"encoding": "utf-8"}), ("r", {"encoding": "utf-8"})]
