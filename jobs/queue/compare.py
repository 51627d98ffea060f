"""Run comparison: several jobs' settings (their specs, flattened), report metrics and final losses side by side.

The pure data behind the Jobs tab's "Compare runs": :func:`load_runs` reads each job (scoped to its owner), its spec and
its before/after report; :class:`Comparison` says which settings differ and gives the table (one row per setting or
metric, one column per job) and the CSV (one row per job). Report metrics are comparable only when the reports scored the
same held-out rows (the rows' fingerprint each report records from ``split.json``): the table shows each run's fingerprint
and :meth:`Comparison.rows_note` says when they differ or were not recorded.

    comparison = Comparison(load_runs([3, 4, 5], owner="alice"))
    comparison.differing          # ['lora.r', 'training.learning_rate']
    text = comparison.csv()
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from jobs.evaluation.report import MetricRow, format_value, scored_rows_key
from jobs.metrics import metric_series
from jobs.queue.submit import get_job
from jobs.queue.sweep_ranking import cached_report, rank_groups
from jobs.spec import JobSpec
from storage.tables import Job

SKIPPED_SETTINGS = frozenset({"name"})
"""Settings left out of a comparison: every run's name differs and says nothing about how it was trained."""
FINAL_SERIES = ("loss", "eval_loss")
DIFFERS = "≠ "
"""The mark in front of a setting that differs between the compared runs."""
ROWS_LABEL = "held-out rows (split.json)"
NOT_RECORDED = "not recorded"
ROWS_NOTE_EN: dict[str, str] = {
    "same_rows": "All {count} reports were measured on the same held-out rows (split.json fingerprint {fingerprint}).",
    "other_rows": ("⚠️ These reports were not all measured on the same held-out rows ({shown}), so their before → after metrics are "
                   "not comparable; compare runs on the same data and data.split_seed."),
    "not_recorded": NOT_RECORDED,
}
"""The words of :meth:`Comparison.rows_note` in English; the web UI's Compare view has the same keys in each language
(``compare.rows.<key>``)."""


def flatten_spec(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"training": {"learning_rate": 3e-4}}`` -> ``{"training.learning_rate": 3e-4}``; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten_spec(value, f"{path}."))
        elif path not in SKIPPED_SETTINGS:
            flat[path] = value
    return flat


def setting_text(value: Any) -> str:
    """A setting as one cell: ``3e-04`` stays ``0.0003``, a list is ``q_proj, v_proj``, nothing is empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(setting_text(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}: {setting_text(item)}" for key, item in value.items())
    return f"{value:g}" if isinstance(value, float) else str(value)


def differing_keys(settings: list[dict[str, Any]]) -> list[str]:
    """The keys whose value is not the same in every mapping (a key missing from one counts as differing), in first-seen order."""
    keys = list(dict.fromkeys(key for flat in settings for key in flat))
    return [key for key in keys if len({setting_text(flat.get(key, "∅")) for flat in settings}) > 1]


@dataclass
class RunRow:
    """One compared job: who it is, its flattened settings, its report's metrics and the last value of each loss."""

    job_id: int
    name: str
    status: str
    group: str
    """The sweep's name ("" for a job of its own)."""
    group_id: str
    settings: dict[str, Any]
    metrics: dict[str, MetricRow] = field(default_factory=dict)
    final: dict[str, float] = field(default_factory=dict)
    best_in_group: bool = False
    rows_key: str | None = None
    """The fingerprint of the held-out rows its report scored (None: no report, or one from before split.json)."""

    @property
    def rows_text(self) -> str:
        return self.rows_key[:10] if self.rows_key else NOT_RECORDED

    @property
    def short_title(self) -> str:
        """``#7``, or ``★ #7`` for the best of its sweep (a plot legend)."""
        return f"{'★ ' if self.best_in_group else ''}#{self.job_id}"

    @property
    def title(self) -> str:
        return f"{self.short_title} {self.name}"


def run_row(job: Job, best: bool = False) -> RunRow:
    """The comparison row of one job row."""
    spec = JobSpec.model_validate_json(job.spec_json).model_dump(mode="json")
    report = cached_report(job.run_dir)
    metrics = {row.name: row for row in report.metrics} if report is not None and not report.skipped else {}
    final = {name: series[-1][1] for name in FINAL_SERIES if (series := metric_series(int(job.id), name))}
    return RunRow(int(job.id), job.name, job.status.value, job.group_name or "", job.group_id or "", flatten_spec(spec), metrics, final, best,
                  scored_rows_key(report))


