"""The variant table from synthetic records: order, statuses, deltas and number formatting."""
import pytest

from ablations.analysis.effects import Estimate
from ablations.analysis.summary import rows_of
from ablations.writers.text import estimate_text
from ablations.writers.markdown import variant_table
from mainrun.variant import Variant

SEEDS = [1337, 1338]
BASELINE, ADAMW, ROPE = Variant(), Variant(opt="adamw"), Variant(pos="rope")


def record(variant, seed, status="ok", loss=None):
    return {**variant.as_dict(), "variant": str(variant), "seed": seed, "status": status, "val_loss": loss,
            "val_loss_per_token": loss, "val_coverage": 0.97 if loss else None, "params": 100,
            "tokens_per_s": 1000.0, "wall_s": 2.0}


def test_rows_are_sorted_by_loss_with_statuses_and_paired_deltas():
    records = [record(BASELINE, 1337, loss=2.40), record(BASELINE, 1338, loss=2.50),
               record(ADAMW, 1337, loss=2.00), record(ADAMW, 1338, loss=2.20),
               record(ROPE, 1337, status="diverged")]  # seed 1338 of rope has not run yet
    rows = rows_of([BASELINE, ROPE, ADAMW], SEEDS, records)
    assert [row.variant for row in rows] == [ADAMW, BASELINE, ROPE]  # no loss: last
    adamw, baseline, rope = rows
    assert adamw.mean("val_loss") == pytest.approx(2.1) and adamw.loss_sd == pytest.approx(0.1414, abs=1e-4)
    assert adamw.delta.value == pytest.approx(-0.35) and adamw.delta.n_seeds == 2  # differences -0.4, -0.3
    assert baseline.delta is None and rope.delta is None
    lines = variant_table(rows).splitlines()
    assert lines[2].split("|")[7].strip() == "2.1000 ± 0.1414 (n=2)"
    assert lines[3].startswith("| baseline ")
    assert lines[4].rstrip().endswith("| 1 diverged, 1 not run |")


@pytest.mark.parametrize("estimate, text", [
    (Estimate(-0.4254052, 0.0212694, 3), "-0.4254 ± 0.0213"),
    (Estimate(-0.0001002, 0.0000849, 3), "-0.000100 ± 0.000085"),  # narrow: two significant digits
    (Estimate(0.0123, None, 1), "+0.0123"),
])
def test_estimates_show_their_interval_to_two_significant_digits(estimate, text):
    assert estimate_text(estimate) == text


@pytest.mark.parametrize("folder", ["results-cpu-3seeds", "modern-cpu-3seeds", "tune-init-cpu", "sweep-cpu/stage1-lr",
                                    "sweep-cpu/stage4-batch-size", "sweep-cpu/final",
                                    "ladder-modern-tuned/rung3-d_model=128",
                                    "ladder-path/rung3-d_model=180-n_head=3-n_layer=3-block_size=48-batch_size=24-vocab_size=2208"
                                    "-num_titles=10259-epochs=2"])
def test_the_committed_real_results_still_render(tmp_path, folder):
    """Every real run in docs/ (the plan's grid predates setting axes and plugin families; the tuned and
    the sweep folders have their own sections) re-renders to the same results.md, csv and json."""
    import shutil
    from pathlib import Path

    from ablations.report import write_report

    docs = Path(__file__).resolve().parents[3] / "docs" / folder
    copy = tmp_path / "docs"
    shutil.copytree(docs, copy)
    text = write_report(copy, plot=False)
    committed = (docs / "results.md").read_text()
    assert text.split("## Plots")[0] == committed.split("## Plots")[0]
    for name in ("results.csv", "results.json"):
        assert (copy / name).read_text() == (docs / name).read_text()


