"""Training throughput and MFU per variant, against this machine's own matmul peak.

    python -m benchmarks.throughput --scale mainrun --variants single --steps 3
    python -m benchmarks.throughput --scale cpu --variants full --profile

In one process: measure the matmul peak in the steps' precision (fp32, TF32 or bf16; a square
matmul, GFLOP/s), time training steps (the real `mainrun.train.train_step`) per variant on synthetic
token ids, and report tokens/s and MFU = model FLOPs per step (6 x params x tokens + attention) /
step time / peak. With `--reference`, the reference program's kernels (explicit attention, unfused
loss, glibc's default allocator) are timed first, in the same process, so the speed-up is a
side-by-side ratio.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from typing import Callable

import torch
from tabulate import tabulate

from ablations.study.grid import GRIDS, build_grid
from mainrun.components.optimizers import build_optimizer
from mainrun.config import PRECISIONS, SCALES, TrainConfig
from mainrun.variant import Variant
from mainrun.model import GPT, GPTConfig
from mainrun.runtime import keep_freed_memory_mapped, restore_default_allocator
from mainrun.training import autocast_for, flops_per_token, resolve_device, train_step


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(device: torch.device, n: int, reps: int = 5, dtype=torch.float32) -> float:
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    sync(device)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e9


def warm_up(device: torch.device, dtype=torch.float32, seconds: float = 1.0) -> None:
    """Matmuls for `seconds` before anything is timed: an idle GPU runs at a fraction of its clock (an
    H200 idles at 345 MHz and works at 1980), and a peak measured cold would flatter every MFU."""
    n = 1024 if device.type == "cpu" else 4096
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        a @ b
        sync(device)


def use_allocator_of(attention: str) -> None:
    """The reference kernels run with glibc's default allocator, the fast path keeps freed memory
    mapped as training does (mainrun.train)."""
    restore_default_allocator() if attention == "reference" else keep_freed_memory_mapped()


def matmul_peak_gflops(device: torch.device, dtype=torch.float32, warm_s: float = 1.0) -> float:
    """The best median over a few square sizes, after `warm_up`: the machine's own attainable peak,
    not a datasheet's."""
    warm_up(device, dtype, warm_s)
    sizes = (2048, 4096) if device.type == "cpu" else (4096, 8192)
    return max(matmul_gflops(device, n, dtype=dtype) for n in sizes)


def make_step(cfg: TrainConfig, variant: Variant, attention: str, device: torch.device,
              precision: str = "fp32") -> tuple[Callable[[], float], int]:
    """A closure running one real training step on a fixed synthetic batch, and the parameter count."""
    torch.manual_seed(cfg.training.seed)
    cfg = cfg.with_values(variant=variant, attention=attention)
    model = GPT(GPTConfig.of(cfg, cfg.data.vocab_size)).to(device)
    opt, sched = build_optimizer(variant.opt, model, 10_000)
    gen = torch.Generator().manual_seed(0)
    shape = (cfg.training.batch_size, cfg.model.block_size)
    x = torch.randint(0, cfg.data.vocab_size, shape, generator=gen).to(device)
    y = torch.randint(0, cfg.data.vocab_size, shape, generator=gen).to(device)
    autocast = autocast_for(precision, device)
    return (lambda: train_step(model, opt, sched, x, y, autocast)), model.num_params()


def time_steps(step: Callable[[], float], device: torch.device, steps: int, warmup: int) -> list[float]:
    times = []
    for i in range(warmup + steps):
        sync(device)
        t = time.perf_counter()
        step()
        sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return times


