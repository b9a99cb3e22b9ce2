"""Weight initialisation recipes: `default` (the reference), `kaiming` and `scaled`.

A factory takes the freshly constructed model and re-initialises it in place. It runs before the
head is tied to the token embedding, exactly where the reference calls `self.apply(_init_weights)`,
so the random stream, and with it every weight, matches the reference for `default`.
"""
from __future__ import annotations

import math

from torch import nn

from ..registry import Registry

INITS: Registry = Registry("init", reference="default", slot="init", always_named=True)


@INITS.register("default")
def default(model: nn.Module) -> None:
    def init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    model.apply(init)


@INITS.register("kaiming")
def kaiming(model: nn.Module) -> None:
    def init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            # fan_in of an Embedding weight (vocab, d) is d, which torch computes from dim 1,
            # so both get std sqrt(2 / d_in).
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    model.apply(init)


@INITS.register("scaled")
def scaled(model: nn.Module) -> None:
    """GPT-2's (Radford et al. 2019, as in nanoGPT): the reference init, but the Linear layers that
    write into the residual stream (attention's `proj` and the MLP's output, flagged
    `residual_projection`) at std 0.02 / sqrt(2 * n_layer), so the residual stream's variance does
    not grow with depth. One pass in module order, so the random stream is the reference's."""
    residual_std = 0.02 / math.sqrt(2 * len(model.blocks))

    def init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            std = residual_std if getattr(module, "residual_projection", False) else 0.02
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    model.apply(init)
