"""What the data doctor found: findings, the length summary and the whole check, with their JSON round trip.

A :class:`Finding` is one kind of problem in one file with every row it concerns (1-based row numbers, or 1-based item
numbers for images), up to three short excerpts (secrets masked), what ``fix_data`` does about it and, for conflicts, each
group of rows that belong together (:class:`RowGroup`). Severities:

- ``block``: secrets (API keys, tokens, private keys); training is refused until they are removed;
- ``fix``: ``fix_data`` removes the rows (duplicates, validation copies) or masks the values (personal data);
- ``warn`` / ``info``: shown only.

    check = DataCheck.from_dict(json.loads(text))
    check.blocks_training(), check.summary()   # False, "37 duplicates, 4 e-mail addresses in 1,204 rows"
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["block", "fix", "warn", "info"]
SEVERITIES: tuple[str, ...] = ("block", "fix", "warn", "info")
REMOVED_KINDS = frozenset({"exact_duplicate", "normalised_duplicate", "near_duplicate", "validation_copy"})
"""Findings whose rows the fix removes (the others it masks, or leaves alone)."""
CONFLICT_KINDS = frozenset({"conflicting_label", "conflicting_answer", "conflicting_preference"})
"""Findings of rows that say different things about one input: the fix keeps them and says so."""

# How the summary names each kind: (singular, plural). Kinds that share a name (every duplicate) are counted together.
KIND_NAMES: dict[str, tuple[str, str]] = {
    "exact_duplicate": ("duplicate", "duplicates"),
    "normalised_duplicate": ("duplicate", "duplicates"),
    "near_duplicate": ("near-duplicate", "near-duplicates"),
    "validation_copy": ("validation row copied from training", "validation rows copied from training"),
    "email": ("e-mail address", "e-mail addresses"),
    "phone": ("phone number", "phone numbers"),
    "card": ("card number", "card numbers"),
    "iban": ("IBAN", "IBANs"),
    "cpf": ("CPF", "CPFs"),
    "cnpj": ("CNPJ", "CNPJs"),
    "ip_address": ("IP address", "IP addresses"),
    "secret": ("secret", "secrets"),
    "too_long": ("row longer than max length", "rows longer than max length"),
    "rare_class": ("row of a rare class", "rows of rare classes"),
    "empty_answer": ("empty answer", "empty answers"),
    "repeats_prompt": ("answer repeating its prompt", "answers repeating their prompt"),
    "other_language": ("row in another language", "rows in another language"),
    "image_duplicate": ("duplicate image", "duplicate images"),
    "caption_missing": ("missing caption", "missing captions"),
    "caption_identical": ("identical caption", "identical captions"),
    "image_too_small": ("image below training size", "images below training size"),
    "single_image_bucket": ("image alone in its aspect-ratio bucket", "images alone in their aspect-ratio bucket"),
    "conflicting_label": ("row with a conflicting label", "rows with conflicting labels"),
    "conflicting_answer": ("row with a conflicting answer", "rows with conflicting answers"),
    "conflicting_preference": ("row with chosen and rejected swapped", "rows with chosen and rejected swapped"),
}


@dataclass
class RowGroup:
    """Rows that belong together in a finding (conflicts: the rows sharing one input) and what each distinct one says
    (the labels, or excerpts of the answers, in the order first seen)."""

    rows: list[int]
    seen: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RowGroup:
        """The group a :func:`dataclasses.asdict` wrote."""
        return cls(rows=[int(r) for r in data.get("rows", [])], seen=[str(s) for s in data.get("seen", [])])


@dataclass
class Finding:
    """One kind of problem in one file: every row it concerns, three excerpts and what the fix does."""

    kind: str
    severity: Severity
    file: str  # "train" or "validation"
    rows: list[int]  # 1-based row numbers in that file; image findings: 1-based item numbers
    examples: list[str] = field(default_factory=list)  # up to three "row 12: …" excerpts, secrets masked
    action: str = "nothing: shown only"
    detail: str = ""  # one sentence on the kind (e.g. "rows 4 and 9 say the same after normalising")
    groups: list[RowGroup] = field(default_factory=list)  # conflicts: every group of rows sharing an input, with what each says

    @property
    def count(self) -> int:
        """How many rows (or items) the finding concerns."""
        return len(self.rows)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with ``count`` included for readers that do not recompute it."""
        return {**asdict(self), "count": self.count}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """The finding a :meth:`to_dict` wrote (``count`` is ignored: it is derived from ``rows``)."""
        severity = data.get("severity", "info")
        if severity not in SEVERITIES:
            raise ValueError(f"unknown finding severity {severity!r}; expected one of {', '.join(SEVERITIES)}")
        return cls(kind=str(data["kind"]), severity=severity, file=str(data.get("file", "train")),
                   rows=[int(r) for r in data.get("rows", [])], examples=[str(e) for e in data.get("examples", [])],
                   action=str(data.get("action", "nothing: shown only")), detail=str(data.get("detail", "")),
                   groups=[RowGroup.from_dict(group) for group in data.get("groups", [])])


