"""A local worker as a program of its own (ablations/execution/worker.py): how it treats Ctrl-C, and
that it ends cleanly when the runner closes its end."""
import signal
import sys
import time
from pathlib import Path

import pytest

from ablations.execution.backends import Worker

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/status")


def signal_masks(pid: int) -> dict[str, int]:
    """The process's blocked and ignored signal sets, as the kernel reports them."""
    fields = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":\t" in line)
    return {name: int(fields[name], 16) for name in ("SigBlk", "SigIgn")}


def test_a_worker_ignores_ctrl_c_unblocked_and_ends_cleanly_when_the_runner_closes_its_end():
    """Ctrl-C reaches the whole process group; the runner alone decides what stops. A worker starts with
    SIGINT blocked (a Ctrl-C in its start-up cannot end it with a traceback), then ignores it, unblocked:
    left blocked, a Ctrl-C would stay pending and end the worker the moment anything unblocked it."""
    sigint = 1 << (signal.SIGINT - 1)
    # A worker inherits an ignored SIGINT (a test runner's own process may ignore it): start it from a process
    # that handles SIGINT, as a user's shell does, so that the ignore seen below is the worker's own.
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        worker = Worker(0, 0)
    finally:
        signal.signal(signal.SIGINT, handler)
    try:
        deadline = time.monotonic() + 60
        while not signal_masks(worker.process.pid)["SigIgn"] & sigint:  # until its start-up has run
            assert worker.process.poll() is None, f"the worker ended during its start-up ({worker.process.returncode})"
            assert time.monotonic() < deadline, "the worker never set SIGINT ignored"
            time.sleep(0.05)
        deadline = time.monotonic() + 10  # the unblock follows the ignore
        while signal_masks(worker.process.pid)["SigBlk"] & sigint:
            assert time.monotonic() < deadline, "SIGINT left blocked in the worker"
            time.sleep(0.05)
        worker.process.send_signal(signal.SIGINT)
        time.sleep(0.2)
        assert worker.process.poll() is None, "a Ctrl-C ended the worker"
    finally:
        Worker.stop([worker])
    assert worker.process.returncode == 0
