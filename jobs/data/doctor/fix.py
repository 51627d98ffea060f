"""The data doctor's fix: a cleaned copy of the data files, the uploads left untouched.

Rows the check found duplicated (exact, normalised or near), and validation rows copied from training, are removed
(the first copy is kept); personal data and secrets are masked in place (``<EMAIL>``, ``<PHONE>``, ``<CARD>``,
``<IBAN>``, ``<CPF>``, ``<CNPJ>``, ``<IP>``, ``<SECRET>``) in every text of the rows they were found in. Findings of
severity warn and info are left alone; rows with conflicting labels, answers or preferences (the same input saying
different things) are kept as they are, and the summary says so: which of them is right needs a person. The copies keep
the input's format (``train.jsonl`` -> ``train.fixed.jsonl``).

    result = fix_data(check, Path("train.jsonl"), Path("valid.jsonl"), out_dir)
    result.train, result.removed, result.masked, result.summary
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

from jobs.data.doctor.check import is_image_dataset
from jobs.data.doctor.findings import CONFLICT_KINDS, KIND_NAMES, REMOVED_KINDS, DataCheck, Finding, FixResult
from jobs.data.doctor.sensitive import MASKS, mask_sensitive
from jobs.data.readers import Table, read_table
from jobs.errors import DataError

MASKED_KINDS = frozenset(MASKS)
"""Findings whose values the fix masks."""


def _masked(value: Any, kinds: frozenset[str], counts: Counter[str]) -> Any:
    if isinstance(value, str):
        text, count = mask_sensitive(value, kinds)
        if count:
            counts["masked"] += count
        return text
    if isinstance(value, dict):
        return {key: _masked(item, kinds, counts) for key, item in value.items()}
    if hasattr(value, "tolist") and not isinstance(value, (int, float)):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_masked(item, kinds, counts) for item in value]
    return value


def _fixed_name(path: Path) -> str:
    return f"{path.stem}.fixed{path.suffix.lower()}"


def _write(table: Table, records: list[dict[str, Any]], target: Path) -> None:
    suffix = target.suffix
    if suffix == ".jsonl":
        target.write_text("".join(json.dumps(record, ensure_ascii=False, default=str) + "\n" for record in records), encoding="utf-8")
    elif suffix == ".json":
        target.write_text(json.dumps(records, ensure_ascii=False, indent=1, default=str) + "\n", encoding="utf-8")
    elif suffix in (".csv", ".tsv"):
        with target.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=table.columns, delimiter="\t" if suffix == ".tsv" else ",", extrasaction="ignore")
            writer.writeheader()
            writer.writerows({key: ("" if value is None else value) for key, value in record.items()} for record in records)
    elif suffix == ".parquet":
        import pandas as pd

        pd.DataFrame.from_records(records, columns=table.columns).to_parquet(target, index=False)
    elif suffix == ".txt":
        texts = [str(record.get(table.columns[0], "")) for record in records]
        separator = "\n\n" if any("\n" in text for text in texts) else "\n"
        target.write_text(separator.join(texts) + "\n", encoding="utf-8")
    else:  # read_table accepts no other suffix
        raise DataError(f"cannot write a {suffix} file; use .jsonl, .json, .csv, .tsv, .parquet or .txt")


def _fix_file(path: Path, file: str, findings: list[Finding], expected_rows: int, out_dir: Path,
              counts: Counter[str]) -> Path:
    table = read_table(path)
    if len(table.records) != expected_rows:
        raise DataError(f"{table.name} has {len(table.records)} rows but the check saw {expected_rows}; the file changed "
                        "since it was checked: check it again, then fix")
    mine = [finding for finding in findings if finding.file == file]
    removed = {row for finding in mine if finding.kind in REMOVED_KINDS for row in finding.rows}
    mask_kinds = frozenset(finding.kind for finding in mine if finding.kind in MASKED_KINDS)
    to_mask = {row for finding in mine if finding.kind in mask_kinds for row in finding.rows}
    records = []
    for record, row in zip(table.records, table.row_numbers, strict=True):
        if row in removed:
            counts[f"removed {file}"] += 1
            continue
        records.append(_masked(record, mask_kinds, counts) if row in to_mask else record)
    target = out_dir / _fixed_name(path)
    if target.resolve() == path.resolve():
        raise DataError(f"the fixed copy would overwrite {path.name}; choose another output folder")
    _write(table, records, target)
    return target


def _kept_conflicts(check: DataCheck) -> str:
    """"kept 4 rows with conflicting answers as they are ..." for the conflicts the fix leaves alone, or ""."""
    kept = [(KIND_NAMES[f.kind], f.count) for f in check.findings if f.kind in CONFLICT_KINDS]
    if not kept:
        return ""
    rows = ", ".join(f"{n:,} {single if n == 1 else plural}" for (single, plural), n in kept)
    return f"kept {rows} as they are (which one is right needs a person)"


def _summary(check: DataCheck, result: FixResult) -> str:
    removed = Counter()
    masked = Counter()
    for finding in check.fixable():
        single, plural = KIND_NAMES.get(finding.kind, (finding.kind, finding.kind))
        (removed if finding.kind in REMOVED_KINDS else masked)[(single, plural)] += finding.count
    parts = []
    if removed:
        parts.append("removed " + ", ".join(f"{n:,} {s if n == 1 else p}" for (s, p), n in removed.items()))
    if masked:
        parts.append("masked " + ", ".join(f"{n:,} {s if n == 1 else p}" for (s, p), n in masked.items()))
    if not parts:
        return "nothing to fix"
    parts += [kept] if (kept := _kept_conflicts(check)) else []
    written = result.train.name + (f" and {result.validation.name}" if result.validation is not None else "")
    return f"{'; '.join(parts)}; wrote {written}"


def fix_data(check: DataCheck, train: Path, validation: Path | None, out_dir: Path) -> FixResult:
    """Write cleaned copies of ``train`` (and ``validation``) into ``out_dir``, as :mod:`this module <jobs.data.doctor.fix>`
    says; the inputs are never changed. An image dataset has nothing the fix changes: its inputs are returned."""
    train = Path(train)
    if is_image_dataset(train) or not check.fixable():
        kept = _kept_conflicts(check)
        return FixResult(train=train, validation=Path(validation) if validation is not None else None, removed=0, masked=0,
                         summary="nothing to fix: image findings are shown only" if is_image_dataset(train)
                         else "nothing to fix" + (f"; {kept}" if kept else ""))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: Counter[str] = Counter()
    fixed_train = _fix_file(train, "train", check.findings, check.train_rows, out_dir, counts)
    fixed_validation = None
    if validation is not None:
        fixed_validation = _fix_file(Path(validation), "validation", check.findings, check.validation_rows, out_dir, counts)
    result = FixResult(train=fixed_train, validation=fixed_validation,
                       removed=counts["removed train"] + counts["removed validation"], masked=counts["masked"], summary="")
    result.summary = _summary(check, result)
    return result
