"""Processes for the queue concurrency tests: ``claim-loop WORKER`` and ``submit N SPEC_JSON``.

Each runs as its own ``python -m tests.jobs.queue.queue_scripts`` process against ADAPTA_DB_URL / ADAPTA_HOME.
``claim-loop`` claims until the queue is empty and records each run in the UNIQUE table ``run_once``:
a job run twice would violate the primary key.
"""

from __future__ import annotations

import json
import sys

from sqlalchemy import text

from jobs.queue import claim_next_job, finish_job, submit_job
from storage.db import get_engine
from storage.tables import JobStatus


def claim_loop(worker_id: str) -> int:
    ran = 0
    while (claimed := claim_next_job(worker_id, lease_seconds=60)) is not None:
        with get_engine().begin() as connection:
            connection.execute(text("INSERT INTO run_once (job_id, worker) VALUES (:job, :worker)"), {"job": claimed.id, "worker": worker_id})
        if not finish_job(claimed.id, worker_id, claimed.attempt, JobStatus.SUCCEEDED):
            raise SystemExit(f"finish of job {claimed.id} was fenced out unexpectedly")
        ran += 1
    print(ran)
    return 0


def submit_many(count: int, spec_json: str) -> int:
    ids = [submit_job(json.loads(spec_json)) for _ in range(count)]
    print(json.dumps(ids))
    return 0


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "claim-loop":
        sys.exit(claim_loop(sys.argv[2]))
    sys.exit(submit_many(int(sys.argv[2]), sys.argv[3]))
