"""mainrun/config.py pinned whole: every setting's table row, every check's exact message and boundary,
the presets, the resolved defaults, the peak lr under each scaling and the flat form."""
import pytest

from mainrun.config import (AXIS_SETTINGS, CONTEXT_SETTINGS, DEVICE, LR_SCALINGS, MIN_VOCAB, NON_NEGATIVE,
                            OPEN_FRACTION, POSITIVE, PROBABILITY, SCALES, SETTINGS, VOCABULARY, Check, RunContext,
                            TrainConfig, one_of, setting_named)
from mainrun.errors import ConfigError
from mainrun.variant import Variant

EXPECTED_SETTINGS = {
    'source': ('data', str, 'auto', 'data', False, True,
               'auto (default), hub, embedded, or a .txt/.csv/.json/.jsonl/.parquet file or folder'),
    'num_titles': ('data', int, 100000, 'num-titles', True, True, 'titles taken from the source'),
    'val_frac': ('data', float, 0.1, 'val-frac', True, True, 'share of the titles held out for validation'),
    'vocab_size': ('data', int, 16000, 'vocab-size', True, True, 'BPE vocabulary size'),
    'block_size': ('model', int, 128, 'block-size', True, True, 'tokens per training row'),
    'n_layer': ('model', int, 6, 'n-layer', True, True, 'transformer blocks'),
    'n_head': ('model', int, 8, 'n-head', True, True, 'attention heads'),
    'd_model': ('model', int, 512, 'd-model', True, True, 'model width'),
    'dropout': ('model', float, 0.1, 'dropout', True, True, 'dropout probability'),
    'attention': ('model', str, 'sdpa', 'attention', False, True,
                  'sdpa (default, fused) or reference (bit-exact dropout stream)'),
    'lr': ('optim', float, None, 'lr', True, True, "peak learning rate (default: the optimizer recipe's)"),
    'weight_decay': ('optim', float, None, 'weight-decay', True, True,
                     "weight decay (default: the optimizer recipe's)"),
    'lr_scaling': ('optim', str, 'none', 'lr-scaling', False, True,
                   "scale the peak lr with batch-size / the preset's: none (default), linear, sqrt"),
    'batch_size': ('training', int, 64, 'batch-size', True, True, 'rows per optimizer step'),
    'grad_accum': ('training', int, 1, 'grad-accum', True, True,
                   'micro-batches per optimizer step: the same step with 1/K of the activations'),
    'epochs': ('training', int, 7, 'epochs', True, True, 'passes over the train split'),
    'max_steps': ('training', int, None, 'max-steps', True, True,
                  'stop (and schedule) over N steps instead of epochs x batches'),
    'budget': ('training', float, 1.0, 'budget', True, True,
               "train for this multiple of the run's steps (epochs x batches, or --max-steps), the schedule "
               "spanning them: the token budgets --speedup trains the reference at"),
    'evals_per_epoch': ('training', int, 3, 'evals-per-epoch', True, True,
                        'validations per epoch (and at step 1 and the end)'),
    'seed': ('training', int, 1337, 'seed', False, True, 'the seed of the split, the tokenizer, the weights and dropout'),
    'precision': ('training', str, 'fp32', 'precision', False, True,
                  'fp32 (default), tf32, bf16 (autocast); CUDA only beyond fp32'),
}

EXPECTED_CONTEXT = {
    'device': ('context', str, 'auto', 'device', False, True, 'auto, cpu, cuda, cuda:N (default auto)'),
    'threads': ('context', int, None, 'threads', False, True,
                "torch threads (default: torch's, or one per core shared out between the runner's workers)"),
    'cache_dir': ('context', str, None, 'cache-dir', False, True,
                  'tokenizer/ids cache (default $MAINRUN_CACHE or ~/.cache/mainrun)'),
    'checkpoint_every': ('context', int, 1, 'checkpoint-every', False, True,
                         'write the resume checkpoint at every K-th evaluation (default 1; 0: never, so a killed run '
                         'starts over); best.pt is written with each and at the end'),
    'log_file': ('context', str, None, 'log-file', False, False, 'JSONL log in the reference format'),
    'checkpoint_dir': ('context', str, None, 'checkpoint-dir', False, False,
                       'checkpoint.pt at evaluations, best.pt at the best'),
    'resume': ('context', bool, False, 'resume', False, False, 'continue from checkpoint_dir/checkpoint.pt'),
    'tensorboard_dir': ('context', str, None, 'tensorboard-dir', False, False,
                        'TensorBoard events: train loss, lr, validation metrics, tokens/s'),
}


def _rows(settings):
    return {name: (s.section, s.type, s.default, s.flag, s.axis, s.command_line, s.help) for name, s in settings.items()}


