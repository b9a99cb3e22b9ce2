"""Every command of the README's "Which command answers which question" table, run as a fresh clone
would run it after the README's install command (from the repository root, nothing trained before,
a fresh tokenizer cache, every output in a temporary folder), at the tiny scale on the embedded
corpus with two seeds and ten steps a cell: each exits 0 and prints the line that answers its
question. Each row's command is read from the README, so the table cannot drift from what runs."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYTHON = ".venv/bin/python"  # how the README's install command names the interpreter
TRAINING = {"mainrun.train", "ablations.run", "ablations.sweep", "ablations.ladder"}
STUDIES = {"ablations.run", "ablations.sweep", "ablations.ladder"}
# The folder the grid row trains; the sample and report rows read it as DIR.
GRID_ROW = "which of these components matter, and do they interact?"
A_CELL = "layernorm-learned-default-adamw-seed1337"


def table() -> dict[str, list[str]]:
    """question -> the code spans of its command cell, in the README's order."""
    text = (REPO / "README.md").read_text()
    start = text.index("## Which command answers which question")
    rows = {}
    for line in text[start:text.index("\n## ", start + 1)].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] not in ("question", "---"):
            rows[cells[0]] = re.findall(r"`([^`]+)`", cells[1])
    return rows


@dataclass(frozen=True)
class Row:
    """How a row runs: its command is span `span` of the cell (after `before`, for a row that says
    "add this flag to a study"), with README placeholders replaced; `expect` are lines of the output
    that answer the question (regexes); `lines`, a count of output lines instead; `skip`, why not run."""
    expect: tuple[str, ...] = ()
    span: int = 0
    before: str = ""
    replace: dict[str, str] = field(default_factory=dict)
    extra: str = ""
    lines: int | None = None
    skip: str = ""


STUDY = f"{PYTHON} -m ablations.run --axes opt=sgd,adamw"  # the study a "add X to any study" row adds to
ROWS: dict[str, list[Row]] = {
    "does one variant train, and to what loss?": [Row((r"status=ok\s+val_loss=\d",))],
    GRID_ROW: [Row((r"^What mattered", r"^Best: "))],
    "seven components, without training all 128 combinations?": [Row((r"resolution IV", r"^What mattered"))],
    "what does each part of my stack buy?": [Row((r"^Removing each part of",))],
    # Ten steps a cell put every pick at the top of the candidates: no extending beyond them.
    "does the finding survive each variant at its own lr?": [Row((r"^Tuned lr",), extra="--tune-extend 0")],
    "which lr, weight decay, dropout, batch for one variant?": [
        Row((r"^Chosen: lr ",), replace={"lr=...": "lr=1e-3,1e-2", "weight-decay=...": "weight-decay=0.0,0.1"})],
    "does a member's own setting matter?": [Row((r"^\s+norm\.eps: 1e-08 -> 1e-05",))],
    "how much data does a variant save?": [Row((r"^Speed-ups against the reference",), before=STUDY)],
    # Any study at each rung: a two-variant one instead of the 16-variant grid, on the path's first two
    # rungs (from the tiny preset, still tiny), keeps it to 12 cells.
    "will my proxy's finding hold at the size I train?": [
        Row((r"^ladder over d_model, n_head, .*: 2 of 8 rungs measured", r"^\s+opt: sgd -> adamw ", r"^Predictor: "),
            replace={"--grid full": "--axes opt=sgd,adamw", "--train-rungs 1-4": "--train-rungs 1-2"})],
    "will lrs tuned narrow transfer to wide?": [
        Row((r"^\s+param: standard -> mup",), span=1, before=f"{PYTHON} -m ablations.run --axes", extra="opt=adamw")],
    "how many seeds would resolve an effect of 0.01?": [
        Row((r"^To tell an effect of 0.01 from noise would take about \d+ seeds",), before=STUDY)],
    "the same study, written down or from a notebook?": [
        Row((r"^Full report: ",), replace={"study.toml": "{tmp}/study.toml"}),
        Row(span=1)],
    "on a Slurm cluster?": [Row(skip="needs a Slurm cluster: tests/ablations/test_slurm.py runs it on the real "
                                     "one scripts/slurm-local.sh starts (pytest -m slurm)")],
    "how fast, against the machine's own peak?": [
        Row((r"tok/s", r"MFU"), extra="--scale tiny --variants baseline --steps 1 --warmup 1 --warm-s 0"),
        Row(span=1, skip="the GPU script: benchmarks/test_gpu_figures.py runs its CPU dry run")],
    "what did a model learn?": [Row(lines=10, replace={"DIR/cells/<cell>": f"{{grid}}/cells/{A_CELL}"})],
    "the reports again, without training?": [Row((r"^## Effects",), replace={"DIR": "{grid}"}, extra="--no-plot")],
}

