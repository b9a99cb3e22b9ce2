"""Smoke checks of the CUDA path, each small, timed and reported even when another one fails.

    python -m benchmarks.gpu_smoke --device cuda --data .gpu-data/hn_titles.txt --out WORK/smoke

Trains the `tiny` scale on the real titles in every precision (fp32, TF32, bf16), on the baseline and
on the modern stack (title mask, Muon, and the rest of `--grid modern`'s members); compares the
reference attention with the fused one; checkpoints, kills and resumes a run; samples on the CPU
from a `best.pt` written on the device; names the attention kernel that runs with a mask; checks
that gradients stay finite at blocks of 64 and 128 (the shape of pytorch#196678, see
`mainrun.model.MASKED_ATTENTION_BACKENDS`); and measures the peak memory of one full-size training
step per precision. After every check `smoke.json` and `smoke.md` are rewritten, so a run cut off
by its time limit still leaves the checks it finished. On CPU the same checks run as a dry run.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import torch
from tabulate import tabulate

from mainrun.config import PRECISIONS, RunContext, TrainConfig
from mainrun.variant import Variant
from mainrun.model import GPT, GPTConfig, fused_attention
from mainrun.train import train
from mainrun.training import autocast_for, resolve_device

MODERN = "norm=rmsnorm,pos=rope,mlp=swiglu,init=scaled,opt=muon,mask=title,qknorm=rmsnorm"
# The row of the adversarial attention input whose scores sit far below exp's float32 range.
LOGSUMEXP_BELOW = -100.0


class Interrupted(RuntimeError):
    """Raised from a validation callback: a run killed right after a checkpoint."""


@dataclasses.dataclass
class Smoke:
    device: torch.device
    data: str
    out: Path
    scale: str = "tiny"
    full_scale: str = "mainrun"
    precisions: tuple[str, ...] = PRECISIONS
    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def config(self, **settings: Any) -> TrainConfig:
        """The smoke scale on the real titles."""
        return TrainConfig.from_scale(self.scale, source=self.data, **settings)

    def context(self, name: str, **fields: Any) -> RunContext:
        """On the device, logging into the output folder."""
        return RunContext(device=str(self.device), log_file=str(self.out / f"{name}.jsonl"), **fields)

    def check(self, name: str, run: Callable[[], tuple[bool, str]]) -> None:
        """Run one check; an exception is a failed row, never the end of the checks."""
        start = time.perf_counter()
        try:
            ok, detail = run()
        except Exception as exc:  # a smoke check reports what broke and lets the others run
            ok, detail = False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            (self.out / f"{slug(name)}.traceback.txt").write_text(traceback.format_exc())
        self.rows.append({"check": name, "ok": ok, "detail": detail, "seconds": round(time.perf_counter() - start, 1)})
        print(f"{'ok ' if ok else 'FAIL'} {name}: {detail}", flush=True)
        self.write()

    def write(self) -> None:
        (self.out / "smoke.json").write_text(json.dumps(self.rows, indent=1))
        table = tabulate([[r["check"], "ok" if r["ok"] else "FAILED", r["detail"], r["seconds"]] for r in self.rows],
                         headers=["check", "result", "detail", "s"], tablefmt="github", disable_numparse=True)
        (self.out / "smoke.md").write_text(table + "\n")


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-")


def trained(smoke: Smoke, name: str, **settings: Any) -> tuple[bool, str]:
    result = train(smoke.config(**settings), smoke.context(slug(name)), progress=False)
    memory = f", peak {result.peak_gpu_memory_mb:,.0f} MB on the GPU" if result.peak_gpu_memory_mb else ""
    return (result.status == "ok" and math.isfinite(result.val_loss),
            f"{result.status}, val loss {result.val_loss:.4f}, {result.tokens_per_s:,.0f} tokens/s{memory}")


def attention_paths(smoke: Smoke) -> tuple[bool, str]:
    """The reference's explicit attention and the fused kernel, dropout off: the same losses up to rounding."""
    losses = {}
    for attention in ("reference", "sdpa"):
        cfg = smoke.config(attention=attention, dropout=0.0, max_steps=20)
        losses[attention] = train(cfg, smoke.context(f"attention-{attention}"), progress=False).val_loss
    gap = abs(losses["reference"] - losses["sdpa"])
    return gap < 1e-3, f"val loss {losses['reference']:.6f} (reference) vs {losses['sdpa']:.6f} (sdpa): |Δ| {gap:.1e}"


