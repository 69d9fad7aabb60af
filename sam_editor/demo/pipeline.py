"""What the demo bundle's training loops share: batches made ahead of the step that uses them,
and checkpoints that are portable between GPU and CPU machines.

Both loops make step-seeded batches (`make(step)` depends on the step number alone), so a batch
is the same whoever makes it: the loop itself, a thread, or a pool of processes. On a GPU the
tiny networks train faster than one core renders the car world, hence the processes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from typing import TypeVar

import torch

T = TypeVar("T")


def prefetch(make: Callable[[int], T], start: int, workers: int = 0) -> Iterator[T]:
    """make(start), make(start + 1), … in order. workers 0: made inline when asked for;
    1: one thread makes the next batch meanwhile; more: that many spawned processes (safe next
    to CUDA) keep 2 × workers batches in flight — `make` must then be picklable (a module-level
    function or a functools.partial of one). Closing the iterator cancels what is pending."""
    step = start
    if workers <= 0:
        while True:
            yield make(step)
            step += 1
    pool: Executor = (ThreadPoolExecutor(max_workers=1) if workers == 1
                      else ProcessPoolExecutor(workers, mp_context=get_context("spawn")))
    ahead = 2 * workers
    with pool:
        pending = deque(pool.submit(make, step + i) for i in range(ahead))
        try:
            while True:
                item = pending.popleft().result()
                pending.append(pool.submit(make, step + ahead))
                step += 1
                yield item
        finally:
            for f in pending:
                f.cancel()


def to_cpu(obj):  # noqa: ANN001, ANN201 — nested dicts/lists/tuples of tensors
    """A state dict (or an optimiser's) with every tensor on the CPU: what a checkpoint stores."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(to_cpu(v) for v in obj)
    return obj