STUDY_TOML = """[study]
scale = "tiny"
axes = ["opt=sgd,adamw"]
seeds = 2

[data]
source = "embedded"
"""


def set_flag(argv: list[str], flag: str, value: str) -> None:
    if flag in argv:
        argv[argv.index(flag) + 1] = value
    else:
        argv += [flag, value]


def argv_of(spans: list[str], row: Row, tmp: Path, grid: Path | None, name: str) -> list[str]:
    text = spans[row.span]
    for old, new in row.replace.items():
        assert old in text, f"{old!r} is no longer in the README's command {text!r}: decide again"
        text = text.replace(old, new.format(tmp=tmp, grid=grid))
    text = " ".join(filter(None, [row.before, text, row.extra]))
    if text.startswith("from "):  # the Python API: it imports
        return [sys.executable, "-c", text]
    argv = shlex.split(text)
    assert argv[:2] == [PYTHON, "-m"], f"the README's install never activates .venv: spell it {PYTHON}: {text}"
    module = argv[2]
    if module in TRAINING:
        set_flag(argv, "--scale", "tiny")
        set_flag(argv, "--data", "embedded")
        argv += ["--max-steps", "10"]
    if module in STUDIES:
        if "--seeds" not in argv and "--study" not in argv:
            argv += ["--seeds", "2"]
        argv += ["--no-plot", "--out", str(tmp / name)]
    if module == "mainrun.train":
        argv += ["--log-file", str(tmp / f"{name}.jsonl")]
    return [sys.executable] + argv[1:]


def run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600)


def check(result: subprocess.CompletedProcess, row: Row) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    for pattern in row.expect:
        assert re.search(pattern, result.stdout, re.M), f"no line matches {pattern!r}:\n{result.stdout[-3000:]}"
    if row.lines is not None:
        assert len(result.stdout.splitlines()) == row.lines, result.stdout


def test_every_row_of_the_table_has_a_decision():
    rows = table()
    assert list(rows) == [q for q in ROWS if q in rows], "the table's order changed"
    assert not set(rows) - set(ROWS), f"rows of the README's table with no entry in ROWS: {set(rows) - set(ROWS)}"
    assert not set(ROWS) - set(rows), f"entries of ROWS no longer in the README's table: {set(ROWS) - set(rows)}"
    for question, spans in rows.items():
        assert len(ROWS[question]) <= len(spans), question
        assert all(r.span < len(spans) for r in ROWS[question]), question


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("readme")
    (folder / "study.toml").write_text(STUDY_TOML)
    return folder


@pytest.fixture(scope="module")
def grid(tmp) -> tuple[Path, subprocess.CompletedProcess]:
    """The grid row's run, once: its folder is the DIR of the sample and report rows."""
    out = tmp / "grid"
    return out, run(argv_of(table()[GRID_ROW], ROWS[GRID_ROW][0], tmp, None, "grid"))


CASES = [pytest.param(question, i, id=f"{question} {i}" if i else question)
         for question, rows in ROWS.items() for i in range(len(rows))]


@pytest.mark.slow
@pytest.mark.parametrize("question, index", CASES)
def test_the_command_answers_its_question(question, index, tmp, request):
    row = ROWS[question][index]
    if row.skip:
        pytest.skip(row.skip)
    needs_grid = question == GRID_ROW or any("{grid}" in new for new in row.replace.values())
    grid = request.getfixturevalue("grid") if needs_grid else (None, None)
    if question == GRID_ROW:
        result = grid[1]
    else:
        result = run(argv_of(table()[question], row, tmp, grid[0], f"row{list(ROWS).index(question)}-{index}"))
    check(result, row)
