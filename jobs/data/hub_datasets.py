"""Hub datasets as training data: ``data.train: hub:OWNER/NAME`` (with ``data.config`` and ``data.split``).

Rows are streamed through ``datasets`` (nothing but the rows read is downloaded) and written once to a JSON Lines
file under ``<data home>/uploads/hub/``, so a Hub dataset gets the very same inspection, column mapping, row
numbers and training path as an uploaded file. The Data tab's preview streams only its first rows.

    from jobs.data.hub_datasets import hub_dataset_file
    path = hub_dataset_file("hub:acme/planets", config=None, split="train")   # -> .../uploads/hub/public/acme--planets/default-train.jsonl

Each row slice has its own file (``train[:1000]`` -> ``default-train.rows-0-1000.jsonl``, ``train[1000:]`` ->
``default-train.rows-1000-end.jsonl``), and a validation split that reads rows the training split also reads is refused
with the numbers (:func:`check_validation_split`). The id and split checks that need no network are the spec's
(:func:`jobs.spec.data.check_hub_dataset_id`, :func:`jobs.spec.data.parse_split`).

An id is only ever read from the Hub: ``datasets.load_dataset`` would load a local folder whose path equals the id (relative to
the working directory: with the default data home ``./data``, ``hub:data/uploads`` named every user's uploads) or one of its
packaged builders (``hub:json``), so :func:`check_hub_id_not_local` refuses an id without an owner and one that names a path
here, and the rows are loaded as ``hf://datasets/OWNER/NAME``, which ``datasets`` resolves on the Hub only.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jobs.data.readers import MAX_ROWS
from jobs.errors import DataError
from jobs.spec import JobSpec
from jobs.spec.data import check_hub_dataset_id, parse_split
from storage.paths import data_home, safe_name

PREVIEW_ROWS = 200


REMOTE_ONLY_PREFIX = "hf://datasets/"
"""How ``datasets`` is told to read a dataset id from the Hub and never from a folder of this machine."""


def check_hub_id_not_local(ref: str) -> str:
    """The dataset id of ``ref`` if it can only mean a Hub dataset (OWNER/NAME, not a path that exists here); DataError otherwise."""
    try:
        dataset_id = check_hub_dataset_id(ref)
    except ValueError as error:
        raise DataError(str(error)) from None
    if "/" not in dataset_id or Path(dataset_id).expanduser().exists() or (data_home().root / dataset_id).exists():
        raise DataError(f"{ref!r} is not a Hub dataset id: write hub:OWNER/NAME, the owner and name of a dataset on the Hub "
                        "(e.g. hub:acme/planets); local files are uploaded in the Data tab instead")
    return dataset_id


def _dataset_id(ref: str) -> str:
    return check_hub_id_not_local(ref)


def _cell(value: Any) -> Any:
    """A JSON-friendly cell (nested lists/dicts kept, bytes and images named instead of dumped)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(key): _cell(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_cell(item) for item in value]
    return str(value)


def split_file_name(split: str) -> str:
    """The cache name of a split or row slice, distinct for distinct rows: ``train``, ``train.rows-0-1000``, ``train.rows-1000-end``."""
    name, start, stop = parse_split(split)
    if start == 0 and stop is None:
        return safe_name(name)
    return safe_name(f"{name}.rows-{start}-{stop if stop is not None else 'end'}")


def _rows_read(start: int, stop: int | None, max_rows: int) -> tuple[int, int]:
    """[first, end) of the rows a slice reads, at most ``max_rows`` of them."""
    return start, start + max_rows if stop is None else min(stop, start + max_rows)


def check_validation_split(train_split: str, validation_split: str, max_rows: int = MAX_ROWS) -> None:
    """Refuse validation rows that training also reads (the same split with equal or overlapping row ranges), with the numbers."""
    train_name, train_start, train_stop = parse_split(train_split)
    valid_name, valid_start, valid_stop = parse_split(validation_split)
    if train_name != valid_name:
        return
    train_rows, valid_rows = _rows_read(train_start, train_stop, max_rows), _rows_read(valid_start, valid_stop, max_rows)
    first, end = max(train_rows[0], valid_rows[0]), min(train_rows[1], valid_rows[1])
    if end <= first:
        return
    after = train_rows[1]
    if train_stop is not None:
        hint = f"e.g. {train_name}[{after}:{after + max(1, (after - train_rows[0]) // 10)}]"
    else:
        hint = f"e.g. {train_name}[:{train_start}]" if train_start else "e.g. another split such as test or validation"
    if train_rows == valid_rows:
        raise DataError(f"data.validation {validation_split!r} reads the same rows as data.split {train_split!r}, so the eval loss would "
                        f"measure rows the model trained on; validate on other rows, {hint}")
    up_to = "up to " if train_stop is None or valid_stop is None else ""
    raise DataError(f"data.validation {validation_split!r} shares {up_to}{end - first:,} rows (rows {first:,} to {end - 1:,}) with "
                    f"data.split {train_split!r}, so those rows would be trained on and validated on; validate on rows outside it, {hint}")


