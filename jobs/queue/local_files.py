"""A queued spec's local files: which fields name them, the paths made absolute (the worker runs in another folder, maybe on
another host), and the check that the data is there, made when the job is submitted and again when a worker claims it.

:data:`PATH_FIELDS` is the one list of the spec's fields that name a file or folder on the server (the ownership check of a
shared server, :func:`webui.api_data.check_data_owned`, reads every one of them); :data:`TEXT_FIELDS` lists every other
field that holds a string. A test walks the JobSpec schema and fails when a string field is in neither, so a new path field
cannot skip the ownership check.

    spec = prepare_for_queue(spec)   # AdaptaError naming the missing file
    for field_name, value in local_paths(spec): ...
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobs.errors import AdaptaError
from jobs.spec import HUB_DATA_PREFIX, JobSpec, Task

PATH_FIELDS: tuple[str, ...] = ("data.train", "data.validation", "embedding.corpus")
"""The spec's fields that name a file or folder on the server (``data.validation`` also takes a share; a Hub dataset's names a split)."""
TEXT_FIELDS: frozenset[str] = frozenset({
    "name", "base_model", "base_model_revision", "data.columns", "data.config", "data.split", "lora.target_modules",
    "prompt_tuning.init_text", "images.instance_prompt", "images.trigger_word", "samples.prompts", "grpo.rewards.pattern",
    "grpo.rewards.json_schema", "grpo.rewards.tag",
})
"""Every other string field: names, Hub ids and revisions, prompts, patterns. ``base_model`` names a model, which the shared
server's model check decides (:func:`webui.api_models.check_model_allowed`), never a data file."""


def field_value(spec: JobSpec, dotted: str) -> Any:
    """The value of a dotted field (``data.train``) of ``spec``."""
    value: Any = spec
    for part in dotted.split("."):
        value = getattr(value, part, None)
    return value


def local_paths(spec: JobSpec) -> list[tuple[str, str]]:
    """(field, path) of every local file or folder the spec names: :data:`PATH_FIELDS` holding a string, less a Hub dataset's
    own fields (``hub:`` ids and its split names are read from the Hub, never from this machine)."""
    found = []
    for dotted in PATH_FIELDS:
        value = field_value(spec, dotted)
        if not isinstance(value, str) or not value.strip():
            continue
        if dotted.startswith("data.") and spec.data.from_hub:
            continue
        found.append((dotted, value))
    return found


def with_paths(spec: JobSpec, change: Callable[[str, str], str]) -> JobSpec:
    """``spec`` with every local path (:func:`local_paths`) replaced by ``change(field, path)``."""
    updates: dict[str, dict[str, Any]] = {}
    for dotted, value in local_paths(spec):
        section, field_name = dotted.split(".", 1)
        updates.setdefault(section, {})[field_name] = change(dotted, value)
    return spec.model_copy(update={section: getattr(spec, section).model_copy(update=fields) for section, fields in updates.items()})


def _absolute(path_text: str) -> str:
    path = Path(path_text).expanduser()
    return str(path.absolute()) if not path.is_absolute() and path.exists() else path_text


def with_absolute_paths(spec: JobSpec) -> JobSpec:
    """``spec`` with its local model and data paths made absolute (the worker runs in another folder, maybe on another host)."""
    spec = with_paths(spec, lambda _field, value: _absolute(value))
    return spec.model_copy(update={"base_model": _absolute(spec.base_model)})


def missing_data(spec: JobSpec) -> str | None:
    """One sentence naming the first local data file (text-to-image: file or image folder) that is not there, else None."""
    folders = spec.task is Task.TEXT_TO_IMAGE
    for field_name, value in local_paths(spec):
        if value.startswith(HUB_DATA_PREFIX) or Path(value).is_file() or (folders and field_name.startswith("data.") and Path(value).is_dir()):
            continue
        if folders and field_name.startswith("data."):
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
