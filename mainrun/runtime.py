"""Process-level settings that decide whether a CPU step is spent on matmuls or on the kernel.

glibc serves every allocation above 32 MiB with a fresh mmap and unmaps it on free. A training step
at the reference scale allocates several such tensors (MLP activations, attention scores, logits),
so each step re-faults hundreds of megabytes of zeroed pages: measured here, a 512 MiB zero-fill
took over a second, almost all of it page faults. Keeping freed memory in the heap makes the
second step onwards reuse warm pages.
"""
from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_INT_MAX = 2**31 - 1
_tuned = False


def _set_malloc(mmap_max: int, trim_threshold: int) -> bool:
    """Set glibc's mmap and trim limits; False where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, say): nothing to tune
        return False
    return bool(mallopt(_M_MMAP_MAX, mmap_max)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))


def keep_freed_memory_mapped() -> bool:
    """Tell glibc malloc never to mmap large blocks nor trim the heap. Returns whether it applied."""
    global _tuned
    if not _tuned:
        _tuned = _set_malloc(mmap_max=0, trim_threshold=_INT_MAX)
    return _tuned


def restore_default_allocator() -> None:
    """glibc's defaults (mmap above the dynamic threshold, trim at 128 KiB): what the reference runs
    with. For side-by-side measurements only."""
    global _tuned
    _set_malloc(mmap_max=65536, trim_threshold=128 * 1024)
    _tuned = False
