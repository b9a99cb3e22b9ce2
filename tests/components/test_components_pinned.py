"""mainrun/registry.py and mainrun/components/*: registries, family registration, and each member's
exact output (init stds, masks, MLP shapes, rope tables, μP, optimizer groups and schedules)."""
import math

import pytest
import torch
from torch import nn

from mainrun.components import (BUILTIN_MEMBERS, FAMILIES, INITS, PARAMETRIZATIONS, families_in_slot,
                                register_family)
from mainrun.components import inits, masks, mlps, norms, optimizers, positions, qknorms
from mainrun.errors import ConfigError
from mainrun.registry import Registry


def _error(fn, *args, **kwargs):
    with pytest.raises(ConfigError) as caught:
        fn(*args, **kwargs)
    return str(caught.value)


# ----- registry -----------------------------------------------------------------------------------

def test_registry_whole_behaviour():
    reg = Registry("thing", reference="a", slot="build")
    assert (reg.family, reg.reference, reg.slot, reg.always_named) == ("thing", "a", "build", False)
    assert Registry("t", reference="a", slot="s", always_named=True).always_named is True

    def a(x, y=2, *, k=3, m):
        return (x, y, k, m)

    assert reg.register("a")(a) is a
    assert reg.register("a")(a) is a  # the same factory again is fine
    assert _error(reg.register("a"), lambda: None) == "thing 'a' is already registered"
    for bad in ("", "x,y", "x=y", "x y", "x/y"):
        assert _error(reg.register(bad), a) == f"bad thing name '{bad}': no commas, '=', spaces or slashes"
    reg.register("b")(lambda: "b")
    assert reg.names() == ["a", "b"] and list(reg) == ["a", "b"]
    assert "a" in reg and "c" not in reg
    assert reg.get("a") is a
    assert _error(reg.get, "c") == "unknown thing 'c'; valid: a, b"
    assert reg.settings("a") == {"k": 3}
    assert reg.build("a", 1, m=5) == (1, 2, 3, 5)
    assert reg.build("a", 1, 9, k=4, m=5) == (1, 9, 4, 5)
    assert repr(reg) == "Registry('thing', reference='a', slot='build', ['a', 'b'])"


def test_register_family_checks_in_order_with_exact_messages():
    def family(key, slot="build", reference="r", members=("r",)):
        reg = Registry(key, reference=reference, slot=slot)
        for name in members:
            reg.register(name)(lambda model: None)
        return reg

    assert _error(register_family, family("norm")) == "component family 'norm' is already registered"
    assert register_family(FAMILIES["norm"]) is FAMILIES["norm"]
    for bad in ("2x", "_x", "a-b"):
        assert _error(register_family, family(bad)) == (
            f"bad component family key '{bad}': use a lower-case identifier, e.g. act")
    for taken in ("seed", "replace", "lr", "batch_size", "device", "resume"):
        assert _error(register_family, family(taken)) == (
            f"component family key '{taken}' is taken by a hyperparameter or option; choose another")
    assert _error(register_family, family("zz", slot="head")) == (
        "family 'zz': unknown slot 'head'; valid: norm, positions, mlp, mask, qknorm, build, init, optimizer")
    assert _error(register_family, family("zz", slot="mlp")) == "family 'zz': slot 'mlp' is held by family 'mlp'"
    assert _error(register_family, family("zz", slot="optimizer")) == (
        "family 'zz': slot 'optimizer' is held by family 'opt'")
    assert _error(register_family, family("zz", reference="q")) == (
        "family 'zz': its reference member 'q' is not registered")
    assert "zz" not in FAMILIES


def test_builtin_families_and_slots():
    assert {k: (r.reference, r.slot, r.always_named) for k, r in FAMILIES.items()} == {
        "norm": ("layernorm", "norm", True), "pos": ("learned", "positions", True), "init": ("default", "init", True),
        "opt": ("sgd", "optimizer", True), "mlp": ("gelu", "mlp", False), "mask": ("causal", "mask", False),
        "qknorm": ("none", "qknorm", False), "param": ("standard", "init", False)}
    assert BUILTIN_MEMBERS == {'norm': ('layernorm', 'rmsnorm'), 'pos': ('learned', 'rope'),
                               'init': ('default', 'kaiming', 'scaled'), 'opt': ('sgd', 'adamw', 'muon'),
                               'mlp': ('gelu', 'swiglu'), 'mask': ('causal', 'title'), 'qknorm': ('none', 'rmsnorm'),
                               'param': ('standard', 'mup')}
    assert families_in_slot("init") == [INITS, PARAMETRIZATIONS]
    assert families_in_slot("build") == []


