"""Every command's --help, pinned: the flags, their defaults and their help text are what a user reads
first, so a changed word is a changed promise. A deliberate change is recorded with
`MAINRUN_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_help.py` (then read the diff)."""
import importlib
import os
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
COMMANDS = ["mainrun.train", "mainrun.sample", "ablations.run", "ablations.sweep", "ablations.ladder",
            "ablations.report", "ablations.analysis.coverage", "scripts.migrate_bpb"]


def help_text(module: str, monkeypatch, capsys) -> str:
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps to the terminal: pin it
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("module", COMMANDS)
def test_help_is_the_recorded_text(module, monkeypatch, capsys):
    text = help_text(module, monkeypatch, capsys)
    path = GOLDEN / f"help-{module}.txt"
    if os.environ.get("MAINRUN_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no recorded help for {module}: run with MAINRUN_UPDATE_GOLDEN=1 once"
    assert text == path.read_text(encoding="utf-8"), f"{module} --help changed; record it with MAINRUN_UPDATE_GOLDEN=1"
