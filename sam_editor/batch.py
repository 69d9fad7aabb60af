"""Batch jobs over many items — in this process, a local process pool, or a Ray cluster.

The batch commands (`sam-editor eval`, `sam-editor apply`, `sam-editor demo train-predictor`'s
target generation) are embarrassingly parallel: one task per item (an image, or an image and a
method), no communication. This module runs such a list of items and gives a batch job what
users expect of one:

- results are written per item, atomically, by the driver (a worker returns its result; a
  crashed task leaves nothing half-written), so a rerun skips every finished item (resume);
- a worker process that dies mid-task (killed, out of memory, a lost node) is retried: Ray's
  task retries (`max_retries`), or a fresh process pool for the local pool;
- an item whose input is bad is reported (its error is kept in the report), never fatal; it is
  not marked finished, so a rerun tries it again.

Backends: "local" (sequential, this process), "pool" (`--workers N` local processes, no Ray),
"ray" (a local Ray instance started with N CPUs, or `ray_address` to join a cluster; GPUs are
requested per task when the cluster has them). "auto": ray when `ray_address` is given or Ray
is installed and N > 1, else pool for N > 1, else local.

A task is a picklable callable `task(payload) -> dict`; the worker keeps whatever the task caches
between items (e.g. loaded models, `worker_cache`), so models are loaded once per process.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from .util import atomic_write

BACKENDS = ("auto", "local", "pool", "ray")


@dataclasses.dataclass(frozen=True)
class Item:
    """One unit of work: `key` names its result (unique, file-name safe), `payload` is what the
    task receives (small and picklable: paths and options, not tensors)."""

    key: str
    payload: Any


class Store(Protocol):
    def done(self, item: Item) -> bool: ...

    def write(self, item: Item, result: dict) -> None: ...


class JsonStore:
    """Results as `<dir>/<key>.json` (written atomically); an item is finished when its file loads."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def done(self, item: Item) -> bool:
        return self.read(item.key) is not None

    def read(self, key: str) -> dict | None:
        try:
            return json.loads(self.path(key).read_text())
        except (OSError, ValueError):
            return None

    def write(self, item: Item, result: dict) -> None:
        atomic_write(self.path(item.key), json.dumps(result, indent=1, default=str).encode())

    def results(self, items: Iterable[Item]) -> list[dict]:
        return [r for it in items if (r := self.read(it.key)) is not None]


@dataclasses.dataclass
class BatchReport:
    backend: str
    workers: int
    done: list[str] = dataclasses.field(default_factory=list)  # finished in this run
    skipped: list[str] = dataclasses.field(default_factory=list)  # finished before (resume)
    failed: dict[str, str] = dataclasses.field(default_factory=dict)  # key → error message
    retried: int = 0  # task attempts lost to a dead worker (local pool; Ray retries on its own)
    seconds: float = 0.0
    stopped: bool = False

    def summary(self) -> str:
        rate = len(self.done) / self.seconds if self.seconds > 0 and self.done else 0.0
        text = (
            f"{len(self.done)} done, {len(self.skipped)} already done, {len(self.failed)} failed "
            f"in {self.seconds:.1f} s ({rate:.2f} items/s, {self.backend}, {self.workers} worker{'s' * (self.workers != 1)})"
        )
        return text + (" — stopped early; rerun to finish" if self.stopped else "")


class TaskError(RuntimeError):
    """A task's input was bad: reported for its item, the batch goes on."""


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def choose_backend(backend: str, workers: int, ray_address: str | None) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if backend != "auto":
        if backend == "ray" and not ray_available():
            raise ValueError("the ray backend needs Ray: pip install 'sam-editor[ray]' (or ray>=2.9)")
        return backend
    if ray_address:
        return "ray"
    if workers > 1:
        return "ray" if ray_available() else "pool"
    return "local"


# ---- the worker side ------------------------------------------------------------------------
_WORKER_CACHE: dict[Any, Any] = {}


def worker_cache(key: Any, build: Callable[[], Any]) -> Any:
    """A value built once per worker process (models, a loaded bundle) for every task it runs."""
    if key not in _WORKER_CACHE:
        _WORKER_CACHE[key] = build()
    return _WORKER_CACHE[key]


def _call(task: Callable[[Any], dict], payload: Any, threads: int) -> dict:
    """Run one task in a worker: bad input (any exception) comes back as {"error": …}."""
    from .runtime import init_torch

    if not _WORKER_CACHE.get("_init"):
        init_torch()
        if threads > 0:
            import torch

            torch.set_num_threads(threads)
        _WORKER_CACHE["_init"] = True
    try:
        out = task(payload)
    except Exception as exc:  # noqa: BLE001 - one bad item is reported, never fatal
        return {"error": str(exc) if isinstance(exc, TaskError) else f"{type(exc).__name__}: {exc}"}
    if not isinstance(out, dict):
        return {"error": f"task returned {type(out).__name__}, not a dict"}
    return out


