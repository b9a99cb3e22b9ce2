"""μP (mainrun/components/parametrizations.py and the optimizers' width rules).

The coordinate check is μP's own correctness test (Yang et al. 2022, section 7): after a few steps at
one lr, the size of every layer's activations must not grow with width under μP, while under the
standard parametrization Adam's updates make them grow.
"""
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mainrun.components.optimizers import MUP_LR_EXPONENTS, build_optimizer, width_groups
from mainrun.model import GPT, GPTConfig
from mainrun.variant import Variant

WIDTHS = (64, 128, 256, 512, 1024)


def tiny_gpt(width: int, variant: Variant, seed: int = 0, n_head: int = 4) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=64, block_size=16, n_layer=2, n_head=n_head, d_model=width, dropout=0.0,
                         variant=variant))


def activation_sizes(width: int, param: str, lr: float = 1e-2, steps: int = 4, n_head: int = 4) -> dict[str, float]:
    """RMS of each block's output and of the logits, after `steps` AdamW steps at a fixed lr on one batch."""
    model = tiny_gpt(width, Variant(param=param), n_head=n_head)
    batch = torch.randint(0, 64, (8, 17), generator=torch.Generator().manual_seed(1))
    opt = torch.optim.AdamW(width_groups(model.parameters(), lr, 0.0, "adam"), lr=lr, weight_decay=0.0)
    for _ in range(steps):
        opt.zero_grad()
        model.loss(batch[:, :-1], batch[:, 1:]).backward()
        opt.step()
    sizes: dict[str, float] = {}
    hooks = [block.register_forward_hook(lambda m, i, out, n=n: sizes.__setitem__(f"block {n}", out.pow(2).mean()
                                                                                  .sqrt().item()))
             for n, block in enumerate(model.blocks)]
    with torch.no_grad():
        sizes["logits"] = model(batch[:, :-1]).pow(2).mean().sqrt().item()
    for hook in hooks:
        hook.remove()
    return sizes


def spread(param: str) -> dict[str, float]:
    """Per layer, the largest activation RMS across widths over the smallest."""
    by_width = [activation_sizes(width, param) for width in WIDTHS]
    return {layer: max(s[layer] for s in by_width) / min(s[layer] for s in by_width) for layer in by_width[0]}


def test_coordinate_check_activations_stay_put_under_mup_and_grow_under_standard():
    mup, standard = spread("mup"), spread("standard")
    assert all(ratio < 3.0 for ratio in mup.values()), mup
    assert all(ratio > 8.0 for ratio in standard.values()), standard  # measured: 10x (logits) to 240x


def path_widths() -> list[tuple[int, int]]:
    """(width, heads) of each rung of the README's ladder: 8 rungs from the 2-layer width-128 start to the
    reference run (ablations/study/path.py)."""
    from ablations.study.path import path_rungs
    from mainrun.config import TrainConfig

    start = TrainConfig.from_scale("cpu", d_model=128, n_head=2, n_layer=2, block_size=32, batch_size=16,
                                   vocab_size=1000, num_titles=5000, epochs=1)
    return [(r["d_model"], r["n_head"]) for r in path_rungs(start, TrainConfig.from_scale("mainrun"), 8)]


def test_the_readme_ladder_starts_where_mup_is_width_stable():
    """Along the path's widths and heads (128 to 512, head dimensions 60 to 84), μP's activations stay
    within a factor of 1.6 of each other (measured: 1.3-1.4); a start at width 32 or 64 would begin with
    activations 1.9x the width-128 values (docs/scale.md has the table)."""
    def spread_over(shapes):
        sizes = [activation_sizes(width, "mup", n_head=heads) for width, heads in shapes]
        return max(max(s[layer] for s in sizes) / min(s[layer] for s in sizes) for layer in sizes[0])

    assert spread_over(path_widths()) < 1.6
    assert spread_over([(32, 2), (64, 2), (128, 2)]) > 1.6


