"""The docs' Python example (docs/usage.md, "From Python") run as people run it: saved as a script
without an `if __name__ == "__main__":` guard and started with `python file.py`, and typed into a
notebook-like `__main__` that has no file. The study runs once, each cell trains once, and the run
ends with exit status 0, no traceback, no resource-tracker warning, and no worker process left."""
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mainrun.jsonlog import read_jsonl

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def docs_example(**options) -> str:
    """The example's code, its study made with these options instead (a few tiny cells)."""
    usage = (REPO / "docs" / "usage.md").read_text()
    [code] = re.findall(r"### From Python\n\n```python\n(.*?)```", usage, re.S)
    call = f"Study.from_options({', '.join(f'{k}={v!r}' for k, v in options.items())})"
    changed, found = re.subn(r"Study\.from_options\([^)]*\)", call, code)
    assert found == 1, code
    return changed


def run_python(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    runner = subprocess.Popen([sys.executable, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    stdout, stderr = runner.communicate(timeout=300)
    left = [pid for pid, command in processes() if "ablations.execution.worker" in command and command[-1] == str(runner.pid)]
    assert not left, f"worker processes outlived their runner: {left}"
    return subprocess.CompletedProcess(runner.args, runner.returncode, stdout, stderr)


def processes() -> list[tuple[int, list[str]]]:
    """(pid, command line) of every process this user can see."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            found.append((int(entry.name), (entry / "cmdline").read_bytes().decode().split("\0")[:-1]))
        except (ValueError, OSError):
            continue
    return found


def assert_ran_once_and_cleanly(result: subprocess.CompletedProcess, out: Path, cells: int) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    for stream in (result.stdout, result.stderr):
        assert "Traceback" not in stream and "resource_tracker" not in stream and "leaked" not in stream, stream
    logs = sorted(out.glob("cells/*/log.jsonl"))
    assert len(logs) == cells
    for log in logs:  # each cell trained once: a study started again in a worker would train it twice
        assert [e["event"] for e in read_jsonl(log)].count("hyperparameters_configured") == 1, log
    assert result.stdout.count("ablations:") == 1  # the runner's header: one study, not one per worker


def test_the_docs_example_saved_as_a_script_without_a_main_guard_runs_once(tmp_path):
    out = tmp_path / "first"
    script = tmp_path / "first_study.py"
    script.write_text(docs_example(axes=["opt=sgd,adamw"], scale="tiny", seeds=2, data="embedded", out=str(out),
                                   plot=False))
    assert "__main__" not in script.read_text()
    result = run_python([str(script)], cwd=tmp_path)
    assert_ran_once_and_cleanly(result, out, cells=4)
    assert "opt: sgd -> adamw" in result.stdout  # the example's own lines: the effect, then the best row


def test_the_docs_example_typed_into_a_notebook_like_main_runs_once(tmp_path):
    """`python -c`: a `__main__` without a file, as in a notebook, calling a function it defined."""
    out = tmp_path / "notebook"
    code = docs_example(axes=["opt=sgd,adamw"], scale="tiny", seeds=1, data="embedded", out=str(out), plot=False)
    cell = "def first_study():\n" + textwrap.indent(code, "    ") + "\n\nfirst_study()\n"
    result = run_python(["-c", cell], cwd=tmp_path)
    assert_ran_once_and_cleanly(result, out, cells=2)
    assert os.path.isfile(out / "results.md")
