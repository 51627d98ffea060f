"""SQLModel tables: jobs, their per-step metrics, uploaded datasets and produced artifacts.

Metrics are stored long (one row per job, step and metric name) so that a new metric needs no
migration and a plot is one indexed query: ``WHERE job_id = ? AND name = 'loss' ORDER BY step``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Optional

from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Timezone-aware UTC now (every timestamp in the database is UTC)."""
    return datetime.now(UTC)


LOCAL_BACKEND = "local"
HF_JOBS_BACKEND = "hf-jobs"


class JobStatus(str, Enum):
    """Where a job is in its lifecycle."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(SQLModel, table=True):
    """One adaptation job and its lifecycle; ``spec_json`` is the validated JobSpec."""

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    owner: str = Field(default="local", index=True)
    status: JobStatus = Field(default=JobStatus.QUEUED, index=True)
    task: str
    method: str
    base_model: str
    spec_json: str
    priority: int = Field(default=0, index=True)
    place: int = 0
    """Order among its owner's queued jobs of equal priority (lower runs first, ties by id); "move up/down" changes it."""
    attempt: int = 0
    max_attempts: int = 3
    worker_id: Optional[str] = None
    lease_expires_at: Optional[datetime] = None
    heartbeat_at: Optional[datetime] = None
    needs_gpus: int = 1
    """GPUs the job asks for (its spec's ``resources.gpus``): a worker only claims jobs it can serve."""
    needs_processes: int = 1
    """Training processes it starts (the larger of ``resources.gpus`` and ``resources.processes``)."""
    cancel_requested: bool = False
    step: int = 0
    total_steps: Optional[int] = None
    error: Optional[str] = None
    log_tail: Optional[str] = None
    run_dir: Optional[str] = None
    created_at: datetime = Field(default_factory=utcnow, index=True)
    started_at: Optional[datetime] = None
    finished_at: Optional[datetime] = None
    backend: str = Field(default=LOCAL_BACKEND, index=True)
    """Where it runs: ``local`` (this queue's workers) or ``hf-jobs`` (Hugging Face Jobs, tracked through its API)."""
    remote_id: Optional[str] = None
    """For a remote job: ``NAMESPACE/JOB_ID`` on Hugging Face Jobs."""
    remote_url: Optional[str] = None
    group_id: Optional[str] = Field(default=None, index=True)
    """The sweep this job is one child of (``jobs.queue.sweep``); None for a job of its own."""
    group_name: Optional[str] = None
    """The sweep's name, shown on each of its children."""
    phase: Optional[str] = None
    """What a running job is doing now: ``downloading`` (its base model), ``training``; None before it starts."""
    phase_done: Optional[int] = None
    """Progress of the phase in its own unit (bytes while downloading)."""
    phase_total: Optional[int] = None
    phase_rate: Optional[float] = None
    """Units per second (bytes per second while downloading)."""


class Metric(SQLModel, table=True):
    """One measured value at one step of one job attempt (loss, learning_rate, eval_loss, ...)."""

    id: Optional[int] = Field(default=None, primary_key=True)
    job_id: int = Field(index=True, foreign_key="job.id", ondelete="CASCADE")
    attempt: int = 0
    step: int = Field(index=True)
    name: str = Field(index=True)
    value: float
    created_at: datetime = Field(default_factory=utcnow)


class Dataset(SQLModel, table=True):
    """An uploaded (or registered) data file that can be reused by several jobs."""

    id: Optional[int] = Field(default=None, primary_key=True)
    owner: str = Field(default="local", index=True)
    name: str
    path: str
    format: str
    rows: int
    columns_json: str = "[]"
    sha256: str = Field(index=True)
    size_bytes: int = 0
    created_at: datetime = Field(default_factory=utcnow)


class Artifact(SQLModel, table=True):
    """A file or folder a job produced: adapter, full model, merged model, checkpoint, model card."""

    id: Optional[int] = Field(default=None, primary_key=True)
    job_id: int = Field(index=True, foreign_key="job.id", ondelete="CASCADE")
    owner: str = Field(default="local", index=True)
    """The owner of its job (kept here too, so an artifact query can be scoped without a join)."""
    kind: str
    path: str
    size_bytes: int = 0
    created_at: datetime = Field(default_factory=utcnow)
