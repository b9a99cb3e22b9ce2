"""`python -m mainrun.sample`: titles from a checkpoint, the same for the same seed; bad files exit 2."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mainrun import checkpoint
from mainrun.config import RunContext, TrainConfig
from mainrun.variant import Variant
from mainrun.sample import generate, load_model
from mainrun.train import train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def best(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    cfg = TrainConfig.from_scale("tiny", source="embedded", variant=Variant(opt="adamw"), max_steps=30)
    train(cfg, RunContext(checkpoint_dir=str(folder)), progress=False)
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


class FixedLogits(torch.nn.Module):
    """A 'model' whose next-token logits are always the same: token i gets `logits[i]`."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.tensor(logits)
        self.cfg = type("Cfg", (), {"eos_id": 0, "block_size": 8})()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, ids):
        return self.logits.expand(ids.size(0), ids.size(1), -1)


class Letters:
    """A tokenizer stand-in: token i decodes to the letter 'a' + i - 1 (0 is <eos>)."""

    def encode(self, text):
        return type("Encoding", (), {"ids": [ord(c) - ord("a") + 1 for c in text]})()

    def decode(self, ids):
        return "".join(chr(ord("a") + i - 1) for i in ids)


def first_tokens(logits, **settings) -> list[str]:
    return [generate(FixedLogits(logits), Letters(), num=1, seed=seed, max_tokens=1, **settings)[0]
            for seed in range(60)]


def test_a_low_temperature_divides_the_logits_so_sampling_turns_greedy():
    titles = first_tokens([0.0, 2.0, 1.9, 1.8, 0.5], temperature=0.01, top_k=None)
    assert set(titles) == {"a"}  # token 1, the largest logit; multiplied by 0.01 they would be near uniform
    spread = first_tokens([0.0, 2.0, 1.9, 1.8, 0.5], temperature=5.0, top_k=None)
    assert len(set(spread)) >= 3


def test_top_k_keeps_exactly_the_k_likeliest_tokens():
    titles = first_tokens([0.0, 1.0, 1.0, 0.9, -3.0, -3.0], temperature=1.0, top_k=3)
    assert set(titles) == {"a", "b", "c"}  # tokens 1..3; the k-th (0.9) kept, nothing below it