# ---- the driver -----------------------------------------------------------------------------
def run_batch(
    task: Callable[[Any], dict],
    items: Sequence[Item],
    store: Store,
    *,
    workers: int = 1,
    backend: str = "auto",
    ray_address: str | None = None,
    retries: int = 3,
    gpus_per_task: float | None = None,
    threads_per_worker: int | None = None,
    on_result: Callable[[Item, dict, BatchReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> BatchReport:
    """Run `task` on every item not finished in `store`; → what happened to each."""
    keys = [it.key for it in items]
    if len(set(keys)) != len(keys):
        raise ValueError("two items share a key; their results would collide")
    workers = max(1, int(workers))
    kind = choose_backend(backend, workers, ray_address)
    report = BatchReport(backend=kind, workers=workers if kind != "local" else 1)
    todo = []
    for it in items:
        (report.skipped.append(it.key) if store.done(it) else todo.append(it))
    cpus = os.cpu_count() or 1
    threads = threads_per_worker if threads_per_worker is not None else max(1, cpus // report.workers)
    t0 = time.perf_counter()

    def collect(it: Item, result: dict) -> None:
        if "error" in result:
            report.failed[it.key] = str(result["error"])
        else:
            store.write(it, result)
            report.done.append(it.key)
        if on_result is not None:
            on_result(it, result, report)

    if todo:
        if kind == "local":
            _run_local(task, todo, threads_per_worker or 0, collect, should_stop, report)
        elif kind == "pool":
            _run_pool(task, todo, report.workers, threads, retries, collect, should_stop, report)
        else:
            _run_ray(task, todo, report.workers, threads, retries, ray_address, gpus_per_task, collect, should_stop, report)
    report.seconds = time.perf_counter() - t0
    return report


def _run_local(task, todo, threads, collect, should_stop, report) -> None:  # noqa: ANN001
    for it in todo:
        if should_stop is not None and should_stop():
            report.stopped = True
            return
        collect(it, _call(task, it.payload, threads))


def _run_pool(task, todo, workers, threads, retries, collect, should_stop, report) -> None:  # noqa: ANN001
    """A process pool; when a worker dies the pool breaks: its lost items go to a fresh pool."""
    import multiprocessing as mp

    attempts = {it.key: 0 for it in todo}
    queue = list(todo)
    while queue:
        lost: list[Item] = []
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            running: dict[cf.Future, Item] = {}
            while (queue or running) and not lost:
                while queue and len(running) < 2 * workers:
                    if should_stop is not None and should_stop():
                        report.stopped, queue = True, []
                        break
                    it = queue.pop(0)
                    try:  # a worker may die between the last wait and this submit: the pool is broken then
                        fut = pool.submit(_call, task, it.payload, threads)
                    except cf.process.BrokenProcessPool:
                        queue.insert(0, it)  # never ran: not an attempt; a fresh pool takes it
                        break
                    attempts[it.key] += 1
                    running[fut] = it
                if not running:
                    break
                finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for fut in finished:
                    it = running.pop(fut)
                    try:
                        result = fut.result()
                    except cf.process.BrokenProcessPool:
                        lost.append(it)
                        continue
                    collect(it, result)
            lost += list(running.values())  # a broken pool loses everything it was running
        retry = []
        for it in lost:
            if attempts[it.key] > retries:
                report.failed[it.key] = f"the worker died {attempts[it.key]} times on this item"
            else:
                report.retried += 1
                retry.append(it)
        queue = retry + queue


def _run_ray(task, todo, workers, threads, retries, address, gpus_per_task, collect, should_stop, report) -> None:  # noqa: ANN001
    import ray

    if not ray.is_initialized():
        if address:
            ray.init(address=address, logging_level="warning", log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, logging_level="warning", log_to_driver=False)
    if gpus_per_task is None:
        gpus_per_task = 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
    remote = ray.remote(_call).options(num_cpus=1, num_gpus=gpus_per_task, max_retries=retries, retry_exceptions=False)
    task_ref = ray.put(task)
    queue = list(todo)
    running: dict[Any, Item] = {}
    window = 2 * max(workers, int(ray.cluster_resources().get("CPU", workers)))
    while queue or running:
        while queue and len(running) < window:
            if should_stop is not None and should_stop():
                report.stopped, queue = True, []
                break
            it = queue.pop(0)
            running[remote.remote(task_ref, it.payload, threads)] = it
        if not running:
            break
        ready, _ = ray.wait(list(running), num_returns=1)
        for ref in ready:
            it = running.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayError as exc:  # retries exhausted (a worker kept dying)
                result = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
            collect(it, result)


def add_arguments(p: Any) -> None:
    """The batch options shared by the batch commands."""
    p.add_argument("--workers", type=int, default=1, help="parallel workers (processes; Ray tasks with --backend ray)")
    p.add_argument("--backend", default="auto", choices=BACKENDS, help="auto: ray for --ray-address or --workers > 1 when Ray is installed")
    p.add_argument("--ray-address", default=None, help="join this Ray cluster (e.g. auto, or ray://head:10001) instead of a local one")
    p.add_argument("--retries", type=int, default=3, help="retries of a task whose worker died")