# ----- inits --------------------------------------------------------------------------------------

class _Net(nn.Module):
    def __init__(self, n_blocks=2):
        super().__init__()
        self.emb = nn.Embedding(300, 200)
        self.blocks = nn.ModuleList([nn.Linear(400, 300) for _ in range(n_blocks)])
        self.out = nn.Linear(400, 300)
        self.out.residual_projection = True
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.constant_(m.bias, 5.0)


def _stats(t):
    t = t.detach()
    return float(t.mean()), float(t.std())


@pytest.mark.parametrize("name", ["default", "kaiming", "scaled"])
def test_inits_draw_the_documented_stds(name):
    torch.manual_seed(0)
    net = _Net()
    INITS.get(name)(net)
    residual = {"default": 0.02, "kaiming": math.sqrt(2 / 400), "scaled": 0.02 / math.sqrt(4)}[name]
    plain = {"default": 0.02, "kaiming": math.sqrt(2 / 400), "scaled": 0.02}[name]
    emb = {"default": 0.02, "kaiming": math.sqrt(2 / 200), "scaled": 0.02}[name]
    for module, std in ((net.blocks[0], plain), (net.out, residual), (net.emb, emb)):
        mean, got = _stats(module.weight)
        assert abs(mean) < 0.05 * std and got == pytest.approx(std, rel=0.02)
    for module in (net.blocks[0], net.blocks[1], net.out):
        assert torch.equal(module.bias, torch.zeros(300))


# ----- masks, mlps, norms, qknorms ----------------------------------------------------------------

def test_title_mask_exact_and_causal_none():
    ids = torch.tensor([[5, 1, 6, 7, 1, 8], [1, 2, 2, 2, 2, 1]])
    mask = masks.MASKS.build("title", 1)
    assert isinstance(mask, masks.TitleMask) and mask.eos_id == 1
    got = mask(ids)
    assert got.shape == (2, 1, 6, 6) and got.dtype == torch.bool
    expected0 = [[1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0], [0, 0, 1, 1, 0, 0],
                 [0, 0, 1, 1, 1, 0], [0, 0, 0, 0, 0, 1]]
    expected1 = [[1, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0], [0, 1, 1, 1, 0, 0],
                 [0, 1, 1, 1, 1, 0], [0, 1, 1, 1, 1, 1]]
    assert got[:, 0].int().tolist() == [expected0, expected1]
    causal = masks.MASKS.build("causal", 1)
    assert type(causal) is masks.AttentionMask and causal(ids) is None


def test_mlps_exact_structure_and_forward():
    assert [mlps.swiglu_hidden(d) for d in (9, 10, 128, 512)] == [24, 26, 341, 1365]
    torch.manual_seed(0)
    gelu = mlps.MLPS.build("gelu", 8, 0.25)
    first, act, second, drop = gelu.net
    assert (first.in_features, first.out_features, second.in_features, second.out_features) == (8, 32, 32, 8)
    assert act.approximate == "none" and drop.p == 0.25
    assert second.residual_projection is True and not hasattr(first, "residual_projection")
    swiglu = mlps.MLPS.build("swiglu", 8, 0.5)
    assert swiglu.drop.p == 0.5 and swiglu.down.residual_projection is True
    assert (swiglu.gate.in_features, swiglu.gate.out_features, swiglu.up.out_features, swiglu.down.in_features,
            swiglu.down.out_features) == (8, 21, 21, 21, 8)
    swiglu.eval()
    x = torch.randn(3, 8)
    expected = swiglu.down(torch.nn.functional.silu(swiglu.gate(x)) * swiglu.up(x))
    assert torch.allclose(swiglu(x), expected)
    gelu.eval()
    assert torch.allclose(gelu(x), second(torch.nn.functional.gelu(first(x))))


def test_norms_and_qknorms():
    layer = norms.NORMS.build("layernorm", 6)
    assert type(layer) is nn.LayerNorm and layer.eps == 1e-5 and layer.normalized_shape == (6,)
    rms = norms.NORMS.build("rmsnorm", 6)
    assert type(rms) is nn.RMSNorm and rms.eps == 1e-8 and rms.normalized_shape == (6,)
    assert norms.NORMS.build("rmsnorm", 6, eps=1e-3).eps == 1e-3
    assert norms.NORMS.build("layernorm", 6, eps=1e-3).eps == 1e-3
    assert type(qknorms.QKNORMS.build("none", 4)) is nn.Identity
    qk = qknorms.QKNORMS.build("rmsnorm", 4)
    assert type(qk) is nn.RMSNorm and qk.eps == 1e-8 and qk.normalized_shape == (4,)
    assert qknorms.QKNORMS.build("rmsnorm", 4, eps=0.5).eps == 0.5


