"""Look at a data file before training: its format, a preview, row-level problems and token-length statistics.

Inspection never raises for a bad row; it lists it as a :class:`Problem` with the row number a person sees in
the file (CSV/TSV/JSONL/TXT: the line the row starts on, so in a CSV the first data row is row 2; JSON and
Parquet: the 1-based position). It raises :class:`jobs.errors.DataError` only when the file as a whole is
unusable (missing, unreadable, no rows, no column that fits the format).

    report = inspect_dataset("train.jsonl", tokenizer=tokenizer, max_length=512)
    report.to_dict()   # JSON for the web UI
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.data.examples import IGNORE_INDEX, BuiltExamples, build_examples, build_label_map
from jobs.data.formats import OBJECTIVE_DATA_FORMATS, FormatChoice, resolve_format
from jobs.data.pairs import text_token_lengths as embedding_token_lengths
from jobs.data.preference import text_token_lengths as objective_token_lengths
from jobs.data.readers import read_table
from jobs.data.rows import Problem, RowError, row_fields
from jobs.data.split import content_key
from jobs.spec import EMBEDDING_FORMATS, DataFormat, Task

MAX_PROBLEMS = 200
"""Row-level problems listed one by one; beyond this a single summary line counts the rest."""
PREVIEW_CHARS = 300
"""Strings in the preview are cut to this many characters."""
STATS_ROWS = 20_000
"""Token statistics are measured on at most this many rows."""


@dataclass
class DatasetReport:
    """What :func:`inspect_dataset` found; ``to_dict()`` gives plain JSON types."""

    path: str
    """The file inspected."""
    rows: int
    """Number of rows read."""
    columns: list[str]
    """Column names, in the order first seen."""
    format: DataFormat
    """The format that will be used (never auto)."""
    mapping: dict[str, str]
    """Role -> column, e.g. ``{"prompt": "question", "response": "answer"}``."""
    preview: list[dict[str, Any]] = field(default_factory=list)
    """The first rows, long strings shortened."""
    problems: list[Problem] = field(default_factory=list)
    """Row-level errors (the row is skipped in training) and warnings, at most :data:`MAX_PROBLEMS` plus a summary."""
    usable_rows: int = 0
    """Rows without an error (before truncation)."""
    token_stats: dict[str, Any] | None = None
    """min, mean, p50, p95, max token counts (and over_max_length when max_length is given); needs a tokenizer."""
    label_counts: dict[str, int] | None = None
    """Rows per class, in label-id order (classification only)."""
    warnings: list[str] = field(default_factory=list)
    """Notes about the file as a whole (for example a chat template that cannot mask prompts)."""
    duplicate_rows: int = 0
    """Rows that repeat an earlier row, case, whitespace and punctuation ignored (:func:`jobs.data.split.content_key`): the split
    keeps each group on one side and scores a held-out group once."""

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON types."""
        return {
            "path": self.path,
            "rows": self.rows,
            "columns": list(self.columns),
            "format": self.format.value,
            "mapping": dict(self.mapping),
            "preview": [_json_safe(row) for row in self.preview],
            "problems": [problem.to_dict() for problem in self.problems],
            "usable_rows": self.usable_rows,
            "token_stats": dict(self.token_stats) if self.token_stats is not None else None,
            "label_counts": dict(self.label_counts) if self.label_counts is not None else None,
            "warnings": list(self.warnings),
            "duplicate_rows": self.duplicate_rows,
        }

    @property
    def choice(self) -> FormatChoice:
        """The format and mapping as a :class:`FormatChoice`."""
        return FormatChoice(format=self.format, mapping=dict(self.mapping))


