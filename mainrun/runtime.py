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


def keep_freed_memory_mapped() -> bool:
    """Tell glibc malloc never to mmap large blocks nor trim the heap. Returns whether it applied."""
    global _tuned
    if _tuned:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, say): nothing to tune
        return False
    _tuned = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _INT_MAX))
    return _tuned
