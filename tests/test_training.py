"""The reference reader (mainrun/training.py `get_batch`): spans of batch*block+1 tokens read in order,
x and y the span without its last and first token as (batch, block) rows, the pointer advanced by
batch*block (the span's last token starts the next one) and reset to 0 when the next span would reach
the end (MAINRUN_REFERENCE.md: `if ptr + span >= len(train_ids)`)."""
import torch

from mainrun.training import get_batch


def read(n_tokens: int, calls: int, block_size: int = 3, batch_size: int = 2):
    """`calls` batches of the token stream 0, 1, ..., n_tokens-1, as (x, y, next pointer) lists."""
    ids, ptr, out = torch.arange(n_tokens), 0, []
    for _ in range(calls):
        x, y, ptr = get_batch(ids, ptr, block_size, batch_size)
        out.append((x.tolist(), y.tolist(), ptr))
    return out


def test_batches_are_consecutive_rows_of_the_stream_and_the_pointer_resets_before_the_end():
    # block 3, batch 2: a span of 7 tokens, the pointer advancing by 6. With 20 tokens the span at 12
    # ends at token 18 (12 + 7 < 20) and is read; the one at 18 would reach the end, so it restarts at 0.
    assert read(20, 5) == [
        ([[0, 1, 2], [3, 4, 5]], [[1, 2, 3], [4, 5, 6]], 6),
        ([[6, 7, 8], [9, 10, 11]], [[7, 8, 9], [10, 11, 12]], 12),
        ([[12, 13, 14], [15, 16, 17]], [[13, 14, 15], [16, 17, 18]], 18),
        ([[0, 1, 2], [3, 4, 5]], [[1, 2, 3], [4, 5, 6]], 6),
        ([[6, 7, 8], [9, 10, 11]], [[7, 8, 9], [10, 11, 12]], 12),
    ]


def test_a_span_that_would_end_exactly_at_the_last_token_is_not_read():
    # 19 tokens: the span at 12 is tokens 12..18, the whole rest of the stream; the reference
    # resets there (12 + 7 >= 19) and never reads the stream's last token.
    assert read(19, 3) == [
        ([[0, 1, 2], [3, 4, 5]], [[1, 2, 3], [4, 5, 6]], 6),
        ([[6, 7, 8], [9, 10, 11]], [[7, 8, 9], [10, 11, 12]], 12),
        ([[0, 1, 2], [3, 4, 5]], [[1, 2, 3], [4, 5, 6]], 6),
    ]


def test_rows_are_batch_by_block_whichever_is_larger():
    x, y, ptr = get_batch(torch.arange(100), 10, block_size=2, batch_size=4)
    assert x.tolist() == [[10, 11], [12, 13], [14, 15], [16, 17]]
    assert y.tolist() == [[11, 12], [13, 14], [15, 16], [17, 18]]
    assert ptr == 18
    x, y, ptr = get_batch(torch.arange(100), 10, block_size=4, batch_size=2)
    assert x.tolist() == [[10, 11, 12, 13], [14, 15, 16, 17]]
    assert y.tolist() == [[11, 12, 13, 14], [15, 16, 17, 18]]
    assert ptr == 18
