"""The Data tab's actions and their ``gradio_client`` endpoints: uploads stored per user (size-limited, checked, registered),
a file or a Hub dataset inspected, and which uploads a caller owns.

    /inspect_dataset, /inspect_hub_dataset, /list_datasets, /check_data

The data check (the Data tab's "Check data" step and ``/check_data``) runs in a process of its own with a time limit
(:mod:`jobs.trainers.data_check_process`); its result is kept beside the upload for the Submit pre-flight
(:mod:`jobs.data.doctor_notes`), and "Fix" stores the cleaned copy as a new upload of the caller's, with a note of what it removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
from sqlmodel import col, select

from jobs.data import SUPPORTED_EXTENSIONS, inspect_dataset
from jobs.data.doctor import DataCheck
from jobs.data.doctor_notes import write_check_note, write_fix_note
from jobs.data.hub_datasets import check_hub_id_not_local, hub_preview_file
from jobs.data.images import inspect_image_dataset
from jobs.errors import AdaptaError, DataError
from jobs.queue.local_files import local_paths
from jobs.spec import HUB_DATA_PREFIX, DataFormat, JobSpec, Task
from jobs.trainers.data_check_process import CheckRequest, check_in_process
from storage.db import session_scope
from storage.paths import data_home, safe_name
from storage.tables import Dataset
from webui.access import Caller, caller_of, require_writer
from webui.api_caller import home_path, public_paths, user_errors
from webui.api_models import check_model_allowed
from webui.upload_quota import upload_slot

DEFAULT_MAX_UPLOAD_MB = 200
IMAGE_ARCHIVE = ".zip"
IMAGES_FORMAT = "images"


def max_upload_bytes() -> int:
    """The upload limit: ``ADAPTA_MAX_UPLOAD_MB`` (default 200) megabytes."""
    try:
        megabytes = float(os.environ.get("ADAPTA_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB))
    except ValueError:
        megabytes = DEFAULT_MAX_UPLOAD_MB
    return int(megabytes * 1024 * 1024)


def store_upload(temp_path: str, caller: Caller, original_name: str | None = None) -> Path:
    """Copy an uploaded file into ``uploads/users/<owner>/<sha>/<safe name>`` (size-limited), check it reads, register it as the
    caller's. Equal bytes of two users are two files; a refused upload removes only the file it wrote."""
    require_writer(caller, "upload data")
    source = Path(temp_path)
    name = original_name or source.name
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS and suffix != IMAGE_ARCHIVE:
        raise DataError(f"{Path(name).name} has an unsupported file type; upload one of {', '.join(SUPPORTED_EXTENSIONS)} (images: a .zip)")
    size = source.stat().st_size
    if size > max_upload_bytes():
        raise DataError(f"{Path(name).name} is {size / 1e6:.1f} MB, over the {max_upload_bytes() / 1e6:.0f} MB upload limit; upload a smaller sample")
    with upload_slot(caller, size):  # a shared server's per-user quota and rate (webui.upload_quota)
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        folder = data_home().upload_dir(caller.owner, digest)
        target = folder / safe_name(Path(name).name)
        folder.mkdir(parents=True, exist_ok=True)
        created = not target.is_file()
        if created:
            shutil.copyfile(source, target)
    try:
        if suffix == IMAGE_ARCHIVE:  # extracted safely (entry count, expanded size, ratio, no ../ or links) by the engine
            images = inspect_images_action(str(target))
            fmt, rows, columns = IMAGES_FORMAT, images["images"], []
        else:
            report = inspect_dataset(target)
            fmt, rows, columns = report.format.value, report.rows, report.columns
    except AdaptaError:
        if created:
            target.unlink(missing_ok=True)
            if not any(folder.iterdir()):
                folder.rmdir()
        raise
    with session_scope() as session:
        known = session.exec(select(Dataset).where(Dataset.sha256 == digest, Dataset.path == str(target), Dataset.owner == caller.owner)).first()
        if known is None:
            session.add(Dataset(owner=caller.owner, name=target.name, path=str(target), format=fmt, rows=rows,
                                columns_json=json.dumps(columns), sha256=digest, size_bytes=size))
    return target


def inspect_images_action(path: str, instance_prompt: str | None = None, trigger_word: str | None = None) -> dict[str, Any]:
    """A folder or .zip of captioned images: counts, sizes, caption source, every item and the problems by file name."""
    report = inspect_image_dataset(path, instance_prompt=instance_prompt or None, trigger_word=trigger_word or None)
    items = [{"file": item.path.relative_to(report.folder).as_posix(), "caption": item.caption, "width": item.width, "height": item.height}
             for item in report.items]
    return {"format": IMAGES_FORMAT, "folder": str(report.folder), "images": len(items), "caption_source": report.caption_source,
            "items": items, "problems": report.problems, "unreadable": sorted(report.unreadable), "tiny": sorted(report.tiny),
            "missing_captions": sorted(report.missing_captions), "stray_files": report.stray_files}