def test_every_setting_row_is_pinned():
    assert _rows(SETTINGS) == EXPECTED_SETTINGS
    assert list(SETTINGS) == list(EXPECTED_SETTINGS)
    assert _rows(CONTEXT_SETTINGS) == EXPECTED_CONTEXT
    assert all(SETTINGS[name].name == name for name in SETTINGS)
    assert AXIS_SETTINGS == ('num_titles', 'val_frac', 'vocab_size', 'block_size', 'n_layer', 'n_head', 'd_model',
                             'dropout', 'lr', 'weight_decay', 'batch_size', 'grad_accum', 'epochs', 'max_steps',
                             'budget', 'evals_per_epoch')


def _message(check, flag, value):
    with pytest.raises(ConfigError) as caught:
        check(flag, value)
    return str(caught.value)


def test_each_check_its_boundary_and_its_exact_message():
    assert MIN_VOCAB == 259
    for check in (POSITIVE, NON_NEGATIVE, OPEN_FRACTION, PROBABILITY, VOCABULARY, DEVICE):
        check("x", None)  # nothing to check
    POSITIVE("n", 1)
    assert _message(POSITIVE, "n", 0) == "--n must be positive, got 0"
    NON_NEGATIVE("w", 0)
    assert _message(NON_NEGATIVE, "w", -1) == "--w must be >= 0, got -1"
    OPEN_FRACTION("f", 0.5)
    assert _message(OPEN_FRACTION, "f", 0.0) == "--f must be in (0, 1), got 0.0"
    assert _message(OPEN_FRACTION, "f", 1.0) == "--f must be in (0, 1), got 1.0"
    PROBABILITY("p", 0.0)
    PROBABILITY("p", 0.5)
    assert _message(PROBABILITY, "p", 1.0) == "--p must be in [0, 1), got 1.0"
    assert _message(PROBABILITY, "p", -0.1) == "--p must be in [0, 1), got -0.1"
    VOCABULARY("vocab-size", 259)
    assert _message(VOCABULARY, "vocab-size", 258) == (
        "--vocab-size 258 is smaller than the byte alphabet plus specials (259)")
    for device in ("auto", "cpu", "cuda", "cuda:1"):
        DEVICE("device", device)
    assert _message(DEVICE, "device", "cudax") == "unknown device 'cudax'; valid: auto, cpu, cuda, cuda:N"
    assert _message(DEVICE, "device", "gpu") == "unknown device 'gpu'; valid: auto, cpu, cuda, cuda:N"
    choice = one_of("colour", ("red", "blue"))
    choice("c", "red")
    assert _message(choice, "c", "green") == "unknown colour 'green'; valid: red, blue"
    assert Check(lambda v: False, "{flag}|{value}")("f", None) is None


def test_setting_parse_and_lookup():
    assert SETTINGS["batch_size"].parse(" 32 ") == 32
    assert SETTINGS["lr"].parse("1e-3") == 0.001
    with pytest.raises(ConfigError) as caught:
        SETTINGS["epochs"].parse(" 2.5 ")
    assert str(caught.value) == "bad value '2.5' for epochs: expected an integer"
    with pytest.raises(ConfigError) as caught:
        SETTINGS["weight_decay"].parse("much")
    assert str(caught.value) == "bad value 'much' for weight-decay: expected a number"
    assert setting_named(" n-layer ") is SETTINGS["n_layer"]
    assert setting_named("no-such") is None
    SETTINGS["lr"].validate(None)
    with pytest.raises(ConfigError) as caught:
        SETTINGS["val_frac"].validate(1.5)
    assert str(caught.value) == "--val-frac must be in (0, 1), got 1.5"
    SETTINGS["source"].validate("anything")  # no check


def test_presets_are_pinned():
    assert SCALES == {
        "mainrun": {},
        "cpu": dict(num_titles=20_000, vocab_size=2_000, block_size=64, batch_size=32, n_layer=2, n_head=4,
                    d_model=128, epochs=1),
        "tiny": dict(num_titles=2_000, vocab_size=300, block_size=32, batch_size=8, n_layer=1, n_head=2,
                     d_model=32, epochs=1, evals_per_epoch=2),
    }
    tiny = TrainConfig.from_scale("tiny", lr=1e-3)
    assert tiny.flat() == {
        'scale': 'tiny', 'variant': 'norm=layernorm,pos=learned,init=default,opt=sgd', 'data': 'auto',
        'num_titles': 2000, 'val_frac': 0.1, 'vocab_size': 300, 'block_size': 32, 'n_layer': 1, 'n_head': 2,
        'd_model': 32, 'dropout': 0.1, 'attention': 'sdpa', 'lr': 0.001, 'weight_decay': None, 'lr_scaling': 'none',
        'batch_size': 8, 'grad_accum': 1, 'epochs': 1, 'max_steps': None, 'budget': 1.0, 'evals_per_epoch': 2,
        'seed': 1337, 'precision': 'fp32'}
    assert TrainConfig.from_scale("tiny", batch_size=16).training.batch_size == 16  # a value beats the preset
    assert TrainConfig.from_scale("mainrun") == TrainConfig()
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_scale("huge")
    assert str(caught.value) == "unknown scale 'huge'; valid: mainrun, cpu, tiny"


