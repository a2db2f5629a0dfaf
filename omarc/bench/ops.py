"""Count the tensor operations a call dispatches and the ones that read a value back to the host.

On an accelerator every operation is a kernel launch (a few µs each) and every read waits for the
device to drain its queue, so these two numbers set a compressor's fixed cost there whatever the
input size; on any device they show whether a cost grows with the number of frames.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

#: Operations whose result size or value the host must know: ``.item()``/``int()``, ``nonzero``, ``unique``.
HOST_READS = ("aten._local_scalar_dense", "aten.nonzero", "aten._unique2", "aten.masked_select")


def _bool_index(name: str, args: tuple) -> bool:
    """``x[mask]`` / ``x[mask] = v``: indexing with a boolean tensor needs its True count on the host."""
    if not name.startswith(("aten.index.", "aten.index_put")) or len(args) < 2 or not isinstance(args[1], (list, tuple)):
        return False
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1])


class OpCounter(TorchDispatchMode):
    """``with OpCounter() as c: ...`` then ``c.ops`` (operations dispatched) and ``c.reads`` (host reads)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops = self.reads = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func)
        self.ops += 1
        self.reads += name.startswith(HOST_READS) or _bool_index(name, args)
        return func(*args, **(kwargs or {}))


def dispatch_counts(fn: Callable[[], object]) -> tuple[int, int]:
    """(operations, host reads) of one call of ``fn``."""
    with OpCounter() as counter:
        fn()
    return counter.ops, counter.reads
