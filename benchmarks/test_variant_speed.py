"""Whole-model speed of every variant at the `cpu` preset shape (see benchmarks/common.py).

Variants are the baseline and each single swap of a model-affecting family, read from the
registries at collection time. The optimizer family is left out: it does not change the forward
or backward pass, and its step is timed per recipe in test_component_speed.py. The init family
does not change the computation either; its variants should time alike, so their spread is a
gauge of the run's noise.
"""
import pytest
import torch

from benchmarks.common import BASELINE, MODEL_FAMILIES, PRESET, SHAPE, describe, seeded_tokens
from mainrun.components import FAMILIES
from mainrun.config import ATTENTIONS
from mainrun.variant import Variant
from mainrun.model import GPT, GPTConfig

pytestmark = pytest.mark.benchmark(warmup=True, warmup_iterations=3, min_rounds=20)

# The baseline and every single swap of a model-affecting family (the product of seven families
# would be 96 variants); a member or family a plugin registers joins at collection time.
MODEL_VARIANTS = [Variant()] + [
    Variant(**{family: name})
    for family in MODEL_FAMILIES for name in FAMILIES[family].names() if name != FAMILIES[family].reference
]


def label(variant: Variant) -> str:
    return ",".join(f"{family}={getattr(variant, family)}" for family in MODEL_FAMILIES)


def build(variant: Variant, attention: str = PRESET.model.attention) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(
        vocab_size=SHAPE["vocab"], block_size=SHAPE["block"], n_layer=SHAPE["n_layer"],
        n_head=SHAPE["n_head"], d_model=SHAPE["d_model"], dropout=SHAPE["dropout"],
        variant=variant, attention=attention,
    ))


def is_baseline(variant: Variant) -> bool:
    return all(getattr(variant, family) == getattr(BASELINE, family) for family in MODEL_FAMILIES)


def annotate(benchmark, group, variant, model, attention=PRESET.model.attention):
    describe(benchmark, group=group, label=label(variant), baseline=is_baseline(variant),
             params=model.num_params(), shape=SHAPE, attention=attention,
             variant={family: getattr(variant, family) for family in MODEL_FAMILIES})


@pytest.mark.parametrize("variant", MODEL_VARIANTS, ids=label)
def test_variant_forward(benchmark, variant):
    """What evaluate() pays per batch: eval mode, no autograd graph."""
    model = build(variant).eval()
    x, _ = seeded_tokens()
    annotate(benchmark, "variant: forward (eval)", variant, model)

    def forward():
        with torch.no_grad():
            return model(x)

    logits = benchmark(forward)
    assert logits.shape == (SHAPE["batch"], SHAPE["block"], SHAPE["vocab"])


@pytest.mark.parametrize("variant", MODEL_VARIANTS, ids=label)
def test_variant_forward_backward(benchmark, variant):
    """What a training step pays before the optimizer: train mode (dropout on), loss, backward."""
    model = build(variant).train()
    x, y = seeded_tokens()
    annotate(benchmark, "variant: forward+backward (train)", variant, model)

    def forward_backward():
        model.zero_grad(set_to_none=True)
        loss = model.loss(x, y)
        loss.backward()
        return loss

    loss = benchmark(forward_backward)
    assert torch.isfinite(loss)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_attention_path_forward_backward(benchmark, attention):
    """The fused SDPA kernel against the reference's explicit softmax, in the baseline variant."""
    model = build(BASELINE, attention).train()
    x, y = seeded_tokens()
    describe(benchmark, group="attention: forward+backward (train)", label=attention,
             baseline=attention == PRESET.model.attention, params=model.num_params(), shape=SHAPE,
             attention=attention)

    def forward_backward():
        model.zero_grad(set_to_none=True)
        loss = model.loss(x, y)
        loss.backward()
        return loss

    loss = benchmark(forward_backward)
    assert torch.isfinite(loss)
