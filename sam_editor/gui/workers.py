"""Long work off the GUI thread: one worker object per job, living in its own QThread.

A job is a Qt-free function `fn(progress, should_stop) -> result` from `sam_editor.session`. The
worker turns its callbacks into signals — `progress(step, total, payload)`, `finished(result)`,
`failed(message)` (and `cancelled()` when a job stopped with nothing to keep) — and its cancel
flag into `should_stop()`. Connect the signals to bound methods of GUI-thread QObjects only, so
Qt queues them onto the GUI thread.

`RenderWorker` is the one long-lived worker: slider drags submit render requests faster than
they can be drawn, and it always renders the newest one and drops the rest (coalescing), with a
`RenderCache` that only its thread touches.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import torch
from PySide6.QtCore import QObject, QThread, Signal, Slot

from sam_editor.gan.networks import RenderCache
from sam_editor.session import Cancelled, RenderRequest, render

log = logging.getLogger(__name__)
# One intra-op thread per worker for small generators: on the shared 2-core box the demo bundle
# (128 px) rendered in 15 ms with one thread and 100–130 ms with two, and inverted at 0.08 s/step
# with one thread and 0.6–1.4 s/step with two (OpenMP barriers stall under load). One thread per
# worker also leaves a core to the GUI. Large generators keep torch's default.
SMALL_GENERATOR = 256


_threads_preference: int | None = None  # Preferences ▸ Threads (None: automatic, as below)


def set_threads_preference(threads: int | None) -> None:
    """The user's thread count for every job and render from now on (None or 0: automatic)."""
    global _threads_preference
    _threads_preference = threads or None


def torch_threads_for(G) -> int | None:  # noqa: ANN001
    """Intra-op threads a worker should use for generator G (None: torch's default)."""
    if _threads_preference is not None:
        return _threads_preference
    return 1 if G is not None and G.cfg.resolution <= SMALL_GENERATOR else None
JobFn = Callable[[Callable[[int, int, Any], None], Callable[[], bool]], Any]


def describe_error(exc: BaseException) -> str:
    """One line for the user; the traceback goes to the log."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return message if isinstance(exc, (ValueError, RuntimeError, OSError)) else f"{type(exc).__name__}: {message}"


class JobWorker(QObject):
    progress = Signal(int, int, object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, name: str, fn: JobFn, token: int = 0, threads: int | None = None) -> None:
        super().__init__()
        self.name = name
        self.token = token  # which photo the job is for (see Session.image_token)
        self.threads = threads  # torch intra-op threads on this worker's thread (None: default)
        self._fn = fn
        self._stop = threading.Event()
        self.started_at = 0.0

    def cancel(self) -> None:
        self._stop.set()

    @property
    def is_cancelled(self) -> bool:
        return self._stop.is_set()

    @Slot()
    def run(self) -> None:
        self.started_at = time.perf_counter()
        if self.threads:
            torch.set_num_threads(self.threads)  # per thread (OpenMP): this worker only
        try:
            result = self._fn(self.progress.emit, self._stop.is_set)
        except Cancelled:
            self.cancelled.emit()
        except Exception as exc:  # errors are values: the window shows the message
            log.error("job %s failed:\n%s", self.name, traceback.format_exc())
            self.failed.emit(describe_error(exc))
        else:
            self.finished.emit(result)


class Jobs(QObject):
    """Starts workers on threads and keeps them alive until their thread ends."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._running: dict[str, tuple[QThread, JobWorker]] = {}

    def start(self, worker: JobWorker) -> JobWorker:
        """Run `worker` on a new thread; a job of the same name still running is cancelled."""
        self.cancel(worker.name)
        thread = QThread()
        thread.setObjectName(f"job-{worker.name}")
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        for sig in (worker.finished, worker.failed, worker.cancelled):
            sig.connect(thread.quit)
        thread.finished.connect(self._reap)
        self._running[worker.name + f"#{id(worker)}"] = (thread, worker)
        thread.start()
        return worker

    def cancel(self, name: str) -> None:
        for key, (_, worker) in self._running.items():
            if key.split("#")[0] == name:
                worker.cancel()

    def is_running(self, name: str) -> bool:
        return any(key.split("#")[0] == name and t.isRunning() for key, (t, _) in self._running.items())

    @Slot()
    def _reap(self) -> None:
        for key, (thread, _) in list(self._running.items()):
            if thread.isFinished():
                del self._running[key]

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel everything and wait (window closing)."""
        for _, worker in list(self._running.values()):
            worker.cancel()
        for thread, _ in list(self._running.values()):
            thread.quit()
            thread.wait(timeout_ms)
        self._running.clear()


class RenderWorker(QObject):
    """Renders the newest submitted request; older pending ones are dropped (coalescing)."""

    rendered = Signal(int, object, float)  # request id, (H, W, 3) uint8, seconds
    failed = Signal(str)
    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._pending: tuple[int, RenderRequest] | None = None
        self._cache = RenderCache()
        self._default_threads = torch.get_num_threads()
        self.thread = QThread()
        self.thread.setObjectName("render")
        self.moveToThread(self.thread)
        self._wake.connect(self._process)
        self.thread.start()

    def submit(self, request_id: int, request: RenderRequest) -> None:
        """Called from the GUI thread; returns at once."""
        with self._lock:
            self._pending = (request_id, request)
        self._wake.emit()

    @Slot()
    def _process(self) -> None:
        with self._lock:
            item, self._pending = self._pending, None
        if item is None:
            return
        request_id, request = item
        threads = torch_threads_for(request.G) or self._default_threads
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)  # per thread (OpenMP): this worker only
        t0 = time.perf_counter()
        try:
            image = render(request, self._cache)
        except Exception as exc:
            log.error("render failed:\n%s", traceback.format_exc())
            self._cache.clear()
            self.failed.emit(describe_error(exc))
            return
        self.rendered.emit(request_id, image, time.perf_counter() - t0)

    def stop(self) -> None:
        self.thread.quit()
        self.thread.wait(5000)
