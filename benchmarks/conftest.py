"""Benchmark session setup: untimed by default, threads pinned, torch recorded in machine_info.

`python -m pytest` (the CI and README command) runs every benchmark body once, untimed, so the
benchmarks cannot rot without making CI wait on timings. Asking for timings in any way
(--benchmark-only, --benchmark-enable, --benchmark-json, --benchmark-save, --benchmark-autosave,
--benchmark-compare) turns timing back on. This is done here rather than with `--benchmark-disable`
in addopts because pytest-benchmark refuses --benchmark-only together with --benchmark-disable.
"""
import os

import pytest
import torch

from benchmarks.common import THREADS

TIMING_REQUESTS = ("benchmark_only", "benchmark_enable", "benchmark_json", "benchmark_save",
                   "benchmark_autosave", "benchmark_compare")
LOAD_AT_START = os.getloadavg()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # tryfirst: must run before pytest-benchmark's own pytest_configure reads the option.
    if not any(config.getoption(option, None) for option in TIMING_REQUESTS):
        config.option.benchmark_disable = True


@pytest.fixture(scope="module", autouse=True)
def pinned_threads():
    """Restored afterwards, so tests collected after the benchmarks keep torch's default."""
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(previous)


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["torch"] = {
        "version": torch.__version__,
        "threads": THREADS,
        "interop_threads": torch.get_num_interop_threads(),
        "cpus_available": len(os.sched_getaffinity(0)),
    }
    # The machine may be shared; the load average says how much the timings competed for it.
    machine_info["load_average"] = {"start": LOAD_AT_START, "end": os.getloadavg()}