def owned_datasets(caller: Caller) -> list[Dataset]:
    """The datasets the caller may see (their own; every one on a single-user or demo server), newest first."""
    query = select(Dataset).order_by(col(Dataset.id).desc())
    if caller.owner_filter is not None:
        query = query.where(Dataset.owner == caller.owner_filter)
    with session_scope() as session:
        return list(session.exec(query).all())


def check_own_upload(path: str, caller: Caller, field_name: str = "the data file") -> None:
    """On a multi-user server, refuse any path that is not one of the caller's uploads (a Hub dataset id is checked to be one)."""
    if caller.owner_filter is None:
        return
    if str(path).startswith(HUB_DATA_PREFIX):
        check_hub_id_not_local(str(path))
        return
    if str(path) not in {row.path for row in owned_datasets(caller)}:
        raise DataError(f"{field_name} {path} is not one of your uploads; upload the file in the Data tab and use its stored path")


def check_data_owned(spec: JobSpec, caller: Caller) -> None:
    """A job may only read the caller's own uploads (or a Hub dataset) on a multi-user server, never another path: every path
    field of the spec (:data:`jobs.queue.local_files.PATH_FIELDS`: data, validation, corpus, ...) passes :func:`check_own_upload`."""
    if spec.data.from_hub:
        check_own_upload(spec.data.train, caller, "data.train")
    for field_name, path in local_paths(spec):
        check_own_upload(path, caller, field_name)


def previous_uploads(caller: Caller) -> list[tuple[str, str]]:
    """(label, path) of the caller's registered datasets whose file still exists, newest first."""
    rows = owned_datasets(caller)
    unit = {IMAGES_FORMAT: "images"}
    return [(f"{row.name} · {row.rows} {unit.get(row.format, 'rows')} · #{row.id}", row.path) for row in rows if Path(row.path).is_file()]


def preview_hub_action(ref: str, config: str | None = None, split: str | None = None) -> str:
    """The path of a JSON Lines file holding the first rows of a Hub dataset split (streamed), for inspection."""
    return str(hub_preview_file(ref, (config or "").strip() or None, (split or "").strip() or "train"))


def inspect_action(path: str, format: str = "auto", task: str = "causal-lm", columns: dict[str, str] | None = None,
                   tokenizer: Any = None, max_length: int | None = None) -> dict[str, Any]:
    report = inspect_dataset(path, DataFormat(format or "auto"), columns or None, Task(task or "causal-lm"), tokenizer=tokenizer, max_length=max_length)
    return report.to_dict()


def _is_upload(path: Path) -> bool:
    uploads = data_home().uploads.absolute()
    return path.absolute().is_relative_to(uploads) and ".." not in path.parts


