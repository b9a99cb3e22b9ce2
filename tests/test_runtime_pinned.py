"""mainrun/runtime.py: the malloc settings handed to glibc, and when they are (not) applied."""
import sys
import types

import pytest

from mainrun import runtime


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(runtime, "_tuned", False)
    calls = []
    result = {"value": True}

    def fake(**kwargs):
        calls.append(kwargs)
        return result["value"]

    monkeypatch.setattr(runtime, "_set_malloc", fake)
    return calls, result


def test_keep_freed_memory_mapped_asks_for_no_mmap_and_no_trim_once(fresh):
    calls, _ = fresh
    assert runtime.keep_freed_memory_mapped() is True
    assert runtime.keep_freed_memory_mapped() is True
    assert calls == [{"mmap_max": 0, "trim_threshold": 2**31 - 1}]
    assert runtime._INT_MAX == 2147483647


def test_keep_freed_memory_mapped_retries_while_it_has_not_applied(fresh):
    calls, result = fresh
    result["value"] = False
    assert runtime.keep_freed_memory_mapped() is False
    assert runtime.keep_freed_memory_mapped() is False
    assert len(calls) == 2


def test_restore_default_allocator_hands_glibcs_defaults_and_forgets_the_tuning(fresh):
    calls, _ = fresh
    runtime.keep_freed_memory_mapped()
    runtime.restore_default_allocator()
    assert calls[-1] == {"mmap_max": 65536, "trim_threshold": 131072}
    assert runtime._tuned is False
    runtime.keep_freed_memory_mapped()
    assert calls[-1] == {"mmap_max": 0, "trim_threshold": 2**31 - 1}
    assert len(calls) == 3


class FakeLibc:
    def __init__(self, answers):
        self.calls, self.answers = [], list(answers)

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return self.answers.pop(0)


@pytest.mark.parametrize("answers, expected, calls", [
    ([1, 1], True, 2), ([1, 0], False, 2), ([0, 1], False, 1), ([0, 0], False, 1)])
def test_set_malloc_sets_mmap_max_then_trim_threshold(monkeypatch, answers, expected, calls):
    libc = FakeLibc(answers)
    loaded = []
    monkeypatch.setattr(runtime.sys, "platform", "linux")
    monkeypatch.setattr(runtime.ctypes, "CDLL", lambda name: (loaded.append(name), libc)[1])
    assert runtime._set_malloc(5, 7) is expected
    assert loaded == ["libc.so.6"]
    assert libc.calls == [(-4, 5), (-1, 7)][:calls]


def test_set_malloc_does_nothing_off_linux(monkeypatch):
    monkeypatch.setattr(runtime.sys, "platform", "darwin")
    monkeypatch.setattr(runtime.ctypes, "CDLL", lambda name: pytest.fail("loaded a C library"))
    assert runtime._set_malloc(0, 1) is False


@pytest.mark.parametrize("error", [OSError("no libc"), AttributeError("no mallopt")])
def test_set_malloc_is_false_without_glibc(monkeypatch, error):
    monkeypatch.setattr(runtime.sys, "platform", "linux")

    def cdll(name):
        raise error

    monkeypatch.setattr(runtime.ctypes, "CDLL", cdll)
    assert runtime._set_malloc(0, 1) is False


def test_set_malloc_reads_mallopt_from_the_library(monkeypatch):
    monkeypatch.setattr(runtime.sys, "platform", "linux")
    monkeypatch.setattr(runtime.ctypes, "CDLL", lambda name: types.SimpleNamespace())
    assert runtime._set_malloc(0, 1) is False


def test_a_fresh_import_has_not_tuned_the_allocator_yet():
    import importlib.util

    spec = importlib.util.spec_from_file_location("fresh_runtime_copy", runtime.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module._tuned is False
