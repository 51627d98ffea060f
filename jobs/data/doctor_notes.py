"""What the data doctor's checks leave behind, and the sentences read from them: notes beside an upload, and a run's
``data_check.json``.

- Beside a checked upload, ``<file>.check.json`` holds its last :class:`~jobs.data.doctor.DataCheck` (the Data tab's "Check
  data" step and ``/check_data`` write it); the Submit pre-flight reads it to refuse a file that holds secrets
  (:func:`refuse_known_secrets`) without checking the file again.
- Beside a file that "Fix" wrote, ``<file>.doctor.json`` holds what it removed and masked (the :class:`~jobs.data.doctor.FixResult`
  and the check of the file it was made from).
- The training process checks the job's data before anything is downloaded or trained (:func:`check_job_data`) and writes
  ``runs/<job>/data_check.json``: the check, and the fix note when the data was written by "Fix". A file with secrets refuses
  the job with one sentence naming the rows. The report and the model card say what it found in one line
  (:func:`data_check_line`): "trained on 1,204 rows; before training 37 duplicates were removed and 4 e-mail addresses masked".

    record = check_job_data(spec, run_dir)        # DataError when the data holds secrets
    data_check_line(read_data_check(run_dir))
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from jobs.data.doctor import DataCheck, FixResult, check_data
from jobs.data.doctor.findings import KIND_NAMES
from jobs.errors import DataError
from jobs.spec import DataFormat, JobSpec

DATA_CHECK_FILE = "data_check.json"
"""The run folder's record of the data check made before training."""
CHECK_NOTE_SUFFIX = ".check.json"
"""Beside an upload: its last check (written by the Data tab and ``/check_data``)."""
FIX_NOTE_SUFFIX = ".doctor.json"
"""Beside a file "Fix" wrote: what it removed and masked, and the check of the file it was made from."""
ROWS_NAMED = 10
"""A refusal names at most this many rows (then "and N more")."""
HUB_DATASET_NOT_CHECKED = "the data is a Hub dataset, read when training starts; check a downloaded copy with launch.py data-check"
"""Why a job on a Hub dataset has no data check (its record's ``skipped``)."""
DATA_LINE_EN: dict[str, str] = {
    "trained_on": "trained on {count} {unit}",
    "row.one": "row",
    "row.other": "rows",
    "image.one": "image",
    "image.other": "images",
    "fixed.removed.one": "before training {removed} was removed (the Data tab's Fix)",
    "fixed.removed.other": "before training {removed} were removed (the Data tab's Fix)",
    "fixed.masked.one": "before training {masked} was masked (the Data tab's Fix)",
    "fixed.masked.other": "before training {masked} were masked (the Data tab's Fix)",
    "fixed.both.one": "before training {removed} was removed and {masked} masked (the Data tab's Fix)",
    "fixed.both.other": "before training {removed} were removed and {masked} masked (the Data tab's Fix)",
    "fixed.summary": "before training {summary} (the Data tab's Fix)",
    "left_in": "left in: {found}",
    "no_problems": "the data check found no problems",
    "not_checked": "the data was not checked: {reason}",
    "hub_dataset": f"the data was not checked: {HUB_DATASET_NOT_CHECKED}",
    "separator": "; ",
    "comma": ", ",
    "and": " and ",
    "thousands": ",",
    **{f"kind.{kind}.{number}": name for kind, names in KIND_NAMES.items() for number, name in zip(("one", "other"), names, strict=True)},
}
"""The words of :func:`data_check_line` in English; the web UI has the same keys in each language (``dataline.<key>``)."""


def _beside(data_file: str | Path, suffix: str) -> Path:
    path = Path(data_file)
    return path.with_name(path.name + suffix)