def load_runs(job_ids: list[int], owner: str | None = None) -> list[RunRow]:
    """The rows of ``job_ids`` (each must be ``owner``'s: another's raises JobNotFound), the best of each sweep marked."""
    jobs = [get_job(int(job_id), owner) for job_id in dict.fromkeys(job_ids)]
    best = {ranking.best for ranking in rank_groups(jobs).values()}
    return [run_row(job, job.id in best) for job in jobs]


@dataclass
class Comparison:
    """Several runs side by side: which settings differ, the table to show and the CSV to download."""

    runs: list[RunRow]

    @property
    def setting_keys(self) -> list[str]:
        return list(dict.fromkeys(key for run in self.runs for key in run.settings))

    @property
    def differing(self) -> list[str]:
        return differing_keys([run.settings for run in self.runs])

    def rows_note(self, strings: dict[str, str] = ROWS_NOTE_EN) -> str:
        """A sentence on whether the reports scored the same held-out rows ("" with fewer than two reports), worded by ``strings``
        (:data:`ROWS_NOTE_EN`, or the same keys in the page's language)."""
        measured = [run for run in self.runs if run.metrics]
        if len(measured) < 2:
            return ""
        keys = {run.rows_key for run in measured}
        if len(keys) == 1 and None not in keys:
            return strings["same_rows"].format(count=len(measured), fingerprint=measured[0].rows_text)
        shown = ", ".join(f"#{run.job_id}: {run.rows_key[:10] if run.rows_key else strings['not_recorded']}" for run in measured)
        return strings["other_rows"].format(shown=shown)

    @property
    def metric_rows(self) -> list[tuple[str, str]]:
        """(name, label) of every report metric any run has, in first-seen order."""
        seen: dict[str, str] = {}
        for run in self.runs:
            for name, row in run.metrics.items():
                seen.setdefault(name, row.label)
        return list(seen.items())

    def table(self, only_differing: bool = True) -> tuple[list[str], list[list[str]]]:
        """(header, rows) with one column per run: the differing settings (marked ≠), each metric as before → after, the last
        losses, then (unless ``only_differing``) the settings every run shares."""
        header = ["setting", *(run.title for run in self.runs)]
        differing = self.differing
        rows = [[f"{DIFFERS}{key}", *(setting_text(run.settings.get(key)) for run in self.runs)] for key in differing]
        if self.metric_rows:
            keys = [run.rows_text for run in self.runs]
            rows.append([f"{DIFFERS if len(set(keys)) > 1 else ''}{ROWS_LABEL}", *keys])
        for name, label in self.metric_rows:
            rows.append([f"{label} (before → after)", *(self._metric_cell(run, name) for run in self.runs)])
        for name in FINAL_SERIES:
            if any(name in run.final for run in self.runs):
                rows.append([f"last {name}", *(f"{run.final[name]:.4f}" if name in run.final else "–" for run in self.runs)])
        if not only_differing:
            same = [key for key in self.setting_keys if key not in differing]
            rows += [[key, *(setting_text(run.settings.get(key)) for run in self.runs)] for key in same]
        return header, rows

    @staticmethod
    def _metric_cell(run: RunRow, name: str) -> str:
        row = run.metrics.get(name)
        return "–" if row is None else f"{format_value(row.base, name)} → {format_value(row.adapted, name)}"

    def csv(self) -> str:
        """One row per run: id, name, status, group, every setting, each metric's before / after / change, the last losses."""
        metric_columns = [f"{name}.{part}" for name, _ in self.metric_rows for part in ("before", "after", "change")]
        final_columns = [f"last_{name}" for name in FINAL_SERIES]
        header = ["job_id", "name", "status", "group", "best_in_group", "held_out_rows", *self.setting_keys, *metric_columns, *final_columns]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for run in self.runs:
            metrics = []
            for name, _ in self.metric_rows:
                row = run.metrics.get(name)
                metrics += ["", "", ""] if row is None else [_number(row.base), _number(row.adapted), _number(row.delta)]
            writer.writerow([run.job_id, run.name, run.status, run.group, "yes" if run.best_in_group else "", run.rows_key or "",
                             *(setting_text(run.settings.get(key)) for key in self.setting_keys), *metrics,
                             *(_number(run.final.get(name)) for name in FINAL_SERIES)])
        return buffer.getvalue()


def _number(value: float | None) -> str:
    return "" if value is None else repr(float(value))
