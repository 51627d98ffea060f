"""The worker's side of the queue: claim a job with a lease, renew it, finish or requeue (fenced), reap expired leases.

Every state change is one short transaction. On SQLite the engine opens each with ``BEGIN IMMEDIATE``
(one writer at a time, waiting on the busy timeout instead of failing); on PostgreSQL the claim uses
``SELECT ... FOR UPDATE SKIP LOCKED`` so several hosts can share one queue. A worker's writes are
fenced by (job id, worker id, attempt): once a lease has been reclaimed, the old worker's heartbeat
and finish change nothing. The user's side (submit, cancel, retry, reorder, delete, list) is :mod:`jobs.queue.submit`.

    from jobs.queue.leases import claim_next_job, finish_job
    claimed = claim_next_job("host-1:gpu0")
    finish_job(claimed.id, claimed.worker_id, claimed.attempt, JobStatus.SUCCEEDED)
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from jobs.errors import AdaptaError
from jobs.queue.local_files import missing_data
from jobs.spec import JobSpec, parse_spec
from storage.db import DEFAULT_LEASE_SECONDS, database_now, session_scope
from storage.paths import data_home
from storage.tables import LOCAL_BACKEND, Job, JobStatus, utcnow

DEFAULT_MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class ClaimedJob:
    """What a worker needs to run a job it has just claimed."""

    id: int
    attempt: int
    worker_id: str
    spec: JobSpec
    run_dir: Path
    lease_expires_at: datetime
    max_attempts: int = DEFAULT_MAX_ATTEMPTS


now_utc = utcnow
FOREGROUND_WORKER_PREFIX = "foreground@"
"""``worker_id`` of a row run by ``launch.py train`` in its own process: when its lease lapses it is failed, never requeued."""
MAX_UNCLAIMABLE_PER_CLAIM = 50
"""How many unrunnable jobs one claim fails (and moves past) before it gives up until the next poll."""


def servable_by(gpus: int | None, cpus: int | None) -> tuple[Any, ...]:
    """SQL conditions for the jobs a worker with ``gpus`` GPUs and ``cpus`` CPU cores can run (no condition when ``gpus`` is None).

    A job for one GPU also runs on a CPU-only worker (training falls back to the CPU); a job for several GPUs waits for a worker
    that has them, and a multi-process CPU job for a worker with that many cores."""
    if gpus is None:
        return ()
    enough_cores = col(Job.needs_processes) <= max(cpus or 1, 1)
    on_gpus = or_(enough_cores, col(Job.needs_gpus) >= 1) if gpus >= 1 else enough_cores
    return (col(Job.needs_gpus) <= max(gpus, 1), on_gpus)


def owner_order() -> tuple[Any, ...]:
    """The run order of one owner's queued jobs: priority (higher first), then place (``move_job``), then id (older first)."""
    return col(Job.priority).desc(), col(Job.place).asc(), col(Job.id).asc()


def _next_queued(session: Session, servable: tuple[Any, ...]) -> tuple[int, int] | None:
    """The next job to claim: the highest priority first; at equal priority, round-robin between owners (the owner whose
    latest job started longest ago, or never, goes first); within one owner, :func:`owner_order`."""
    earlier = aliased(Job)
    owner_last_start = select(func.max(earlier.started_at)).where(earlier.owner == Job.owner).scalar_subquery()
    query = (
        select(Job.id, Job.attempt)
        .where(Job.status == JobStatus.QUEUED, Job.backend == LOCAL_BACKEND, *servable)
        .order_by(col(Job.priority).desc(), owner_last_start.asc().nulls_first(), *owner_order()[1:])
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Job)
    row = session.exec(query).first()
    return None if row is None else (int(row[0]), int(row[1]))


def unclaimable_reason(job: Job) -> str | None:
    """Why a just-claimed job cannot run at all (its spec no longer validates, its data vanished), in one sentence; else None."""
    try:
        spec = parse_spec(json.loads(job.spec_json))
    except (AdaptaError, ValueError, TypeError) as error:
        return f"job {job.id}'s spec is no longer valid ({error}); duplicate the job, fix the spec and submit it again"
    problem = missing_data(spec)
    return None if problem is None else f"job {job.id} cannot start: {problem}"


