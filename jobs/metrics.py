"""Where per-step training metrics go: ``runs/<job>/metrics.jsonl`` and the database, as they happen.

One :class:`MetricsSink` per run. ``record(step, {"loss": ..., "learning_rate": ...})`` appends a JSON
line (flushed, so a crash loses nothing already logged) and, when the run belongs to a job row, inserts
one ``Metric`` row per value and moves the job's ``step``/``total_steps``. The UI polls those rows;
nobody parses stdout.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, select

from storage.db import session_scope
from storage.tables import Job, JobStatus, Metric


class MetricsSink:
    """Appends metrics to a JSONL file and, if ``job_id`` is given, to the job's metric rows."""

    def __init__(self, jsonl_path: Path, job_id: int | None = None, attempt: int = 0, worker_id: str | None = None):
        self.jsonl_path = jsonl_path
        self.job_id = job_id
        self.attempt = attempt
        self.worker_id = worker_id
        jsonl_path.parent.mkdir(parents=True, exist_ok=True)

    def _append(self, line: dict[str, Any]) -> None:
        with self.jsonl_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")

    @contextmanager
    def _owned_job(self) -> Iterator[tuple[Session, Job] | None]:
        """(session, job row) in one transaction, or None when the run has no row or no longer owns it (fenced)."""
        if self.job_id is None:
            yield None
            return
        with session_scope() as session:  # the row lock (PostgreSQL) keeps a reaper or claim from slipping in before the insert
            job = session.get(Job, self.job_id, with_for_update=self.worker_id is not None)
            fenced_out = self.worker_id is not None and (job is None or job.worker_id != self.worker_id or job.attempt != self.attempt
                                                         or job.status is not JobStatus.RUNNING)
            if job is None or fenced_out:
                yield None
                return
            yield session, job
            session.add(job)

    def record(self, step: int, values: dict[str, float], total_steps: int | None = None) -> None:
        """Write one line and the matching database rows; non-finite values are kept in the file only."""
        clean = {name: float(value) for name, value in values.items() if isinstance(value, (int, float))}
        self._append({"step": step, "time": round(time.time(), 3), **clean})
        with self._owned_job() as owned:
            if owned is None:
                return
            session, job = owned
            for name, value in clean.items():
                if math.isfinite(value):
                    session.add(Metric(job_id=self.job_id, attempt=self.attempt, step=step, name=name, value=value))
            job.step = max(job.step if job.attempt == self.attempt else 0, step)
            if total_steps:
                job.total_steps = total_steps

    def record_phase(self, phase: str, done: int | None = None, total: int | None = None, rate: float | None = None) -> None:
        """Say what the run is doing (``downloading`` with bytes done/total/rate, ``training``): one JSON line and the job row."""
        self._append({"time": round(time.time(), 3), "phase": phase, "done": done, "total": total, "rate": None if rate is None else round(rate, 1)})
        with self._owned_job() as owned:
            if owned is not None:
                owned[1].phase, owned[1].phase_done, owned[1].phase_total, owned[1].phase_rate = phase, done, total, rate

    def set_total_steps(self, total_steps: int) -> None:
        """Tell the job row how many optimizer steps the run will take."""
        if self.job_id is None:
            return
        with session_scope() as session:
            job = session.get(Job, self.job_id)
            if job is not None:
                job.total_steps = total_steps
                session.add(job)


def read_metrics_jsonl(path: Path, *, phases: bool = False) -> list[dict[str, Any]]:
    """The per-step metric lines of a run (with ``phases=True`` the phase lines instead: download progress and the like),
    skipping a torn last line left by a crash."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and ("phase" in row) == phases:
            rows.append(row)
    return rows


PLOT_POINTS = 120
"""The most points a live curve reads and draws (plus the last step). Drawing costs the browser about as much as reading costs
the server: at 300 points per curve, opening the Jobs tab blocked the page for about a second on a 2-core machine."""


def metric_series(job_id: int, name: str, limit: int | None = None) -> list[tuple[int, float]]:
    """(step, value) pairs of one metric of one job, the latest attempt's value winning per step.

    With ``limit`` (the live plots, polled every two seconds while a job trains) the series is thinned to about ``limit``
    points evenly spaced over the run: every k-th step, k chosen from the last step, and the last step always, so the curve
    still ends where the run is and the rows read stay bounded however long the job has run.
    """
    condition = (Metric.job_id == job_id, Metric.name == name)
    with session_scope() as session:  # two columns, not whole rows: a long run has thousands per series
        query = select(Metric.step, Metric.value).where(*condition)
        if limit is not None:
            last = session.exec(select(func.max(Metric.step)).where(*condition)).first()
            if last is None:
                return []
            stride = max(1, -(-int(last) // max(1, limit)))
            if stride > 1:
                query = query.where(or_(Metric.step % stride == 0, Metric.step == last))
        rows = session.exec(query.order_by(Metric.step, Metric.attempt)).all()
    by_step: dict[int, float] = {}
    for step, value in rows:
        by_step[int(step)] = float(value)
    return sorted(by_step.items())


def last_metric(job_id: int, name: str) -> float | None:
    """The value of one metric at the latest step of one job (latest attempt), or None: one row read, not the series."""
    with session_scope() as session:
        return session.exec(select(Metric.value).where(Metric.job_id == job_id, Metric.name == name)
                            .order_by(Metric.step.desc(), Metric.attempt.desc()).limit(1)).first()
