"""A short chaos run in the suite: ``bench/chaos.py`` with a few tiny jobs on SQLite, as a real subprocess.

Three real workers (one ``--gpus 0,1``) train four tiny jobs (LoRA, classification, one that fails on purpose, one
cancelled) while the driver SIGKILLs workers, sub-workers and children. 2-process jobs, whose three processes take
~30 s to start on a 2-core machine, are left to the bench (test_worker_supervision kills the worker of one).
Jobs get the queue's default number of attempts (3). The run must end with every job in the terminal state its kind
expects, for the reason its kind expects (or failed once every attempt was killed), loadable artifacts, no orphan seen
during the run (sampled every 50 ms) nor left at the end, no attempt alive past its lease, no two live attempts of a
job, no duplicated attempt start and no metric row from an attempt that had lost its lease.
The full run (60 jobs, SQLite and PostgreSQL with a server restart) is ``make bench`` / ``bench/chaos.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_a_short_chaos_run_loses_no_job_and_leaves_no_process(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("ADAPTA_DB_URL", None)
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "chaos.py"), "--db", "sqlite", "--jobs", "4", "--kinds", "lora,classify,fail,cancel",
         "--kill-every", "10", "--seed", "3", "--timeout", "240", "--json", "--no-save"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=420,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result (exit {run.returncode}):\n{run.stderr[-3000:]}"
    result = json.loads(lines[-1])
    assert result["max_attempts"] == 3, "the chaos run must use the queue's default attempts"
    assert result["kills_survived"] >= 1, result  # how many kills land depends on how fast the jobs run (2-3 on 2 busy cores)
    assert result["process_samples"] > 100 and result["lease_checks"] > 10, result
    assert result["jobs_lost"] == 0, result["lost"]
    assert result["broken_artifacts"] == [], result["broken_artifacts"]
    assert result["orphans_found"] == 0, result["orphans"]
    assert result["attempts_outliving_lease"] == 0, result["outlived"]
    assert result["overlapping_attempts"] == 0 and result["duplicate_attempt_starts"] == 0, result["overlaps"]
    assert result["metric_rows"] > 0 and result["unfenced_metric_rows"] == 0, result["unfenced"]
    assert run.returncode == 0 and result["ok"]
