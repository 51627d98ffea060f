"""The job queue and everything that runs its jobs: the database side, the worker, the child process, foreground runs.

- :mod:`jobs.queue.submit`: the user's side: submit, retry, reorder, delete, get and list jobs; :mod:`jobs.queue.cancel`:
  cancel, locally or on Hugging Face Jobs; :mod:`jobs.queue.local_files`: a queued spec's local paths, checked.
- :mod:`jobs.queue.leases`: the worker's side: claim with a lease, heartbeat, finish (fenced), requeue, reap, reconcile.
- :mod:`jobs.queue.worker`: claims jobs and runs each in a supervised child process (:mod:`jobs.queue.child`, with
  :mod:`jobs.queue.child_contract` what the two agree on, and :mod:`jobs.queue.lease_watchdog` stopping it before its
  lease lapses whatever the database does).
- :mod:`jobs.queue.run`: one spec run to completion, in the foreground (``python -m jobs.queue.run SPEC.yaml``) or in a child.
- :mod:`jobs.queue.hf_jobs`: Hugging Face Jobs as a backend (:mod:`jobs.queue.remote_train` runs inside the remote job);
  :mod:`jobs.queue.sweep_plan`, :mod:`jobs.queue.sweep_rank` and :mod:`jobs.queue.sweep`: groups of jobs;
  :mod:`jobs.queue.compare`: their comparison.

This package's ``__init__`` offers the queue's database operations; import the worker, run, sweeps and comparison from
their own modules.
"""

from jobs.queue.cancel import request_cancel
from jobs.queue.leases import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    FOREGROUND_WORKER_PREFIX,
    MAX_UNCLAIMABLE_PER_CLAIM,
    ClaimedJob,
    LeaseHeartbeat,
    cancel_requested,
    claim_next_job,
    finish_job,
    foreground_worker_id,
    holds_lease,
    mark_finished,
    now_utc,
    reap_expired_leases,
    reconcile_worker,
    renew_lease,
    requeue_job,
    servable_by,
    unclaimable_reason,
)
from jobs.queue.local_files import (
    missing_data,
    prepare_for_queue,
    with_absolute_paths,
)
from jobs.queue.submit import (
    MAX_JOB_ID,
    InvalidTransition,
    JobNotFound,
    check_job_id,
    count_jobs,
    delete_job,
    download_progress,
    download_view,
    get_job,
    job_from_spec,
    job_summary,
    list_jobs,
    move_job,
    phase_text,
    retry_job,
    set_priority,
    submit_job,
)

__all__ = [
    "ClaimedJob",
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_MAX_ATTEMPTS",
    "FOREGROUND_WORKER_PREFIX",
    "InvalidTransition",
    "JobNotFound",
    "LeaseHeartbeat",
    "MAX_JOB_ID",
    "MAX_UNCLAIMABLE_PER_CLAIM",
    "cancel_requested",
    "check_job_id",
    "claim_next_job",
    "count_jobs",
    "delete_job",
    "download_progress",
    "download_view",
    "finish_job",
    "foreground_worker_id",
    "get_job",
    "holds_lease",
    "job_from_spec",
    "job_summary",
    "list_jobs",
    "mark_finished",
    "missing_data",
    "move_job",
    "now_utc",
    "phase_text",
    "prepare_for_queue",
    "reap_expired_leases",
    "reconcile_worker",
    "renew_lease",
    "request_cancel",
    "requeue_job",
    "retry_job",
    "servable_by",
    "set_priority",
    "submit_job",
    "unclaimable_reason",
    "with_absolute_paths",
]
