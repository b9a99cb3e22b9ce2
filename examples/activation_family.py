"""A whole new component family from a plugin: the MLP's activation, `act=gelu|relu2`.

    python -m ablations.run --plugin examples.activation_family --axes act=gelu,relu2 opt=sgd,adamw --scale tiny

`gelu` is the reference's exact GELU (so the family's reference member leaves the model, and the
baseline, untouched); `relu2` is the squared ReLU of So et al., "Primer: Searching for Efficient
Transformers for Language Modeling" (2021), used in modded-nanoGPT's speedruns. The family plugs in
at the `build` slot: after the model is constructed and before the init recipe runs, its member
edits the model in place. It has no parameters, so swapping it draws nothing from the seeded
generator and every weight stays where the reference puts it.
"""
from __future__ import annotations

import torch
from torch import nn

from mainrun.components import register_family
from mainrun.registry import Registry

ACTIVATIONS: Registry = Registry("act", reference="gelu", slot="build")


class ReLUSquared(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x).square()


def _swap_activations(model: nn.Module, make: type[nn.Module]) -> None:
    """Every GELU of every block's feed-forward (the reference MLP has one; a gated MLP has none)."""
    for block in model.blocks:
        for parent in block.mlp.modules():
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.GELU):
                    setattr(parent, name, make())


@ACTIVATIONS.register("gelu")
def gelu(model: nn.Module) -> None:
    """The reference's activation: nothing to change."""


@ACTIVATIONS.register("relu2")
def relu2(model: nn.Module) -> None:
    _swap_activations(model, ReLUSquared)


register_family(ACTIVATIONS)