@dataclass
class LengthSummary:
    """Token lengths with the model's own tokenizer and chat template, against the chosen max length."""

    max_length: int
    histogram: list[tuple[int, int]]  # (bin upper bound in tokens, rows)
    cut_in_prompt: list[int]  # 1-based rows whose prompt alone is longer than max_length (the answer is lost)
    cut_in_answer: list[int]  # 1-based rows whose answer is cut
    keeps_95_percent: int  # the smallest max length that keeps 95 % of the rows whole
    longest: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (histogram bins as two-element lists)."""
        data = asdict(self)
        data["histogram"] = [[int(b), int(n)] for b, n in self.histogram]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LengthSummary:
        """The summary a :meth:`to_dict` wrote."""
        return cls(max_length=int(data["max_length"]), histogram=[(int(b), int(n)) for b, n in data.get("histogram", [])],
                   cut_in_prompt=[int(r) for r in data.get("cut_in_prompt", [])],
                   cut_in_answer=[int(r) for r in data.get("cut_in_answer", [])],
                   keeps_95_percent=int(data.get("keeps_95_percent", 0)), longest=int(data.get("longest", 0)))


@dataclass
class DataCheck:
    """Everything one check found in a training file (and its validation file)."""

    train_rows: int
    validation_rows: int
    findings: list[Finding]
    lengths: LengthSummary | None = None
    labels: dict[str, int] | None = None
    languages: dict[str, int] | None = None
    seconds: float = 0.0
    format: str = ""  # the data format the rows were read as ("instruction", "chat", "images", ...)
    buckets: dict[str, int] | None = None  # images: how many fall in each aspect-ratio bucket ("704x384": 3), the fullest first

    def blocks_training(self) -> bool:
        """True when a finding (a secret) must be removed before training."""
        return any(f.severity == "block" for f in self.findings)

    def fixable(self) -> list[Finding]:
        """The findings ``fix_data`` acts on (severity ``block`` or ``fix``)."""
        return [f for f in self.findings if f.severity in ("block", "fix")]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``launch.py data-check --json`` prints it; runs keep it as ``data_check.json``)."""
        return {"train_rows": self.train_rows, "validation_rows": self.validation_rows, "format": self.format,
                "blocks_training": self.blocks_training(), "summary": self.summary(),
                "findings": [f.to_dict() for f in self.findings],
                "lengths": self.lengths.to_dict() if self.lengths else None,
                "labels": dict(self.labels) if self.labels is not None else None,
                "languages": dict(self.languages) if self.languages is not None else None,
                "buckets": dict(self.buckets) if self.buckets is not None else None,
                "seconds": float(self.seconds)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataCheck:
        """The check a :meth:`to_dict` wrote (derived keys such as ``summary`` are recomputed, not read)."""
        lengths = data.get("lengths")
        labels = data.get("labels")
        languages = data.get("languages")
        buckets = data.get("buckets")
        return cls(train_rows=int(data.get("train_rows", 0)), validation_rows=int(data.get("validation_rows", 0)),
                   findings=[Finding.from_dict(f) for f in data.get("findings", [])],
                   lengths=LengthSummary.from_dict(lengths) if lengths else None,
                   labels={str(k): int(v) for k, v in labels.items()} if labels is not None else None,
                   languages={str(k): int(v) for k, v in languages.items()} if languages is not None else None,
                   seconds=float(data.get("seconds", 0.0)), format=str(data.get("format", "")),
                   buckets={str(k): int(v) for k, v in buckets.items()} if buckets is not None else None)

    def summary(self) -> str:
        """One line: "37 duplicates, 4 e-mail addresses, 1 secret in 1,204 rows" (or "no problems found in 1,204 rows")."""
        rows = self.train_rows + self.validation_rows
        where = f"{rows:,} row{'s' if rows != 1 else ''}"
        counts: dict[tuple[str, str], int] = {}
        for finding in self.findings:
            names = KIND_NAMES.get(finding.kind, (finding.kind.replace("_", " "),) * 2)
            counts[names] = counts.get(names, 0) + finding.count
        parts = [f"{n:,} {single if n == 1 else plural}" for (single, plural), n in counts.items() if n]
        if not parts:
            return f"no problems found in {where}"
        return f"{', '.join(parts)} in {where}"


@dataclass
class FixResult:
    """What ``fix_data`` wrote: the new files (the inputs are never touched) and what it removed and masked."""

    train: Any  # Path of the cleaned training file
    validation: Any  # Path of the cleaned validation file, or None
    removed: int
    masked: int
    summary: str
