"""Run one JobSpec to completion: the code path shared by ``launch.py train`` and the worker's child.

``execute_run(spec, run_dir, job_id=...)`` first checks the data (``data_check.json``: data holding secrets is refused here,
see :mod:`jobs.data.doctor_notes`), then makes the base model present (a Hub model not yet cached is
downloaded, its progress recorded as the job's ``downloading`` phase), writes ``spec.yaml`` pinned to the model's
commit, streams metrics, trains through the trainer registry, scores the base and the adapted model on held-out
rows (the ``evaluating`` phase, ``eval_report.json``), then writes ``summary.json`` and the model card (with the
report's table) and records the artifacts.
``train_in_foreground(spec)`` wraps it with a job row of its own (running → succeeded | failed) so a
foreground run shows up in ``launch.py jobs`` like a queued one.

    python -m jobs.queue.run SPEC.yaml [--output DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from jobs.data.doctor_notes import check_job_data, data_check_line, read_data_check
from jobs.errors import AdaptaError
from jobs.evaluation.registry import evaluate_run
from jobs.evaluation.report import report_headline
from jobs.export.model_card import render_model_card
from jobs.hub.download import DownloadBar, DownloadProgress
from jobs.hub.fetch import fetch_base_model
from jobs.metrics import MetricsSink
from jobs.queue.leases import DEFAULT_LEASE_SECONDS, LeaseHeartbeat, finish_job, foreground_worker_id
from jobs.queue.local_files import with_absolute_paths
from jobs.queue.submit import job_from_spec
from jobs.spec import HUB_DATA_PREFIX, JobSpec, load_spec
from jobs.spec.compat import collect_spec_warnings
from jobs.trainers.accelerators import check_process_count
from jobs.trainers.registry import get_trainer
from storage.db import database_now, session_scope
from storage.paths import data_home
from storage.tables import Artifact, Job, JobStatus


def _folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _summary(spec: JobSpec, outcome: Any) -> dict[str, Any]:
    summary = asdict(outcome)
    summary["output_folder"] = str(outcome.output_folder)
    summary["data"] = {"train_file": spec.data.train, "format": outcome.data_format, "columns": outcome.data_mapping}
    if spec.data.from_hub:
        summary["data"].update(hub_dataset=spec.data.train.removeprefix(HUB_DATA_PREFIX), config=spec.data.config, split=spec.data.split)
    summary["spec_name"] = spec.display_name
    summary["base_model"] = spec.base_model
    summary["base_model_revision"] = spec.base_model_revision
    return summary


class DownloadReporter:
    """Turns download progress into the job's ``downloading`` phase (at most one database write a second) and a CLI bar."""

    def __init__(self, sink: MetricsSink, show_progress: bool = False, every_seconds: float = 1.0):
        self.sink, self.every_seconds = sink, every_seconds
        self.last_write = 0.0
        self.bar = DownloadBar() if show_progress else None

    def __call__(self, progress: DownloadProgress) -> None:
        now = time.monotonic()
        if progress.finished or now - self.last_write >= self.every_seconds:
            self.last_write = now
            self.sink.record_phase("downloading", progress.done_bytes, progress.total_bytes, progress.bytes_per_second)
        if self.bar is not None:
            self.bar(progress)


