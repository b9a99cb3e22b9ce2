"""scripts/lr_transfer.py: each width's best lr, per parametrization, from a results folder."""
import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "lr_transfer.py"


def test_each_widths_best_lr_is_the_lowest_mean_loss_over_finished_seeds(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("lr_transfer", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cells = [("mup", 64, 1e-3, 2.0, "ok"), ("mup", 64, 3e-3, 1.9, "ok"), ("mup", 64, 3e-3, 2.5, "ok"),
             ("standard", 64, 1e-3, 2.1, "ok"), ("standard", 64, 3e-3, 1.0, "diverged")]
    for i, (param, width, lr, loss, status) in enumerate(cells):
        cell = tmp_path / "cells" / str(i)
        cell.mkdir(parents=True)
        (cell / "record.json").write_text(json.dumps({"param": param, "d_model": width, "lr": lr, "val_loss": loss,
                                                      "status": status}))
    table = module.losses(tmp_path)
    assert table == {"mup": {64: {1e-3: 2.0, 3e-3: 2.2}}, "standard": {64: {1e-3: 2.1}}}
    assert module.best_lrs(table) == [["mup", 64, "0.001", "2.0000"], ["standard", 64, "0.001", "2.1000"]]
    assert module.main([str(tmp_path / "empty")]) == 2