def _write_json(path: Path, value: dict[str, Any]) -> Path:
    """Write ``value`` to ``path`` atomically (a reader never sees half a file)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(value, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)
    return path


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def write_check_note(data_file: str | Path, check: DataCheck) -> Path:
    """Keep ``check`` beside ``data_file`` (``<file>.check.json``) for the Submit pre-flight."""
    return _write_json(_beside(data_file, CHECK_NOTE_SUFFIX), check.to_dict())


def read_check_note(data_file: str | Path) -> DataCheck | None:
    """The last check kept beside ``data_file``, or None when it was never checked (or the note cannot be read)."""
    note = _read_json(_beside(data_file, CHECK_NOTE_SUFFIX))
    try:
        return DataCheck.from_dict(note) if note is not None else None
    except (KeyError, TypeError, ValueError):
        return None


def write_fix_note(fixed_file: str | Path, result: FixResult, before: DataCheck, source: str | Path) -> Path:
    """Beside the file "Fix" wrote: what it removed and masked, and the check of ``source``, the file it was made from."""
    note = {"source": Path(source).name, "removed": result.removed, "masked": result.masked, "summary": result.summary,
            "before": before.to_dict()}
    return _write_json(_beside(fixed_file, FIX_NOTE_SUFFIX), note)


def read_fix_note(data_file: str | Path) -> dict[str, Any] | None:
    """The fix note beside ``data_file`` (it was written by "Fix"), or None."""
    return _read_json(_beside(data_file, FIX_NOTE_SUFFIX))


def _row_list(rows: list[int]) -> str:
    shown = ", ".join(str(row) for row in rows[:ROWS_NAMED])
    more = f" and {len(rows) - ROWS_NAMED:,} more" if len(rows) > ROWS_NAMED else ""
    return f"row{'s' if len(rows) != 1 else ''} {shown}{more}"


def secrets_sentence(check: DataCheck, names: dict[str, str]) -> str | None:
    """One sentence naming the rows that hold secrets (``names``: "train"/"validation" to the file's name), or None when none do."""
    parts = []
    for finding in check.findings:
        if finding.severity == "block" and finding.rows:
            parts.append(f"{names.get(finding.file, finding.file)} {_row_list(finding.rows)}")
    if not parts:
        return None
    return (f"the data holds secrets (API keys, tokens or private keys) in {'; '.join(parts)}, so training is refused: press "
            "\"Fix\" in the Data tab's Check data step (or run `launch.py data-check FILE --fix`), which removes them, and train on "
            "the fixed file")


def job_data_files(spec: JobSpec) -> tuple[Path | None, Path | None]:
    """The job's local training and validation files (None for a Hub dataset, and for a validation share)."""
    if spec.data.from_hub:
        return None, None
    validation = spec.data.validation if isinstance(spec.data.validation, str) and spec.data.validation.strip() else None
    return Path(spec.data.train), Path(validation) if validation else None


def refuse_known_secrets(spec: JobSpec) -> None:
    """The Submit pre-flight: refuse a job whose training or validation file was checked (the Data tab, ``/check_data``) and
    found to hold secrets, with one sentence naming the rows. A file never checked is checked when the job runs."""
    train, validation = job_data_files(spec)
    for path, side in ((train, "train"), (validation, "validation")):
        check = read_check_note(path) if path is not None else None
        sentence = secrets_sentence(check, {side: path.name, "train": path.name}) if check is not None and path is not None else None
        if sentence:
            raise DataError(sentence[0].upper() + sentence[1:])


def check_job_data(spec: JobSpec, run_dir: str | Path) -> dict[str, Any]:
    """The training process's data check, before anything is downloaded or trained: ``runs/<job>/data_check.json`` (the check,
    and the fix note when the data was written by "Fix"); a resumed run keeps the record it started with. Raises
    :class:`DataError` naming the rows when the data holds secrets. Cheap: no tokenizer (the trainer reports what max_length
    cuts)."""
    path = Path(run_dir) / DATA_CHECK_FILE
    record = read_data_check(run_dir)
    train, validation = job_data_files(spec)
    if record is None:
        if train is None:
            record = {"skipped": HUB_DATASET_NOT_CHECKED}
        else:
            fmt = None if spec.data.format is DataFormat.AUTO else spec.data.format
            check = check_data(train, validation, fmt=fmt, task=spec.task, mapping=dict(spec.data.columns) or None,
                               resolution=spec.images.resolution, aspect_buckets=spec.images.aspect_buckets)
            record = {"train_file": str(train), "validation_file": str(validation) if validation else None, "check": check.to_dict(),
                      "fixed": read_fix_note(train)}
        record["line"] = data_check_line(record)
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        _write_json(path, record)
    if record.get("check") and train is not None:
        names = {"train": train.name, "validation": validation.name if validation else "validation"}
        sentence = secrets_sentence(DataCheck.from_dict(record["check"]), names)
        if sentence:
            raise DataError(f"{sentence[0].upper()}{sentence[1:]} (found by the data check before training; see {DATA_CHECK_FILE})")
    return record


def read_data_check(run_dir: str | Path | None) -> dict[str, Any] | None:
    """A run's ``data_check.json``, or None (a run from before data checks, or not started)."""
    return _read_json(Path(run_dir) / DATA_CHECK_FILE) if run_dir else None


def _number(count: int, strings: dict[str, str]) -> str:
    return f"{count:,}".replace(",", strings["thousands"])


def _counted(findings: list[dict[str, Any]], strings: dict[str, str]) -> dict[tuple[str, str], int]:
    """(singular, plural) name in ``strings`` -> how many rows, kinds that share a name (every duplicate) counted together."""
    counts: dict[tuple[str, str], int] = {}
    for finding in findings:
        kind = finding["kind"]
        spoken = kind.replace("_", " ")
        names = (strings.get(f"kind.{kind}.one", spoken), strings.get(f"kind.{kind}.other", spoken))
        counts[names] = counts.get(names, 0) + len(finding.get("rows", []))
    return {names: count for names, count in counts.items() if count}


def _listed(counts: dict[tuple[str, str], int], strings: dict[str, str]) -> str:
    parts = [f"{_number(count, strings)} {single if count == 1 else plural}" for (single, plural), count in counts.items()]
    return parts[0] if len(parts) == 1 else f"{strings['comma'].join(parts[:-1])}{strings['and']}{parts[-1]}"


def _fixed_part(fixed: dict[str, Any], strings: dict[str, str]) -> str:
    """"before training 37 duplicates were removed and 4 e-mail addresses masked (the Data tab's Fix)" from the check the fixed
    file was made from."""
    findings = (fixed.get("before") or {}).get("findings", [])
    done = {verb: _counted([f for f in findings if f.get("severity") in ("block", "fix") and str(f.get("action", "")).startswith(verb)],
                           strings) for verb in ("removed", "masked")}
    if not any(done.values()):
        return strings["fixed.summary"].format(summary=fixed.get("summary") or "")
    shape = "both" if all(done.values()) else "removed" if done["removed"] else "masked"
    first = done["removed"] or done["masked"]
    number = "one" if sum(first.values()) == 1 else "other"
    listed = {verb: _listed(counts, strings) for verb, counts in done.items() if counts}
    return strings[f"fixed.{shape}.{number}"].format(**listed)


def data_check_line(record: dict[str, Any] | None, strings: dict[str, str] = DATA_LINE_EN) -> str:
    """What the report and the model card say about the data: "trained on 1,204 rows; before training 37 duplicates were removed
    and 4 e-mail addresses masked" (or what was left in, or why it was not checked); empty for a run without a record.

    ``strings`` words it: :data:`DATA_LINE_EN` (the model card, ``summary.json`` and the CLI stay English), or the web UI's
    table for the page's language (the same keys), so the Jobs tab's report panel says it in Portuguese from the same numbers."""
    if not record:
        return ""
    if record.get("skipped"):
        reason = str(record["skipped"])
        return strings["hub_dataset"] if reason == HUB_DATASET_NOT_CHECKED else strings["not_checked"].format(reason=reason)
    check = record.get("check") or {}
    rows = int(check.get("train_rows", 0))
    unit = strings[f"{'image' if check.get('format') == 'images' else 'row'}.{'one' if rows == 1 else 'other'}"]
    parts = [strings["trained_on"].format(count=_number(rows, strings), unit=unit)]
    fixed = record.get("fixed")
    if fixed:
        parts.append(_fixed_part(fixed, strings))
    left = _counted(check.get("findings", []), strings)
    if left:
        parts.append(strings["left_in"].format(found=_listed(left, strings)))
    elif not fixed:
        parts.append(strings["no_problems"])
    return strings["separator"].join(parts)
