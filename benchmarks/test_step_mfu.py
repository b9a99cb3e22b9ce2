"""A whole training step of the `cpu` preset against this machine's own fp32 matmul peak.

A grid's worker trains with one thread, so one thread is the question. The step is the real
`mainrun.training.train_step` (forward, loss, backward, clipping, the optimizer), with the fast
kernels and with the reference program's (explicit attention, unfused loss, glibc's default
allocator), as `python -m benchmarks.throughput --reference` times them. Each benchmark carries its
FLOPs in extra_info (6 x params x tokens + attention, as MFU counts them; a square matmul's 2n^3),
and benchmarks/render.py divides: GFLOP/s achieved, and that as a share of the best square matmul.
"""
import math

import pytest
import torch

from benchmarks.common import BASELINE, PRESET, SHAPE, describe
from benchmarks.throughput import make_step, use_allocator_of
from mainrun.runtime import restore_default_allocator
from mainrun.training import flops_per_token

pytestmark = pytest.mark.benchmark(warmup=True, warmup_iterations=3, min_rounds=15)

GROUP = "step: training step against the matmul peak (fp32, 1 thread)"
PEAK_SIZES = (1024, 2048)  # throughput.py also tries 4096, at 1.5 s a matmul here: too slow for rounds


@pytest.mark.parametrize("n", PEAK_SIZES)
def test_square_matmul(benchmark, n):
    """The machine's attainable peak: the best of a few square sizes, not a datasheet's."""
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
    describe(benchmark, group=GROUP, label=f"square matmul {n}x{n}", baseline=False, params=0, shape={"n": n},
             flops=2 * n**3, peak=True)
    assert benchmark(lambda: a @ b).shape == (n, n)


@pytest.fixture(params=["reference", "sdpa"], ids=["reference kernels", "fast kernels"])
def attention(request):
    """The allocator goes with the kernels, as in training (mainrun.train) and in throughput.py."""
    use_allocator_of(request.param)
    yield request.param
    restore_default_allocator()


def test_training_step(benchmark, attention):
    step, params = make_step(PRESET, BASELINE, attention, torch.device("cpu"))
    tokens = SHAPE["batch"] * SHAPE["block"]
    describe(benchmark, group=GROUP, label=f"cpu-preset step, {'reference' if attention == 'reference' else 'fast'} "
             f"kernels, opt={BASELINE.opt}", baseline=attention != "reference", params=params, shape=SHAPE,
             flops=flops_per_token(PRESET, params) * tokens)
    loss = benchmark(step)
    assert math.isfinite(loss) and loss > 0  # a real cross-entropy
