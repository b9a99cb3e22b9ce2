"""`python -m mainrun.sample`: titles from a checkpoint, the same for the same seed; bad files exit 2."""
import subprocess
import sys
from pathlib import Path

import pytest

from mainrun import checkpoint
from mainrun.config import TrainConfig, Variant
from mainrun.sample import generate, load_model
from mainrun.train import train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def best(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    cfg = TrainConfig.from_scale("tiny", data="embedded", variant=Variant(opt="adamw"), checkpoint_dir=str(folder),
                                 max_steps=30)
    train(cfg, progress=False)
    return folder / checkpoint.BEST


def test_titles_are_reproducible_and_end_at_eos(best):
    import torch

    model, tokenizer, payload = load_model(str(best), torch.device("cpu"))
    assert payload["kind"] == "best"
    first = generate(model, tokenizer, num=5, seed=7, max_tokens=20)
    assert generate(model, tokenizer, num=5, seed=7, max_tokens=20) == first
    assert generate(model, tokenizer, num=5, seed=8, max_tokens=20) != first
    assert len(first) == 5 and all(title and "<eos>" not in title for title in first)
    prompted = generate(model, tokenizer, num=3, prompt="Show HN:", seed=0, max_tokens=10)
    assert all(title.startswith("Show HN:") for title in prompted)


def test_the_cli_prints_one_title_per_line(best):
    result = subprocess.run([sys.executable, "-m", "mainrun.sample", str(best), "--num", "5", "--seed", "1"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 5


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "missing.pt", "no checkpoint at"),
    (lambda tmp: (tmp / "titles.txt").write_text("Show HN: x\n") and tmp / "titles.txt", "is not a mainrun checkpoint"),
])
def test_a_missing_or_foreign_file_is_one_line_and_exit_2(tmp_path, make, message):
    path = make(tmp_path)
    result = subprocess.run([sys.executable, "-m", "mainrun.sample", str(path)], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr
