"""The one hold-out of every data kind: which rows train and which are held out, decided once and written down.

Every loader (text, chat and classification rows :mod:`jobs.data.examples`, embedding pairs :mod:`jobs.data.pairs`,
preference pairs, feedback and prompts :mod:`jobs.data.preference`, images :mod:`jobs.data.images`) describes its usable
items as :class:`Candidate` (an id: the row number as the Data tab shows it, or an image's path in its folder; a key:
the item's content with case, whitespace and punctuation ignored; a group: what must stay on one side, by default the
key) and calls :func:`decide_split`:

- the share held out is ``data.validation`` when it is a fraction; when it is empty, ``evaluation.holdout``, provided
  evaluation is on and at least ``minimum`` items are usable; a validation file's items are the held-out side;
- groups, not positions, are picked, by ``data.split_seed`` alone (never ``training.seed``): duplicates are held out or
  trained on together, and no training setting moves a row across the split;
- held-out duplicates are scored once; validation-file items whose group is also in the training data are removed from
  scoring (:data:`IN_TRAINING`);
- rows a loader cannot use with its settings (too long for ``max_length``) are dropped after the split, on their side
  (:meth:`RecordedSplit.drop`), so they never shift it.

The trainer writes the result to ``runs/<job>/split.json`` (:func:`write_split`, atomically); the before/after report
reads it back (:func:`split_for_report`, which checks the data files' sha256) and scores only its held-out rows.

    split = decide_split(candidates, validation=0.1, evaluation=spec.evaluation, seed=spec.data.split_seed, files=files)
    split.train, split.held, split.scoring_ids()   # row ids on each side, the held-out ids the report may score
    write_split(run_dir, split)
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from jobs.errors import DataError
from jobs.spec import EvaluationSpec

SPLIT_FILE = "split.json"
SPLIT_VERSION = 1
AUTO_HOLDOUT_MIN_ROWS = 50
"""Without ``data.validation``, rows are held out for the before/after report only when at least this many are usable."""
GROUPING = ("rows with the same content (case, whitespace and punctuation ignored) are held out or trained on together; "
            "a held-out duplicate is scored once")
UNUSABLE = "unusable"
"""A row the format cannot read (an empty answer, a missing column ...): on neither side."""
TOO_LONG = "too long"
"""A row with nothing left to learn or score after ``max_length``: dropped after the split, on its side."""
DUPLICATE = "duplicate"
"""A held-out row whose content another held-out row already has: scored once."""
IN_TRAINING = "also in training"
"""A validation-file row whose content the training data also has: removed from scoring."""
SPLIT_TIME_REASONS = frozenset({DUPLICATE, IN_TRAINING})
"""Drops decided with the split itself (no setting changes them); the report never scores these rows."""

ItemId = int | str
T = TypeVar("T")


class _PunctuationAsSpace(dict):
    """A ``str.translate`` table: every punctuation character (Unicode category P*) to a space, any other to itself;
    filled as characters are first met, so the translation runs in C (8x faster than a per-character loop)."""

    def __missing__(self, code: int) -> int | str:
        value: int | str = " " if unicodedata.category(chr(code)).startswith("P") else code
        self[code] = value
        return value


_PUNCTUATION_AS_SPACE = _PunctuationAsSpace()


def normalise_text(text: Any) -> str:
    """``text`` with case, whitespace and punctuation ignored (NFKC, case-folded, punctuation read as a space)."""
    folded = unicodedata.normalize("NFKC", str(text)).casefold()
    return " ".join(folded.translate(_PUNCTUATION_AS_SPACE).split())


def _normalised(value: Any) -> Any:
    if isinstance(value, str):
        return normalise_text(value)
    if isinstance(value, dict):
        return {str(key): _normalised(item) for key, item in sorted(value.items(), key=lambda pair: str(pair[0]))}
    if isinstance(value, (list, tuple)):
        return [_normalised(item) for item in value]
    return value


def content_key(value: Any) -> str:
    """A row's content as one string, equal for exact and normalised duplicates (strings compared by :func:`normalise_text`)."""
    return json.dumps(_normalised(value), ensure_ascii=False, sort_keys=True, default=str)


@dataclass(frozen=True)
class Candidate:
    """One usable item of a data file, as the split sees it."""

    id: ItemId
    """The row number as the Data tab shows it (an image: its path inside the dataset folder)."""
    key: str
    """Its content with case, whitespace and punctuation ignored (:func:`content_key`): equal keys are duplicates."""
    group: str | None = None
    """What stays on one side with it (embedding data: the query); None means its key."""

    @property
    def side_key(self) -> str:
        return self.key if self.group is None else self.group