def test_from_scale_validates_and_keeps_the_variant():
    variant = Variant.parse("norm=rmsnorm")
    assert TrainConfig.from_scale("tiny", variant=variant).variant == variant
    assert TrainConfig.from_scale("tiny", variant=None).variant == Variant()
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_scale("tiny", epochs=0)
    assert str(caught.value) == "--epochs must be positive, got 0"


def test_validate_cross_checks_with_exact_messages():
    def error(**values):
        with pytest.raises(ConfigError) as caught:
            TrainConfig.from_scale("tiny", **values)
        return str(caught.value)

    assert error(d_model=30, n_head=4) == "--d-model 30 is not divisible by --n-head 4"
    TrainConfig.from_scale("tiny", d_model=30, n_head=2)  # head dim 15, fine without rope
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_scale("tiny", variant=Variant.parse("pos=rope"), d_model=30, n_head=2)
    assert str(caught.value) == "rope needs an even head dimension, got 15"
    TrainConfig.from_scale("tiny", variant=Variant.parse("pos=rope"), d_model=32, n_head=2)
    assert error(batch_size=8, grad_accum=3) == "--grad-accum 3 must be positive and divide --batch-size 8"
    assert TrainConfig.from_scale("tiny", batch_size=8, grad_accum=4).training.grad_accum == 4


def test_with_values_and_get():
    cfg = TrainConfig.from_scale("tiny")
    with pytest.raises(ConfigError) as caught:
        cfg.with_values(zeta=1, alpha=2, lr=1.0)
    assert str(caught.value) == "unknown training option(s): alpha, zeta"
    changed = cfg.with_values(lr=2.0, dropout=0.0, source="embedded", variant=Variant.parse("mlp=swiglu"))
    assert (changed.optim.lr, changed.model.dropout, changed.data.source, changed.variant.mlp) == (
        2.0, 0.0, "embedded", "swiglu")
    assert changed.get("lr") == 2.0 and changed.get("source") == "embedded"
    assert cfg.with_values(lr=2.0).variant == cfg.variant
    assert changed.with_values().model == changed.model


def test_resolved_preset_batch_and_peak_lr():
    sgd = TrainConfig.from_scale("tiny")
    assert (sgd.resolved().optim.lr, sgd.resolved().optim.weight_decay) == (6e-3, 0.0)
    adamw = TrainConfig.from_scale("tiny", variant=Variant.parse("opt=adamw"), weight_decay=0.5)
    assert (adamw.resolved().optim.lr, adamw.resolved().optim.weight_decay) == (3e-4, 0.5)
    assert adamw.resolved().resolved() == adamw.resolved()
    assert sgd.preset_batch_size == 8
    assert TrainConfig().preset_batch_size == 64
    assert TrainConfig(scale="custom").preset_batch_size == 64
    assert {k: LR_SCALINGS[k](4.0) for k in LR_SCALINGS} == {"none": 1.0, "linear": 4.0, "sqrt": 2.0}
    base = TrainConfig.from_scale("tiny", batch_size=32, lr=1e-3)
    assert base.peak_lr == 1e-3
    assert base.with_values(lr_scaling="linear").peak_lr == pytest.approx(4e-3)
    assert base.with_values(lr_scaling="sqrt").peak_lr == pytest.approx(2e-3)
    assert TrainConfig.from_scale("tiny", lr_scaling="linear", batch_size=4).peak_lr == pytest.approx(3e-3)


def test_flat_round_trip_and_older_keys():
    cfg = TrainConfig.from_scale("cpu", variant=Variant.parse("norm=rmsnorm"), source="embedded", lr=1e-3)
    flat = cfg.flat()
    assert flat["data"] == "embedded" and flat["variant"] == "norm=rmsnorm,pos=learned,init=default,opt=sgd"
    assert TrainConfig.from_flat(flat) == cfg
    assert TrainConfig.from_flat({**flat, "device": "cpu"}) == cfg
    bare = TrainConfig.from_flat({})
    assert bare == TrainConfig()


def test_run_context_validate_messages():
    RunContext().validate()
    RunContext(device="cuda:0", threads=1, checkpoint_every=0).validate()
    with pytest.raises(ConfigError) as caught:
        RunContext(threads=0).validate()
    assert str(caught.value) == "--threads must be positive, got 0"
    with pytest.raises(ConfigError) as caught:
        RunContext(device="tpu").validate()
    assert str(caught.value) == "unknown device 'tpu'; valid: auto, cpu, cuda, cuda:N"
    with pytest.raises(ConfigError) as caught:
        RunContext(checkpoint_every=-1).validate()
    assert str(caught.value) == "--checkpoint-every must be >= 0 (0: no resume checkpoints), got -1"
