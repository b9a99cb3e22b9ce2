"""Each component in isolation at the `cpu` preset shape, so the cost of a swap is visible without
the matmuls around it: every norm, every position scheme (embed + rotate, as the model calls them),
one optimizer step plus schedule step per recipe, every feed-forward block, and the attention layer
with every mask and every q/k norm. Parametrized from the registries."""
import pytest
import torch

from benchmarks.common import BASELINE, SHAPE, describe, seeded
from mainrun.components import MASKS, MLPS, NORMS, OPTIMIZERS, POSITIONS, QKNORMS
from mainrun.variant import Variant
from mainrun.components.optimizers import build_optimizer
from mainrun.model import GPT, CausalSelfAttention, GPTConfig

pytestmark = pytest.mark.benchmark(warmup=True, warmup_iterations=3, min_rounds=20)

B, T, D, H = SHAPE["batch"], SHAPE["block"], SHAPE["d_model"], SHAPE["n_head"]
ACTIVATIONS = dict(batch=B, block=T, d_model=D, n_head=H)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ----- norms: one (B, T, d) activation, as every block normalises it


@pytest.mark.parametrize("name", NORMS.names())
def test_norm_forward(benchmark, name):
    norm = NORMS.get(name)(D)
    x = seeded((B, T, D))
    describe(benchmark, group="norm: forward", label=name, baseline=name == BASELINE.norm,
             params=n_params(norm), shape=ACTIVATIONS)

    def forward():
        with torch.no_grad():
            return norm(x)

    assert benchmark(forward).shape == x.shape


def time_activation_forward_backward(benchmark, module: torch.nn.Module, group: str, label: str,
                                     baseline: bool) -> None:
    """Forward and backward of a (B, T, d) -> (B, T, d) module on one activation, as every block runs it."""
    x = seeded((B, T, D), requires_grad=True)
    upstream = seeded((B, T, D), seed=1)
    describe(benchmark, group=group, label=label, baseline=baseline, params=n_params(module), shape=ACTIVATIONS)

    def forward_backward():
        x.grad = None
        module(x).backward(upstream)

    benchmark(forward_backward)
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", NORMS.names())
def test_norm_forward_backward(benchmark, name):
    time_activation_forward_backward(benchmark, NORMS.get(name)(D), "norm: forward+backward", name,
                                     name == BASELINE.norm)


# ----- positions: embed on the token embeddings, rotate on q and k taken from a qkv activation
# exactly as the attention layer takes them (strided views), once per layer's call


def positions_inputs(requires_grad: bool):
    x = seeded((B, T, D), requires_grad=requires_grad)
    qkv = seeded((B, T, 3 * D), seed=1, requires_grad=requires_grad)
    return x, qkv


def split_qk(qkv):
    q, k, _ = qkv.view(B, T, 3, H, D // H).transpose(1, 3).unbind(2)
    return q, k


@pytest.mark.parametrize("name", POSITIONS.names())
def test_positions_forward(benchmark, name):
    positions = POSITIONS.get(name)(T, D, H)
    x, qkv = positions_inputs(requires_grad=False)
    describe(benchmark, group="pos: forward (embed + rotate)", label=name, baseline=name == BASELINE.pos,
             params=n_params(positions), shape=ACTIVATIONS)

    def forward():
        with torch.no_grad():
            return positions.embed(x), *positions.rotate(*split_qk(qkv))

    embedded, q, k = benchmark(forward)
    assert embedded.shape == x.shape and q.shape == k.shape == (B, H, T, D // H)


@pytest.mark.parametrize("name", POSITIONS.names())
def test_positions_forward_backward(benchmark, name):
    positions = POSITIONS.get(name)(T, D, H)
    x, qkv = positions_inputs(requires_grad=True)
    upstream = [seeded((B, T, D), seed=2), seeded((B, H, T, D // H), seed=3), seeded((B, H, T, D // H), seed=4)]
    describe(benchmark, group="pos: forward+backward (embed + rotate)", label=name,
             baseline=name == BASELINE.pos, params=n_params(positions), shape=ACTIVATIONS)

    def forward_backward():
        x.grad = qkv.grad = None
        outputs = [positions.embed(x), *positions.rotate(*split_qk(qkv))]
        torch.autograd.backward(outputs, upstream)

    benchmark(forward_backward)
    assert x.grad is not None and qkv.grad is not None


# ----- optimizer recipes: one optimizer step and one schedule step over the baseline model


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_optimizer_step(benchmark, name):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=SHAPE["vocab"], block_size=T, n_layer=SHAPE["n_layer"], n_head=H,
                            d_model=D, dropout=SHAPE["dropout"]))
    for i, param in enumerate(model.parameters()):
        param.grad = seeded(param.shape, seed=i) * 1e-3
    # A long schedule, so the timed steps never run past its end.
    optimizer, scheduler = build_optimizer(name, model, 1_000_000)
    describe(benchmark, group="opt: step (optimizer + schedule)", label=name, baseline=name == BASELINE.opt,
             params=model.num_params(), shape=SHAPE)
    before = model.token_emb.weight.detach().clone()

    def step():
        optimizer.step()
        scheduler.step()

    benchmark(step)
    assert not torch.equal(model.token_emb.weight, before), "the step must update the weights"


# ----- feed-forward blocks: one (B, T, d) activation, as every block runs it


@pytest.mark.parametrize("name", MLPS.names())
def test_mlp_forward_backward(benchmark, name):
    torch.manual_seed(0)
    mlp = MLPS.get(name)(D, SHAPE["dropout"]).train()
    time_activation_forward_backward(benchmark, mlp, "mlp: forward+backward", name, name == BASELINE.mlp)


# ----- attention with each mask and each q/k norm: the whole attention layer, since an explicit
# mask can move SDPA off its causal fast path and that is the cost a mask really has


def attention_inputs():
    # Token ids with an <eos> (id 1) every 12 tokens, about the length of an HN title at vocab 2000.
    ids = torch.randint(3, SHAPE["vocab"], (B, T), generator=torch.Generator().manual_seed(0))
    ids[:, 11::12] = 1
    return ids, seeded((B, T, D), seed=2, requires_grad=True), seeded((B, T, D), seed=3)


def attention_layer(variant: Variant) -> tuple[GPT, CausalSelfAttention]:
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=SHAPE["vocab"], block_size=T, n_layer=1, n_head=H, d_model=D,
                            dropout=SHAPE["dropout"], variant=variant)).train()
    return model, model.blocks[0].attn


@pytest.mark.parametrize("name", MASKS.names())
def test_mask_attention_forward_backward(benchmark, name):
    model, attn = attention_layer(Variant(mask=name))
    ids, x, upstream = attention_inputs()
    describe(benchmark, group="mask: attention forward+backward (mask built per call)", label=name,
             baseline=name == BASELINE.mask, params=n_params(attn), shape=ACTIVATIONS)

    def forward_backward():
        x.grad = None
        attn(x, model.positions, model.mask(ids)).backward(upstream)

    benchmark(forward_backward)
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", QKNORMS.names())
def test_qknorm_attention_forward_backward(benchmark, name):
    model, attn = attention_layer(Variant(qknorm=name))
    _, x, upstream = attention_inputs()
    describe(benchmark, group="qknorm: attention forward+backward", label=name, baseline=name == BASELINE.qknorm,
             params=n_params(attn), shape=ACTIVATIONS)

    def forward_backward():
        x.grad = None
        attn(x, model.positions).backward(upstream)

    benchmark(forward_backward)
    assert x.grad is not None and torch.isfinite(x.grad).all()