def resume_exactly(smoke: Smoke) -> tuple[bool, str]:
    """A run killed right after its second evaluation's checkpoint, resumed, against the run uninterrupted."""
    folder = smoke.out / "resume"
    cfg = smoke.config(variant=Variant.parse("opt=adamw,mask=title"))
    whole = train(cfg, smoke.context("resume-whole", checkpoint_dir=str(folder / "whole")), progress=False)
    evaluations = []

    def kill_at_second(step: int, loss: float) -> None:
        evaluations.append(step)
        if len(evaluations) == 2:
            raise Interrupted(f"killed after the evaluation at step {step}")

    try:
        train(cfg, smoke.context("resume-cut", checkpoint_dir=str(folder / "cut")), progress=False,
              on_validation=kill_at_second)
    except Interrupted:
        pass
    resumed = train(cfg, smoke.context("resume-cut", checkpoint_dir=str(folder / "cut"), resume=True), progress=False)
    expected = dict(whole.curve)
    gaps = [abs(loss - expected[step]) for step, loss in resumed.curve if step > evaluations[-1]]
    gap = max(gaps, default=math.nan)
    return (resumed.resumed_from == evaluations[-1] and gap <= 1e-4,
            f"resumed from step {resumed.resumed_from}; largest |Δ val loss| after it {gap:.1e} "
            f"({'bit for bit' if gap == 0 else 'within 1e-4' if gap <= 1e-4 else 'differs'})")


def sample_on_cpu(smoke: Smoke) -> tuple[bool, str]:
    """Titles from the `best.pt` the resume check wrote on the device, generated on the CPU."""
    from mainrun.sample import generate, load_model

    model, tokenizer, _ = load_model(str(smoke.out / "resume" / "whole" / "best.pt"), torch.device("cpu"))
    titles = generate(model, tokenizer, num=3, seed=0)
    return all(titles), " / ".join(titles)[:160]


def small_model(smoke: Smoke, block_size: int, mask: str) -> tuple[GPT, torch.Tensor]:
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=512, block_size=block_size, n_layer=2, n_head=2, d_model=128, dropout=0.0,
                      variant=Variant(mask=mask), eos_id=1)
    ids = torch.randint(2, 512, (4, block_size + 1))
    ids[:, ::9] = 1  # an <eos> every 9 tokens: titles of 8
    return GPT(cfg).to(smoke.device), ids.to(smoke.device)


def masked_kernel(smoke: Smoke) -> tuple[bool, str]:
    """Which scaled-dot-product kernel runs, from the profiler's op names, with the title mask and without."""
    from torch.profiler import profile

    seen = {}
    for mask in ("title", "causal"):
        model, ids = small_model(smoke, 64, mask)
        with profile() as prof, autocast_for(low_precision(smoke), smoke.device)():
            model.loss(ids[:, :-1], ids[:, 1:]).backward()
        names = sorted({e.key for e in prof.key_averages() if "scaled_dot_product" in e.key
                        and "backward" not in e.key and e.key != "aten::scaled_dot_product_attention"})
        seen[mask] = ", ".join(n.removeprefix("aten::") for n in names) or "none"
    return "cudnn" not in seen["title"], f"title mask: {seen['title']}; causal: {seen['causal']}"


def low_precision(smoke: Smoke) -> str:
    return "bf16" if "bf16" in smoke.precisions else smoke.precisions[0]


def finite_gradients(smoke: Smoke) -> tuple[bool, str]:
    """Gradients of the title-masked model at blocks 64 and 128, and of the masked attention on an
    input with a row whose logsumexp is far below -88.7; the cuDNN kernel alone is tried too, to say
    whether this torch has the upstream bug."""
    found = []
    for block in (64, 128):
        model, ids = small_model(smoke, block, "title")
        with autocast_for(low_precision(smoke), smoke.device)():
            model.loss(ids[:, :-1], ids[:, 1:]).backward()
        finite = all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        guarded = adversarial_grad_is_finite(smoke, block, fused_attention)
        found.append((block, finite, guarded, cudnn_alone(smoke, block)))
    ok = all(finite and guarded for _, finite, guarded, _ in found)
    return ok, "; ".join(f"block {b}: model {'finite' if f else 'NaN'}, low-logsumexp row {'finite' if g else 'NaN'}, "
                         f"cuDNN alone {c}" for b, f, g, c in found)


