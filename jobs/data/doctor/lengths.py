"""Token lengths against the chosen model and max length: the histogram, the rows cut (in the prompt or in the answer)
and the max length that keeps 95 % of the rows whole.

Rows are tokenised by :func:`jobs.data.examples.build_examples`, the function training uses (the model's chat
template, its special tokens, prompt masking), with no truncation; so a row counted here as cut is cut in training:

- cut in the prompt: the first token the model learns from lies beyond ``max_length``, so training leaves the row
  out (nothing left to learn); for classification, the text itself is longer than ``max_length``;
- cut in the answer: the row is longer than ``max_length`` and training keeps only its beginning (plain text rows,
  which are learnt whole, are counted here too).

Files over :data:`EXACT_ROWS` rows (100k rows would take minutes of chat-template rendering on 2 cores) are measured
in one batched tokenizer call over each row's texts plus the template's overhead per text, the largest seen on the
first :data:`SAMPLE_ROWS` rows (measured exactly), and every row whose estimate comes near ``max_length`` is measured
exactly again: the rows reported as cut are exact; the histogram is exact near and above the max length.

    summary, finding = length_check(train, tokenizer, max_length=512)
"""

from __future__ import annotations

import math
from typing import Any

from jobs.data.doctor.findings import Finding, LengthSummary
from jobs.data.doctor.reading import DataFile, string_leaves
from jobs.data.examples import IGNORE_INDEX, build_examples
from jobs.spec import EMBEDDING_FORMATS, DataFormat, Task

UNLIMITED = 1 << 30
"""max_length given to the tokenisation so that nothing is cut while measuring."""
EXACT_ROWS = 2000
"""Files with up to this many usable rows are tokenised row by row, all of them, exactly as training does."""
SAMPLE_ROWS = 200
NEAR_SHARE = 0.75
"""In larger files, rows whose estimate reaches this share of max length are tokenised exactly (the others are far
below it: their lengths in the histogram are estimates)."""
BINS = 20
KEEP_SHARE = 0.95


def _nice_width(span: int, bins: int) -> int:
    raw = max(span / bins, 1)
    magnitude = 10 ** int(math.floor(math.log10(raw)))
    return next(step * magnitude for step in (1, 2, 5, 10) if step * magnitude >= raw)


def histogram(lengths: list[int], bins: int = BINS) -> list[tuple[int, int]]:
    """``(upper bound, rows)`` for equal bins of a round width (1, 2 or 5 times a power of ten) from 0 to the longest row."""
    if not lengths:
        return []
    width = _nice_width(max(lengths), bins)
    counts: dict[int, int] = {}
    for length in lengths:
        upper = max(math.ceil(length / width), 1) * width
        counts[upper] = counts.get(upper, 0) + 1
    return [(upper, counts.get(upper, 0)) for upper in range(width, max(counts) + 1, width)]


def keeps_share(lengths: list[int], share: float = KEEP_SHARE) -> int:
    """The smallest max length that keeps ``share`` of the rows whole."""
    if not lengths:
        return 0
    ordered = sorted(lengths)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def _first_learned(example: dict[str, Any]) -> int:
    labels = example["labels"]
    if isinstance(labels, int):  # classification: the whole text is the input
        return len(example["input_ids"])
    return next((i for i, label in enumerate(labels) if label != IGNORE_INDEX), len(labels))


def _exact(data: DataFile, tokenizer: Any, indices: list[int]) -> dict[int, tuple[int, int]]:
    """Row number -> (tokens, position of the first learned token), tokenised as training tokenises, without a limit."""
    built = build_examples([data.table.records[i] for i in indices], data.choice, tokenizer, data.task, UNLIMITED,
                           row_numbers=[data.table.row_numbers[i] for i in indices])
    return {row: (len(example["input_ids"]), _first_learned(example)) for example, row in zip(built.examples, built.rows, strict=True)}


def _measured(data: DataFile, tokenizer: Any, max_length: int) -> dict[int, tuple[int, int]]:
    """Every usable row's length: exact for small files; for large ones, the texts' tokens (one batched call) plus the
    template's overhead per text (the largest seen on the first :data:`SAMPLE_ROWS` rows), and exact again for every
    row whose estimate reaches :data:`NEAR_SHARE` of ``max_length``, so every row that may be cut is measured exactly."""
    usable = [index for index, row in enumerate(data.rows) if row.fields is not None]
    if len(usable) <= EXACT_ROWS:
        return _exact(data, tokenizer, usable)
    pieces = [string_leaves(data.rows[index].fields) for index in usable]
    raw = [len(ids) for ids in tokenizer(["\n".join(texts) for texts in pieces], add_special_tokens=False)["input_ids"]]
    measured = _exact(data, tokenizer, usable[:SAMPLE_ROWS])
    overheads = [(measured[data.rows[index].row][0] - raw[k]) / max(len(pieces[k]), 1)
                 for k, index in enumerate(usable[:SAMPLE_ROWS]) if data.rows[index].row in measured]
    per_text = max(max(overheads, default=0.0), 0.0)
    estimates = [raw[k] + math.ceil(per_text * max(len(pieces[k]), 1)) for k in range(len(usable))]
    near = [index for k, index in enumerate(usable[SAMPLE_ROWS:], start=SAMPLE_ROWS) if estimates[k] >= NEAR_SHARE * max_length]
    near_rows = {data.rows[index].row for index in near}
    for k, index in enumerate(usable[SAMPLE_ROWS:], start=SAMPLE_ROWS):
        if data.rows[index].row not in near_rows:  # far below max length: never cut
            measured[data.rows[index].row] = (estimates[k], 0)
    measured.update(_exact(data, tokenizer, near))
    return measured


def length_check(data: DataFile, tokenizer: Any, max_length: int) -> tuple[LengthSummary | None, Finding | None]:
    """The length summary of ``data`` with ``tokenizer`` and the ``too_long`` finding (None when nothing is cut)."""
    if data.choice.format in EMBEDDING_FORMATS or max_length <= 0:
        return None, None
    classify = data.task is Task.TEXT_CLASSIFICATION
    plain_text = data.choice.format is DataFormat.TEXT
    measured = _measured(data, tokenizer, max_length)
    lengths = [length for length, _ in measured.values()]
    in_prompt: list[int] = []
    in_answer: list[int] = []
    notes: dict[int, str] = {}
    for row, (length, first_learned) in sorted(measured.items()):
        if length <= max_length:
            continue
        if classify:
            in_prompt.append(row)
            notes[row] = f"{length} tokens, the text is cut after {max_length}"
        elif first_learned >= max_length:
            in_prompt.append(row)
            notes[row] = f"{length} tokens, the prompt alone is {first_learned}: the row is left out"
        else:
            in_answer.append(row)
            notes[row] = f"{length} tokens, the {'text' if plain_text else 'answer'} is cut after {max_length}"
    summary = LengthSummary(max_length=max_length, histogram=histogram(lengths), cut_in_prompt=in_prompt,
                            cut_in_answer=in_answer, keeps_95_percent=keeps_share(lengths), longest=max(lengths, default=0))
    cut = sorted(in_prompt + in_answer)
    if not cut:
        return summary, None
    finding = Finding(kind="too_long", severity="warn", file=data.file, rows=cut,
                      examples=[f"row {row}: {notes[row]}" for row in cut[:3]],
                      action=f"nothing: shown only (a max length of {summary.keeps_95_percent} keeps 95 % of the rows whole)",
                      detail=f"rows longer than max length {max_length} with this model's tokenizer and chat template")
    return summary, finding