@dataclass
class Dropped:
    """A row that was not used, on which side and why."""

    id: ItemId
    file: str
    """``train`` or ``validation``: the file the id is a row of."""
    side: str
    """``train`` or ``held`` (dropped after the split; the row stays on its side), or ``none`` (unusable: on neither side)."""
    reason: str
    message: str = ""


@dataclass
class DataFile:
    """A data file (or image folder) the split was decided on, with its sha256 at that time."""

    role: str
    """``train`` or ``validation``."""
    path: str
    sha256: str


@dataclass
class RecordedSplit:
    """What ``runs/<job>/split.json`` holds: the files, the rule, the seed, the rows on each side and what was dropped."""

    unit: str
    """``row`` (ids are row numbers) or ``image`` (ids are paths inside the dataset folder)."""
    files: list[DataFile]
    rule: str
    """How the held-out side was chosen, as a sentence."""
    share: float | None
    """The share held out of the training file (None: a validation file, or nothing held out)."""
    seed: int
    """``data.split_seed``."""
    automatic: bool
    """True when ``data.validation`` is empty, so the share is (or would be) ``evaluation.holdout``."""
    train: list[ItemId]
    """Rows of the training file on the training side, in file order."""
    held: list[ItemId]
    """Rows on the held-out side (of ``held_file``), in file order."""
    held_file: str
    """``train`` (a share held out) or ``validation`` (a validation file); empty when nothing is held out."""
    dropped: list[Dropped] = field(default_factory=list)
    grouping: str = GROUPING
    seed_setting: str = "data.split_seed"
    version: int = SPLIT_VERSION

    def drop(self, item_id: ItemId, side: str, reason: str, message: str = "") -> None:
        """Record that ``item_id`` of ``side`` (``train`` or ``held``) is not used, and why; it stays on its side."""
        file = self.held_file if side == "held" else "train"
        self.dropped.append(Dropped(item_id, file, side, reason, message))

    def _dropped_ids(self, side: str, reasons: frozenset[str] | None = None) -> set[ItemId]:
        return {drop.id for drop in self.dropped if drop.side == side and (reasons is None or drop.reason in reasons)}

    def scoring_ids(self) -> list[ItemId]:
        """The held-out rows the report may score: the held-out side less duplicates and rows also in training."""
        gone = self._dropped_ids("held", SPLIT_TIME_REASONS)
        return [item for item in self.held if item not in gone]

    def trained_ids(self) -> list[ItemId]:
        """The training rows actually trained on (the training side less the rows dropped for length)."""
        gone = self._dropped_ids("train")
        return [item for item in self.train if item not in gone]

    def count(self, reason: str, side: str | None = None) -> int:
        return sum(1 for drop in self.dropped if drop.reason == reason and (side is None or drop.side == side))

    def file(self, role: str) -> DataFile | None:
        return next((item for item in self.files if item.role == role), None)

    @property
    def fingerprint(self) -> str:
        """The data's sha256 and the held-out rows the report may score: equal fingerprints, equal held-out rows."""
        return rows_fingerprint(self, self.scoring_ids())

    def overlap_sentence(self) -> str:
        """"3 validation rows also appear in training: removed from scoring", or ""."""
        count = self.count(IN_TRAINING)
        if not count:
            return ""
        what = "row also appears" if count == 1 else "rows also appear"
        return f"{count} validation {what} in training (case, whitespace and punctuation ignored): removed from scoring"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["fingerprint"] = self.fingerprint
        data["counts"] = {"train": len(self.train), "held": len(self.held), "scorable": len(self.scoring_ids()),
                          "trained": len(self.trained_ids()),
                          "dropped": {reason: self.count(reason) for reason in sorted({drop.reason for drop in self.dropped})}}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecordedSplit:
        values = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        values["files"] = [DataFile(**item) for item in data.get("files", [])]
        values["dropped"] = [Dropped(**item) for item in data.get("dropped", [])]
        return cls(**values)