# ----- positions ----------------------------------------------------------------------------------

def test_rope_tables_rotation_and_modules():
    cos, sin = positions.rope_cos_sin(3, 4, 100.0)
    angles = [[p * 100.0 ** (-i / 4) for i in (0, 2, 0, 2)] for p in range(3)]
    assert cos.dtype == torch.float32 and cos.shape == (3, 4)
    assert torch.allclose(cos, torch.tensor([[math.cos(a) for a in row] for row in angles]))
    assert torch.allclose(sin, torch.tensor([[math.sin(a) for a in row] for row in angles]))
    with pytest.raises(ValueError) as caught:
        positions.rope_cos_sin(3, 5, 100.0)
    assert str(caught.value) == "rope needs an even head dimension, got 5"
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert positions.rotate_half(x).tolist() == [-3.0, -4.0, 1.0, 2.0]
    q = torch.arange(8.0).view(2, 4)
    c, s = torch.full((3, 4), 2.0), torch.full((3, 4), 10.0)
    assert positions.apply_rope(q, c, s).tolist() == [[-20.0, -28.0, 4.0, 16.0], [-52.0, -60.0, 52.0, 64.0]]
    rope = positions.POSITIONS.build("rope", 5, 12, 3)  # head_dim 4, base 10000
    assert rope.cos.shape == (5, 4) and rope.state_dict() == {}
    assert torch.equal(rope.cos, positions.rope_cos_sin(5, 4, 10_000.0)[0])
    qk = torch.randn(1, 3, 4, 4, dtype=torch.float64)
    rq, rk = rope.rotate(qk, 2 * qk)
    assert rq.dtype == torch.float64
    assert torch.allclose(rq, positions.apply_rope(qk, rope.cos.double(), rope.sin.double()))
    assert torch.allclose(rk, 2 * rq)
    assert torch.equal(rope.embed(qk), qk)
    half = qk.to(torch.bfloat16)
    assert [t.dtype for t in rope.rotate(half, half)] == [torch.bfloat16, torch.bfloat16]
    based = positions.POSITIONS.build("rope", 5, 12, 3, base=100.0)
    assert torch.equal(based.sin, positions.rope_cos_sin(5, 4, 100.0)[1])
    learned = positions.POSITIONS.build("learned", 5, 3, 1)
    assert learned.pos_emb.shape == (1, 5, 3) and torch.equal(learned.pos_emb, torch.zeros(1, 5, 3))
    with torch.no_grad():
        learned.pos_emb.copy_(torch.arange(15.0).view(1, 5, 3))
    assert learned.embed(torch.ones(2, 2, 3)).tolist() == [[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]] * 2
    assert learned.rotate(q, c) == (q, c)


# ----- parametrizations ---------------------------------------------------------------------------

def _gpt(variant, d_model=64):
    from mainrun.model import GPT, GPTConfig
    from mainrun.variant import Variant
    torch.manual_seed(3)
    return GPT(GPTConfig(vocab_size=40, block_size=8, n_layer=1, n_head=2, d_model=d_model, dropout=0.0,
                         variant=Variant.parse(variant)))


def test_mup_rescales_hidden_matrices_and_tags_every_parameter():
    standard, mup = _gpt("baseline"), _gpt("param=mup,param.base_width=16")
    assert standard.logit_scale == 1.0 and mup.logit_scale == 0.25
    attention = mup.blocks[0].attn
    assert attention.scale == pytest.approx(math.sqrt(16 / 2) / 32) and standard.blocks[0].attn.scale is None
    s_params, m_params = dict(standard.named_parameters()), dict(mup.named_parameters())
    for name, p in m_params.items():
        hidden = name.startswith("blocks.") and p.dim() == 2
        assert p.mup_width == ("hidden" if hidden else "vector", 4.0), name
        expected = s_params[name] / 2.0 if hidden else s_params[name]
        assert torch.allclose(p, expected), name
    kaiming_std, kaiming_mup = _gpt("init=kaiming"), _gpt("init=kaiming,param=mup,param.base_width=16")
    for (name, a), b in zip(kaiming_std.named_parameters(), kaiming_mup.parameters()):
        assert torch.equal(a, b), name
    assert not any(hasattr(p, "mup_width") for p in standard.parameters())


