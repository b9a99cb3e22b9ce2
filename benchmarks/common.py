"""The fixed shape, thread count and bookkeeping every benchmark shares."""
from __future__ import annotations

import os

import torch

from mainrun.components import FAMILIES
from mainrun.config import TrainConfig
from mainrun.variant import Variant

# The `cpu` preset: what `ablations.run` trains on a machine without a GPU, so these timings are
# the per-step costs the grid actually pays (a few tens of ms per step on 2 cores, which keeps a
# full benchmark run to a minute or two). At the reference shape (d 512, vocab 16000) matmuls
# dominate more and swaps of norm or positions would look relatively cheaper.
PRESET = TrainConfig.from_scale("cpu")
SHAPE = dict(
    batch=PRESET.training.batch_size,
    block=PRESET.model.block_size,
    vocab=PRESET.data.vocab_size,
    n_layer=PRESET.model.n_layer,
    n_head=PRESET.model.n_head,
    d_model=PRESET.model.d_model,
    dropout=PRESET.model.dropout,
)

# One thread by default: on a shared machine a second intra-op thread that gets descheduled stalls
# every parallel region, and timings then measure the neighbours (2-20x swings seen here). Set
# MAINRUN_BENCH_THREADS to the training thread count to measure what a dedicated machine sees.
THREADS = int(os.environ.get("MAINRUN_BENCH_THREADS", "1"))

BASELINE = Variant()

# Families that change the model's forward pass. `opt` only changes what happens after backward,
# so variants are the product of these, and optimizer recipes are timed on their own step.
MODEL_FAMILIES = [family for family in FAMILIES if family != "opt"]


def seeded(shape, seed=0, **kwargs) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), **kwargs)


def seeded_tokens(seed=0) -> tuple[torch.Tensor, torch.Tensor]:
    """A (batch, block) input and its next-token targets, as the trainer cuts them."""
    stream = torch.randint(SHAPE["vocab"], (SHAPE["batch"] * SHAPE["block"] + 1,),
                           generator=torch.Generator().manual_seed(seed))
    return stream[:-1].view(SHAPE["batch"], SHAPE["block"]), stream[1:].view(SHAPE["batch"], SHAPE["block"])


def describe(benchmark, *, group: str, label: str, baseline: bool, params: int, shape: dict, **extra) -> None:
    """Group and annotate a benchmark; benchmarks/render.py reads these fields."""
    benchmark.group = group
    benchmark.extra_info.update(
        label=label,
        baseline=baseline,
        params=params,
        shape=shape,
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        **extra,
    )
