"""Per-user upload quota and rate on a shared server, so one user cannot fill the disk or flood it with uploads.

On a multi-user server (``--auth``, Hugging Face sign-in) each user may keep at most :func:`user_quota_bytes` of uploads
(``ADAPTA_USER_QUOTA_MB``, default 1024 MB, counted on disk under ``uploads/users/<owner>/``) and store at most
:data:`UPLOADS_PER_WINDOW` uploads per :data:`UPLOAD_WINDOW_S` seconds; each file also stays under the per-file limit of
:func:`webui.api_data.max_upload_bytes`. A single-user server has no quota (its disk is its user's). One user's uploads
are stored one at a time (a per-user lock around the check and the copy), so two parallel uploads cannot both slip under
the quota.

    with upload_slot(caller, size):      # raises DataError in one sentence when over the quota or the rate
        shutil.copyfile(source, target)
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from jobs.errors import DataError
from storage.paths import data_home
from webui.access import Caller

DEFAULT_USER_QUOTA_MB = 1024
UPLOADS_PER_WINDOW = 10
UPLOAD_WINDOW_S = 60.0


def user_quota_bytes() -> int:
    """The bytes of uploads one user may keep: ``ADAPTA_USER_QUOTA_MB`` (default 1024) megabytes."""
    try:
        megabytes = float(os.environ.get("ADAPTA_USER_QUOTA_MB", DEFAULT_USER_QUOTA_MB))
    except ValueError:
        megabytes = DEFAULT_USER_QUOTA_MB
    return int(megabytes * 1024 * 1024)


def stored_bytes(owner: str) -> int:
    """Bytes on disk under ``uploads/users/<owner>/`` (every stored upload and what was unpacked from it)."""
    folder = data_home().owner_uploads(owner)
    total = 0
    for path in folder.rglob("*") if folder.is_dir() else ():
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except OSError:
            continue
    return total


class UploadGate:
    """Upload times per owner (a sliding window) and one lock per owner; in memory, bounded by the number of users."""

    def __init__(self, per_window: int = UPLOADS_PER_WINDOW, window_s: float = UPLOAD_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_window, self.window_s, self.clock = per_window, window_s, clock
        self._times: dict[str, deque[float]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock_for(self, key: str) -> threading.Lock:
        """The lock of one owner (``key`` names the owner and the data home)."""
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def take(self, key: str) -> None:
        """Count one upload for the owner ``key`` names; DataError (with the wait) when they already stored :attr:`per_window` in
        the window."""
        now = self.clock()
        with self._guard:
            times = self._times.setdefault(key, deque())
            while times and now - times[0] >= self.window_s:
                times.popleft()
            if len(times) >= self.per_window:
                wait = max(1, int(self.window_s - (now - times[0])) + 1)
                raise DataError(f"you uploaded {len(times)} files in the last {self.window_s:.0f} seconds, the most one user may; "
                                f"wait {wait} seconds and upload again")
            times.append(now)


GATE = UploadGate()


@contextmanager
def upload_slot(caller: Caller, size: int, gate: UploadGate | None = None) -> Iterator[None]:
    """Hold the caller's upload lock while one upload of ``size`` bytes is stored; refuse it first (DataError, one sentence)
    when it would pass the caller's quota or rate. No limit on a single-user server."""
    if caller.owner_filter is None:
        yield
        return
    gate = gate or GATE
    owner = caller.owner
    key = f"{data_home().root}\0{owner}"  # one count per data home and owner
    with gate.lock_for(key):
        used, quota = stored_bytes(owner), user_quota_bytes()
        if used + size > quota:
            raise DataError(f"this upload ({size / 1e6:.1f} MB) would take your stored uploads to {(used + size) / 1e6:.1f} MB, over "
                            f"the {quota / 1e6:.0f} MB each user may keep on this server; ask the operator to remove old uploads "
                            "or to raise ADAPTA_USER_QUOTA_MB")
        gate.take(key)
        yield