def test_the_committed_path_ladder_still_renders(tmp_path):
    """The README's headline ladder re-renders from its rungs to the same ladder.md: its backtest, its
    chosen predictor and every prediction at the target."""
    import shutil
    from pathlib import Path

    from ablations.analysis.scaling import read_ladder
    from ablations.writers.ladder import write_ladder

    docs = Path(__file__).resolve().parents[3] / "docs" / "ladder-path"
    copy = tmp_path / "ladder"
    shutil.copytree(docs, copy)
    write_ladder(read_ladder(copy), False)  # no plot: the rest of the page is the same either way

    def text(folder):
        return [line for line in (folder / "ladder.md").read_text().splitlines() if line and not line.startswith("![")]
    assert text(copy) == text(docs)
    assert (copy / "ladder.json").read_text() == (docs / "ladder.json").read_text()
    assert "**The verdicts use largest rung**" in (copy / "ladder.md").read_text()


def cov_record(point_variant, seed, coverage, loss, full):
    r = record(point_variant, seed, loss=loss)
    r.update(val_coverage=coverage, val_loss_full=full, val_bpb=full / 2, bpb_separator_bytes=1)
    return r


def test_auto_metric_switches_to_full_coverage_when_cells_of_a_seed_differ():
    from ablations.analysis.metrics import choose_metric

    same = [cov_record(BASELINE, s, 0.93 + 0.01 * i, 2.0, 2.1) for i, s in enumerate(SEEDS)]  # differs by seed only
    assert choose_metric(same) == ("val_loss", "")
    mixed = same + [cov_record(ADAMW, 1337, 0.80, 1.8, 2.0)]
    metric, note = choose_metric(mixed)
    assert metric == "val_loss_full" and "80.0% to 94.0%" in note and "every val token once" in note
    assert choose_metric(mixed, "val_bpb") == ("val_bpb", "")
    five = mixed + [{**cov_record(ADAMW, 1338, 0.80, 1.8, 2.0), "bpb_separator_bytes": None}]
    with pytest.raises(Exception, match=r"^--metric val_bpb: some cells of this folder counted <eos> as five bytes "
                                        r"\(trained before 2026-11-28\); convert them with python "
                                        r"scripts/migrate_bpb.py FOLDER$"):
        choose_metric(five, "val_bpb")
    old = [record(BASELINE, 1337, loss=2.0), {**record(ADAMW, 1337, loss=1.0), "val_coverage": 0.5}]
    assert choose_metric(old)[0] == "val_loss"  # no val_loss_full to switch to: said in the note
    with pytest.raises(Exception, match="no val_loss_full"):
        choose_metric(old, "val_loss_full")


def test_what_choose_metric_says_when_it_cannot_compare_or_is_asked_for_the_unknown():
    from ablations.analysis.metrics import choose_metric
    from mainrun.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^unknown metric 'loss'; valid: auto, val_loss, val_loss_full, val_bpb$"):
        choose_metric([], "loss")
    old = [record(BASELINE, 1337, loss=2.0), {**record(ADAMW, 1337, loss=1.0), "val_coverage": 0.5}]
    assert choose_metric(old) == ("val_loss", "The cells differ in coverage, and some predate val_loss_full: the val "
                                              "loss column is not comparable across them.")
    with pytest.raises(ConfigError, match=r"^--metric val_loss_full: some cells of this folder have no val_loss_full "
                                          r"\(trained before it was recorded\); use val_loss$"):
        choose_metric(old, "val_loss_full")


def test_an_interval_at_floating_point_rounding_shows_eight_decimals_at_most():
    from ablations.analysis.effects import Estimate
    from ablations.writers.text import estimate_text

    assert estimate_text(Estimate(0.1, 7.1e-16, 3)) == "+0.10000000 ± 0.00000000"
    assert estimate_text(Estimate(-0.0001, 0.000085, 3)) == "-0.000100 ± 0.000085"


def test_the_data_is_named_by_its_file_never_the_absolute_path_of_the_machine_that_ran_it(tmp_path):
    from ablations.writers.text import data_name, data_text

    run = {"data": "file:/work/shared/data/hn_titles.txt", "fingerprint": "file-abc"}
    assert data_name(run, tmp_path) == "hn_titles.txt"
    assert data_text(run, tmp_path) == "hn_titles.txt (fingerprint file-abc)"
    inside = {"data": f"file:{tmp_path.resolve()}/data/titles.txt"}
    assert data_name(inside, tmp_path) == "data/titles.txt"
    assert data_name({"data": "embedded"}, tmp_path) == "the embedded synthetic corpus"
