"""Every registered component of every family, exercised in a whole model.

The parameter lists are read from the registries at collection time, so a component registered in
the package, or by a plugin module loaded before collection, is tested without editing this file:

    python -m pytest -p your.plugin.module tests/components/test_registry_wide.py

Each component is swapped into the baseline variant on its own; the cross product of model-affecting
families is covered by tests/model/test_causal.py.
"""
import math

import pytest
import torch

from mainrun.components import FAMILIES
from mainrun.components.optimizers import build_optimizer
from mainrun.variant import Variant
from mainrun.model import GPT, GPTConfig
from mainrun.training import train_step

COMPONENTS = [(family, name) for family, registry in FAMILIES.items() for name in registry.names()]
COMPONENT_IDS = [f"{family}={name}" for family, name in COMPONENTS]

VOCAB, BLOCK, BATCH = 64, 16, 4
TRAINING_STEPS = 3
# Long enough that three steps sit at the start of every schedule, where recipes are meant to move
# the weights (a schedule over 3 steps would spend them in warmup and decay).
SCHEDULE_STEPS = 100


def build(variant: Variant, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    # dropout 0: training steps are then deterministic, so "the loss went down" is not luck.
    cfg = GPTConfig(vocab_size=VOCAB, block_size=BLOCK, n_layer=1, n_head=2, d_model=16, dropout=0.0,
                      variant=variant)
    return GPT(cfg)


def fixed_batch():
    """Inputs and next-token targets cut from one seeded token stream, as the trainer cuts them."""
    stream = torch.randint(VOCAB, (BATCH * BLOCK + 1,), generator=torch.Generator().manual_seed(0))
    return stream[:-1].view(BATCH, BLOCK), stream[1:].view(BATCH, BLOCK)


@pytest.mark.parametrize("family,name", COMPONENTS, ids=COMPONENT_IDS)
def test_component_builds_and_runs_forward_and_backward(family, name):
    model = build(Variant(**{family: name}))
    x, y = fixed_batch()

    logits = model(x)
    assert logits.shape == (BATCH, BLOCK, VOCAB)
    assert torch.isfinite(logits).all()

    loss = model.loss(x, y)
    loss.backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, f"{param_name} received no gradient"
        assert torch.isfinite(param.grad).all(), f"{param_name} has a non-finite gradient"


@pytest.mark.parametrize("family,name", COMPONENTS, ids=COMPONENT_IDS)
def test_three_training_steps_lower_the_loss_on_a_fixed_batch(family, name):
    variant = Variant(**{family: name})
    model = build(variant)
    optimizer, scheduler = build_optimizer(variant.opt, model, SCHEDULE_STEPS)
    x, y = fixed_batch()

    with torch.no_grad():
        initial_loss = model.loss(x, y).item()
    for _ in range(TRAINING_STEPS):
        train_step(model, optimizer, scheduler, x, y)
    with torch.no_grad():
        final_loss = model.loss(x, y).item()

    assert math.isfinite(final_loss)
    assert final_loss < initial_loss, f"{variant}: loss {initial_loss:.6f} -> {final_loss:.6f}"
