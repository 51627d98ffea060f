"""A data file as the doctor reads it: every row with its number, fields, content key, texts, prompt, answer and label.

Rows are read with :func:`jobs.data.readers.read_table` and :func:`jobs.data.rows.row_fields`, so row numbers, formats and
the rows a format cannot use are exactly those of the Data tab and of training; the content key is
:func:`jobs.data.split.content_key`, so a "normalised duplicate" here is what the split keeps on one side.

    data = read_rows(Path("train.jsonl"), "train", DataFormat.AUTO, Task.CAUSAL_LM, None)
    data.rows[0].row, data.rows[0].prompt, data.rows[0].answer
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.data.formats import FormatChoice, resolve_format
from jobs.data.readers import Table, read_table
from jobs.data.rows import RowError, label_key, row_fields
from jobs.data.split import content_key
from jobs.errors import DataError
from jobs.spec import DataFormat, Task

EXCERPT_CHARS = 80
"""How many characters of a row an example shows."""
FALLBACK_TASKS = (Task.TEXT_CLASSIFICATION, Task.SENTENCE_EMBEDDING)
"""Tasks tried, in order, when the format is detected and the data does not fit causal-lm (a label column, pairs)."""


@dataclass
class DoctorRow:
    """One row of a data file."""

    row: int
    """Its number as the file shows it (:mod:`jobs.data.readers`)."""
    record: dict[str, Any]
    fields: dict[str, Any] | None
    """The format's fields (:func:`row_fields`), or None when the format cannot use the row."""
    exact_key: str
    """The fields (or the record) as they are: equal for exact duplicates."""
    key: str
    """:func:`content_key`: equal for exact and normalised duplicates."""
    texts: list[str]
    """Every text of the record (every column, every message), for personal data and secrets."""
    prompt: str | None = None
    answer: str | None = None
    label: str | None = None

    @property
    def content(self) -> str:
        """What the row says, one text (prompt and answer, or every text), for near-duplicates and languages."""
        parts = [part for part in (self.prompt, self.answer) if part]
        return "\n".join(parts) if parts else "\n".join(self.texts)


@dataclass
class DataFile:
    """The rows of one file and how they were read."""

    file: str
    """"train" or "validation"."""
    table: Table
    choice: FormatChoice
    task: Task
    rows: list[DoctorRow] = field(default_factory=list)


def string_leaves(value: Any) -> list[str]:
    """Every string inside a value (dicts, lists and numpy arrays of them), in order."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in string_leaves(item)]
    if hasattr(value, "tolist") and not isinstance(value, (int, float)):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [text for item in value for text in string_leaves(item)]
    return []


def _prompt_and_answer(fields: dict[str, Any], fmt: DataFormat) -> tuple[str | None, str | None]:
    if fmt is DataFormat.INSTRUCTION:
        return fields["prompt"], fields["response"]
    if fmt is DataFormat.CHAT:
        messages = fields["messages"]
        answers = [m["content"] for m in messages if m["role"] == "assistant"]
        users = [m["content"] for m in messages if m["role"] == "user"]
        return (users[-1] if users else None), (answers[-1] if answers else None)
    if fmt is DataFormat.PREFERENCE:
        return fields["prompt"], fields["chosen"]
    if fmt is DataFormat.FEEDBACK:
        return fields["prompt"], fields["completion"]
    if fmt is DataFormat.PROMPTS:
        return fields["prompt"], fields.get("answer")
    if fmt in (DataFormat.PAIRS, DataFormat.TRIPLETS):
        return fields["anchor"], fields["positive"]
    if fmt is DataFormat.SCORED_PAIRS:
        return fields["sentence1"], fields["sentence2"]
    return fields.get("text"), None


def _choice(table: Table, fmt: DataFormat, task: Task, mapping: dict[str, str] | None, detect_task: bool) -> tuple[FormatChoice, Task]:
    """The format and task the rows are read with; with ``detect_task``, a causal-lm reading that finds only a text column
    gives way to classification (a text and a label column) or to an embedding format."""
    try:
        choice = resolve_format(table.records, fmt, mapping, task, source=table.name)
    except DataError:
        if not detect_task:
            raise
        choice = None
    if choice is not None and (not detect_task or choice.format is not DataFormat.TEXT):
        return choice, task
    for other in FALLBACK_TASKS:
        try:
            return resolve_format(table.records, fmt, mapping, other, source=table.name), other
        except DataError:
            continue
    if choice is None:
        return resolve_format(table.records, fmt, mapping, task, source=table.name), task  # raises the causal-lm error
    return choice, task


def read_rows(path: Path, file: str, fmt: DataFormat | None, task: Task, mapping: dict[str, str] | None,
              choice: FormatChoice | None = None) -> DataFile:
    """Read a data file's rows; ``choice`` (the training file's) reads a validation file the same way.

    With ``fmt`` None and the default task (causal-lm) the format is detected and, when the data fits no causal-lm format
    but plain text, classification and embedding formats are tried too (so a file with a label column is checked as
    classification data)."""
    table = read_table(path)
    if not table.records:
        raise DataError(f"{table.name} has no rows; upload a file with at least one row")
    if choice is None:
        choice, task = _choice(table, DataFormat(fmt or DataFormat.AUTO), Task(task), mapping,
                               detect_task=fmt is None and Task(task) is Task.CAUSAL_LM)
    data = DataFile(file=file, table=table, choice=choice, task=task)
    label_column = choice.mapping.get("label") if choice.format in (DataFormat.CLASSIFICATION, DataFormat.FEEDBACK) else None
    for record, number in zip(table.records, table.row_numbers, strict=True):
        try:
            fields: dict[str, Any] | None = row_fields(record, choice)
        except RowError:
            fields = None
        content = fields if fields is not None else record
        prompt, answer = _prompt_and_answer(fields, choice.format) if fields is not None else (None, None)
        label = None
        if label_column is not None:
            try:
                label = label_key(record.get(label_column))
            except RowError:
                label = None
        data.rows.append(DoctorRow(row=number, record=record, fields=fields,
                                   exact_key=json.dumps(content, ensure_ascii=False, sort_keys=True, default=str),
                                   key=content_key(content), texts=string_leaves(record), prompt=prompt, answer=answer,
                                   label=label))
    return data


def excerpt(row: int, text: str, start: int = 0, end: int | None = None, shown: str | None = None, what: str = "row") -> str:
    """``row 12: …text around [start:end]…`` in at most :data:`EXCERPT_CHARS` characters, the match replaced by ``shown``."""
    end = len(text) if end is None else end
    middle = text[start:end] if shown is None else shown
    room = max(EXCERPT_CHARS - len(middle), 0)
    before = text[max(start - room // 2, 0):start]
    after = text[end:end + room - len(before)]
    body = ("…" if start - len(before) > 0 else "") + before + middle + after + ("…" if end + len(after) < len(text) else "")
    body = " ".join(body.split())
    if len(body) > EXCERPT_CHARS + 2:
        body = body[:EXCERPT_CHARS] + "…"
    return f"{what} {row}: {body}"
