"""Parity with the reference program: the figures of section 7 of MAINRUN_REFERENCE.md."""
import pytest
import torch

from mainrun.config import RunContext, TrainConfig
from mainrun.jsonlog import read_jsonl
from mainrun.model import GPT, GPTConfig
from mainrun.train import train

# (vocab, n_layer, n_head, d_model) -> params, token_emb sum, sum of squares, first qkv sum, eval loss
SEEDED_INIT = {
    (16000, 6, 8, 512): (27_172_864, 30.9960464648, 3277.3894936353, 6.0119598902, 9.88189507),
    (512, 2, 4, 64): (141_056, 4.3603017655, 13.0556099507, -1.3514829764, 6.25639725),
}


@pytest.mark.parametrize("shape", list(SEEDED_INIT), ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("attention", ["reference", "sdpa"])
def test_seeded_init_matches_reference(shape, attention):
    vocab, n_layer, n_head, d_model = shape
    params, emb_sum, emb_sq, qkv_sum, eval_loss = SEEDED_INIT[shape]
    torch.manual_seed(1337)
    model = GPT(GPTConfig(vocab_size=vocab, block_size=128, n_layer=n_layer, n_head=n_head,
                            d_model=d_model, dropout=0.1, attention=attention))
    emb = model.token_emb.weight.detach().double()
    assert model.num_params() == params
    assert emb.sum().item() == pytest.approx(emb_sum, rel=1e-6)
    assert (emb**2).sum().item() == pytest.approx(emb_sq, rel=1e-6)
    assert model.blocks[0].attn.qkv.weight.detach().double().sum().item() == pytest.approx(qkv_sum, rel=1e-6)
    assert model.head.weight is model.token_emb.weight

    x = (torch.arange(32).view(2, 16) * 7919) % vocab
    y = (torch.arange(32).view(2, 16) * 104729 + 1) % vocab
    model.eval()
    with torch.no_grad():
        assert model.loss(x, y).item() == pytest.approx(eval_loss, abs=1e-5)


def test_first_embedding_values_match_reference():
    torch.manual_seed(1337)
    model = GPT(GPTConfig())
    first = model.token_emb.weight.detach().flatten()[:3].tolist()
    assert first == pytest.approx([-0.022842619568, -0.023572089151, 0.006516719703], abs=1e-11)


# Section 7, end to end on the shared HN titles: step -> val loss, for dropout 0.0 and 0.1.
END_TO_END = {
    0.0: {1: 2.4916443866512243, 109: 2.427080139314758, 218: 2.3990906941574455,
          327: 2.3945253219709595, 329: 2.394525274234269},
    0.1: {1: 2.4916868940044106, 109: 2.429169478791717, 218: 2.40144975895575,
          327: 2.396868976497578, 329: 2.3968689287608873},
}


def end_to_end(hn_titles, tmp_path, dropout, attention):
    cfg = TrainConfig().with_values(source=str(hn_titles), num_titles=20_000, val_frac=0.1, vocab_size=2_000,
                                    n_layer=2, n_head=4, d_model=64, block_size=64, batch_size=16, epochs=1,
                                    evals_per_epoch=3, lr=6e-3, seed=1337, dropout=dropout, attention=attention)
    result = train(cfg, RunContext(device="cpu", log_file=str(tmp_path / "log.jsonl")), progress=False)
    return result, read_jsonl(tmp_path / "log.jsonl")


@pytest.mark.slow
@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_end_to_end_reference_attention_reproduces_reference_losses(hn_titles, tmp_path, dropout):
    result, log = end_to_end(hn_titles, tmp_path, dropout, "reference")
    info = next(e for e in log if e["event"] == "dataset_info")
    assert (info["titles_count"], info["batches_per_epoch"], info["tokens_per_epoch"]) == (18_000, 329, 337_884)
    assert next(e for e in log if e["event"] == "model_info")["parameters_count"] == 232_192
    validation = {e["step"]: e["loss"] for e in log if e["event"] == "validation_step"}
    assert list(validation) == list(END_TO_END[dropout])
    for step, expected in END_TO_END[dropout].items():
        assert validation[step] == pytest.approx(expected, abs=1e-6), step
    assert result.val_loss == validation[329]


@pytest.mark.slow
def test_end_to_end_fused_attention_stays_within_1e5(hn_titles, tmp_path):
    _, log = end_to_end(hn_titles, tmp_path, 0.0, "sdpa")
    validation = {e["step"]: e["loss"] for e in log if e["event"] == "validation_step"}
    for step, expected in END_TO_END[0.0].items():
        assert validation[step] == pytest.approx(expected, abs=1e-5), step