def rows_fingerprint(split: RecordedSplit, ids: Sequence[ItemId]) -> str:
    """A short hash of the data files' sha256, the held-out file and ``ids``: what a comparison of reports matches on."""
    payload = json.dumps([[item.role, item.sha256] for item in split.files] + [split.held_file, sorted(map(str, ids))])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def split_validation(items: Sequence[T], fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """Deterministically hold out ``fraction`` of ``items`` (at least one, never all); both parts keep their order."""
    count = len(items)
    if count < 2 or fraction <= 0:
        return list(items), []
    held = min(count - 1, max(1, round(count * fraction)))
    chosen = set(random.Random(seed).sample(range(count), held))
    train = [item for position, item in enumerate(items) if position not in chosen]
    held_out = [item for position, item in enumerate(items) if position in chosen]
    return train, held_out


def decide_split(
    items: Sequence[Candidate],
    *,
    validation: float | str | None,
    evaluation: EvaluationSpec,
    seed: int,
    files: Sequence[DataFile],
    held_items: Sequence[Candidate] = (),
    unusable: Sequence[Dropped] = (),
    minimum: int = AUTO_HOLDOUT_MIN_ROWS,
    unit: str = "row",
    groups: str = "",
) -> RecordedSplit:
    """Split ``items`` (the training file's usable items) by the rule in this module's docstring.

    ``validation`` is ``data.validation`` (or the validation file a Hub split became); with a file, ``held_items`` are its
    usable items. ``unusable`` lists the rows the format could not read (on neither side); ``groups`` names what is picked in the
    rule's sentence (default: groups of identical rows or images)."""
    split = RecordedSplit(unit=unit, files=list(files), rule="", share=None, seed=seed, automatic=validation is None,
                          train=[item.id for item in items], held=[], held_file="", dropped=list(unusable))
    if isinstance(validation, str):
        split.held, split.held_file = [item.id for item in held_items], "validation"
        split.rule = f"the validation file {Path(validation).name}: every usable {unit} of it is held out"
        trained = {item.side_key for item in items}
        _mark_held(split, held_items, trained)
        return split
    share = validation if isinstance(validation, float) else None
    if split.automatic and evaluation.enabled and len(items) >= minimum:
        share = evaluation.holdout
    if share is None:
        split.rule = ("nothing held out: evaluation is off" if not evaluation.enabled else
                      f"nothing held out: {len(items)} usable {unit}s are fewer than the {minimum} needed to hold some out "
                      "automatically (set data.validation to a share or a file)")
        return split
    split.share = share
    distinct = list(dict.fromkeys(item.side_key for item in items))
    _, held_groups = split_validation(distinct, share, seed)
    chosen = set(held_groups)
    held = [item for item in items if item.side_key in chosen]
    split.train = [item.id for item in items if item.side_key not in chosen]
    split.held, split.held_file = ([item.id for item in held], "train") if held else ([], "")
    origin = f"evaluation.holdout {share:g} (data.validation is empty)" if split.automatic else f"data.validation {share:g}"
    what = groups or f"groups of identical {unit}s"
    split.rule = (f"{origin}: {len(held_groups)} of the {len(distinct)} {what} of the training file picked by data.split_seed {seed}"
                  if held else f"{origin}: too few {unit}s to hold any out ({len(items)} usable)")
    _mark_held(split, held, set())
    return split


def _mark_held(split: RecordedSplit, held: Sequence[Candidate], trained: set[str]) -> None:
    """Drop held-out items that training also has (by group) and repeated held-out items (by key) from scoring."""
    seen: dict[str, ItemId] = {}
    for item in held:
        if item.side_key in trained:
            split.drop(item.id, "held", IN_TRAINING, "the training data has this content too")
        elif item.key in seen:
            split.drop(item.id, "held", DUPLICATE, f"repeats held-out {split.unit} {seen[item.key]}")
        else:
            seen[item.key] = item.id


def data_sha256(path: str | Path) -> str:
    """The sha256 of a data file, or of a folder's files (their relative paths and bytes, in name order)."""
    target = Path(path)
    digest = hashlib.sha256()
    if target.is_dir():
        for child in sorted(p for p in target.rglob("*") if p.is_file() and not p.is_symlink()):
            digest.update(child.relative_to(target).as_posix().encode("utf-8") + b"\0")
            digest.update(_file_sha256(child).encode("ascii"))
        return digest.hexdigest()
    return _file_sha256(target)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_files(train: str | Path, validation: float | str | None) -> list[DataFile]:
    """The training file and, when ``validation`` is a file, the validation file, with their sha256 now."""
    files = [DataFile("train", str(Path(train).absolute()), data_sha256(train))]
    if isinstance(validation, str):
        files.append(DataFile("validation", str(Path(validation).absolute()), data_sha256(validation)))
    return files


def write_split(run_dir: str | Path, split: RecordedSplit) -> Path:
    """Write ``run_dir/split.json`` atomically. A resumed run must find the split it started with: when the file exists and
    holds other held-out rows (the data changed in between), raise :class:`DataError` instead of training on a new split."""
    path = Path(run_dir) / SPLIT_FILE
    earlier = read_split(run_dir)
    if earlier is not None and earlier.fingerprint != split.fingerprint:
        raise DataError(f"{SPLIT_FILE} of this run holds other held-out rows than the data gives now (the data files changed since the "
                        "run started); start a new job instead of resuming this one")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{SPLIT_FILE}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(split.to_dict(), indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)
    return path


def read_split(run_dir: str | Path | None) -> RecordedSplit | None:
    """The split a run recorded, or None when it has none (a run from before Adapta wrote ``split.json``)."""
    if not run_dir:
        return None
    path = Path(run_dir) / SPLIT_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    try:
        return RecordedSplit.from_dict(json.loads(text))
    except (ValueError, TypeError, KeyError) as error:
        raise SplitUnusable(f"{SPLIT_FILE} of this run cannot be read ({error}), so its held-out rows are not known and nothing was "
                            "scored") from None


class SplitUnusable(DataError):
    """The report cannot trust which rows were held out: ``split.json`` is missing, unreadable, or the data changed since."""


NOT_RECORDED = (f"split not recorded: this run has no {SPLIT_FILE} (it trained before Adapta wrote one), so which rows were held out "
                "is not known and nothing was scored")


def split_for_report(run_dir: str | Path) -> RecordedSplit:
    """The run's recorded split, after checking that every data file still has the sha256 it had at training time; raises
    :class:`SplitUnusable` with the sentence the report shows instead of scores."""
    split = read_split(run_dir)
    if split is None:
        raise SplitUnusable(NOT_RECORDED)
    for item in split.files:
        name = Path(item.path).name
        try:
            now = data_sha256(item.path)
        except OSError:
            raise SplitUnusable(f"the {item.role} data {name} recorded in {SPLIT_FILE} is gone, so its held-out rows cannot be "
                                "scored") from None
        if now != item.sha256:
            raise SplitUnusable(f"the {item.role} data {name} changed since training (sha256 {item.sha256[:12]}… then, {now[:12]}… now), "
                                f"so the held-out rows in {SPLIT_FILE} may not be the rows it holds; nothing was scored")
    return split


def scored_summary(split: RecordedSplit, scored: Sequence[ItemId], dropped: Sequence[tuple[ItemId, str]] = ()) -> dict[str, Any]:
    """What a report records about its rows: the file it read, the split's fingerprint, the scored rows and their fingerprint."""
    return {"file": SPLIT_FILE, "fingerprint": split.fingerprint, "rows_fingerprint": rows_fingerprint(split, scored),
            "scored": list(scored), "held": len(split.held), "held_file": split.held_file, "rule": split.rule,
            "removed": {IN_TRAINING: split.count(IN_TRAINING), DUPLICATE: split.count(DUPLICATE, "held")},
            "not_scored": [{"id": item, "message": message} for item, message in dropped]}


def measured_on_text(split: RecordedSplit, scored: Sequence[ItemId], available: int | None = None, what: str = "row") -> str:
    """The report's "measured on" sentence: how many held-out rows of which file, that they come from split.json and by which rule,
    the cap when ``evaluation.max_rows`` cut ``available`` rows down, which rows, and what was removed from scoring."""
    available = len(scored) if available is None else available
    data = split.file(split.held_file or "train")
    name = Path(data.path).name if data else ""
    plural = what if available == 1 else f"{what}s"
    text = f"{available} held-out {plural} of {name}, recorded in {SPLIT_FILE} ({split.rule})"
    if len(scored) < available:
        text += f"; the first {len(scored)} of {available} scored (evaluation.max_rows)"
    shown = ", ".join(map(str, scored[:12])) + (f" and {len(scored) - 12} more" if len(scored) > 12 else "")
    text += f"; {split.unit}s {shown}" if scored else ""
    extras = [sentence for sentence in (split.overlap_sentence(), _duplicates_sentence(split)) if sentence]
    return text + "".join(f"; {sentence}" for sentence in extras)


def _duplicates_sentence(split: RecordedSplit) -> str:
    count = split.count(DUPLICATE, "held")
    return f"{count} held-out duplicate{'' if count == 1 else 's'} scored once" if count else ""
