"""The lease watchdog: stops a job attempt before its lease lapses unless renewals keep pushing the deadline back.

A worker renews its attempt's lease with a database call; if that call hangs (a locked SQLite file, a PostgreSQL
server that stopped answering), the worker's supervision loop hangs with it. The watchdog does not touch the
database: it runs in a thread of its own with a deadline on the monotonic clock, ``lease - margin`` after the start of
the last renewal that succeeded (the database wrote an expiry no earlier than that start plus the lease), and when
the deadline passes it runs ``stop`` (the worker SIGKILLs the attempt's process group). So no attempt outlives its
lease whatever the database does, and the next attempt finds the run folder free.

    watchdog = LeaseWatchdog(stop=kill_group, lease_seconds=60, margin_seconds=10, renewed_at=time.monotonic()).start()
    started = time.monotonic()
    if renew_lease(...):
        watchdog.renewed(started)
    ...
    watchdog.close()
    if watchdog.fired: ...
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def lease_margin(lease_seconds: float, heartbeat_seconds: float) -> float:
    """How long before the lease lapses the watchdog stops an attempt: one heartbeat, at most a quarter of the lease."""
    return min(heartbeat_seconds, lease_seconds / 4)


class LeaseWatchdog:
    """Runs ``stop`` once, from its own thread, when no renewal succeeded for ``lease_seconds - margin_seconds``."""

    def __init__(self, stop: Callable[[], None], lease_seconds: float, margin_seconds: float, renewed_at: float):
        if not 0 <= margin_seconds < lease_seconds:
            raise ValueError(f"the watchdog's margin ({margin_seconds} s) must be shorter than the lease ({lease_seconds} s)")
        self.lease_seconds, self.margin_seconds = lease_seconds, margin_seconds
        self.stop = stop
        self.renewed_at = renewed_at
        self.fired_at: float | None = None
        self._closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._watch, name="adapta-lease-watchdog", daemon=True)

    @property
    def deadline(self) -> float:
        """The monotonic time at which the watchdog stops the attempt, unless a renewal moves it."""
        return self.renewed_at + self.lease_seconds - self.margin_seconds

    @property
    def fired(self) -> bool:
        return self.fired_at is not None

    def start(self) -> LeaseWatchdog:
        self._thread.start()
        return self

    def renewed(self, started_at: float) -> None:
        """A renewal that started at ``started_at`` (monotonic) succeeded: the lease lasts at least ``lease_seconds`` from then."""
        with self._changed:
            if self.fired_at is None and started_at > self.renewed_at:
                self.renewed_at = started_at
                self._changed.notify()

    def silent_seconds(self) -> float:
        """Seconds since the start of the last renewal that succeeded (or the claim)."""
        return time.monotonic() - self.renewed_at

    def close(self) -> None:
        """Stop watching (the attempt ended); waits for the watchdog's thread, which is done at once unless it is firing."""
        with self._changed:
            self._closed = True
            self._changed.notify()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join()

    def _watch(self) -> None:
        with self._changed:
            while not self._closed:
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    self.fired_at = time.monotonic()
                    break
                self._changed.wait(remaining)
            else:
                return
        self.stop()