def stream_rows(ref: str, config: str | None = None, split: str = "train", limit: int | None = None) -> Iterator[dict[str, Any]]:
    """The rows of one split (or row slice) of a Hub dataset, streamed; raises DataError naming the dataset, config or split."""
    dataset_id = _dataset_id(ref)
    split_name, start, stop = parse_split(split)
    if stop is not None:
        limit = min(limit, stop - start) if limit is not None else stop - start
    try:
        import datasets
        from huggingface_hub import constants

        if constants.is_offline_mode() or datasets.config.HF_HUB_OFFLINE:
            raise DataError(f"{ref} is on the Hugging Face Hub and offline mode is on (HF_HUB_OFFLINE=1); "
                            "unset it on a connected machine, or upload the data as a file")
        stream = datasets.load_dataset(REMOTE_ONLY_PREFIX + dataset_id, name=config or None, split=split_name, streaming=True)
        if start:
            stream = stream.skip(start)
        for count, row in enumerate(stream):
            if limit is not None and count >= limit:
                return
            yield {str(key): _cell(value) for key, value in row.items()}
    except DataError:
        raise
    except Exception as error:  # datasets raises many types (FileNotFoundError, ValueError, DatasetNotFoundError, httpx errors)
        raise DataError(_explain(ref, config, split, error)) from None


def _explain(ref: str, config: str | None, split: str, error: Exception) -> str:
    text = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
    name = type(error).__name__
    if "Config name is missing" in text or "BuilderConfig" in text or "config" in text.lower() and "available" in text.lower():
        return f"{ref}: data.config {config!r} is not one of its configurations ({text})"
    if "split" in text.lower() and ("unknown" in text.lower() or "bad split" in text.lower() or "should be one of" in text.lower()):
        return f"{ref}: data.split {split!r} does not exist ({text})"
    if name in ("DatasetNotFoundError", "RepositoryNotFoundError", "FileNotFoundError") or "doesn't exist" in text or "not found" in text.lower():
        return f"{ref} was not found on the Hub (or is private or gated: sign in with a token that can read it); check the name"
    if name in ("ConnectError", "ConnectionError", "ConnectTimeout", "ReadTimeout", "TimeoutError", "OSError"):
        return f"{ref} cannot be loaded: the Hub is unreachable ({name}); check the connection or HF_ENDPOINT"
    return f"{ref} cannot be read ({name}: {text})"


def _write_jsonl(rows: Iterator[dict[str, Any]], target: Path) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".partial-", suffix=".jsonl")
    count = 0
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            for row in rows:
                stream.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
        if count == 0:
            raise DataError(f"{target.stem} has no rows")
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return count


def reader_key() -> str:
    """Who reads Hub datasets in this process: ``public`` without a token, else a hash of the token (never the token itself).

    Local copies are kept per reader, so rows fetched with one person's access to a private or gated dataset are never
    handed to a job of someone without it."""
    from huggingface_hub import constants, get_token

    token = None if constants.HF_HUB_DISABLE_IMPLICIT_TOKEN else get_token()
    return f"reader-{hashlib.sha256(token.encode()).hexdigest()[:16]}" if token else "public"


def _target(ref: str, config: str | None, split: str, suffix: str = "") -> Path:
    dataset_id = _dataset_id(ref)
    folder = data_home().uploads / "hub" / reader_key() / safe_name(dataset_id.replace("/", "--"))
    return folder / f"{safe_name(config or 'default')}-{split_file_name(split)}{suffix}.jsonl"


def hub_dataset_file(ref: str, config: str | None = None, split: str = "train", max_rows: int = MAX_ROWS) -> Path:
    """A local JSON Lines copy of the split (at most ``max_rows`` rows), written once and reused."""
    target = _target(ref, config, split)
    if not target.is_file():
        _write_jsonl(stream_rows(ref, config, split, limit=max_rows), target)
    return target


def hub_preview_file(ref: str, config: str | None = None, split: str = "train", rows: int = PREVIEW_ROWS) -> Path:
    """The first ``rows`` rows of the split as a JSON Lines file, for the Data tab's inspection (streamed, cheap)."""
    full = _target(ref, config, split)
    if full.is_file():
        return full
    target = _target(ref, config, split, suffix=f".first{rows}")
    if not target.is_file():
        _write_jsonl(stream_rows(ref, config, split, limit=rows), target)
    return target


def resolve_data_files(spec: JobSpec) -> tuple[str, str | float | None]:
    """(train file, validation) for a spec's data: Hub datasets become local JSON Lines files; a validation
    string on a Hub dataset names another split of it."""
    data = spec.data
    if not data.from_hub:
        return data.train, data.validation
    validation = data.validation
    if isinstance(validation, str):
        check_validation_split(data.split, validation)
    train = str(hub_dataset_file(data.train, data.config, data.split))
    if isinstance(validation, str):
        validation = str(hub_dataset_file(data.train, data.config, validation))
    return train, validation