def claim_next_job(
    worker_id: str, lease_seconds: float = DEFAULT_LEASE_SECONDS, *, gpus: int | None = None, cpus: int | None = None
) -> ClaimedJob | None:
    """Atomically take the next queued job this worker can serve (see :func:`_next_queued`: highest priority first, round-robin
    between users at equal priority), or None when there is none.

    A job that cannot run (its spec no longer validates, its data vanished) is failed with the reason, and the claim moves on."""
    servable = servable_by(gpus, cpus)
    with session_scope() as session:
        for _ in range(MAX_UNCLAIMABLE_PER_CLAIM):
            candidate = _next_queued(session, servable)
            if candidate is None:
                return None
            job_id, seen_attempt = candidate
            moment = database_now(session)
            expires = moment + timedelta(seconds=lease_seconds)
            attempt = seen_attempt + 1
            result = session.exec(
                update(Job)
                .where(col(Job.id) == job_id, col(Job.status) == JobStatus.QUEUED, col(Job.attempt) == seen_attempt)
                .values(status=JobStatus.RUNNING, worker_id=worker_id, attempt=attempt, lease_expires_at=expires, heartbeat_at=moment,
                        started_at=moment, finished_at=None, error=None, cancel_requested=False)
            )
            if result.rowcount != 1:
                continue
            job = session.get(Job, job_id)
            session.refresh(job)
            reason = unclaimable_reason(job)
            if reason is not None:
                session.exec(update(Job).where(*_fenced(job_id, worker_id, attempt)).values(
                    status=JobStatus.FAILED, error=reason, finished_at=moment, lease_expires_at=None))
                continue
            spec = parse_spec(json.loads(job.spec_json))
            run_dir = Path(job.run_dir) if job.run_dir else data_home().run_dir(job_id)
            return ClaimedJob(id=job_id, attempt=attempt, worker_id=worker_id, spec=spec, run_dir=run_dir, lease_expires_at=expires,
                              max_attempts=job.max_attempts)
    return None


def _fenced(job_id: int, worker_id: str, attempt: int) -> tuple[Any, ...]:
    return (
        col(Job.id) == job_id,
        col(Job.worker_id) == worker_id,
        col(Job.attempt) == attempt,
        col(Job.status) == JobStatus.RUNNING,
    )


def renew_lease(job_id: int, worker_id: str, attempt: int, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
    """Extend this worker's lease; False means the lease was lost (the job was reclaimed or finished)."""
    with session_scope() as session:
        moment = database_now(session)
        result = session.exec(
            update(Job).where(*_fenced(job_id, worker_id, attempt)).values(lease_expires_at=moment + timedelta(seconds=lease_seconds), heartbeat_at=moment)
        )
        return result.rowcount == 1


def holds_lease(job_id: int, worker_id: str, attempt: int) -> bool:
    """True while this attempt is the job's current, running one (a child checks it before it starts work)."""
    with session_scope() as session:
        return session.exec(select(Job.id).where(*_fenced(job_id, worker_id, attempt))).first() is not None


def foreground_worker_id() -> str:
    """The ``worker_id`` this process holds a foreground run's lease under (``launch.py train``)."""
    return f"{FOREGROUND_WORKER_PREFIX}{socket.gethostname()}:{os.getpid()}"


class LeaseHeartbeat:
    """Renews one attempt's lease from a daemon thread until stopped; ``on_lost`` runs once if the lease is lost (reaped).

    A foreground run uses it in place of a worker's supervision loop; a database error is retried at the next beat (each
    call gives up within ``storage.db.DATABASE_TIMEOUT_SECONDS``). A foreground run has no second process to kill: if its
    lease lapses anyway, the reaper fails the job ("interrupted") and nothing requeues it, so no second attempt can start."""

    def __init__(self, job_id: int, worker_id: str, attempt: int, *, lease_seconds: float = DEFAULT_LEASE_SECONDS,
                 interval_seconds: float | None = None, on_lost: Callable[[], None] | None = None):
        self.job_id, self.worker_id, self.attempt, self.lease_seconds = job_id, worker_id, attempt, lease_seconds
        self.interval_seconds = interval_seconds or lease_seconds / 6
        self.on_lost = on_lost
        self.lost = False
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"adapta-lease-{job_id}", daemon=True)

    def _beat(self) -> None:
        while not self.stopping.wait(self.interval_seconds):
            try:
                held = renew_lease(self.job_id, self.worker_id, self.attempt, self.lease_seconds)
            except Exception:  # noqa: BLE001 - retried at the next beat; the lease outlasts several
                continue
            if not held:
                self.lost = True
                if self.on_lost is not None:
                    self.on_lost()
                return

    def start(self) -> LeaseHeartbeat:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)


def cancel_requested(job_id: int) -> bool:
    """True when someone asked to cancel this job."""
    with session_scope() as session:
        job = session.get(Job, job_id)
        return bool(job and job.cancel_requested)


def finish_job(job_id: int, worker_id: str, attempt: int, status: JobStatus, error: str | None = None, log_tail: str | None = None) -> bool:
    """Record the outcome of this worker's attempt; a fenced-out worker writes nothing and gets False."""
    if not status.finished:
        raise ValueError(f"finish_job needs a final status, got {status.value}")
    with session_scope() as session:
        result = session.exec(
            update(Job)
            .where(*_fenced(job_id, worker_id, attempt))
            .values(status=status, error=error, log_tail=log_tail, finished_at=database_now(session), lease_expires_at=None)
        )
        return result.rowcount == 1


