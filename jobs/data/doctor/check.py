"""The data doctor's check: every finding of a training file (and its validation file) in one :class:`DataCheck`.

Data files (every format Adapta trains on: text, instructions, chat, classification, pairs, preference, feedback,
prompts) are read as training reads them (:mod:`jobs.data.doctor.reading`) and checked for duplicates and validation
copies (:mod:`~jobs.data.doctor.duplicates`), personal data and secrets (:mod:`~jobs.data.doctor.personal`), token
lengths when a tokenizer is given (:mod:`~jobs.data.doctor.lengths`), labels, languages and answers
(:mod:`~jobs.data.doctor.coverage`). A folder or ``.zip`` of images is checked by :mod:`jobs.data.doctor.images`.

    check = check_data(Path("train.jsonl"), Path("valid.jsonl"), tokenizer=tok, max_length=512)
    print(check.summary())        # "37 duplicates, 4 e-mail addresses in 1,204 rows"
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobs.data.doctor.conflicts import conflict_findings
from jobs.data.doctor.coverage import answer_findings, label_findings, language_check
from jobs.data.doctor.duplicates import duplicate_findings
from jobs.data.doctor.findings import REMOVED_KINDS, DataCheck, Finding
from jobs.data.doctor.images import image_check
from jobs.data.doctor.lengths import length_check
from jobs.data.doctor.personal import personal_findings
from jobs.data.doctor.reading import read_rows
from jobs.errors import DataError
from jobs.spec import DataFormat, Task
from storage.paths import DataHome

Progress = Callable[[float, str], None]
DEFAULT_MAX_LENGTH = 1024
"""The max length lengths are measured against when a tokenizer is given without one (the spec's default)."""
STAGES = (("reading", 0.10), ("duplicates", 0.25), ("personal data and secrets", 0.30), ("token lengths", 0.15),
          ("labels and answers", 0.05), ("languages", 0.15))
"""The check's stages and their share of the progress bar."""


def is_image_dataset(path: Path) -> bool:
    """A folder, or a zip that is not a data file, holds images and captions."""
    return path.is_dir() or (path.suffix.lower() == ".zip" and zipfile.is_zipfile(path))


class _Stages:
    """Reports progress as the stages advance: ``progress(fraction of the whole check, stage name)``."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.done = 0.0
        self.shares = dict(STAGES)

    def within(self, stage: str) -> Callable[[float], None]:
        start = self.done

        def report(fraction: float) -> None:
            if self.progress:
                self.progress(min(start + self.shares[stage] * fraction, 1.0), stage)
        return report

    def finish(self, stage: str) -> None:
        self.done += self.shares[stage]
        if self.progress:
            self.progress(min(self.done, 1.0), stage)


def check_data(train: Path, validation: Path | None = None, *, fmt: DataFormat | None = None, task: Task = Task.CAUSAL_LM,
               mapping: dict[str, str] | None = None, tokenizer: Any = None, max_length: int | None = None,
               progress: Progress | None = None, resolution: int = 512, aspect_buckets: bool = True,
               home: DataHome | None = None) -> DataCheck:
    """Check a training file (and its validation file) before training; never changes them.

    ``fmt`` None detects the format (and, when the data fits no causal-lm format, tries classification and embedding
    formats); ``tokenizer`` (the model's) adds the token-length check against ``max_length``; ``progress(fraction,
    stage)`` is called as the check advances. An image folder or zip is checked against ``resolution`` (and, with
    ``aspect_buckets``, counted per aspect-ratio bucket at it)."""
    started = time.perf_counter()
    train = Path(train)
    if is_image_dataset(train):
        check = image_check(train, resolution=resolution, aspect_buckets=aspect_buckets, home=home, progress=progress)
        check.seconds = time.perf_counter() - started
        if progress:
            progress(1.0, "done")
        return check
    stages = _Stages(progress)
    train_data = read_rows(train, "train", fmt, Task(task), mapping)
    validation_data = None
    if validation is not None:
        if is_image_dataset(Path(validation)):
            raise DataError(f"{Path(validation).name} is an image folder or zip, but {train.name} is a data file; give a "
                            "validation file of the same kind")
        validation_data = read_rows(Path(validation), "validation", fmt, train_data.task, mapping, choice=train_data.choice)
    stages.finish("reading")

    findings: list[Finding] = duplicate_findings(train_data, validation_data, stages.within("duplicates"))
    stages.finish("duplicates")
    findings += personal_findings(train_data, stages.within("personal data and secrets"))
    if validation_data is not None:
        findings += personal_findings(validation_data)
    stages.finish("personal data and secrets")

    lengths = None
    if tokenizer is not None:
        lengths, too_long = length_check(train_data, tokenizer, max_length or DEFAULT_MAX_LENGTH)
        findings += [too_long] if too_long else []
    stages.finish("token lengths")

    labels, label_problems = label_findings(train_data)
    removed = {row for finding in findings if finding.file == "train" and finding.kind in REMOVED_KINDS for row in finding.rows}
    findings += label_problems + answer_findings(train_data) + conflict_findings(train_data, removed)
    stages.finish("labels and answers")
    languages, other_language = language_check(train_data, stages.within("languages"))
    findings += [other_language] if other_language else []
    stages.finish("languages")
    return DataCheck(train_rows=len(train_data.rows), validation_rows=len(validation_data.rows) if validation_data else 0,
                     findings=findings, lengths=lengths, labels=labels, languages=languages,
                     seconds=time.perf_counter() - started, format=train_data.choice.format.value)
