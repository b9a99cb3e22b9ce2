"""mainrun/evaluation.py, pinned: the exact windows each metric reads and the exact numbers it returns."""
import contextlib
import math

import pytest
import torch

from mainrun import evaluation
from mainrun.evaluation import FULL_EVAL_ROWS, Evaluation, eval_windows, evaluate, evaluate_full_sum, full_windows


def listed(windows):
    return [(x.tolist(), y.tolist()) for x, y in windows]


def test_eval_windows_are_whole_non_overlapping_spans_of_batch_times_block_plus_one():
    # span 2*3+1 = 7: windows at 0 and 7 of 16 tokens; the one at 14 would need 21
    assert listed(eval_windows(torch.arange(16), block_size=3, batch_size=2)) == [
        ([[0, 1, 2], [3, 4, 5]], [[1, 2, 3], [4, 5, 6]]),
        ([[7, 8, 9], [10, 11, 12]], [[8, 9, 10], [11, 12, 13]]),
    ]
    assert len(listed(eval_windows(torch.arange(14), 3, 2))) == 2  # a window ending on the last token counts
    assert len(listed(eval_windows(torch.arange(13), 3, 2))) == 1
    assert listed(eval_windows(torch.arange(6), 3, 2)) == []


def test_full_windows_are_rows_of_block_tokens_a_few_at_a_time_then_the_tail():
    assert listed(full_windows(torch.arange(12), block_size=3, rows=2)) == [
        ([[0, 1, 2], [3, 4, 5]], [[1, 2, 3], [4, 5, 6]]),
        ([[6, 7, 8]], [[7, 8, 9]]),
        ([[9, 10]], [[10, 11]]),
    ]
    assert listed(full_windows(torch.arange(7), block_size=3, rows=5)) == [
        ([[0, 1, 2], [3, 4, 5]], [[1, 2, 3], [4, 5, 6]])]
    assert listed(full_windows(torch.arange(3), block_size=4)) == [([[0, 1]], [[1, 2]])]
    assert FULL_EVAL_ROWS == 64
    assert [x.size(0) for x, _ in full_windows(torch.arange(2 * 64 * 2 + 2), block_size=2)] == [64, 64, 1]


def test_evaluation_defaults_leave_the_full_metrics_unknown():
    ev = Evaluation(1.0, 2.0, 0.5)
    assert (ev.loss, ev.loss_per_token, ev.coverage) == (1.0, 2.0, 0.5)
    assert math.isnan(ev.loss_full) and math.isnan(ev.bpb)


class FakeModel:
    """loss_sum: the sum of the target ids, so that every metric is a sum known by hand."""

    def __init__(self, training=True):
        self.training, self.seen, self.modes = training, [], []

    def eval(self):
        self.modes.append("eval")
        self.training = False
        return self

    def train(self, mode=True):
        self.modes.append(("train", mode))
        self.training = mode
        return self

    def loss_sum(self, x, y):
        assert not self.training
        self.seen.append((x.tolist(), y.tolist()))
        return float(y.sum())


def counting_autocast():
    entered = []

    @contextlib.contextmanager
    def autocast():
        entered.append(1)
        yield

    return autocast, entered


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_returns_the_reference_metric_and_restores_the_mode(training):
    model = FakeModel(training)
    autocast, entered = counting_autocast()
    ids = torch.arange(16)
    ev = evaluate(model, ids, val_chars=10, block_size=3, batch_size=2, autocast=autocast)
    total = sum(range(1, 7)) + sum(range(8, 14))  # 21 + 63
    assert ev.loss == total / 10 and ev.loss_per_token == total / 12 and ev.coverage == 12 / 16
    assert math.isnan(ev.loss_full) and math.isnan(ev.bpb)
    assert len(model.seen) == 2 and len(entered) == 2
    assert model.modes == ["eval", ("train", training)] and model.training is training


def test_evaluate_with_val_bytes_adds_the_full_coverage_sum_in_nats_and_bits():
    model = FakeModel()
    autocast, entered = counting_autocast()
    ids = torch.arange(10)
    ev = evaluate(model, ids, val_chars=4, block_size=4, batch_size=2, autocast=autocast, val_bytes=5)
    assert ev.loss == (sum(range(1, 9))) / 4 and ev.loss_per_token == 36 / 8 and ev.coverage == 8 / 10
    full = sum(range(1, 10))  # every token after the first: rows [0..3], [4..7], then the tail [8]
    assert ev.loss_full == full / 4
    assert ev.bpb == full / math.log(2) / 5
    assert len(entered) == 1 + 2  # one reference window, then one batch of rows and the tail
    assert model.training is True


def test_evaluate_with_no_whole_window_scores_nothing_but_does_not_divide_by_zero():
    model = FakeModel()
    ev = evaluate(model, torch.arange(5), val_chars=3, block_size=3, batch_size=2)
    assert (ev.loss, ev.loss_per_token, ev.coverage) == (0.0, 0.0, 0.0)


def test_evaluate_full_sum_sums_every_window_under_autocast():
    model = FakeModel(training=False)
    autocast, entered = counting_autocast()
    assert evaluate_full_sum(model, torch.arange(8), block_size=3, autocast=autocast) == sum(range(1, 8))
    assert model.seen == [([[0, 1, 2], [3, 4, 5]], [[1, 2, 3], [4, 5, 6]]), ([[6]], [[7]])]
    assert len(entered) == 2
    assert evaluate_full_sum(FakeModel(training=False), torch.arange(4), block_size=3) == 6.0


def test_evaluate_runs_without_gradients():
    class Grad(FakeModel):
        def loss_sum(self, x, y):
            assert not torch.is_grad_enabled()
            return 1.0

    evaluate(Grad(), torch.arange(16), 1, 3, 2, val_bytes=1)
    assert evaluation.evaluate_full_sum(Grad(training=False), torch.arange(8), 3) == 2.0


def test_evaluate_with_a_single_scored_token():
    ev = evaluate(FakeModel(), torch.tensor([4, 7]), val_chars=2, block_size=1, batch_size=1)
    assert (ev.loss, ev.loss_per_token, ev.coverage) == (3.5, 7.0, 0.5)
