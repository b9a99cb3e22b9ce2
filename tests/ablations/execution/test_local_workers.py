"""The local backend with real worker processes (`python -m ablations.execution.worker`) training tiny cells on
the CPU: workers reused from cell to cell, deaf to Ctrl-C, replaced when killed, stopped at once when
the runner stops. (tests/ablations/execution/test_backends.py checks the same scheduling with fake workers.)"""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ablations.study.axes import Point
from ablations.execution.backends import Local, WorkerDied
from ablations.execution.cells import Cell
from ablations.execution.store import ResultsDir
from mainrun.config import RunContext, TrainConfig
from mainrun.errors import OutputError
from mainrun.variant import Variant

pytestmark = pytest.mark.slow
LONG = 1_000_000  # steps: a cell that runs until it is stopped


def cpu_cell(seed: int, max_steps: int = 2) -> Cell:
    return Cell(Point(Variant()), TrainConfig.from_scale("tiny", source="embedded", seed=seed, max_steps=max_steps),
                RunContext(device="cpu", threads=1), (), "embedded", "fingerprint")


@pytest.fixture
def started(monkeypatch) -> list[subprocess.Popen]:
    """Every worker process the local backend starts; each is sent a SIGINT the moment it starts, as
    a Ctrl-C in the terminal would reach it while it imports torch."""
    processes: list[subprocess.Popen] = []
    popen = subprocess.Popen

    def start(*args, **kwargs):
        processes.append(popen(*args, **kwargs))
        os.kill(processes[-1].pid, signal.SIGINT)
        return processes[-1]

    monkeypatch.setattr(subprocess, "Popen", start)
    return processes


def when_training(store: Path, cell: Cell, then) -> threading.Thread:
    """Call `then()` from a thread once the cell has logged its first line."""
    def watch() -> None:
        deadline = time.time() + 120
        log = ResultsDir(store).partial_log(cell.key)
        while not (log.exists() and log.stat().st_size) and time.time() < deadline:
            time.sleep(0.05)
        then()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_workers_are_programs_of_their_own_deaf_to_ctrl_c_and_reused_from_cell_to_cell(tmp_path, started):
    cells = [cpu_cell(seed) for seed in (1, 2, 3)]
    outcomes = list(Local(workers=2, gpus=0, cell_bars=True).run(cells, tmp_path))
    assert sorted(cell.seed for cell, _ in outcomes) == [1, 2, 3]
    assert not [outcome for _, outcome in outcomes if isinstance(outcome, BaseException)], outcomes
    assert all(outcome["status"] == "ok" and outcome["seed"] == cell.seed for cell, outcome in outcomes), outcomes
    assert len(started) == 2  # one per slot: the third cell ran in whichever worker finished first
    assert all(p.args[:3] == [sys.executable, "-m", "ablations.execution.worker"] for p in started)
    assert [p.returncode for p in started] == [0, 0]  # told there were no more cells, each exited and was reaped


def test_a_worker_killed_mid_cell_is_replaced_and_the_remaining_cells_still_run(tmp_path, started):
    killed, after = cpu_cell(1, max_steps=LONG), cpu_cell(2)
    when_training(tmp_path, killed, lambda: started[0].kill())
    outcomes = list(Local(workers=1, gpus=0, cell_bars=False).run([killed, after], tmp_path))
    assert [cell for cell, _ in outcomes] == [killed, after]
    assert isinstance(outcomes[0][1], WorkerDied)
    assert str(outcomes[0][1]) == "the worker process training this cell died (killed by SIGKILL) before it reported"
    assert outcomes[1][1]["status"] == "ok"
    assert [p.returncode for p in started] == [-signal.SIGKILL, 0]  # a new worker in its place, reaped in turn


def test_ctrl_c_in_the_runner_stops_the_running_cell_at_once(tmp_path, started):
    # A shell starts a background job with SIGINT ignored, and Python then never raises KeyboardInterrupt:
    # the Ctrl-C below would reach nothing and the cell run forever. A terminal's runner has the default.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        ctrl_c_stops_the_cell(tmp_path, started)
    finally:
        signal.signal(signal.SIGINT, previous)


def ctrl_c_stops_the_cell(tmp_path, started):
    cell, pressed = cpu_cell(1, max_steps=LONG), []

    def ctrl_c() -> None:  # to the whole group, as a terminal sends it: the worker first
        os.kill(started[0].pid, signal.SIGINT)
        time.sleep(0.5)
        if started[0].poll() is None:  # else the worker did not ignore it, and the run ends without a Ctrl-C
            pressed.append(time.time())
            os.kill(os.getpid(), signal.SIGINT)

    when_training(tmp_path, cell, ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        list(Local(workers=1, gpus=0, cell_bars=False).run([cell], tmp_path))
    assert time.time() - pressed[0] < 10
    assert started[0].returncode == -signal.SIGTERM  # the runner stopped it; the Ctrl-C itself did not
    assert not ResultsDir(tmp_path).is_done(cell.key)


def test_a_cell_that_raises_in_its_worker_gets_the_exception_as_its_outcome(started):
    [(_, outcome)] = Local(workers=1, gpus=0, cell_bars=False).run([cpu_cell(1)], Path("/proc/nonexistent/out"))
    assert isinstance(outcome, OutputError) and str(outcome).startswith("cannot write /proc/nonexistent/out/cells/")
    assert started[0].returncode == 0