# ----- optimizers ---------------------------------------------------------------------------------

def test_width_groups_scale_lr_and_decay_per_kind():
    a, b, c = (nn.Parameter(torch.zeros(1)) for _ in range(3))
    assert optimizers.width_groups(iter([a, b]), 1.0, 0.1, "adam") == [a, b]
    a.mup_width, b.mup_width = ("hidden", 4.0), ("vector", 4.0)
    for rule, expected in (("adam", [(0.25, 0.4, [a]), (1.0, 0.1, [b, c])]),
                           ("sgd", [(1.0, 0.1, [a, c]), (4.0, 0.025, [b])]),
                           ("muon", [(0.5, 0.2, [a]), (1.0, 0.1, [b, c])])):
        groups = optimizers.width_groups([a, b, c], 1.0, 0.1, rule)
        got = [(g["lr"], g["weight_decay"], g["params"]) for g in groups]
        assert [(lr, pytest.approx(wd), [id(p) for p in ps]) for lr, wd, ps in got] == [
            (lr, pytest.approx(wd), [id(p) for p in ps]) for lr, wd, ps in expected], rule
        assert all(set(g) == {"params", "lr", "weight_decay"} for g in groups)


def test_warmup_steps_and_schedules():
    assert [optimizers.warmup_steps(n, w) for n, w in ((70, 0.1), (5, 0.1), (100, 0.25), (0, 0.1))] == [7, 1, 25, 1]
    rounded = lambda values: [round(v, 10) for v in values]
    assert rounded(optimizers.lr_curve("sgd", 4)) == [0.006, 0.0051213203, 0.003, 0.0008786797]
    assert rounded(optimizers.lr_curve("adamw", 10)) == [3e-06, 0.0003, 0.0002918585, 0.000268416, 0.0002325,
                                                         0.0001884425, 0.0001415575, 9.75e-05, 6.1584e-05, 3.81415e-05]
    assert rounded(optimizers.lr_curve("muon", 10)) == rounded(optimizers.lr_curve("adamw", 10))
    shaped = [0.5, 0.6666666667, 0.8333333333, 1.0, 0.9603875472, 0.8493959207, 0.6890083736, 0.5109916264,
              0.3506040793, 0.2396124528]
    assert rounded(optimizers.lr_curve("adamw", 10, lr=1.0, warmup=0.3, warmup_start=0.5, floor=0.2)) == shaped
    # groups with their own peaks: the lambda path, the same shape per group, held at the floor after the end
    a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([{"params": [a], "lr": 1.0}, {"params": [b], "lr": 2.0}], lr=1.0)
    sched = optimizers.warmup_cosine(opt, 10, 0.3, 0.5, 0.2)
    seen = []
    for _ in range(12):
        seen.append([round(g["lr"], 10) for g in opt.param_groups])
        opt.step()
        sched.step()
    assert [s[0] for s in seen] == shaped + [0.2, 0.2]
    assert all(s[1] == pytest.approx(2 * s[0]) for s in seen)
    opt = torch.optim.SGD([{"params": [a], "lr": 1.0}, {"params": [b], "lr": 2.0}], lr=1.0)
    sched = optimizers.warmup_cosine(opt, 2, 0.1, 0.5, 0.2)
    seen = []
    for _ in range(3):
        seen.append(round(opt.param_groups[0]["lr"], 10))
        opt.step()
        sched.step()
    assert seen == [0.5, 1.0, 0.2]


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.token_emb = nn.Embedding(4, 3)
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3))])
        self.head = nn.Linear(3, 4, bias=False)
        self.head.weight = self.token_emb.weight
        self.frozen = nn.Parameter(torch.zeros(2), requires_grad=False)


