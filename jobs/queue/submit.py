"""The job queue in the database: submit, claim with a lease, heartbeat, finish (fenced), cancel, retry, reorder, delete.

Every state change is one short transaction. On SQLite the engine opens each with ``BEGIN IMMEDIATE``
(one writer at a time, waiting on the busy timeout instead of failing); on PostgreSQL the claim uses
``SELECT ... FOR UPDATE SKIP LOCKED`` so several hosts can share one queue. A worker's writes are
fenced by (job id, worker id, attempt): once a lease has been reclaimed, the old worker's heartbeat
and finish change nothing.

    from jobs.queue import submit_job, claim_next_job
    job_id = submit_job(spec)
    claimed = claim_next_job("host-1:gpu0")
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, delete, func, or_, update
from sqlmodel import Session, col, select

from jobs.errors import AdaptaError
from jobs.hub.tokens import remember_job_token
from jobs.spec import JobSpec, Task, parse_spec, parse_spec_yaml
from storage.db import database_now, get_engine, session_scope
from storage.paths import data_home
from storage.tables import LOCAL_BACKEND, Artifact, Job, JobStatus, Metric, utcnow

if TYPE_CHECKING:  # the download module is imported where it is used
    from jobs.hub.download import DownloadProgress

DEFAULT_LEASE_SECONDS = 60.0
DEFAULT_MAX_ATTEMPTS = 3


class JobNotFound(AdaptaError):
    """No job with that id (for this owner)."""


class InvalidTransition(AdaptaError):
    """The job is not in a state that allows the requested action."""


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


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _coerce_spec(spec: JobSpec | dict[str, Any] | str) -> JobSpec:
    if isinstance(spec, JobSpec):
        return parse_spec(spec.model_dump(mode="json"))
    if isinstance(spec, str):
        return parse_spec_yaml(spec)
    return parse_spec(spec)


def _absolute(path_text: str) -> str:
    path = Path(path_text).expanduser()
    return str(path.absolute()) if not path.is_absolute() and path.exists() else path_text


def with_absolute_paths(spec: JobSpec) -> JobSpec:
    """``spec`` with its local model and data paths made absolute (the worker runs in another folder, maybe on another host)."""
    if spec.data.from_hub:
        return spec.model_copy(update={"base_model": _absolute(spec.base_model)})
    data = spec.data.model_copy(update={
        "train": _absolute(spec.data.train),
        "validation": _absolute(spec.data.validation) if isinstance(spec.data.validation, str) else spec.data.validation,
    })
    return spec.model_copy(update={"data": data, "base_model": _absolute(spec.base_model)})


def missing_data(spec: JobSpec) -> str | None:
    """One sentence naming the first local data file (text-to-image: file or image folder) that is not there, else None."""
    if spec.data.from_hub:
        return None
    folders = spec.task is Task.TEXT_TO_IMAGE
    for field_name, value in (("data.train", spec.data.train), ("data.validation", spec.data.validation)):
        if not isinstance(value, str) or Path(value).is_file() or (folders and Path(value).is_dir()):
            continue
        if folders:
            return f"{field_name} folder or file {value} does not exist; check the path or upload the images again"
        return f"{field_name} file {value} does not exist; check the path or upload the file again"
    return None


def prepare_for_queue(spec: JobSpec) -> JobSpec:
    """Make local paths absolute and check the data exists before queueing (a Hub dataset is read by the job itself)."""
    checked = with_absolute_paths(spec)
    problem = missing_data(checked)
    if problem:
        raise AdaptaError(problem)
    return checked


def job_from_spec(spec: JobSpec, **fields: Any) -> Job:
    """A new (unsaved) job row describing ``spec``; ``fields`` set the lifecycle columns."""
    resources = spec.resources
    return Job(
        name=spec.display_name,
        task=spec.task.value,
        method=spec.method.value,
        base_model=spec.base_model,
        spec_json=spec.model_dump_json(),
        needs_gpus=resources.gpus,
        needs_processes=max(resources.gpus, resources.processes),
        **fields,
    )


def submit_job(
    spec: JobSpec | dict[str, Any] | str,
    *,
    priority: int = 0,
    owner: str = "local",
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    hub_token: str | None = None,
) -> int:
    """Validate the spec (an invalid one never enters the queue) and queue it; returns the job id.

    ``hub_token`` (the caller's, for a gated or private base model) is kept in this process's memory for the job's child only."""
    checked = prepare_for_queue(_coerce_spec(spec))
    if max_attempts < 1:
        raise AdaptaError("max_attempts must be at least 1")
    with session_scope() as session:
        job = job_from_spec(checked, owner=owner, status=JobStatus.QUEUED, priority=priority, max_attempts=max_attempts)
        session.add(job)
        session.flush()
        job.run_dir = str(data_home().run_dir(int(job.id)))
        session.add(job)
        job_id = int(job.id)
    remember_job_token(job_id, hub_token)
    return job_id


def servable_by(gpus: int | None, cpus: int | None) -> tuple[Any, ...]:
    """SQL conditions for the jobs a worker with ``gpus`` GPUs and ``cpus`` CPU cores can run (no condition when ``gpus`` is None).

    A job for one GPU also runs on a CPU-only worker (training falls back to the CPU); a job for several GPUs waits for a worker
    that has them, and a multi-process CPU job for a worker with that many cores."""
    if gpus is None:
        return ()
    enough_cores = col(Job.needs_processes) <= max(cpus or 1, 1)
    on_gpus = or_(enough_cores, col(Job.needs_gpus) >= 1) if gpus >= 1 else enough_cores
    return (col(Job.needs_gpus) <= max(gpus, 1), on_gpus)


def _next_queued(session: Session, servable: tuple[Any, ...]) -> tuple[int, int] | None:
    query = (
        select(Job.id, Job.attempt)
        .where(Job.status == JobStatus.QUEUED, Job.backend == LOCAL_BACKEND, *servable)
        .order_by(col(Job.priority).desc(), col(Job.id).asc())
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
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
    """Atomically take the highest-priority queued job (oldest first) this worker can serve, or None when there is none.

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

    A foreground run uses it in place of a worker's supervision loop; a database error is retried at the next beat."""

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


MAX_JOB_ID = 2**63 - 1
"""The largest id a database row can have (SQLite and PostgreSQL bigint)."""


def check_job_id(job_id: Any) -> int:
    """``job_id`` as an int if it can name a job; else :class:`JobNotFound` (a huge number no longer reaches the database)."""
    try:
        number = int(job_id)
    except (TypeError, ValueError, OverflowError):
        number = 0
    if isinstance(job_id, bool) or not 1 <= number <= MAX_JOB_ID or (isinstance(job_id, float) and not job_id.is_integer()):
        from jobs.spec.limits import shown

        raise JobNotFound(f"there is no job {shown(job_id, 24)}; a job id is a whole number from 1 to {MAX_JOB_ID:,}")
    return number


def _get_owned(session: Session, job_id: int, owner: str | None) -> Job:
    job_id = check_job_id(job_id)
    job = session.get(Job, job_id)
    if job is None or (owner is not None and job.owner != owner):
        raise JobNotFound(f"there is no job {job_id}; list jobs with `launch.py jobs`")
    return job


def request_cancel(job_id: int, owner: str | None = None) -> JobStatus:
    """Cancel a job: a queued one at once; a running one is flagged and its worker stops the process."""
    job = get_job(job_id, owner)
    if job.backend != LOCAL_BACKEND:
        from jobs.queue.hf_jobs import cancel_remote_job

        return cancel_remote_job(job_id, owner)
    with session_scope() as session:
        moment = database_now(session)
        queued = session.exec(update(Job).where(col(Job.id) == job.id, col(Job.status) == JobStatus.QUEUED)
                              .values(status=JobStatus.CANCELLED, finished_at=moment, error="cancelled before it started"))
        if queued.rowcount == 1:
            return JobStatus.CANCELLED
        running = session.exec(update(Job).where(col(Job.id) == job.id, col(Job.status) == JobStatus.RUNNING).values(cancel_requested=True))
        if running.rowcount == 1:
            return JobStatus.RUNNING
        status = session.exec(select(Job.status).where(col(Job.id) == job.id)).first()
    raise InvalidTransition(f"job {job.id} is already {JobStatus(status).value if status else 'deleted'}; only queued or running jobs can be cancelled")


def retry_job(job_id: int, owner: str | None = None) -> None:
    """Put a failed or cancelled job back in the queue; it resumes from its last checkpoint (same spec, same run folder)."""
    reap_expired_leases()  # a foreground run that died shows as failed ("interrupted") first, and can then be retried
    job = get_job(job_id, owner)
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise InvalidTransition(f"job {job.id} is {job.status.value}; only failed or cancelled jobs can be retried")
    if job.backend != LOCAL_BACKEND:
        raise InvalidTransition(f"job {job.id} ran on {job.backend}; duplicate it and send it again instead of retrying")
    with session_scope() as session:
        result = session.exec(
            update(Job)
            .where(col(Job.id) == job.id, col(Job.status).in_((JobStatus.FAILED, JobStatus.CANCELLED)), col(Job.backend) == LOCAL_BACKEND)
            .values(status=JobStatus.QUEUED, error=None, finished_at=None, cancel_requested=False, worker_id=None, lease_expires_at=None,
                    max_attempts=case((col(Job.max_attempts) > col(Job.attempt), col(Job.max_attempts)), else_=col(Job.attempt) + 1))
        )
    if result.rowcount != 1:
        raise InvalidTransition(f"job {job.id} changed state while being retried; look at it again with `launch.py jobs`")


def set_priority(job_id: int, priority: int, owner: str | None = None) -> None:
    """Higher priority runs first; equal priorities run oldest first."""
    with session_scope() as session:
        job = _get_owned(session, job_id, owner)
        job.priority = priority
        session.add(job)


def move_job(job_id: int, direction: str, owner: str | None = None) -> None:
    """Move a queued job one place up or down in the run order (by adjusting its priority past its neighbour)."""
    if direction not in ("up", "down"):
        raise AdaptaError("direction must be up or down")
    with session_scope() as session:
        job = _get_owned(session, job_id, owner)
        if job.status is not JobStatus.QUEUED:
            raise InvalidTransition(f"job {job_id} is {job.status.value}; only queued jobs can be reordered")
        if job.backend != LOCAL_BACKEND:
            raise InvalidTransition(f"job {job_id} waits on {job.backend}, not in this queue; it cannot be reordered")
        order = session.exec(
            select(Job).where(Job.status == JobStatus.QUEUED, Job.backend == LOCAL_BACKEND).order_by(col(Job.priority).desc(), col(Job.id).asc())
        ).all()
        index = [queued.id for queued in order].index(job_id)
        neighbour_index = index - 1 if direction == "up" else index + 1
        if not 0 <= neighbour_index < len(order):
            return
        neighbour = order[neighbour_index]
        # Ties break by id (older first), so moving up past an older job needs a strictly higher priority.
        job.priority = neighbour.priority + 1 if direction == "up" else neighbour.priority - 1
        session.add(job)


def delete_job(job_id: int, owner: str | None = None) -> None:
    """Delete a finished or queued job with its metrics, artifacts and run folder (cancel a running job first).

    The row goes in one DELETE conditioned on the status and attempt it was seen with, so a job a worker claims meanwhile stays."""
    reap_expired_leases()  # a foreground run that died shows as failed ("interrupted") first, and can then be deleted
    with session_scope() as session:
        job = _get_owned(session, job_id, owner)
        if job.status is JobStatus.RUNNING or (job.backend != LOCAL_BACKEND and not job.status.finished):
            raise InvalidTransition(f"job {job_id} is {job.status.value}; cancel it first, then delete it")
        run_dir = Path(job.run_dir) if job.run_dir else None
        session.exec(Metric.__table__.delete().where(Metric.job_id == job_id))
        session.exec(Artifact.__table__.delete().where(Artifact.job_id == job_id))
        removed = session.exec(delete(Job).where(col(Job.id) == job.id, col(Job.status) == job.status, col(Job.attempt) == job.attempt))
        if removed.rowcount != 1:
            raise InvalidTransition(f"job {job_id} was just claimed by a worker; cancel it first, then delete it")
        session.expunge(job)
    home = data_home()
    if run_dir is not None and run_dir.is_dir() and home.contains(run_dir):
        shutil.rmtree(run_dir, ignore_errors=True)
    home.remove_job_models(job_id)  # its merged model (models/job-<id>-merged) goes with it


def get_job(job_id: int, owner: str | None = None) -> Job:
    """One job row (detached)."""
    with session_scope() as session:
        return _get_owned(session, job_id, owner)


def list_jobs(owner: str | None = None, limit: int = 500, status: JobStatus | None = None) -> list[Job]:
    """Newest first; optionally one owner's or one status's."""
    query = select(Job).order_by(col(Job.id).desc()).limit(limit)
    if owner is not None:
        query = query.where(Job.owner == owner)
    if status is not None:
        query = query.where(Job.status == status)
    with session_scope() as session:
        return list(session.exec(query).all())


def job_summary(job: Job) -> dict[str, Any]:
    """The public JSON view of a job (the CLI's ``jobs --json`` and the API's ``/list_jobs``)."""
    return {
        "id": job.id,
        "name": job.name,
        "status": job.status.value,
        "task": job.task,
        "method": job.method,
        "base_model": job.base_model,
        "priority": job.priority,
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "step": job.step,
        "total_steps": job.total_steps,
        "created_at": _aware(job.created_at).isoformat(timespec="seconds") if job.created_at else None,
        "started_at": _aware(job.started_at).isoformat(timespec="seconds") if job.started_at else None,
        "finished_at": _aware(job.finished_at).isoformat(timespec="seconds") if job.finished_at else None,
        "worker_id": job.worker_id,
        "error": job.error,
        "run_dir": job.run_dir,
        "backend": job.backend,
        "remote_url": job.remote_url,
        "phase": job.phase if job.status is JobStatus.RUNNING else None,
        "download": download_view(job),
    }


def download_progress(job: Job) -> DownloadProgress | None:
    """A running job's base-model download as :class:`DownloadProgress` (None in any other phase)."""
    from jobs.hub.download import DownloadProgress

    if job.status is not JobStatus.RUNNING or job.phase != "downloading" or not job.phase_total:
        return None
    return DownloadProgress("the base model", int(job.phase_done or 0), int(job.phase_total), job.phase_rate)


def download_view(job: Job) -> dict[str, Any] | None:
    """Bytes done / total, speed and ETA of a running job's base-model download (None in any other phase)."""
    progress = download_progress(job)
    if progress is None:
        return None
    eta = progress.eta_seconds
    return {"done_bytes": progress.done_bytes, "total_bytes": progress.total_bytes, "bytes_per_second": progress.bytes_per_second,
            "eta_seconds": None if eta is None else round(eta, 1)}


def phase_text(job: Job) -> str:
    """What a running job is doing, for a person: ``downloading the base model: 45.1 MB / 98.0 MB (46%), 12.0 MB/s, about 4 s left``."""
    progress = download_progress(job)
    if progress is not None:
        return progress.line()
    if job.status is not JobStatus.RUNNING:
        return ""
    if job.phase == "evaluating" and job.phase_total:
        done = job.phase_done or 0
        return f"evaluating the base and the adapted model on held-out rows: {done} of {job.phase_total} scored ({done / job.phase_total:.0%})"
    return job.phase or ""


def count_jobs(status: JobStatus | None = None) -> int:
    """How many jobs (in one status)."""
    query = select(func.count()).select_from(Job)
    if status is not None:
        query = query.where(Job.status == status)
    with Session(get_engine()) as session:
        return int(session.exec(query).one())
