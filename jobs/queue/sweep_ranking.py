"""How a group of jobs (a sweep) is ranked: each finished child's score on the group's metric, and the best child.

The best child is the one with the best adapted value of its report's main metric (:meth:`EvalReport.main`), or the
lowest final eval loss for children without a report; an Optuna sweep may name the metric in its ``sweep.json``
(under :func:`sweeps_root`, written by :mod:`jobs.queue.sweep`). Only children measured on the same held-out rows are
ranked against each other (the rows' fingerprint from the report, or from ``split.json`` for an eval loss); a child
measured on other rows, or whose rows were not recorded, is left out of the ranking and the summary says so.

    labels = group_labels(jobs)               # job id -> the group's name, ★ on its best child
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.data.split import SPLIT_FILE, SplitUnusable, read_split
from jobs.evaluation.report import REPORT_FILE, EvalReport, read_report, scored_rows_key
from jobs.metrics import metric_series
from storage.paths import data_home, safe_name
from storage.tables import Job, JobStatus

SUMMARY_EN: dict[str, str] = {
    "line": "{name}: {count} jobs ({states})",
    "best": "; best: #{job} with {label} {value} ({direction} is best)",
    "highest": "highest",
    "lowest": "lowest",
    "not_ranked": ("; not ranked: {shown} (measured on other held-out rows than the rest, or rows not recorded, so their scores are "
                   "not comparable)"),
    **{f"status.{status.value}": status.value for status in JobStatus},
}
"""The words of :meth:`GroupRanking.summary` in English; the web UI's Compare view has the same keys in each language
(``sweep.<key>``)."""
SWEEP_FILE = "sweep.json"


def sweeps_root() -> Path:
    """``<data home>/sweeps``: one folder per Optuna sweep (``sweep.json``, ``study.db``)."""
    return data_home().root / "sweeps"


def sweep_record(folder: Path) -> dict[str, Any] | None:
    """An Optuna sweep's ``sweep.json`` (what to queue, how to rank), or None when it is missing or unreadable."""
    try:
        return json.loads((folder / SWEEP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class Score:
    """What a finished child scored on the metric that ranks its group."""

    value: float
    metric: str
    label: str
    higher_is_better: bool
    rows: str | None = None
    """The fingerprint of the held-out rows it was measured on (None: not recorded)."""


_report_cache: dict[str, tuple[int, EvalReport | None]] = {}
_split_cache: dict[str, tuple[int, str | None]] = {}


def recorded_rows_key(run_dir: str | None) -> str | None:
    """The fingerprint of the held-out rows in the run's ``split.json`` (read again only when it changed), or None."""
    if not run_dir:
        return None
    try:
        stamp = (Path(run_dir) / SPLIT_FILE).stat().st_mtime_ns
    except OSError:
        return None
    cached = _split_cache.get(run_dir)
    if cached is None or cached[0] != stamp:
        try:
            split = read_split(run_dir)
        except SplitUnusable:  # an unreadable split.json records nothing
            split = None
        cached = (stamp, split.fingerprint if split is not None else None)
        _split_cache[run_dir] = cached
    return cached[1]


def cached_report(run_dir: str | None) -> EvalReport | None:
    """The run's report, read again only when its file changed (the Jobs tab asks every poll)."""
    if not run_dir:
        return None
    path = Path(run_dir) / REPORT_FILE
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    cached = _report_cache.get(run_dir)
    if cached is None or cached[0] != stamp:
        cached = (stamp, read_report(run_dir))
        _report_cache[run_dir] = cached
    return cached[1]


def job_score(job: Job, metric: str = "auto") -> Score | None:
    """A succeeded job's score: the adapted value of its report's main metric (or of ``metric``), else its last eval loss."""
    if job.status is not JobStatus.SUCCEEDED:
        return None
    report = cached_report(job.run_dir)
    if report is not None and not report.skipped:
        row = report.main() if metric == "auto" else report.metric(metric)
        if row is not None and row.adapted is not None and math.isfinite(row.adapted):
            return Score(float(row.adapted), row.name, row.label, row.higher_is_better, scored_rows_key(report))
    if metric in ("auto", "eval_loss"):
        series = metric_series(int(job.id), "eval_loss")
        if series:
            return Score(float(series[-1][1]), "eval_loss", "eval loss", False, recorded_rows_key(job.run_dir))
    return None


@dataclass
class GroupRanking:
    """The children of one group ranked by one metric; ``best`` is None until one has a score."""

    group_id: str
    group_name: str
    jobs: list[Job]
    scores: dict[int, Score]
    metric: str | None
    best: int | None
    unranked: list[int] = field(default_factory=list)
    """Scored children left out of the ranking: measured on other held-out rows than the rest, or rows not recorded."""

    def summary(self, strings: dict[str, str] = SUMMARY_EN) -> str:
        """One line: how many children in which status, and the best one with its value, worded by ``strings``
        (:data:`SUMMARY_EN`, or the same keys in the page's language)."""
        counts = Counter(job.status.value for job in self.jobs)
        states = ", ".join(f"{count} {strings.get(f'status.{status}', status)}" for status, count in sorted(counts.items()))
        line = strings["line"].format(name=self.group_name, count=len(self.jobs), states=states)
        if self.best is not None:
            score = self.scores[self.best]
            line += strings["best"].format(job=self.best, label=score.label, value=f"{score.value:.4g}",
                                           direction=strings["highest" if score.higher_is_better else "lowest"])
        if self.unranked:
            line += strings["not_ranked"].format(shown=", ".join(f"#{job_id}" for job_id in self.unranked))
        return line


def sweep_metric(group_id: str) -> str:
    """The metric an Optuna sweep named (``auto`` for a grid)."""
    record = sweep_record(sweeps_root() / safe_name(group_id))
    return record["sweep"].get("metric", "auto") if record else "auto"


def rank_group(jobs: list[Job], metric: str | None = None) -> GroupRanking:
    """Rank one group's children: every scored child on the metric most of them report; the best by its direction."""
    first = jobs[0]
    metric = metric or sweep_metric(first.group_id or "")
    scores = {int(job.id): score for job in jobs if (score := job_score(job, metric)) is not None}
    common = Counter(score.metric for score in scores.values()).most_common(1)
    chosen = common[0][0] if common else None
    scores = {job_id: score for job_id, score in scores.items() if score.metric == chosen}
    rows = Counter(score.rows for score in scores.values() if score.rows).most_common(1)
    same_rows = rows[0][0] if rows else None
    unranked = sorted(job_id for job_id, score in scores.items() if score.rows is None or score.rows != same_rows)
    ranked = {job_id: score for job_id, score in scores.items() if job_id not in unranked}
    best = None
    if ranked:
        pick = max if next(iter(ranked.values())).higher_is_better else min
        best = pick(ranked, key=lambda job_id: ranked[job_id].value)
    return GroupRanking(first.group_id or "", first.group_name or "", jobs, scores, chosen, best, unranked)


def rank_groups(jobs: Iterable[Job]) -> dict[str, GroupRanking]:
    """Every group among ``jobs`` ranked (group id -> ranking)."""
    grouped: dict[str, list[Job]] = {}
    for job in jobs:
        if job.group_id:
            grouped.setdefault(job.group_id, []).append(job)
    return {group_id: rank_group(children) for group_id, children in grouped.items()}


def group_labels(jobs: list[Job]) -> dict[int, str]:
    """job id -> what the Jobs tab shows in its group column: the group's name, with ★ on its best child."""
    labels = {}
    for ranking in rank_groups(jobs).values():
        for job in ranking.jobs:
            labels[int(job.id)] = f"★ {ranking.group_name}" if job.id == ranking.best else ranking.group_name
    return labels