def test_recipes_build_the_documented_optimizers():
    model = _Tiny()
    opt, sched = optimizers.OPTIMIZERS.build("sgd", model, 7, lr=0.5, weight_decay=0.25)
    assert type(opt) is torch.optim.SGD and type(sched) is torch.optim.lr_scheduler.CosineAnnealingLR
    assert sched.T_max == 7 and opt.defaults["foreach"] is True
    assert (opt.defaults["lr"], opt.defaults["weight_decay"], opt.defaults["momentum"]) == (0.5, 0.25, 0)
    assert len(opt.param_groups[0]["params"]) == len(list(model.parameters()))
    opt, _ = optimizers.build_optimizer("sgd", model, 7)
    assert (opt.defaults["lr"], opt.defaults["weight_decay"]) == (6e-3, 0.0)
    opt, sched = optimizers.build_optimizer("adamw", model, 10, weight_decay=0.0)
    assert type(opt) is torch.optim.AdamW and type(sched) is torch.optim.lr_scheduler.SequentialLR
    assert {k: opt.defaults[k] for k in ("lr", "betas", "eps", "weight_decay", "fused")} == {
        "lr": 3e-4, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "fused": True}
    opt, sched = optimizers.build_optimizer("muon", model, 10, lr=0.01)
    orthogonal, adaptive = opt.members
    assert type(opt) is optimizers.OptimizerGroup and type(sched) is optimizers.ScheduleGroup
    assert type(orthogonal) is torch.optim.Muon and type(adaptive) is torch.optim.AdamW
    assert orthogonal.defaults["adjust_lr_fn"] == "match_rms_adamw"
    assert (orthogonal.defaults["lr"], orthogonal.defaults["weight_decay"]) == (0.01, 0.1)
    assert (adaptive.defaults["lr"], adaptive.defaults["weight_decay"], adaptive.defaults["fused"]) == (0.01, 0.1, True)
    assert [id(p) for p in orthogonal.param_groups[0]["params"]] == [id(model.blocks[0][0].weight)]
    assert len(opt.param_groups) == 2 and len(sched.members) == 2


def test_parameter_splits():
    model = _Tiny()
    inside, rest = optimizers.block_matrices(model)
    assert [id(p) for p in inside] == [id(model.blocks[0][0].weight)]
    assert [id(p) for p in rest] == [id(p) for p in (model.token_emb.weight, model.blocks[0][0].bias,
                                                     model.blocks[0][1].weight, model.blocks[0][1].bias)]
    decay, no_decay = optimizers.decay_groups(model, 0.3)
    assert decay["weight_decay"] == 0.3 and no_decay["weight_decay"] == 0.0
    assert [id(p) for p in decay["params"]] == [id(model.blocks[0][0].weight)]
    assert [id(p) for p in no_decay["params"]] == [id(p) for p in rest]


def test_recipe_defaults_and_their_errors():
    assert optimizers.recipe_defaults("sgd") == {"lr": 6e-3, "weight_decay": 0.0}
    assert optimizers.recipe_defaults("adamw") == {"lr": 3e-4, "weight_decay": 0.1}
    assert optimizers.recipe_defaults("muon") == {"lr": 3e-4, "weight_decay": 0.1}
    reg = optimizers.OPTIMIZERS
    reg._factories["_nolr"] = lambda model, max_steps, weight_decay=0.0: None
    reg._factories["_nowd"] = lambda model, max_steps, lr=1.0, weight_decay=optimizers.inspect.Parameter.empty: None
    try:
        assert _error(optimizers.recipe_defaults, "_nolr") == (
            "optimizer recipe '_nolr' must take lr=<its default> as a keyword argument")
        assert _error(optimizers.recipe_defaults, "_nowd") == (
            "optimizer recipe '_nowd' must take weight_decay=<its default> as a keyword argument")
    finally:
        del reg._factories["_nolr"], reg._factories["_nowd"]


def test_stepped_together_state_and_groups():
    class Member:
        def __init__(self, n):
            self.n, self.steps, self.loaded, self.param_groups, self.zeroed = n, 0, None, [{"n": n}], []

        def step(self):
            self.steps += 1

        def state_dict(self):
            return {"n": self.n}

        def load_state_dict(self, state):
            self.loaded = state

        def zero_grad(self, set_to_none=True):
            self.zeroed.append(set_to_none)

    one, two = Member(1), Member(2)
    group = optimizers.OptimizerGroup([one, two])
    group.step()
    assert (one.steps, two.steps) == (1, 1)
    assert group.state_dict() == {"optimizers": [{"n": 1}, {"n": 2}]}
    group.load_state_dict({"optimizers": [{"a": 1}, {"b": 2}]})
    assert (one.loaded, two.loaded) == ({"a": 1}, {"b": 2})
    assert group.param_groups == [{"n": 1}, {"n": 2}]
    group.zero_grad()
    group.zero_grad(set_to_none=False)
    assert one.zeroed == two.zeroed == [True, False]
    assert optimizers.ScheduleGroup([one]).state_dict() == {"schedulers": [{"n": 1}]}
    assert optimizers.SteppedTogether([one]).state_dict() == {"members": [{"n": 1}]}