def check_data_action(path: str, caller: Caller, *, validation: str | None = None, format: str = "auto", task: str = "causal-lm",
                      columns: dict[str, str] | None = None, model: str | None = None, max_length: int | None = None, fix: bool = False,
                      on_progress: Callable[[float, str], None] | None = None, earlier: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check one of the caller's uploads (and a validation file) with the data doctor, in a process of its own; with ``fix``,
    store the cleaned copy as a new upload of the caller's (the original stays as it was). ``earlier``: what this function
    returned for the same file a moment ago (the Data tab's last check): "Fix" then fixes from it instead of checking again.
    Returns the check as a dict, with ``checked_path``, ``no_lengths`` (why token lengths were not checked, or "") and, after a
    fix, ``fixed_path`` and ``fix``."""
    require_writer(caller, "fix data" if fix else "check data")  # a demo visitor sees every owner's rows: no checks, no excerpts
    path = home_path(str(path or "").strip())
    validation = home_path(str(validation or "").strip()) or None
    if not path:
        raise DataError("no data file given; upload one in the Data tab (or with /inspect_dataset) and check its stored_path")
    if path.startswith(HUB_DATA_PREFIX):
        raise DataError(f"{path} is a Hub dataset; the data check reads uploaded files: download a sample, upload it and check that")
    for field_name, value in (("the data file", path), ("the validation file", validation)):
        if value:
            check_own_upload(value, caller, field_name)
            if not Path(value).exists():
                raise DataError(f"{field_name} {value} does not exist; upload it again in the Data tab")
    model_ref = check_model_allowed(model, caller) if (model or "").strip() else None
    request = CheckRequest(train=path, validation=validation, format=format or "auto", task=task or Task.CAUSAL_LM.value,
                           mapping=dict(columns or {}), model=model_ref, max_length=int(max_length) if max_length else None)
    same = bool(earlier) and earlier.get("checked_path") == path and earlier.get("checked_validation") == validation
    with tempfile.TemporaryDirectory(prefix="adapta-fix-") as scratch:
        check, fixed, no_lengths = check_in_process(request, on_progress=on_progress, fix_dir=Path(scratch) if fix else None,
                                                    earlier=DataCheck.from_dict(earlier) if fix and same and earlier else None)
        if _is_upload(Path(path)):
            write_check_note(path, check)  # for the Submit pre-flight (jobs.data.doctor_notes.refuse_known_secrets)
        result = {**check.to_dict(), "checked_path": path, "checked_validation": validation, "no_lengths": no_lengths}
        if fixed is not None and Path(fixed.train) != Path(path):  # nothing to fix: fix_data hands the file back as it was
            stored = store_upload(str(fixed.train), caller, fixed.train.name)
            write_fix_note(stored, fixed, check, path)
            result["fixed_path"] = str(stored)
            if fixed.validation is not None:
                result["fixed_validation_path"] = str(store_upload(str(fixed.validation), caller, Path(fixed.validation).name))
        if fixed is not None:
            result["fix"] = {"removed": fixed.removed, "masked": fixed.masked, "summary": fixed.summary}
    return result


# ---- the gradio_client endpoints ---------------------------------------------------------------------------

def api_inspect_dataset(file: str | None, format: str, task: str, request: gr.Request) -> dict:
    """Store an uploaded data file and inspect it: format, mapping, preview, problems with row numbers; stored_path goes into a spec.

    task text-to-image: a .zip of images with captions; the report lists images (file, caption, size), caption_source and problems.
    """

    def run() -> dict[str, Any]:
        if not file:
            raise DataError("no file was uploaded")
        stored = store_upload(file, caller_of(request))
        if (task or "") == Task.TEXT_TO_IMAGE.value:
            if stored.suffix.lower() != IMAGE_ARCHIVE:
                raise DataError(f"{stored.name} is not a .zip; task text-to-image needs a .zip of images with captions")
            report = inspect_images_action(str(stored))
            report["folder"] = str(report["folder"])
            report["stored_path"] = str(stored)
            return public_paths(report)
        if stored.suffix.lower() == IMAGE_ARCHIVE:
            raise DataError(f"{stored.name} is a .zip of images; choose task text-to-image for it")
        report = inspect_action(str(stored), format, task)
        report["stored_path"] = report.pop("path")  # a "path" key would make clients try to download it
        return public_paths(report)

    return user_errors(run)()


def api_list_datasets(request: gr.Request) -> list:
    """The caller's uploaded datasets, newest first: id, name, format, rows, size, stored_path (for a spec's data.train), created_at."""

    def run() -> list[dict[str, Any]]:
        return public_paths([{"id": row.id, "name": row.name, "format": row.format, "rows": row.rows, "size_bytes": row.size_bytes,
                              "stored_path": row.path, "created_at": row.created_at.isoformat(timespec="seconds")}
                             for row in owned_datasets(caller_of(request))])

    return user_errors(run)()


def api_inspect_hub_dataset(dataset: str, config: str = "", split: str = "train", format: str = "auto", task: str = "causal-lm") -> dict:
    """Stream the first rows of a Hub dataset split (hub:OWNER/NAME) and inspect them like an upload: format, mapping, preview, problems.

    Put ``dataset`` in a spec's data.train, with data.config and data.split; the job streams the whole split itself.
    """

    def run() -> dict[str, Any]:
        ref = dataset if str(dataset).startswith(HUB_DATA_PREFIX) else HUB_DATA_PREFIX + str(dataset or "")
        report = inspect_action(preview_hub_action(ref, config, split), format, task)
        report.pop("path")
        return {**report, "dataset": ref, "config": config or None, "split": split or "train"}

    return user_errors(run)()


def api_check_data(path: str, request: gr.Request, validation: str = "", format: str = "auto", task: str = "causal-lm", model: str = "",
                   max_length: int = 0, fix: bool = False) -> dict:
    """Check one of your uploads (its stored_path) for duplicates, personal data, secrets, lengths and balance: the findings, each
    with its kind, severity, rows (1-based), three examples and what "Fix" does. ``model`` and ``max_length`` add the token-length
    check. ``fix: true`` also writes a cleaned copy as a new upload of yours and returns its ``fixed_path`` (use it as data.train);
    the file you checked stays as it was."""

    def run() -> dict[str, Any]:
        return public_paths(check_data_action(path, caller_of(request), validation=validation or None, format=format, task=task,
                                              model=model or None, max_length=max_length or None, fix=bool(fix)))

    return user_errors(run)()
