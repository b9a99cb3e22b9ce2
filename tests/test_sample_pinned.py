"""mainrun/sample.py, pinned: what `main` checks and hands on, and each title `generate` builds."""
import pytest
import torch

from mainrun import sample
from mainrun.errors import ConfigError
from mainrun.sample import generate, main


class Chain(torch.nn.Module):
    """Next token: always the last token + 1 (mod vocab), by a wide margin; 0 is <eos>. Records its inputs."""

    def __init__(self, vocab=5, block_size=8, eos_logit=None):
        super().__init__()
        self.vocab, self.eos_logit, self.inputs = vocab, eos_logit, []
        self.cfg = type("Cfg", (), {"eos_id": 0, "block_size": block_size})()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, ids):
        self.inputs.append(ids.tolist())
        logits = torch.zeros(ids.size(0), ids.size(1), self.vocab)
        for t in range(ids.size(1)):
            logits[0, t, (int(ids[0, t]) + 1) % self.vocab] = 10.0
            if self.eos_logit is not None:
                logits[0, t, 0] = self.eos_logit
        return logits


class Letters:
    """Token i decodes to the letter 'a' + i - 1, with a leading space as ByteLevel decodes a title."""

    def __init__(self):
        self.decoded = []

    def encode(self, text):
        return type("Encoding", (), {"ids": [ord(c) - ord("a") + 1 for c in text]})()

    def decode(self, ids):
        self.decoded.append(list(ids))
        return " " + "".join(chr(ord("a") + i - 1) for i in ids) + " "


GREEDY = {"temperature": 0.01, "top_k": None}


def test_a_title_runs_from_eos_to_the_next_eos():
    model, tokenizer = Chain(vocab=5), Letters()
    assert generate(model, tokenizer, num=2, seed=0, **GREEDY) == ["abcd", "abcd"]
    assert tokenizer.decoded == [[1, 2, 3, 4], [1, 2, 3, 4]]
    assert model.inputs[:5] == [[[0]], [[0, 1]], [[0, 1, 2]], [[0, 1, 2, 3]], [[0, 1, 2, 3, 4]]]
    assert len(model.inputs) == 10


def test_the_context_is_cut_to_the_block_size():
    model = Chain(vocab=6, block_size=2)
    assert generate(model, Letters(), num=1, seed=0, **GREEDY) == ["abcde"]
    assert model.inputs == [[[0]], [[0, 1]], [[1, 2]], [[2, 3]], [[3, 4]], [[4, 5]]]


def test_max_tokens_ends_a_title_without_eos():
    model = Chain(vocab=9)
    assert generate(model, Letters(), num=1, seed=0, max_tokens=3, **GREEDY) == ["abc"]
    assert len(model.inputs) == 3


def test_a_prompt_starts_every_title_and_may_end_it_at_once():
    model = Chain(vocab=5)
    assert generate(model, Letters(), num=1, prompt="b", seed=0, **GREEDY) == ["bcd"]
    assert model.inputs[0] == [[0, 2]]
    # <eos> the likeliest token: with a prompt the title may be the prompt alone ...
    eager = Chain(vocab=5, eos_logit=20.0)
    assert generate(eager, Letters(), num=1, prompt="b", seed=0, **GREEDY) == ["b"]
    # ... without one, the first token is never <eos>, the second may be
    assert generate(Chain(vocab=5, eos_logit=20.0), Letters(), num=1, seed=0, **GREEDY) == ["a"]


def test_the_defaults_sample_at_temperature_08_from_the_top_50(monkeypatch):
    seen = []
    real = torch.multinomial

    def spy(probs, n, generator=None):
        seen.append(probs.clone())
        return real(probs, n, generator=generator)

    monkeypatch.setattr(sample.torch, "multinomial", spy)
    logits = torch.arange(60, dtype=torch.float32) / 10

    class Fixed(torch.nn.Module):
        cfg = type("Cfg", (), {"eos_id": 0, "block_size": 4})()

        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, ids):
            return logits.expand(1, ids.size(1), -1)

    generate(Fixed(), Letters(), num=1, max_tokens=1)
    [probs] = seen
    expected = logits / 0.8
    expected[0] = float("-inf")
    expected[:10] = float("-inf")  # the 50 likeliest are 10..59
    assert torch.allclose(probs, torch.softmax(expected, dim=-1))


def test_the_same_seed_gives_the_same_titles():
    def titles(seed):
        return generate(Chain(vocab=7), Letters(), num=4, seed=seed, temperature=100.0, top_k=None, max_tokens=4)

    assert titles(3) == titles(3)
    assert titles(3) != titles(4)
    generator = torch.Generator().manual_seed(0)
    probs = torch.full((7,), 1.0)
    probs[0] = 0.0
    first = torch.multinomial(probs / probs.sum(), 1, generator=generator).item()
    assert titles(0)[0][0] == chr(ord("a") + first - 1)


