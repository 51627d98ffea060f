"""Cancel a job wherever it runs: a local one in the database (its worker stops the process), a Hugging Face Jobs one on the Hub.

It sits above :mod:`jobs.queue.submit` and :mod:`jobs.queue.hf_jobs`, which both read job rows, so neither imports the other.

    from jobs.queue import request_cancel
    request_cancel(job_id)   # JobStatus.CANCELLED (queued or remote) or RUNNING (its worker stops it)
"""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col, select

from jobs.queue.hf_jobs import cancel_remote_job
from jobs.queue.submit import InvalidTransition, get_job
from storage.db import database_now, session_scope
from storage.tables import LOCAL_BACKEND, Job, JobStatus


def request_cancel(job_id: int, owner: str | None = None) -> JobStatus:
    """Cancel a job: a queued one at once; a running one is flagged and its worker stops the process."""
    job = get_job(job_id, owner)
    if job.backend != LOCAL_BACKEND:
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
