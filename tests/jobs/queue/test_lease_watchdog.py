"""The lease watchdog stops an attempt before its lease lapses unless renewals keep moving the deadline; it never waits on anything else."""

from __future__ import annotations

import threading
import time

import pytest

from jobs.queue.lease_watchdog import LeaseWatchdog, lease_margin


def test_without_renewals_it_stops_the_attempt_lease_minus_margin_after_the_claim() -> None:
    stopped = threading.Event()
    claimed = time.monotonic()
    watchdog = LeaseWatchdog(stopped.set, lease_seconds=0.6, margin_seconds=0.2, renewed_at=claimed).start()
    assert stopped.wait(5), "the watchdog never fired"
    assert watchdog.fired and watchdog.fired_at - claimed >= 0.4 - 0.01
    assert watchdog.fired_at - claimed < 0.6, "it fired after the lease had lapsed"
    watchdog.close()


def test_renewals_keep_it_quiet_and_closing_it_stops_watching() -> None:
    stopped = threading.Event()
    watchdog = LeaseWatchdog(stopped.set, lease_seconds=0.5, margin_seconds=0.1, renewed_at=time.monotonic()).start()
    until = time.monotonic() + 1.5
    while time.monotonic() < until:
        watchdog.renewed(time.monotonic())
        time.sleep(0.05)
    assert not stopped.is_set()
    watchdog.close()
    time.sleep(0.6)
    assert not stopped.is_set() and not watchdog.fired


def test_a_renewal_that_started_before_the_last_one_does_not_move_the_deadline_back() -> None:
    watchdog = LeaseWatchdog(lambda: None, lease_seconds=10, margin_seconds=1, renewed_at=100.0)
    watchdog.renewed(105.0)
    watchdog.renewed(103.0)
    assert watchdog.deadline == 114.0


def test_the_margin_is_one_heartbeat_at_most_a_quarter_of_the_lease() -> None:
    assert lease_margin(60, 10) == 10
    assert lease_margin(4, 10) == 1
    with pytest.raises(ValueError, match="shorter than the lease"):
        LeaseWatchdog(lambda: None, lease_seconds=1, margin_seconds=1, renewed_at=0)
