"""The before/after report: what it holds, how it is stored (``runs/<job>/eval_report.json``) and shown.

An :class:`EvalReport` compares the base model with the adapted model on the same held-out rows: a table of metrics
(before, after, which direction is better), one :class:`ExampleScore` per scored row (so a reader sees which examples
flipped), and a sentence saying what it was measured on. A job without a report still writes the file, holding
only ``skipped`` with the reason, so every finished job can say why there are no numbers.

Every task's evaluator (:mod:`jobs.evaluation.text`, :mod:`jobs.evaluation.images`, ...) returns one of these; the
Jobs tab, the model card, ``launch.py report ID``, ``/job_report`` and run comparison read it through
:func:`read_report` only.

    report = read_report(run_dir)
    print(report_markdown(report))
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

REPORT_FILE = "eval_report.json"
SPLIT_NOT_RECORDED = ("split not recorded: this report is from before Adapta wrote split.json, so which rows it scored (and whether "
                      "any were trained on) cannot be checked")
Change = Literal["better", "worse", "same"]


@dataclass
class MetricRow:
    """One metric, before (the base model or a baseline) and after adaptation."""

    name: str
    """A stable key: ``answer_loss``, ``exact_match``, ``accuracy``, ``ndcg@10`` ..."""
    label: str
    """How a person reads it: "Answer loss", "Exact match"."""
    base: float | None
    adapted: float | None
    higher_is_better: bool

    @property
    def delta(self) -> float | None:
        """adapted - base, or None when either is missing."""
        if self.base is None or self.adapted is None:
            return None
        return self.adapted - self.base

    @property
    def improved(self) -> bool | None:
        """True when the adapted value is better than the base value (None when it cannot be said)."""
        delta = self.delta
        if delta is None or delta == 0:
            return None if delta is None else False
        return delta > 0 if self.higher_is_better else delta < 0


@dataclass
class ExampleScore:
    """One held-out row, scored for both models; ``change`` compares the two scores (higher score is better)."""

    row: int | None
    """The row number in the data file (1-based, as the Data tab shows it), when known."""
    input: str
    reference: str
    base_output: str
    adapted_output: str
    base_score: float
    adapted_score: float
    change: Change

    @property
    def gain(self) -> float:
        return self.adapted_score - self.base_score


@dataclass
class EvalReport:
    """The report of one job; ``skipped`` holds the reason when nothing could be measured (and the rest is empty)."""

    task: str
    measured_on: str = ""
    """A sentence: which rows, from where, how many, whether a cap applied."""
    main_metric: str = ""
    """The ``name`` of the metric that ranks runs (sweeps mark the best by it)."""
    base_label: str = "base model"
    """What "before" is: the base model, or the majority-class baseline for a new classification head."""
    metrics: list[MetricRow] = field(default_factory=list)
    examples: list[ExampleScore] = field(default_factory=list)
    score_name: str = ""
    """What an example's score is (e.g. "ROUGE-L F1 with the reference")."""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    """Task-specific material (e.g. text-to-image: the image grid's file names; classification: the confusion matrices)."""
    skipped: str | None = None
    data_check: str = ""
    """What the data check before training found and fixed, one line (:func:`jobs.data.doctor_notes.data_check_line`): "trained on
    1,204 rows; before training 37 duplicates were removed and 4 e-mail addresses masked"; empty for runs from before the check."""
    split: dict[str, Any] = field(default_factory=dict)
    """What the rows came from (:func:`jobs.data.split.scored_summary`): ``split.json``, the split's fingerprint, the scored rows
    and their ``rows_fingerprint`` (two reports with equal ones were measured on the same rows); empty in a report from before
    the split was recorded."""

    @property
    def flips(self) -> dict[str, int]:
        """How many examples got better, worse, or stayed the same."""
        counts = {"better": 0, "worse": 0, "same": 0}
        for example in self.examples:
            counts[example.change] += 1
        return counts

    def metric(self, name: str) -> MetricRow | None:
        return next((row for row in self.metrics if row.name == name), None)

    def main(self) -> MetricRow | None:
        """The main metric's row (the first metric when none is named)."""
        return self.metric(self.main_metric) or (self.metrics[0] if self.metrics else None)

    def biggest_changes(self, count: int = 5) -> tuple[list[ExampleScore], list[ExampleScore]]:
        """The ``count`` biggest wins and the ``count`` biggest losses, largest change first."""
        wins = sorted((e for e in self.examples if e.change == "better"), key=lambda e: e.gain, reverse=True)[:count]
        losses = sorted((e for e in self.examples if e.change == "worse"), key=lambda e: e.gain)[:count]
        return wins, losses

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["flips"] = self.flips
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalReport:
        values = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        values["metrics"] = [MetricRow(**row) for row in data.get("metrics", [])]
        values["examples"] = [ExampleScore(**row) for row in data.get("examples", [])]
        return cls(**values)


