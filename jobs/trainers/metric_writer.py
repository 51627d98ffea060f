"""Metric rows written off the training loop: a :class:`MetricWriter` hands ``MetricsSink.record`` calls to a thread.

Light (no torch): :mod:`jobs.trainers.progress` uses it for every Trainer-based run.

    writer = MetricWriter(sink)
    writer.submit(step, {"loss": 0.5}, total_steps)   # returns at once
    writer.close()                                     # everything submitted is written
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from jobs.metrics import MetricsSink


class MetricWriter:
    """Writes ``sink.record(...)`` calls from a thread of its own, in the order they were submitted.

    ``submit`` returns at once; ``close`` waits until everything submitted is written. A write that fails is kept and
    raised by the next ``submit``, ``check`` or ``close`` (later records are dropped). If the main thread ends without
    ``close`` (training raised), the thread still writes what was submitted before the interpreter exits."""

    _STOP = object()

    def __init__(self, sink: MetricsSink):
        self.sink = sink
        self.pending: queue.Queue[Any] = queue.Queue()
        self.error: BaseException | None = None
        self.reported = False
        self.thread = threading.Thread(target=self._run, name="adapta-metrics", daemon=False)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                item = self.pending.get(timeout=0.5)
            except queue.Empty:
                if threading.main_thread().is_alive():
                    continue
                return  # the interpreter is shutting down and everything submitted was written
            if item is self._STOP:
                return
            if self.error is None:
                try:
                    self.sink.record(*item)
                except BaseException as error:  # noqa: BLE001 - handed to the training thread by check()
                    self.error = error

    def check(self) -> None:
        """Raise the error of a failed write, if any (once)."""
        if self.error is not None and not self.reported:
            self.reported = True
            raise self.error

    def submit(self, step: int, values: dict[str, float], total_steps: int | None) -> None:
        self.check()
        self.pending.put((step, values, total_steps))

    def close(self) -> None:
        """Write everything submitted, stop the thread, and raise the error of a failed write, if any."""
        if self.thread.is_alive():
            self.pending.put(self._STOP)
            self.thread.join()
        self.check()
