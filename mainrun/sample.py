"""Generate titles from a checkpoint: what the model learned, one title per line.

    python -m mainrun.sample runs/full-1a2b3c4d/cells/layernorm-learned-default-adamw-seed1337/best.pt --num 10

Each title starts after an `<eos>`, as every title of the training text does, optionally continues a
`--prompt`, and ends at the next `<eos>` (or after --max-tokens). The same --seed gives the same lines.
"""
from __future__ import annotations

import torch
from tokenizers import Tokenizer

from . import checkpoint
from .cli import OneLineArgumentParser, run_cli
from .errors import ConfigError
from .model import GPT, GPTConfig
from .training import resolve_device
from .variant import Variant


def load_model(path: str, device: torch.device) -> tuple[GPT, Tokenizer, dict]:
    """The model and tokenizer of a `best.pt` or `checkpoint.pt` (anything else: CheckpointError)."""
    payload = checkpoint.load(path)
    fields = dict(payload["model_config"])
    fields["variant"] = Variant.parse(fields["variant"])
    model = GPT(GPTConfig(**fields))
    model.load_state_dict(payload["model"])
    return model.to(device).eval(), Tokenizer.from_str(payload["tokenizer"]), payload


@torch.no_grad()
def generate(model: GPT, tokenizer: Tokenizer, *, num: int, prompt: str = "", temperature: float = 0.8,
             top_k: int | None = 50, seed: int = 0, max_tokens: int = 64) -> list[str]:
    eos = model.cfg.eos_id
    start = [eos, *tokenizer.encode(prompt).ids] if prompt else [eos]
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    titles = []
    for _ in range(num):
        ids = torch.tensor([start], device=device)
        new: list[int] = []
        for _ in range(max_tokens):
            logits = model(ids[:, -model.cfg.block_size:])[0, -1].float() / temperature
            if not new and not prompt:
                logits[eos] = float("-inf")  # a title has at least one token
            if top_k is not None and top_k < logits.numel():
                kth = torch.topk(logits, top_k).values[-1]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            token = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator).item()
            if token == eos:
                break
            new.append(token)
            ids = torch.cat([ids, torch.tensor([[token]], device=device)], dim=1)
        # The ByteLevel tokenizer puts a space before each title; the title itself has none.
        titles.append(tokenizer.decode(start[1:] + new).strip())
    return titles


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(prog="python -m mainrun.sample", description=__doc__.strip().splitlines()[0])
    parser.add_argument("checkpoint", help="a best.pt or checkpoint.pt written by mainrun.train or ablations.run")
    parser.add_argument("--num", type=int, default=10, help="how many titles (default 10)")
    parser.add_argument("--prompt", default="", help='the start of every title, e.g. "Show HN:"')
    parser.add_argument("--temperature", type=float, default=0.8, help="softmax temperature (default 0.8)")
    parser.add_argument("--top-k", type=int, default=50, help="sample from the k likeliest tokens (default 50; 0: all)")
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same titles (default 0)")
    parser.add_argument("--max-tokens", type=int, default=64, help="stop a title after this many tokens (default 64)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    args = parser.parse_args(argv)
    if args.num < 1 or args.max_tokens < 1:
        raise ConfigError("--num and --max-tokens must be positive")
    if not args.temperature > 0:
        raise ConfigError(f"--temperature must be positive, got {args.temperature}")
    if args.top_k < 0:
        raise ConfigError(f"--top-k must be >= 0, got {args.top_k}")
    model, tokenizer, _ = load_model(args.checkpoint, resolve_device(args.device))
    for title in generate(model, tokenizer, num=args.num, prompt=args.prompt, temperature=args.temperature,
                          top_k=args.top_k or None, seed=args.seed, max_tokens=args.max_tokens):
        print(title)
    return 0


if __name__ == "__main__":
    run_cli(main)