def change_of(base_score: float, adapted_score: float, tolerance: float = 1e-6) -> Change:
    """better / worse / same, comparing two per-example scores where higher is better."""
    if adapted_score > base_score + tolerance:
        return "better"
    if adapted_score < base_score - tolerance:
        return "worse"
    return "same"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def write_report(report: EvalReport, run_dir: Path) -> Path:
    """Write ``run_dir/eval_report.json`` (non-finite numbers become null, so the file is strict JSON)."""
    path = Path(run_dir) / REPORT_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(_finite(report.to_dict()), indent=2, ensure_ascii=False), encoding="utf-8")
    temporary.replace(path)
    return path


def read_report(run_dir: Path | str | None) -> EvalReport | None:
    """The report of a run folder, or None when the run has none (not finished, or from before reports existed)."""
    if not run_dir:
        return None
    path = Path(run_dir) / REPORT_FILE
    try:
        return EvalReport.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def scored_rows_key(report: EvalReport | None) -> str | None:
    """The fingerprint of the rows a report scored (data sha256 + row ids), or None for a report without one (skipped, or from
    before split.json): two reports are comparable when their keys are equal and not None."""
    if report is None or report.skipped:
        return None
    return report.split.get("rows_fingerprint") or None


def report_headline(report: EvalReport) -> dict[str, Any]:
    """The main metric before and after (or why there is no report), and the data check's line: what ``summary.json`` and a job
    list show."""
    data = {"data_check": report.data_check} if report.data_check else {}
    if report.skipped:
        return {"skipped": report.skipped, **data}
    main = report.main()
    if main is None:
        return {"metric": None, **data}
    return {"metric": main.name, "label": main.label, "base": main.base, "adapted": main.adapted,
            "higher_is_better": main.higher_is_better, "flips": report.flips, **data}


def format_value(value: float | None, name: str = "") -> str:
    """A metric value as a person reads it: shares as percentages, losses with 3 decimals."""
    if value is None:
        return "–"
    if _is_share(name):
        return f"{value:.1%}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3f}"


def _is_share(name: str) -> bool:
    return name in {"exact_match", "accuracy", "macro_f1", "rouge_l", "preference_accuracy"} or name.startswith(("recall@", "ndcg@", "mrr@"))


def format_delta(row: MetricRow) -> str:
    """``+12.5 pts`` for shares, ``-0.812`` otherwise, with ✓ when it is an improvement."""
    delta = row.delta
    if delta is None:
        return "–"
    text = f"{delta * 100:+.1f} pts" if _is_share(row.name) else f"{delta:+.3f}"
    return f"{text} ✓" if row.improved else text


def metric_table_rows(report: EvalReport) -> list[list[str]]:
    """[metric, before, after, change] for each metric: the rows of the Jobs tab's table and the card's table."""
    return [[row.label, format_value(row.base, row.name), format_value(row.adapted, row.name), format_delta(row)] for row in report.metrics]


def _cell(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def report_markdown(report: EvalReport, examples: int = 5) -> str:
    """The report as Markdown: what it measured, the metric table, the flips and the biggest wins and losses."""
    if report.skipped:
        return f"No before/after report: {report.skipped}\n"
    lines = [f"Measured on {report.measured_on}. Before: the {report.base_label}; after: the adapted model.", ""]
    if not report.split:
        lines[-1:] = [f"({SPLIT_NOT_RECORDED[0].upper()}{SPLIT_NOT_RECORDED[1:]}.)", ""]
    lines += ["| metric | before | after | change |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(cells)} |" for cells in metric_table_rows(report)]
    if report.examples:
        flips = report.flips
        lines += ["", f"Per example ({report.score_name}): {flips['better']} better, {flips['worse']} worse, {flips['same']} the same."]
        wins, losses = report.biggest_changes(examples)
        for title, chosen in (("Biggest wins", wins), ("Biggest losses", losses)):
            if chosen:
                lines += ["", f"{title}:", "", "| row | input | reference | before | after |", "|---|---|---|---|---|"]
                lines += [f"| {e.row or ''} | {_cell(e.input)} | {_cell(e.reference)} | {_cell(e.base_output)} | {_cell(e.adapted_output)} |"
                          for e in chosen]
    lines += [f"\n{note}" for note in report.notes]
    return "\n".join(lines) + "\n"
