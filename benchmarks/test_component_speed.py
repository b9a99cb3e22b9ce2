"""Each component in isolation at the `cpu` preset shape, so the cost of a swap is visible without
the matmuls around it: every norm, every position scheme (embed + rotate, as the model calls them),
and one optimizer step plus schedule step per recipe. Parametrized from the registries."""
import pytest
import torch

from benchmarks.common import BASELINE, SHAPE, describe, seeded
from mainrun.components import NORMS, OPTIMIZERS, POSITIONS
from mainrun.components.optimizers import build_optimizer
from mainrun.model import GPT, ModelConfig

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


@pytest.mark.parametrize("name", NORMS.names())
def test_norm_forward_backward(benchmark, name):
    norm = NORMS.get(name)(D)
    x = seeded((B, T, D), requires_grad=True)
    upstream = seeded((B, T, D), seed=1)
    describe(benchmark, group="norm: forward+backward", label=name, baseline=name == BASELINE.norm,
             params=n_params(norm), shape=ACTIVATIONS)

    def forward_backward():
        x.grad = None
        norm(x).backward(upstream)

    benchmark(forward_backward)
    assert x.grad is not None and torch.isfinite(x.grad).all()


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
    model = GPT(ModelConfig(vocab_size=SHAPE["vocab"], block_size=T, n_layer=SHAPE["n_layer"], n_head=H,
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
