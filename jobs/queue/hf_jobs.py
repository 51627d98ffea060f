"""The Hugging Face Jobs backend: send a job to Hub hardware instead of a local worker, and track it in the same Jobs table.

The remote job runs the user's Adapta Space as its image (``hf.co/spaces/OWNER/NAME``, deployed with
``launch.py deploy-space``) with the command ``python launch.py remote-train``: the spec travels as the
``ADAPTA_SPEC`` environment variable, the token as the ``HF_TOKEN`` secret (encrypted by the Hub, never written
here), and the result is pushed to ``ADAPTA_PUSH_REPO`` with its model card (:mod:`jobs.queue.remote_train`, the side that
trains). So the spec must name a Hub model and a Hub dataset (``hub:OWNER/NAME``): nothing on this machine is reachable from
there. This module is the side that sends, watches and cancels: it never loads the trainers.

Locally the row has ``backend = hf-jobs`` (local workers never claim it) and mirrors the remote stage:
SCHEDULING → queued, RUNNING → running, COMPLETED → succeeded, ERROR → failed, CANCELED/DELETED → cancelled.
A :class:`RemoteTracker` thread (started by ``launch.py`` with the worker) calls :func:`refresh_remote_jobs`; the token
used for tracking is kept in this process's memory (or comes from ``HF_TOKEN`` / the machine's Hugging Face login),
never in the database.

    job_id = submit_remote_job(spec, token=token, push_repo="ada/planets-lora", image_space="ada/adapta", flavor="a10g-small")
    refresh_remote_job(job_id)
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from sqlmodel import col, select

from jobs.errors import AdaptaError
from jobs.export.hub_client import hub_api, hub_unreachable, valid_repo_id
from jobs.queue.leases import mark_finished
from jobs.queue.submit import InvalidTransition, get_job, job_from_spec
from jobs.spec import HUB_DATA_PREFIX, JobSpec
from storage.db import session_scope
from storage.tables import HF_JOBS_BACKEND, Job, JobStatus, utcnow

DEFAULT_FLAVOR = "t4-small"
FLAVORS = ("cpu-basic", "cpu-upgrade", "t4-small", "t4-medium", "l4x1", "l40sx1", "a10g-small", "a10g-large", "a100-large", "h200")
DEFAULT_TIMEOUT = "2h"
REMOTE_COMMAND = ["python", "launch.py", "remote-train"]
STAGES = {"SCHEDULING": JobStatus.QUEUED, "RUNNING": JobStatus.RUNNING, "COMPLETED": JobStatus.SUCCEEDED, "ERROR": JobStatus.FAILED,
          "CANCELED": JobStatus.CANCELLED, "DELETED": JobStatus.CANCELLED}
REFRESH_EVERY_SECONDS = 15.0
LOG_LINES = 40

_tokens: dict[int, str] = {}  # job id -> token, this process only
_tokens_lock = threading.Lock()


def _check_remote_spec(spec: JobSpec) -> None:
    if Path(spec.base_model).expanduser().exists() or not valid_repo_id(spec.base_model):
        raise AdaptaError(f"base_model {spec.base_model} is not a Hub model id; a Hugging Face Jobs run can only load models from the Hub "
                          "(use OWNER/NAME, or push the model first)")
    if not spec.data.from_hub:
        raise AdaptaError(f"data.train {spec.data.train} is a file on this machine; a Hugging Face Jobs run reads data from the Hub: push it "
                          f"as a dataset and use {HUB_DATA_PREFIX}OWNER/NAME, or run the job locally")
    if isinstance(spec.data.validation, str) and Path(spec.data.validation).exists():
        raise AdaptaError("data.validation is a file on this machine; on Hugging Face Jobs use a fraction or a split name of the Hub dataset")


def _remember(job_id: int, token: str | None) -> None:
    if token:
        with _tokens_lock:
            _tokens[job_id] = token


def _token_for(job_id: int, token: str | None = None) -> str:
    from huggingface_hub import get_token

    with _tokens_lock:
        found = token or _tokens.get(job_id)
    found = found or os.environ.get("HF_TOKEN") or get_token()
    if not found:
        raise AdaptaError(f"job {job_id} runs on Hugging Face Jobs and no token is at hand to ask about it (this server restarted?); "
                          "set HF_TOKEN or sign in with `hf auth login`")
    return found


def submit_remote_job(spec: JobSpec, *, token: str | None, push_repo: str, image_space: str | None = None, flavor: str = DEFAULT_FLAVOR,
                      timeout: str = DEFAULT_TIMEOUT, private: bool = True, owner: str = "local") -> int:
    """Check the spec, record the job and start it on Hugging Face Jobs; returns the local job id."""
    _check_remote_spec(spec)
    image_space = (image_space or os.environ.get("SPACE_ID") or "").strip()
    if not valid_repo_id(image_space):
        raise AdaptaError("name the Adapta Space to run (OWNER/NAME, deployed with `launch.py deploy-space`): its image runs the job")
    if not valid_repo_id(push_repo):
        raise AdaptaError(f"{push_repo!r} is not a repository id; the result is pushed to OWNER/NAME")
    if flavor not in FLAVORS:
        raise AdaptaError(f"flavor {flavor!r} is not a Hugging Face Jobs hardware flavor; use one of {', '.join(FLAVORS)}")
    if not token:
        raise AdaptaError("a Hugging Face token with write access is needed to start a job (it is used for this call and handed to the job only)")
    api = hub_api(token)
    with session_scope() as session:
        job = job_from_spec(spec, owner=owner, status=JobStatus.QUEUED, backend=HF_JOBS_BACKEND, worker_id=f"{HF_JOBS_BACKEND}:{flavor}",
                            max_attempts=1)
        session.add(job)
        session.flush()
        job_id = int(job.id)
    try:
        info = api.run_job(image=f"hf.co/spaces/{image_space}", command=REMOTE_COMMAND, flavor=flavor, timeout=timeout,
                           env={"ADAPTA_SPEC": spec.to_yaml(), "ADAPTA_PUSH_REPO": push_repo, "ADAPTA_PUSH_PRIVATE": "1" if private else "0"},
                           secrets={"HF_TOKEN": token}, labels={"adapta-job": str(job_id)}, name=f"adapta-{job_id}")
    except Exception as error:
        message = _hub_error(error, "start the job")
        mark_finished(job_id, JobStatus.FAILED, message)
        raise AdaptaError(message) from None
    _remember(job_id, token)
    with session_scope() as session:
        row = session.get(Job, job_id)
        row.remote_id, row.remote_url = f"{info.owner.name}/{info.id}", info.url
        row.log_tail = f"sent to Hugging Face Jobs ({flavor}); the result goes to {push_repo}"
        session.add(row)
    return job_id


def _hub_error(error: Exception, action: str) -> str:
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(error, HfHubHTTPError):
        status = getattr(error.response, "status_code", None)
        if status in (401, 403):
            return f"the Hub refused the token ({status}) when trying to {action}; use a token with write access (and Jobs enabled)"
        return f"the Hub could not {action}: {str(error).splitlines()[0]}"
    if isinstance(error, AdaptaError):
        return str(error)
    return str(hub_unreachable(error))


def _remote(job_id: int, owner: str | None = None) -> Job:
    job = get_job(job_id, owner=owner)
    if job.backend != HF_JOBS_BACKEND or not job.remote_id:
        raise AdaptaError(f"job {job_id} does not run on Hugging Face Jobs")
    return job


def refresh_remote_job(job_id: int, token: str | None = None) -> JobStatus:
    """Ask Hugging Face Jobs where the job is; update the row's status, times, error and log tail."""
    job = _remote(job_id)
    if job.status.finished:
        return job.status
    api = hub_api(_token_for(job_id, token))
    namespace, remote = job.remote_id.split("/", 1)
    try:
        info = api.inspect_job(job_id=remote, namespace=namespace)
        lines = [line for line in api.fetch_job_logs(job_id=remote, namespace=namespace, follow=False)][-LOG_LINES:]
    except Exception as error:
        raise AdaptaError(_hub_error(error, f"report on job {job_id}")) from None
    stage = str(getattr(info.status.stage, "value", info.status.stage))
    status = STAGES.get(stage, JobStatus.RUNNING)
    with session_scope() as session:
        row = session.get(Job, job_id)
        row.status = status
        if status is JobStatus.RUNNING and row.started_at is None:
            row.started_at = info.started_at or utcnow()
        if status.finished:
            row.finished_at = info.finished_at or utcnow()
            if status is JobStatus.FAILED:
                row.error = f"Hugging Face Jobs reported an error: {info.status.message or 'see the log'}"
            elif status is JobStatus.CANCELLED:
                row.error = info.status.message or "cancelled on Hugging Face Jobs"
        if lines:
            row.log_tail = "\n".join(lines)
        session.add(row)
    if status.finished:
        with _tokens_lock:
            _tokens.pop(job_id, None)
    return status