@pytest.mark.parametrize("argv, message", [
    (["x.pt", "--num", "0"], "--num and --max-tokens must be positive"),
    (["x.pt", "--max-tokens", "0"], "--num and --max-tokens must be positive"),
    (["x.pt", "--temperature", "0"], "--temperature must be positive, got 0.0"),
    (["x.pt", "--temperature", "nan"], "--temperature must be positive, got nan"),
    (["x.pt", "--top-k", "-1"], "--top-k must be >= 0, got -1"),
])
def test_bad_settings_are_refused_before_loading(monkeypatch, argv, message):
    monkeypatch.setattr(sample, "load_model", lambda *a: pytest.fail("loaded"))
    with pytest.raises(ConfigError) as info:
        main(argv)
    assert str(info.value) == message


@pytest.fixture
def fake_sampling(monkeypatch):
    calls = {}

    def load_model(path, device):
        calls["load"] = (path, device)
        return "MODEL", "TOKENIZER", {}

    def fake_generate(model, tokenizer, **kwargs):
        calls["generate"] = (model, tokenizer, kwargs)
        return ["first title", "second"]

    monkeypatch.setattr(sample, "load_model", load_model)
    monkeypatch.setattr(sample, "generate", fake_generate)
    return calls


def test_main_hands_generate_the_defaults_and_prints_one_title_a_line(fake_sampling, capsys):
    assert main(["best.pt", "--device", "cpu"]) == 0
    assert fake_sampling["load"] == ("best.pt", torch.device("cpu"))
    assert fake_sampling["generate"] == ("MODEL", "TOKENIZER", {
        "num": 10, "prompt": "", "temperature": 0.8, "top_k": 50, "seed": 0, "max_tokens": 64})
    assert capsys.readouterr().out == "first title\nsecond\n"


def test_main_hands_generate_every_setting_and_top_k_0_as_all(fake_sampling, capsys):
    assert main(["c.pt", "--num", "1", "--prompt", "Show HN:", "--temperature", "1.5", "--top-k", "0",
                 "--seed", "9", "--max-tokens", "1", "--device", "cpu"]) == 0
    assert fake_sampling["generate"][2] == {"num": 1, "prompt": "Show HN:", "temperature": 1.5, "top_k": None,
                                            "seed": 9, "max_tokens": 1}
    main(["c.pt", "--top-k", "7", "--device", "cpu"])
    assert fake_sampling["generate"][2]["top_k"] == 7


def test_main_resolves_auto_to_a_device(fake_sampling, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    main(["c.pt"])
    assert fake_sampling["load"] == ("c.pt", torch.device("cpu"))


def test_an_unknown_flag_names_the_command(capsys):
    with pytest.raises(SystemExit) as info:
        main(["c.pt", "--nope"])
    assert info.value.code == 2
    assert capsys.readouterr().err == "python -m mainrun.sample: error: unrecognized arguments: --nope\n"


def test_load_model_rebuilds_the_saved_model_in_eval_mode_with_its_tokenizer(tmp_path):
    from mainrun import checkpoint
    from mainrun.data.tokenizer import train_tokenizer
    from mainrun.model import GPT, GPTConfig
    from mainrun.variant import Variant

    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=300, block_size=8, n_layer=1, n_head=2, d_model=16, dropout=0.0,
                    variant=Variant(norm="rmsnorm"), eos_id=1)
    model = GPT(cfg)
    tokenizer = train_tokenizer(["Show HN: a tiny GPT", "Ask HN: why"] * 5, 300)
    checkpoint.save_atomic({"format": checkpoint.FORMAT, "kind": "best", "model_config": checkpoint.model_config_dict(cfg),
                            "tokenizer": tokenizer.to_str(), "model": model.state_dict(), "step": 3}, tmp_path / "best.pt")
    loaded, loaded_tokenizer, payload = sample.load_model(str(tmp_path / "best.pt"), torch.device("cpu"))
    assert loaded.cfg == cfg and loaded.training is False
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    assert loaded_tokenizer.to_str() == tokenizer.to_str()
    assert payload["step"] == 3 and payload["kind"] == "best" and payload["model_config"]["variant"] == str(cfg.variant)


def test_generates_defaults_are_seed_0_and_64_tokens():
    def titles(**seed):
        return generate(Chain(vocab=7), Letters(), num=4, temperature=100.0, top_k=None, max_tokens=4, **seed)

    assert titles() == titles(seed=0) != titles(seed=1)
    model, tokenizer = Chain(vocab=100, block_size=4), Letters()
    generate(model, tokenizer, num=1, **GREEDY)
    assert tokenizer.decoded == [list(range(1, 65))] and len(model.inputs) == 64
