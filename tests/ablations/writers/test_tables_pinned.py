"""results.csv and results.json (writers/tables.py) pinned whole for a small table: the header, the baseline flag,
blank cells where there is nothing, the status counts under CSV-safe names."""
import json
from types import SimpleNamespace

from ablations.analysis.summary import rows_of
from ablations.writers.tables import results_csv, results_json
from mainrun.variant import Variant

BASELINE, ADAMW, ROPE = Variant(), Variant(opt="adamw"), Variant(pos="rope")


def record(variant, seed, status="ok", loss=None):
    return {**variant.as_dict(), "variant": str(variant), "seed": seed, "status": status, "val_loss": loss,
            "val_loss_per_token": loss, "val_coverage": 0.97 if loss else None, "params": 100,
            "tokens_per_s": 1000.0, "wall_s": 2.0}


RECORDS = [record(BASELINE, 1337, loss=2.40), record(BASELINE, 1338, loss=2.50), record(ADAMW, 1337, loss=2.00),
           record(ADAMW, 1338, loss=2.20), record(ROPE, 1337, status="diverged")]


def summary(metric="val_loss"):
    return SimpleNamespace(rows=rows_of([BASELINE, ROPE, ADAMW], [1337, 1338], RECORDS), metric=metric,
                           records=RECORDS)


def test_results_csv_is_pinned_whole():
    assert results_csv(summary()) == (
        "baseline,norm,pos,init,opt,params,val_loss_mean,val_loss_sd,seeds_ok,delta_vs_baseline,delta_ci95_half_width,"
        "val_loss_per_token,val_coverage,tokens_per_s,wall_s,ok,diverged,failed,not_run\n"
        "False,layernorm,learned,default,adamw,100,2.1,0.14142135623730964,2,-0.34999999999999987,0.6353102368087353,"
        "2.1,0.97,1000.0,2.0,2,0,0,0\n"
        "True,layernorm,learned,default,sgd,100,2.45,0.07071067811865482,2,,,2.45,0.97,1000.0,2.0,2,0,0,0\n"
        "False,layernorm,rope,default,sgd,100,,,0,,,,,,,0,1,0,1\n")


def test_the_mean_column_is_named_by_the_metric():
    header = results_csv(summary("val_loss_full")).splitlines()[0].split(",")
    assert header[6:8] == ["val_loss_full_mean", "val_loss_full_sd"]


def test_results_json_is_every_record():
    assert json.loads(results_json(summary())) == RECORDS