def execute_run(
    spec: JobSpec,
    run_dir: Path,
    *,
    job_id: int | None = None,
    attempt: int = 0,
    worker_id: str | None = None,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Train ``spec`` into ``run_dir`` and write its outputs; returns the summary dict."""
    check_process_count(spec)  # launch.py train runs one process: a spec asking for more is refused, not trained as one
    run_dir.mkdir(parents=True, exist_ok=True)
    is_rank_zero = int(os.environ.get("RANK", "0")) == 0
    sink = MetricsSink(run_dir / "metrics.jsonl", job_id=job_id, attempt=attempt, worker_id=worker_id)
    if is_rank_zero:  # runs/<job>/data_check.json; data with secrets is refused here, before a download or a step
        check_job_data(spec, run_dir)
    spec = fetch_base_model(spec, on_progress=DownloadReporter(sink, show_progress) if is_rank_zero else None, job_id=job_id)
    if is_rank_zero:
        (run_dir / "spec.yaml").write_text(spec.to_yaml(), encoding="utf-8")
        sink.record_phase("training")
    trainer = get_trainer(spec.task)
    outcome = trainer(spec, run_dir, sink, show_progress=show_progress, stop_file=run_dir / "STOP")
    summary = _summary(spec, outcome)
    if not outcome.is_main_process:
        return summary
    summary["data_check"] = data_check_line(read_data_check(run_dir))
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    report = evaluate_run(spec, run_dir, outcome, sink)
    summary["report"] = report_headline(report)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    card = render_model_card(spec, summary, outcome.output_folder.name, report=report)
    (run_dir / "README.md").write_text(card, encoding="utf-8")
    (outcome.output_folder / "README.md").write_text(card, encoding="utf-8")
    if job_id is not None:
        with session_scope() as session:
            folder = outcome.output_folder
            job = session.get(Job, job_id)
            owner = job.owner if job is not None else "local"
            session.add(Artifact(job_id=job_id, owner=owner, kind=folder.name, path=str(folder), size_bytes=_folder_size(folder)))
    return summary


def create_running_job_row(spec: JobSpec, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> int:
    """Insert a job row for a run starting now in this process (attempt 1, leased to :func:`foreground_worker_id`); return its id.

    The row holds a lease like a queued job's: if this process dies without renewing it, the reaper fails the job
    ("interrupted"), and it can then be retried or deleted."""
    spec = with_absolute_paths(spec)  # a retry runs it from a worker, in another folder
    with session_scope() as session:
        moment = database_now(session)
        job = job_from_spec(spec, status=JobStatus.RUNNING, started_at=moment, attempt=1, worker_id=foreground_worker_id(),
                            heartbeat_at=moment, lease_expires_at=moment + timedelta(seconds=lease_seconds))
        session.add(job)
        session.flush()
        return int(job.id)


def train_in_foreground(spec: JobSpec, output_dir: Path | None = None, show_progress: bool = True) -> tuple[int, dict[str, Any]]:
    """Run a spec now, in this process, tracked by a leased job row it heartbeats; returns (job id, summary)."""
    home = data_home()
    job_id = create_running_job_row(spec, DEFAULT_LEASE_SECONDS)
    worker_id = foreground_worker_id()
    run_dir = Path(output_dir).absolute() if output_dir else home.run_dir(job_id)
    with session_scope() as session:
        job = session.get(Job, job_id)
        job.run_dir = str(run_dir)
        session.add(job)
    run_dir.mkdir(parents=True, exist_ok=True)
    # A lost lease (this process stalled past it and was reaped) stops training at the next step, as a cancel would.
    heartbeat = LeaseHeartbeat(job_id, worker_id, 1, lease_seconds=DEFAULT_LEASE_SECONDS, on_lost=lambda: (run_dir / "STOP").touch()).start()

    def finish(status: JobStatus, error: str | None = None) -> None:
        heartbeat.stop()
        finish_job(job_id, worker_id, 1, status, error=error)

    try:
        summary = execute_run(spec, run_dir, job_id=job_id, attempt=1, worker_id=worker_id, show_progress=show_progress)
    except AdaptaError as error:
        finish(JobStatus.FAILED, str(error))
        raise
    except KeyboardInterrupt:
        finish(JobStatus.CANCELLED, "stopped from the keyboard")
        raise
    except Exception as error:
        finish(JobStatus.FAILED, f"{type(error).__name__}: {error}")
        raise
    finish(JobStatus.SUCCEEDED)
    return job_id, summary


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.queue.run SPEC.yaml [--output DIR]``: exit 0 on success, 2 with one line on bad input."""
    parser = argparse.ArgumentParser(prog="python -m jobs.queue.run", description="Run one Adapta job spec in the foreground.")
    parser.add_argument("spec", help="path to a YAML job spec")
    parser.add_argument("--output", help="run folder (default: <ADAPTA_HOME>/runs/<job id>)")
    args = parser.parse_args(argv)
    try:
        with collect_spec_warnings() as notes:
            spec = load_spec(args.spec)
        for note in notes:
            print(f"warning: {note}", file=sys.stderr)
        job_id, summary = train_in_foreground(spec, Path(args.output) if args.output else None, show_progress=True)
    except AdaptaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    first, last = summary["first_loss"], summary["last_loss"]
    losses = f"loss {first:.4f} -> {last:.4f}" if first is not None and last is not None else "no loss logged"
    print(f"job {job_id} finished: {summary['global_step']} steps, {losses}; outputs in {Path(summary['output_folder']).parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
