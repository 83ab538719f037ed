"""A bounded work queue: at most ``max_concurrency`` jobs run at once, at most ``queue_size``
wait, and anything beyond is refused at once (the web layer answers 503).

Jobs run in a :class:`~concurrent.futures.ThreadPoolExecutor` of ``max_concurrency`` threads,
so the REST API and the Gradio UI (each on its own threads or event loops) share one limit.
Admission is a counter under a lock, so it is exact however many threads submit.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from restora.errors import RestoraError
from restora.validation import check_range

__all__ = ["QueueFullError", "WorkQueue"]

T = TypeVar("T")


class QueueFullError(RestoraError):
    """The server is busy: every worker is running and the waiting line is full."""


class WorkQueue:
    """Run blocking jobs on ``max_concurrency`` worker threads with a bounded waiting line."""

    def __init__(self, max_concurrency: int = 1, queue_size: int = 8) -> None:
        self.max_concurrency = int(check_range("max_concurrency", max_concurrency, 1, 64))
        self.queue_size = int(check_range("queue_size", queue_size, 0, 10_000))
        self._executor = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="restora-worker")
        self._lock = threading.Lock()
        self._pending = 0  # submitted and not finished: running + waiting
        self._running = 0
        self._closed = False

    @property
    def running(self) -> int:
        """Jobs running now."""
        with self._lock:
            return self._running

    @property
    def waiting(self) -> int:
        """Jobs admitted and waiting for a worker."""
        with self._lock:
            return self._pending - self._running

    def stats(self) -> dict[str, int]:
        """``running``, ``waiting``, ``max_concurrency`` and ``queue_size`` as a dict."""
        with self._lock:
            running, pending = self._running, self._pending
        return {
            "running": running,
            "waiting": pending - running,
            "max_concurrency": self.max_concurrency,
            "queue_size": self.queue_size,
        }

    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        """Admit ``fn(*args, **kwargs)`` or raise :class:`QueueFullError` straight away."""
        with self._lock:
            if self._closed:
                raise QueueFullError("the server is shutting down; try again later")
            if self._pending >= self.max_concurrency + self.queue_size:
                raise QueueFullError(
                    f"server busy: {self._running} running and {self._pending - self._running} "
                    f"waiting (queue size {self.queue_size}); try again later"
                )
            self._pending += 1
        try:
            future = self._executor.submit(self._call, fn, args, kwargs)
        except BaseException:
            self._finished(started=False)
            raise
        future.add_done_callback(lambda f: self._finished(started=not f.cancelled()))
        return future

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        with self._lock:
            self._running += 1
        return fn(*args, **kwargs)

    def _finished(self, *, started: bool) -> None:
        with self._lock:
            self._pending -= 1
            if started:
                self._running -= 1

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Submit and await the job from any event loop; cancelling the await cancels a job
        that has not started yet (e.g. the client went away while it waited)."""
        return await asyncio.wrap_future(self.submit(fn, *args, **kwargs))

    def shutdown(self, wait: bool = True) -> None:
        """Refuse new jobs, drop waiting ones and (with ``wait``) let running ones finish."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=wait, cancel_futures=True)