def refresh_remote_jobs() -> list[int]:
    """Refresh every unfinished remote job (the tracker calls this every few seconds); returns the ids refreshed."""
    with session_scope() as session:
        ids = session.exec(select(Job.id).where(Job.backend == HF_JOBS_BACKEND, col(Job.status).in_([JobStatus.QUEUED, JobStatus.RUNNING]))).all()
    refreshed = []
    for job_id in ids:
        try:
            refresh_remote_job(int(job_id))
            refreshed.append(int(job_id))
        except AdaptaError as error:
            print(f"hf-jobs: job {job_id}: {error}", file=sys.stderr)
    return refreshed


def cancel_remote_job(job_id: int, owner: str | None = None, token: str | None = None) -> JobStatus:
    """Cancel the job on Hugging Face Jobs and mark it cancelled here."""
    job = _remote(job_id, owner)
    if job.status.finished:
        raise InvalidTransition(f"job {job_id} is already {job.status.value}; only queued or running jobs can be cancelled")
    api = hub_api(_token_for(job_id, token))
    namespace, remote = job.remote_id.split("/", 1)
    try:
        api.cancel_job(job_id=remote, namespace=namespace)
    except Exception as error:
        raise AdaptaError(_hub_error(error, f"cancel job {job_id}")) from None
    mark_finished(job_id, JobStatus.CANCELLED, "cancelled from Adapta")
    return JobStatus.CANCELLED


class RemoteTracker:
    """A daemon thread that refreshes the unfinished remote jobs every ``interval`` seconds until stopped."""

    def __init__(self, interval: float | None = None):
        self.interval = interval or float(os.environ.get("ADAPTA_HF_JOBS_POLL_SECONDS", REFRESH_EVERY_SECONDS))
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="adapta-hf-jobs", daemon=True)

    def _loop(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                refresh_remote_jobs()
            except Exception as error:  # noqa: BLE001 - a database or network hiccup must not end tracking
                print(f"hf-jobs: {type(error).__name__}: {error}", file=sys.stderr)

    def start(self) -> RemoteTracker:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
