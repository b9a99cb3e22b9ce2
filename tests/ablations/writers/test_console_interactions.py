"""What the console lists as interactions (ablations/writers/console.py): only those beyond noise."""
from ablations import run
from ablations.analysis.effects import ALPHA
from ablations.analysis.summary import summarise
from mainrun.config import TrainConfig
from tests.ablations.synthetic import install

SEED_SHIFT = {1337: 0.0, 1338: 0.013, 1339: -0.007}
WOBBLE = {1337: 0.0, 1338: 1e-5, 1339: -1e-5}


def negligible_interaction(cfg: TrainConfig) -> float:
    """adamw and rope each help beyond noise; together 0.002 less than they add up to (an interaction of
    0.001, inside the ±0.003 margin), with almost no seed-to-seed noise in it (so its p is tiny)."""
    adamw, rope = cfg.variant.opt == "adamw", cfg.variant.pos == "rope"
    return (3.0 - 0.4 * adamw - 0.2 * rope + (0.002 + WOBBLE[cfg.training.seed]) * (adamw and rope)
            + SEED_SHIFT[cfg.training.seed])


def test_a_negligible_interaction_is_not_listed_beyond_noise_however_small_its_p(tmp_path, monkeypatch, capsys):
    install(monkeypatch, negligible_interaction)
    out = tmp_path / "grid"
    assert run.main(["--axes", "opt=sgd,adamw", "pos=learned,rope", "--seeds", "3", "--scale", "tiny", "--data",
                     "embedded", "--no-plot", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    summary = summarise(out)
    [interaction] = [e for e in summary.effects if e.order == 2]
    assert interaction.estimate.p_adjusted < ALPHA and summary.verdict(interaction).startswith("negligible")
    assert "What mattered" in printed
    assert "interactions beyond noise" not in printed, "a negligible interaction is listed as beyond noise"