def mark_finished(job_id: int, status: JobStatus, error: str | None = None) -> bool:
    """Record the outcome of a job no leased worker runs (a Hugging Face Jobs run); a job already finished is left as it is."""
    unfinished = [state for state in JobStatus if not state.finished]
    with session_scope() as session:
        result = session.exec(
            update(Job).where(col(Job.id) == job_id, col(Job.status).in_(unfinished))
            .values(status=status, error=error, finished_at=database_now(session), lease_expires_at=None)
        )
        return result.rowcount == 1


def requeue_job(job_id: int, worker_id: str, attempt: int, reason: str, *, fail_without_attempts_left: bool = False) -> bool:
    """Give a running job back to the queue (e.g. the worker is shutting down); fenced like finish.

    With ``fail_without_attempts_left`` a job on its last attempt is failed with ``reason`` instead (it could loop forever).
    A job someone asked to cancel is cancelled rather than requeued."""
    with session_scope() as session:
        cancelled = session.exec(
            update(Job).where(*_fenced(job_id, worker_id, attempt), col(Job.cancel_requested))
            .values(status=JobStatus.CANCELLED, worker_id=None, lease_expires_at=None, finished_at=database_now(session), error="cancelled while running")
        )
        if cancelled.rowcount == 1:
            return True
        if fail_without_attempts_left:
            failed = session.exec(
                update(Job).where(*_fenced(job_id, worker_id, attempt), col(Job.attempt) >= col(Job.max_attempts))
                .values(status=JobStatus.FAILED, worker_id=None, lease_expires_at=None, finished_at=database_now(session),
                        error=reason.split("; requeued", 1)[0] + f"; no attempts left after attempt {attempt} (use retry to run it again)")
            )
            if failed.rowcount == 1:
                return True
        result = session.exec(
            update(Job).where(*_fenced(job_id, worker_id, attempt)).values(status=JobStatus.QUEUED, worker_id=None, lease_expires_at=None, error=reason)
        )
        return result.rowcount == 1


def _reaped_values(worker_id: str | None, attempt: int, max_attempts: int, cancel: bool, moment: datetime) -> dict[str, Any]:
    """The new columns of a job whose lease lapsed: cancelled, failed (foreground run, attempts used up) or queued again."""
    if cancel:
        return {"status": JobStatus.CANCELLED, "error": "cancelled (its worker stopped before it could confirm)", "finished_at": moment}
    if (worker_id or "").startswith(FOREGROUND_WORKER_PREFIX):
        return {"status": JobStatus.FAILED, "finished_at": moment,
                "error": "interrupted: the launch.py train process that ran it stopped (killed, out of memory or its terminal closed); "
                         "retry it to run it in the queue, or delete it"}
    if attempt >= max_attempts:
        return {"status": JobStatus.FAILED, "finished_at": moment,
                "error": f"its worker stopped responding on attempt {attempt} of {max_attempts}; no attempts left (use retry to run it again)"}
    return {"status": JobStatus.QUEUED, "error": f"its worker stopped responding during attempt {attempt}; requeued to resume from the last checkpoint"}


def reap_expired_leases(moment: datetime | None = None) -> list[tuple[int, JobStatus]]:
    """Requeue running jobs whose lease expired (their worker died) while attempts remain; fail the rest.

    Each job changes in one UPDATE conditioned on the worker, attempt and expired lease it was seen with, so a job that
    another host claimed or renewed in the meantime is left alone. ``moment`` defaults to the database's clock."""
    changed: list[tuple[int, JobStatus]] = []
    with session_scope() as session:
        moment = moment or database_now(session)
        expired = session.exec(
            select(Job.id, Job.worker_id, Job.attempt, Job.max_attempts, Job.cancel_requested)
            .where(Job.status == JobStatus.RUNNING, col(Job.lease_expires_at) < moment)
        ).all()
        for job_id, worker_id, attempt, max_attempts, cancel in expired:
            values = _reaped_values(worker_id, attempt, max_attempts, bool(cancel), moment)
            result = session.exec(
                update(Job)
                .where(col(Job.id) == job_id, col(Job.status) == JobStatus.RUNNING, col(Job.worker_id) == worker_id,
                       col(Job.attempt) == attempt, col(Job.lease_expires_at) < moment)
                .values(worker_id=None, lease_expires_at=None, **values)
            )
            if result.rowcount == 1:
                changed.append((int(job_id), values["status"]))
    return changed


def reconcile_worker(worker_id: str) -> list[int]:
    """On worker start: jobs still marked running under this worker id died with it; requeue or fail them."""
    with session_scope() as session:
        stale = session.exec(select(Job.id).where(Job.status == JobStatus.RUNNING, Job.worker_id == worker_id)).all()
        past = database_now(session) - timedelta(seconds=1)
        session.exec(update(Job).where(col(Job.id).in_(stale), col(Job.status) == JobStatus.RUNNING, col(Job.worker_id) == worker_id)
                     .values(lease_expires_at=past))
    if stale:
        reap_expired_leases()
    return list(stale)