def inspect_dataset(
    path: str | Path,
    format: DataFormat = DataFormat.AUTO,
    columns: dict[str, str] | None = None,
    task: Task = Task.CAUSAL_LM,
    tokenizer: Any = None,
    preview_rows: int = 20,
    max_length: int | None = None,
) -> DatasetReport:
    """Read ``path``, resolve its format and report preview, problems, label counts and token lengths."""
    table = read_table(path)
    choice = resolve_format(table.records, format, columns, task, source=table.name)
    report = DatasetReport(
        path=str(path),
        rows=len(table.records),
        columns=table.columns,
        format=choice.format,
        mapping=choice.mapping,
        preview=[_shorten(record) for record in table.records[:preview_rows]],
    )
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    duplicates: list[tuple[int, int]] = []
    usable: list[tuple[dict[str, Any], int]] = []
    for record, row in zip(table.records, table.row_numbers, strict=True):
        try:
            key = content_key(row_fields(record, choice))
        except RowError as error:
            problems.append(error.problem(row))
            key = json.dumps([record.get(column) for column in choice.mapping.values()], sort_keys=True, default=str)
        else:
            usable.append((record, row))
        if key in seen:
            duplicates.append((row, seen[key]))
        else:
            seen[key] = row
    report.usable_rows = len(usable)

    if choice.format is DataFormat.CLASSIFICATION:
        report.label_counts = _label_counts([record for record, _ in usable], choice)
        for name, count in report.label_counts.items():
            if count == 1:
                problems.append(
                    Problem(
                        None,
                        choice.mapping["label"],
                        f"class {name!r} has only one example; add more or merge it into another class",
                        "warning",
                    )
                )
        if len(report.label_counts) < 2:
            problems.append(Problem(None, choice.mapping["label"], "classification needs at least two classes", "error"))
    report.duplicate_rows = len(duplicates)
    if duplicates:
        row, first = duplicates[0]
        problems.append(
            Problem(
                None,
                None,
                f"{_rows(len(duplicates))} an earlier row, case, whitespace and punctuation ignored (first: row {row} repeats row {first}); "
                "the split keeps each group of copies on one side (trained on or held out, and scored once), but consider removing them",
                "warning",
            )
        )
    report.problems = _capped(problems)

    if tokenizer is not None and usable:
        report.token_stats, report.warnings = _token_stats(usable[:STATS_ROWS], choice, tokenizer, task, max_length)
    return report


def _rows(count: int) -> str:
    return "1 row repeats" if count == 1 else f"{count} rows repeat"


def _label_counts(records: list[dict[str, Any]], choice: FormatChoice) -> dict[str, int]:
    counts = Counter(row_fields(record, choice)["label"] for record in records)
    return {name: counts[name] for name in build_label_map(records, choice.mapping)}


def _token_stats(
    usable: list[tuple[dict[str, Any], int]], choice: FormatChoice, tokenizer: Any, task: Task, max_length: int | None
) -> tuple[dict[str, Any] | None, list[str]]:
    records = [record for record, _ in usable]
    rows = [row for _, row in usable]
    task = Task(task)
    label_names = build_label_map(records, choice.mapping) if task is Task.TEXT_CLASSIFICATION else None
    if choice.format in EMBEDDING_FORMATS:
        built = BuiltExamples(examples=[])
        lengths = sorted(embedding_token_lengths(records, choice, tokenizer))
    elif choice.format in OBJECTIVE_DATA_FORMATS:
        built = BuiltExamples(examples=[])
        lengths = sorted(objective_token_lengths(records, choice, tokenizer))
    else:
        built = build_examples(records, choice, tokenizer, task, max_length=10**9, label_names=label_names, row_numbers=rows)
        lengths = sorted(len(example["input_ids"]) for example in built.examples)
    if not lengths:
        return None, built.warnings
    stats: dict[str, Any] = {
        "count": len(lengths),
        "min": lengths[0],
        "mean": round(sum(lengths) / len(lengths), 1),
        "p50": _percentile(lengths, 50),
        "p95": _percentile(lengths, 95),
        "max": lengths[-1],
        "total_tokens": sum(lengths),
    }
    if task is Task.CAUSAL_LM and built.examples:
        stats["trained_tokens"] = sum(sum(1 for label in example["labels"] if label != IGNORE_INDEX) for example in built.examples)
    if max_length is not None:
        stats["max_length"] = max_length
        stats["over_max_length"] = sum(1 for length in lengths if length > max_length)
    return stats, built.warnings


def _percentile(sorted_values: list[int], percent: float) -> int:
    """Nearest-rank percentile of an already sorted list."""
    rank = max(1, math.ceil(percent / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _capped(problems: list[Problem]) -> list[Problem]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    rest = problems[MAX_PROBLEMS:]
    errors = sum(1 for problem in rest if problem.level == "error")
    summary = Problem(None, None, f"{len(rest)} more problems not listed ({errors} of them errors)", "error" if errors else "warning")
    return problems[:MAX_PROBLEMS] + [summary]


def _shorten(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= PREVIEW_CHARS else value[: PREVIEW_CHARS - 1] + "…"
    if isinstance(value, dict):
        return {str(key): _shorten(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_shorten(item) for item in value]
    return value


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
