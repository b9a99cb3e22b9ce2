"""A worker process of the local backend: `python -m ablations.execution.worker FD RUNNER_PID`.

The runner (`ablations.execution.backends.Local`) starts each worker as its own Python program, as submitit
and torchrun do, so a worker never imports the caller's `__main__`: a study run from a script
without an `if __name__ == "__main__":` guard, or from a notebook, is not started again in every
worker. FD is the worker's end of a socket pair whose other end the runner holds; over it the runner
sends a pickled `(cell, results_root, progress_position)` at a time and the worker answers with what
`run_cell` returned, or the exception it raised. The runner closing its end means no more cells.
"""
from __future__ import annotations

import ctypes
import os
import pickle
import signal
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any

from tqdm import tqdm

from .cells import run_cell

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def main(argv: list[str]) -> int:
    fd, runner_pid = map(int, argv)
    # Ctrl-C reaches the whole process group; the runner alone decides what it stops. The runner
    # started this process with SIGINT blocked, so no Ctrl-C could interrupt its start-up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    die_with_runner(runner_pid)
    # tqdm would make a multiprocessing lock, which guards nothing across separate processes; left
    # behind by a worker terminated on Ctrl-C, the resource tracker would warn about it.
    tqdm.set_lock(threading.RLock())
    serve(Connection(fd))
    return 0


def serve(connection: Connection) -> None:
    """Run each cell the runner sends, one at a time, until the runner closes its end."""
    with connection:
        while True:
            try:
                cell, results_root, position = connection.recv()
                outcome: Any = run_cell(cell, results_root, progress_position=position)
            except EOFError:  # the runner closed its end: no more cells
                return
            except Exception as exc:  # e.g. an OutputError, or a cell this worker cannot unpickle: its outcome
                outcome = exc
            try:
                connection.send(sendable(outcome))
            except OSError:  # the runner is gone (where no death signal took this worker with it)
                return


def sendable(outcome: Any) -> Any:
    """The outcome, or for an exception the runner could not unpickle, a RuntimeError saying the same."""
    if not isinstance(outcome, BaseException):
        return outcome
    try:
        pickle.loads(pickle.dumps(outcome))
    except Exception:
        return RuntimeError(f"{type(outcome).__name__}: {outcome}")
    return outcome


def die_with_runner(runner_pid: int) -> None:
    """Have the kernel SIGKILL this worker when the runner dies, however it dies: a worker left
    running would go on writing into a results folder whose lock died with the runner. (Strictly,
    when the runner's thread that started it ends: `Local.run` is iterated in one thread.) Linux
    only; elsewhere an orphaned worker finishes its current cell, then finds the runner's end closed."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != runner_pid:  # the runner died before the request above took effect
        os._exit(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