def adversarial_grad_is_finite(smoke: Smoke, block: int, attention: Callable) -> bool:
    dtype = torch.bfloat16 if low_precision(smoke) == "bf16" else torch.float32
    q = torch.randn(2, 2, block, 64, device=smoke.device)
    k = torch.randn(2, 2, block, 64, device=smoke.device)
    # Row 0 attends to key 0 alone (causal), with a score of LOGSUMEXP_BELOW.
    q[:, :, 0] = k[:, :, 0] * (LOGSUMEXP_BELOW * 8 / k[:, :, 0].pow(2).sum(-1, keepdim=True))
    q = q.to(dtype).requires_grad_()
    k, v = k.to(dtype).requires_grad_(), torch.randn_like(k, dtype=dtype).requires_grad_()
    mask = torch.ones(block, block, dtype=torch.bool, device=smoke.device).tril().expand(2, 1, block, block)
    attention(q, k, v, mask, 0.0).float().sum().backward()
    return all(bool(torch.isfinite(t.grad).all()) for t in (q, k, v))


def cudnn_alone(smoke: Smoke, block: int) -> str:
    if smoke.device.type != "cuda":
        return "n/a on CPU"
    from torch.nn.attention import SDPBackend, sdpa_kernel

    def cudnn(q, k, v, mask, p):
        with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)

    try:
        return "finite" if adversarial_grad_is_finite(smoke, block, cudnn) else "NaN (the upstream bug: guarded)"
    except RuntimeError as exc:
        return f"not available ({str(exc).splitlines()[0][:60]})"


def full_size_memory(smoke: Smoke, precision: str) -> tuple[bool, str]:
    """One training step of the full-size model (AdamW, the preset's batch) and the memory it peaks at."""
    from benchmarks.throughput import make_step

    cfg = TrainConfig.from_scale(smoke.full_scale)
    if smoke.device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(smoke.device)
        torch.backends.cuda.matmul.allow_tf32 = precision in ("tf32", "bf16")
    step, params = make_step(cfg, Variant(opt="adamw"), "sdpa", smoke.device, precision)
    loss = step()
    if smoke.device.type != "cuda":
        return math.isfinite(loss), f"loss {loss:.4f} ({params:,} parameters; CPU: no device memory to read)"
    peak = torch.cuda.max_memory_allocated(smoke.device) / 2**30
    return math.isfinite(loss), f"peak {peak:.2f} GiB allocated, loss {loss:.4f} ({params:,} parameters)"


def run_all(smoke: Smoke) -> None:
    for precision in smoke.precisions:
        smoke.check(f"train baseline, {precision}", lambda p=precision: trained(smoke, f"baseline-{p}", precision=p))
        smoke.check(f"train modern stack, {precision}",
                    lambda p=precision: trained(smoke, f"modern-{p}", precision=p, variant=Variant.parse(MODERN)))
    smoke.check("attention: reference against fused, dropout 0", lambda: attention_paths(smoke))
    smoke.check("checkpoint, kill, resume", lambda: resume_exactly(smoke))
    smoke.check("sample on the CPU from the device's best.pt", lambda: sample_on_cpu(smoke))
    smoke.check("attention kernel with a mask", lambda: masked_kernel(smoke))
    smoke.check("finite gradients at blocks 64 and 128", lambda: finite_gradients(smoke))
    for precision in smoke.precisions:
        smoke.check(f"one {smoke.full_scale}-scale step, {precision}", lambda p=precision: full_size_memory(smoke, p))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_smoke", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--data", required=True, help="the titles file (or `embedded` for a dry run without it)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--scale", default="tiny", help="the scale of the training checks (default tiny)")
    parser.add_argument("--full-scale", default="mainrun", help="the scale of the one-step memory check")
    parser.add_argument("--precisions", default=",".join(PRECISIONS))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    smoke = Smoke(resolve_device(args.device), args.data, out, args.scale, args.full_scale,
                  tuple(p for p in args.precisions.split(",") if p))
    run_all(smoke)
    failed = [r["check"] for r in smoke.rows if not r["ok"]]
    print(f"{len(smoke.rows) - len(failed)} of {len(smoke.rows)} checks passed" +
          (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
