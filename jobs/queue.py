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

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from jobs.errors import AdaptaError
from jobs.hub_tokens import remember_job_token
from jobs.spec import JobSpec, parse_spec, parse_spec_yaml
from storage.db import get_engine, session_scope
from storage.paths import data_home
from storage.tables import LOCAL_BACKEND, Artifact, Job, JobStatus, Metric, utcnow

if TYPE_CHECKING:  # the download module is imported where it is used
    from jobs.models.download import DownloadProgress

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


now_utc = utcnow


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


def prepare_for_queue(spec: JobSpec) -> JobSpec:
    """Make local paths absolute (the worker runs elsewhere) and check the data files exist before queueing (a Hub dataset is
    read by the job itself)."""
    if spec.data.from_hub:
        return spec.model_copy(update={"base_model": _absolute(spec.base_model)})
    data = spec.data.model_copy(update={
        "train": _absolute(spec.data.train),
        "validation": _absolute(spec.data.validation) if isinstance(spec.data.validation, str) else spec.data.validation,
    })
    for field_name, value in (("data.train", data.train), ("data.validation", data.validation)):
        if isinstance(value, str) and not Path(value).is_file():
            raise AdaptaError(f"{field_name} file {value} does not exist; check the path or upload the file again")
    return spec.model_copy(update={"data": data, "base_model": _absolute(spec.base_model)})