def test_at_the_base_width_mup_is_the_standard_model():
    standard, mup = tiny_gpt(128, Variant()), tiny_gpt(128, Variant(param="mup"))
    for (name, a), b in zip(standard.named_parameters(), mup.parameters()):
        assert torch.equal(a, b), name
    idx = torch.randint(0, 64, (2, 16), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(mup(idx), standard(idx), rtol=1e-6, atol=1e-6)


def test_the_standard_parametrization_leaves_the_model_alone():
    model = tiny_gpt(256, Variant(param="standard"))
    assert model.logit_scale == 1.0 and all(block.attn.scale is None for block in model.blocks)
    assert not any(hasattr(p, "mup_width") for p in model.parameters())
    assert width_groups(model.parameters(), 1e-3, 0.1, "adam") == list(model.parameters())


@pytest.mark.parametrize("init, scaled", [("default", True), ("scaled", True), ("kaiming", False)])
def test_mup_scales_hidden_matrices_by_one_over_sqrt_m_unless_the_init_already_does(init, scaled):
    standard, mup = tiny_gpt(512, Variant(init=init)), tiny_gpt(512, Variant(init=init, param="mup"))
    factor = 0.5 if scaled else 1.0  # m = 512 / 128 = 4
    torch.testing.assert_close(mup.blocks[0].attn.qkv.weight, standard.blocks[0].attn.qkv.weight * factor)
    torch.testing.assert_close(mup.blocks[1].attn.qkv.bias, standard.blocks[1].attn.qkv.bias)
    assert torch.equal(mup.token_emb.weight, standard.token_emb.weight)
    assert mup.logit_scale == 0.25
    head_dim = 512 // 4
    assert mup.blocks[0].attn.scale == pytest.approx(math.sqrt(128 / 4) / head_dim)


@given(width=st.sampled_from([32, 64, 256, 1024]), base=st.sampled_from([64, 128]),
       rule=st.sampled_from(sorted(MUP_LR_EXPONENTS)))
def test_each_parameter_gets_its_kinds_lr_and_the_decay_per_step_stays_put(width, base, rule):
    model = tiny_gpt(width, Variant(param="mup", **{"param.base_width": base}))
    groups = width_groups(model.parameters(), 1e-3, 0.1, rule)
    m = width / base
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    for group in groups:
        for p in group["params"]:
            kind = "hidden" if p.dim() == 2 and any(p is q for q in model.blocks.parameters()) else "vector"
            assert p.mup_width == (kind, m)
            assert group["lr"] == pytest.approx(1e-3 * m ** MUP_LR_EXPONENTS[rule][kind])
        assert group["lr"] * group["weight_decay"] == pytest.approx(1e-3 * 0.1)


@pytest.mark.parametrize("recipe", ["sgd", "adamw", "muon"])
def test_every_recipe_keeps_each_groups_own_peak_and_schedule_shape(recipe):
    """Groups with their own peaks follow one shape: each group's lr over its peak is the same curve
    as a standard model's lr over its single peak."""
    steps = 30
    wide, plain = tiny_gpt(512, Variant(param="mup")), tiny_gpt(512, Variant())
    (opt, sched), (ref_opt, ref_sched) = build_optimizer(recipe, wide, steps), build_optimizer(recipe, plain, steps)
    peaks = [g["lr"] for g in opt.param_groups]
    assert len(set(peaks)) == 2  # hidden and vector-like tensors at different peaks
    for _ in range(steps):
        shape = ref_opt.param_groups[0]["lr"] / ref_opt.param_groups[0]["initial_lr"]
        for group, peak in zip(opt.param_groups, peaks):
            assert group["lr"] / group["initial_lr"] == pytest.approx(shape, rel=1e-9, abs=1e-12)
        for o, s in ((opt, sched), (ref_opt, ref_sched)):
            o.step()
            s.step()


def peak_lrs(recipe: str, width: int = 512, lr: float = 1e-3) -> dict[str, float]:
    """Under μP at width `width` (base 128): the peak lr of the recipe's hidden matrices and of its
    vector-like tensors (embeddings, head, norms, biases), each relative to `lr`."""
    model = tiny_gpt(width, Variant(param="mup"))
    opt, _ = build_optimizer(recipe, model, 10, lr=lr)
    hidden = {id(p) for p in model.blocks.parameters() if p.dim() == 2}
    peaks: dict[str, set[float]] = {"hidden": set(), "vector": set()}
    for group in opt.param_groups:
        for p in group["params"]:
            peaks["hidden" if id(p) in hidden else "vector"].add(round(group["initial_lr"] / lr, 9))
    assert all(len(v) == 1 for v in peaks.values()), peaks
    return {kind: v.pop() for kind, v in peaks.items()}


def test_mup_gives_muons_hidden_matrices_lr_over_sqrt_m():
    # m = 512 / 128 = 4: Muon's hidden matrices at lr / 2 (Adam's rule, lr / m, would be lr / 4);
    # the rest, trained by AdamW, keeps the lr.
    assert peak_lrs("muon") == {"hidden": 0.5, "vector": 1.0}


def test_mup_gives_sgds_vector_like_tensors_lr_times_m_and_its_hidden_matrices_the_lr():
    assert peak_lrs("sgd") == {"hidden": 1.0, "vector": 4.0}


def test_mup_gives_adams_hidden_matrices_lr_over_m():
    assert peak_lrs("adamw") == {"hidden": 0.25, "vector": 1.0}
