"""A queued spec's local files: paths made absolute (the worker runs in another folder, maybe on another host), and the
check that the data is there, made when the job is submitted and again when a worker claims it.

    spec = prepare_for_queue(spec)   # AdaptaError naming the missing file
"""

from __future__ import annotations

from pathlib import Path

from jobs.errors import AdaptaError
from jobs.spec import JobSpec, Task


def _absolute(path_text: str) -> str:
    path = Path(path_text).expanduser()
    return str(path.absolute()) if not path.is_absolute() and path.exists() else path_text


def with_absolute_paths(spec: JobSpec) -> JobSpec:
    """``spec`` with its local model and data paths made absolute (the worker runs in another folder, maybe on another host)."""
    if spec.data.from_hub:
        return spec.model_copy(update={"base_model": _absolute(spec.base_model)})
    data = spec.data.model_copy(update={
        "train": _absolute(spec.data.train),
        "validation": _absolute(spec.data.validation) if isinstance(spec.data.validation, str) else spec.data.validation,
    })
    return spec.model_copy(update={"data": data, "base_model": _absolute(spec.base_model)})


def missing_data(spec: JobSpec) -> str | None:
    """One sentence naming the first local data file (text-to-image: file or image folder) that is not there, else None."""
    if spec.data.from_hub:
        return None
    folders = spec.task is Task.TEXT_TO_IMAGE
    for field_name, value in (("data.train", spec.data.train), ("data.validation", spec.data.validation)):
        if not isinstance(value, str) or Path(value).is_file() or (folders and Path(value).is_dir()):
            continue
        if folders:
            return f"{field_name} folder or file {value} does not exist; check the path or upload the images again"
        return f"{field_name} file {value} does not exist; check the path or upload the file again"
    return None


def prepare_for_queue(spec: JobSpec) -> JobSpec:
    """Make local paths absolute and check the data exists before queueing (a Hub dataset is read by the job itself)."""
    checked = with_absolute_paths(spec)
    problem = missing_data(checked)
    if problem:
        raise AdaptaError(problem)
    return checked
