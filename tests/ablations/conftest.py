import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def full_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The tiny full grid on the local backend, trained once for every test that reads or compares
    with it (none of them writes into it)."""
    out = tmp_path_factory.mktemp("full") / "out"
    result = subprocess.run([sys.executable, "-m", "ablations.run", "--grid", "full", "--scale", "tiny", "--seeds", "1",
                             "--data", "embedded", "--out", str(out)],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
    return out, result