def profile_step(step: Callable[[], float], device: torch.device, rows: int = 15) -> str:
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    step()  # warm: first-touch allocations and lazy initialisation are not the steady state
    with profile(activities=activities) as prof:
        step()
    key = "cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", nargs="+", default=["mainrun"], choices=list(SCALES))
    parser.add_argument("--variants", default="single", choices=list(GRIDS))
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant (median reported)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS)
    parser.add_argument("--reference", action="store_true", help="also time the reference kernels, first")
    parser.add_argument("--profile", action="store_true", help="print a torch.profiler table of one step")
    parser.add_argument("--out", help="also write the table as markdown here")
    parser.add_argument("--json", help="also write the rows and peaks as JSON here")
    parser.add_argument("--warm-s", type=float, default=1.0,
                        help="seconds of matmuls before each peak measurement (default 1: an idle GPU clocks down)")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.precision in ("tf32", "bf16") and device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    machine = (f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
               if device.type == "cpu" else f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    # MFU against the peak of the arithmetic the steps use: a bf16 step measured against the fp32
    # peak would read several times too high, and a tf32 one against plain fp32 too.
    peak_name = args.precision if device.type == "cuda" else "fp32"
    peak_dtype = torch.bfloat16 if peak_name == "bf16" else torch.float32
    peak_before = matmul_peak_gflops(device, peak_dtype, args.warm_s)
    print(f"machine: {machine}; {peak_name} matmul peak {peak_before:.0f} GFLOP/s", flush=True)

    rows = measure_rows(args, device)
    peak_after = matmul_peak_gflops(device, peak_dtype, args.warm_s)
    # Against the larger peak: the GPU's clock (or a CPU's turbo) may only settle during the steps.
    peak = max(peak_before, peak_after)
    for row in rows:
        row["mfu"] = row["flops_per_step"] / row["step_s"] / 1e9 / peak
    table = markdown_table(rows)
    footer = (f"\n{peak_name} matmul peak: {peak_before:.0f} GFLOP/s before, {peak_after:.0f} after; MFU uses the "
              f"larger. Machine: {machine}.")
    print("\n" + table + footer)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\n" + footer + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "precision": args.precision, "peak_name": peak_name,
                       "peak_gflops_before": peak_before, "peak_gflops_after": peak_after, "rows": rows}, f, indent=1)


def measure_rows(args: argparse.Namespace, device: torch.device) -> list[dict]:
    """Time every variant of every scale: (reference kernels first with --reference) then the fast path."""
    rows = []
    for scale in args.scale:
        cfg = TrainConfig.from_scale(scale)
        tokens = cfg.training.batch_size * cfg.model.block_size
        for attention in (["reference"] if args.reference else []) + ["sdpa"]:
            if device.type == "cpu":
                use_allocator_of(attention)
            grid = build_grid("baseline" if attention == "reference" else args.variants, None)
            for variant in [point.variant for point in grid.points]:
                step, params = make_step(cfg, variant, attention, device, args.precision)
                if args.profile and variant.is_baseline:
                    print(f"\n--- profile: {scale}, {variant}, attention={attention}\n{profile_step(step, device)}")
                times = time_steps(step, device, args.steps, args.warmup)
                step_s = statistics.median(times)
                rows.append({"scale": scale, "kernels": "reference" if attention == "reference" else "fast",
                             "variant": str(variant), "step_s": step_s, "min_s": min(times), "max_s": max(times),
                             "tokens_per_s": tokens / step_s, "params": params,
                             "flops_per_step": flops_per_token(cfg, params) * tokens})
                print(f"{scale:8s} {rows[-1]['kernels']:9s} {variant}  {step_s:.4f} s/step  {tokens / step_s:,.0f} tok/s",
                      flush=True)
    return rows


def markdown_table(rows: list[dict]) -> str:
    body = [[r["scale"], r["kernels"], r["variant"], f"{r['step_s']:.4f}", f"{r['min_s']:.4f}..{r['max_s']:.4f}",
             f"{r['tokens_per_s']:,.0f}", f"{r['flops_per_step'] / 1e9:.4g}", f"{r['mfu']:.1%}"] for r in rows]
    # GFLOP with 4 significant digits: the tiny scale's step (about 0.001 GFLOP) and the reference's (about
    # 1,100 GFLOP) both read, where TFLOP to 4 decimals showed the tiny step as 0.0000.
    return tabulate(body, headers=["scale", "kernels", "variant", "s/step (median)", "min..max", "tokens/s",
                                   "GFLOP/step", "MFU"], tablefmt="github", disable_numparse=True)


if __name__ == "__main__":
    main()
