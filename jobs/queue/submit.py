"""The user's side of the job queue: submit, retry, reorder, delete, and read jobs (one, a list, a summary, the phase).

Every state change is one short transaction (see :mod:`jobs.queue.leases` for the worker's side: claims, leases, the
reaper). Cancelling is :func:`jobs.queue.cancel.request_cancel`, which also reaches jobs on Hugging Face Jobs.

    from jobs.queue import submit_job, list_jobs
    job_id = submit_job(spec)
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import case, delete, func, update
from sqlmodel import Session, col, select

from jobs.errors import AdaptaError
from jobs.hub.download import DownloadProgress
from jobs.hub.tokens import remember_job_token
from jobs.queue.leases import DEFAULT_MAX_ATTEMPTS, owner_order, reap_expired_leases
from jobs.queue.local_files import prepare_for_queue
from jobs.spec import JobSpec, parse_spec, parse_spec_yaml
from jobs.spec.limits import shown
from storage.db import get_engine, session_scope
from storage.paths import data_home
from storage.tables import LOCAL_BACKEND, Artifact, Job, JobStatus, Metric

MAX_QUEUED_JOBS_PER_OWNER = 100
"""How many jobs one user of a shared server may have waiting in the queue at once (sweep children included); the next submit
is refused."""
SINGLE_USER_OWNER = "local"
"""The owner of every job on a single-user server and from the command line (a reserved name no account can take): the only
user of the queue, so no share applies."""


class JobNotFound(AdaptaError):
    """No job with that id (for this owner)."""


class InvalidTransition(AdaptaError):
    """The job is not in a state that allows the requested action."""


class QueueShareExceeded(AdaptaError):
    """The owner already has as many jobs waiting as one user may (a shared queue stays fair)."""


def queued_count(session: Session, owner: str) -> int:
    """How many of ``owner``'s jobs wait in this queue."""
    return int(session.exec(select(func.count()).select_from(Job).where(Job.owner == owner, Job.status == JobStatus.QUEUED,
                                                                         Job.backend == LOCAL_BACKEND)).one())


def check_queue_share(session: Session, owner: str, adding: int = 1) -> None:
    """Refuse, in one sentence, ``adding`` more queued jobs for ``owner`` past :data:`MAX_QUEUED_JOBS_PER_OWNER` (the single
    user of a single-user server, :data:`SINGLE_USER_OWNER`, has the whole queue)."""
    if owner == SINGLE_USER_OWNER:
        return
    waiting = queued_count(session, owner)
    if waiting + adding > MAX_QUEUED_JOBS_PER_OWNER:
        raise QueueShareExceeded(
            f"you have {waiting} job{'s' if waiting != 1 else ''} waiting in the queue and one user may have at most "
            f"{MAX_QUEUED_JOBS_PER_OWNER}{f' (this adds {adding})' if adding > 1 else ''}; wait for some to start, or cancel or delete "
            "some, then submit again")


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
    owner: str = SINGLE_USER_OWNER,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    hub_token: str | None = None,
) -> int:
    """Validate the spec (an invalid one never enters the queue) and queue it; returns the job id. An owner with
    :data:`MAX_QUEUED_JOBS_PER_OWNER` jobs waiting is refused (:class:`QueueShareExceeded`).

    ``hub_token`` (the caller's, for a gated or private base model) is kept in this process's memory for the job's child only."""
    checked = prepare_for_queue(_coerce_spec(spec))
    if max_attempts < 1:
        raise AdaptaError("max_attempts must be at least 1")
    with session_scope() as session:
        check_queue_share(session, owner)
        job = job_from_spec(checked, owner=owner, status=JobStatus.QUEUED, priority=priority, max_attempts=max_attempts)
        session.add(job)
        session.flush()
        job.run_dir = str(data_home().run_dir(int(job.id)))
        session.add(job)
        job_id = int(job.id)
    remember_job_token(job_id, hub_token)
    return job_id



MAX_JOB_ID = 2**63 - 1
"""The largest id a database row can have (SQLite and PostgreSQL bigint)."""


def check_job_id(job_id: Any) -> int:
    """``job_id`` as an int if it can name a job; else :class:`JobNotFound` (a huge number no longer reaches the database)."""
    try:
        number = int(job_id)
    except (TypeError, ValueError, OverflowError):
        number = 0
    if isinstance(job_id, bool) or not 1 <= number <= MAX_JOB_ID or (isinstance(job_id, float) and not job_id.is_integer()):
        raise JobNotFound(f"there is no job {shown(job_id, 24)}; a job id is a whole number from 1 to {MAX_JOB_ID:,}")
    return number


def _get_owned(session: Session, job_id: int, owner: str | None) -> Job:
    job_id = check_job_id(job_id)
    job = session.get(Job, job_id)
    if job is None or (owner is not None and job.owner != owner):
        raise JobNotFound(f"there is no job {job_id}; list jobs with `launch.py jobs`")
    return job


def retry_job(job_id: int, owner: str | None = None) -> None:
    """Put a failed or cancelled job back in the queue; it resumes from its last checkpoint (same spec, same run folder)."""
    reap_expired_leases()  # a foreground run that died shows as failed ("interrupted") first, and can then be retried
    job = get_job(job_id, owner)
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise InvalidTransition(f"job {job.id} is {job.status.value}; only failed or cancelled jobs can be retried")
    if job.backend != LOCAL_BACKEND:
        raise InvalidTransition(f"job {job.id} ran on {job.backend}; duplicate it and send it again instead of retrying")
    with session_scope() as session:
        check_queue_share(session, job.owner)
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
    """Move a queued job one place up or down among its owner's queued jobs of the same priority.

    Only the owner's own order changes: which user runs next is the claim's round-robin (:mod:`jobs.queue.leases`), so
    moving a job never puts it ahead of another user's job. Positions are renumbered 0, 1, 2... and the job swaps its
    place with its neighbour; at either end nothing changes."""
    if direction not in ("up", "down"):
        raise AdaptaError("direction must be up or down")
    with session_scope() as session:
        job = _get_owned(session, job_id, owner)
        if job.status is not JobStatus.QUEUED:
            raise InvalidTransition(f"job {job_id} is {job.status.value}; only queued jobs can be reordered")
        if job.backend != LOCAL_BACKEND:
            raise InvalidTransition(f"job {job_id} waits on {job.backend}, not in this queue; it cannot be reordered")
        order = list(session.exec(
            select(Job).where(Job.status == JobStatus.QUEUED, Job.backend == LOCAL_BACKEND, Job.owner == job.owner,
                              Job.priority == job.priority).order_by(*owner_order())
        ).all())
        index = [queued.id for queued in order].index(job.id)
        neighbour_index = index - 1 if direction == "up" else index + 1
        if not 0 <= neighbour_index < len(order):
            return
        order[index], order[neighbour_index] = order[neighbour_index], order[index]
        for place, queued in enumerate(order):
            if queued.place != place:
                queued.place = place
                session.add(queued)


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