def job_from_spec(spec: JobSpec, **fields: Any) -> Job:
    """A new (unsaved) job row describing ``spec``; ``fields`` set the lifecycle columns."""
    return Job(
        name=spec.display_name,
        task=spec.task.value,
        method=spec.method.value,
        base_model=spec.base_model,
        spec_json=spec.model_dump_json(),
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


def _next_queued_id(session: Session) -> int | None:
    query = (
        select(Job.id)
        .where(Job.status == JobStatus.QUEUED, Job.backend == LOCAL_BACKEND)
        .order_by(col(Job.priority).desc(), col(Job.id).asc())
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.exec(query).first()


def claim_next_job(worker_id: str, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> ClaimedJob | None:
    """Atomically take the highest-priority queued job (oldest first), or None when the queue is empty."""
    with session_scope() as session:
        job_id = _next_queued_id(session)
        if job_id is None:
            return None
        moment = now_utc()
        expires = moment + timedelta(seconds=lease_seconds)
        result = session.exec(
            update(Job)
            .where(col(Job.id) == job_id, col(Job.status) == JobStatus.QUEUED)
            .values(
                status=JobStatus.RUNNING,
                worker_id=worker_id,
                attempt=Job.attempt + 1,
                lease_expires_at=expires,
                heartbeat_at=moment,
                started_at=moment,
                finished_at=None,
                error=None,
                cancel_requested=False,
            )
        )
        if result.rowcount != 1:
            return None
        job = session.get(Job, job_id)
        session.refresh(job)
        spec = parse_spec(JobSpec.model_validate_json(job.spec_json).model_dump(mode="json"))
        run_dir = Path(job.run_dir) if job.run_dir else data_home().run_dir(job_id)
        return ClaimedJob(id=job_id, attempt=job.attempt, worker_id=worker_id, spec=spec, run_dir=run_dir, lease_expires_at=expires)


def _fenced(job_id: int, worker_id: str, attempt: int):
    return (
        col(Job.id) == job_id,
        col(Job.worker_id) == worker_id,
        col(Job.attempt) == attempt,
        col(Job.status) == JobStatus.RUNNING,
    )


def renew_lease(job_id: int, worker_id: str, attempt: int, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
    """Extend this worker's lease; False means the lease was lost (the job was reclaimed or finished)."""
    moment = now_utc()
    with session_scope() as session:
        result = session.exec(
            update(Job).where(*_fenced(job_id, worker_id, attempt)).values(lease_expires_at=moment + timedelta(seconds=lease_seconds), heartbeat_at=moment)
        )
        return result.rowcount == 1


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
            .values(status=status, error=error, log_tail=log_tail, finished_at=now_utc(), lease_expires_at=None)
        )
        return result.rowcount == 1


def mark_finished(job_id: int, status: JobStatus, error: str | None = None) -> None:
    """Record the outcome of a job that no leased worker runs (a foreground run, a Hugging Face Jobs run)."""
    with session_scope() as session:
        job = session.get(Job, job_id)
        if job is not None:
            job.status, job.error, job.finished_at = status, error, now_utc()
            session.add(job)


def requeue_job(job_id: int, worker_id: str, attempt: int, reason: str) -> bool:
    """Give a running job back to the queue (e.g. the worker is shutting down); fenced like finish."""
    with session_scope() as session:
        result = session.exec(
            update(Job).where(*_fenced(job_id, worker_id, attempt)).values(status=JobStatus.QUEUED, worker_id=None, lease_expires_at=None, error=reason)
        )
        return result.rowcount == 1


def reap_expired_leases(moment: datetime | None = None) -> list[tuple[int, JobStatus]]:
    """Requeue running jobs whose lease expired (their worker died) while attempts remain; fail the rest."""
    moment = moment or now_utc()
    changed: list[tuple[int, JobStatus]] = []
    with session_scope() as session:
        expired = session.exec(select(Job).where(Job.status == JobStatus.RUNNING, col(Job.lease_expires_at) < moment)).all()
        for job in expired:
            if job.cancel_requested:
                job.status, job.error = JobStatus.CANCELLED, "cancelled (its worker stopped before it could confirm)"
                job.finished_at = moment
            elif job.attempt >= job.max_attempts:
                job.status = JobStatus.FAILED
                job.error = f"its worker stopped responding on attempt {job.attempt} of {job.max_attempts}; no attempts left (use retry to run it again)"
                job.finished_at = moment
            else:
                job.status = JobStatus.QUEUED
                job.error = f"its worker stopped responding during attempt {job.attempt}; requeued to resume from the last checkpoint"
            job.worker_id = None
            job.lease_expires_at = None
            session.add(job)
            changed.append((int(job.id), job.status))
    return changed


def reconcile_worker(worker_id: str) -> list[int]:
    """On worker start: jobs still marked running under this worker id died with it; requeue or fail them."""
    with session_scope() as session:
        stale = session.exec(select(Job.id).where(Job.status == JobStatus.RUNNING, Job.worker_id == worker_id)).all()
        session.exec(update(Job).where(col(Job.id).in_(stale)).values(lease_expires_at=now_utc() - timedelta(seconds=1)))
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
        from jobs.spec_limits import shown

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
    if get_job(job_id, owner).backend != LOCAL_BACKEND:
        from jobs.hf_jobs import cancel_remote_job

        return cancel_remote_job(job_id, owner)
    with session_scope() as session:
        job = _get_owned(session, job_id, owner)
        if job.status is JobStatus.QUEUED:
            job.status, job.finished_at, job.error = JobStatus.CANCELLED, now_utc(), "cancelled before it started"
        elif job.status is JobStatus.RUNNING:
            job.cancel_requested = True
        else:
            raise InvalidTransition(f"job {job_id} is already {job.status.value}; only queued or running jobs can be cancelled")
        session.add(job)
        return job.status


def retry_job(job_id: int, owner: str | None = None) -> None:
    """Put a failed or cancelled job back in the queue; it resumes from its last checkpoint (same spec, same run folder)."""
    with session_scope() as session:
        job = _get_owned(session, job_id, owner)
        if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise InvalidTransition(f"job {job_id} is {job.status.value}; only failed or cancelled jobs can be retried")
        if job.backend != LOCAL_BACKEND:
            raise InvalidTransition(f"job {job_id} ran on {job.backend}; duplicate it and send it again instead of retrying")
        job.status, job.error, job.finished_at, job.cancel_requested = JobStatus.QUEUED, None, None, False
        job.max_attempts = max(job.max_attempts, job.attempt + 1)
        session.add(job)


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
    """Delete a finished or queued job with its metrics, artifacts and run folder (cancel a running job first)."""
    with session_scope() as session:
        job = _get_owned(session, job_id, owner)
        if job.status is JobStatus.RUNNING or (job.backend != LOCAL_BACKEND and not job.status.finished):
            raise InvalidTransition(f"job {job_id} is {job.status.value}; cancel it first, then delete it")
        run_dir = Path(job.run_dir) if job.run_dir else None
        session.exec(Metric.__table__.delete().where(Metric.job_id == job_id))
        session.exec(Artifact.__table__.delete().where(Artifact.job_id == job_id))
        session.delete(job)
    home = data_home()
    if run_dir is not None and run_dir.is_dir() and home.contains(run_dir):
        shutil.rmtree(run_dir, ignore_errors=True)


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
    from jobs.models.download import DownloadProgress

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
    if progress is None:
        return (job.phase or "") if job.status is JobStatus.RUNNING else ""
    return progress.line()


def count_jobs(status: JobStatus | None = None) -> int:
    """How many jobs (in one status)."""
    query = select(func.count()).select_from(Job)
    if status is not None:
        query = query.where(Job.status == status)
    with Session(get_engine()) as session:
        return int(session.exec(query).one())
