"""What a sweep spec says: which settings may be swept (derived from :class:`~jobs.spec.JobSpec`), the ``sweep:`` section,
and the plan: every child's validated spec (a grid's combinations, or the probes of an Optuna search).

Two kinds, both written in an ordinary spec file:

- **grid**: a short list for a few single-value settings of ``training``, ``lora``, ``prompt_tuning`` or a task's own
  section (any but :data:`FIXED_SECTIONS`): ``training: {learning_rate: [1.0e-4, 3.0e-4]}``, ``lora: {r: [8, 16]}``
  queues every combination (at most :data:`MAX_CHILDREN`);
- **Optuna**: a ``sweep:`` section (:class:`SweepSpec`) asks for ``trials`` jobs whose settings Optuna picks from
  ``search`` (queued by :mod:`jobs.queue.sweep`).

Nothing here touches the queue:

    plan = read_sweep_yaml(text)              # None for a spec of one job
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from jobs.errors import SpecError
from jobs.spec import JobSpec, SpecModel, format_validation_error, parse_spec
from jobs.spec.compat import move_old_settings
from jobs.spec.limits import check_value_bounds, load_bounded_yaml, shown

MAX_CHILDREN = 32
"""The most jobs one sweep may queue (grid combinations or Optuna trials)."""
FIXED_SECTIONS = frozenset({"data", "samples", "evaluation", "resources"})
"""Spec sections a sweep never varies (what is trained on, what is shown, how it is measured, where it runs); every other
section (training, lora, prompt_tuning, and a task's own section when one is added) may be swept."""
NEVER_SWEPT = {"data.split_seed": "it picks the held-out rows, and every job of a sweep must be measured on the same rows to be compared"}
"""Settings a sweep refuses to vary, with the reason its error gives."""
EXAMPLE = "e.g. training: {learning_rate: [1.0e-4, 3.0e-4]}"
Scalar = Union[bool, int, float, str]


# ---- what may be swept (derived from JobSpec, no hand-kept list) --------------------------------------------

def _accepts_list(annotation: Any) -> bool:
    if get_origin(annotation) in (list, tuple, set) or annotation in (list, tuple, set):
        return True
    return get_origin(annotation) in (Union, UnionType) and any(_accepts_list(arg) for arg in get_args(annotation))


def _kind(annotation: Any) -> str:
    """int, float, bool, choice (an enum or literal) or text: what a swept value of this field is."""
    options = [arg for arg in get_args(annotation) if arg is not type(None)] if get_origin(annotation) in (Union, UnionType) else [annotation]
    first = options[0] if len(options) == 1 else None
    if first is bool:
        return "bool"
    if first in (int, float):
        return first.__name__
    if (isinstance(first, type) and issubclass(first, Enum)) or get_origin(first) is Literal:
        return "choice"
    return "text"


def _section_model(name: str) -> type[BaseModel] | None:
    annotation = JobSpec.model_fields[name].annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def sweep_sections() -> list[str]:
    """The spec sections whose single-value settings a sweep may vary."""
    return [name for name in JobSpec.model_fields if name not in FIXED_SECTIONS and _section_model(name) is not None]


def sweepable_fields() -> dict[str, str]:
    """``section.field`` -> kind, for every scalar setting a sweep may vary."""
    fields: dict[str, str] = {}
    for section in sweep_sections():
        for name, info in _section_model(section).model_fields.items():
            if not _accepts_list(info.annotation):
                fields[f"{section}.{name}"] = _kind(info.annotation)
    return fields


def _cannot_sweep(path: str) -> SpecError:
    if path in NEVER_SWEPT:
        return SpecError([f"{path} cannot be swept: {NEVER_SWEPT[path]}; give it one value"])
    return SpecError([f"{path} cannot be swept; only the single-value settings of {', '.join(sweep_sections())} take a list of values "
                      f"({EXAMPLE})"])


def _grid_axes(data: dict[str, Any]) -> dict[str, list[Any]]:
    """The lists a spec gives for single-value settings (the grid's axes); a list anywhere else is refused in one sentence."""
    sweepable = sweepable_fields()
    axes: dict[str, list[Any]] = {}
    for name, info in JobSpec.model_fields.items():
        value = data.get(name)
        if isinstance(value, list) and not _accepts_list(info.annotation):
            raise _cannot_sweep(name)
        section = _section_model(name)
        if section is None or not isinstance(value, dict):
            continue
        for key, item in value.items():
            field = section.model_fields.get(key) if isinstance(key, str) else None
            if field is None or not isinstance(item, list) or _accepts_list(field.annotation):
                continue
            path = f"{name}.{key}"
            if path not in sweepable:
                raise _cannot_sweep(path)
            axes[path] = item
    return axes


# ---- the sweep: section ------------------------------------------------------------------------------------

class SearchRange(BaseModel):
    """A numeric range Optuna draws from: ``{low: 1.0e-5, high: 1.0e-3, log: true}``."""

    model_config = ConfigDict(extra="forbid")

    low: float
    high: float
    log: bool = Field(default=False, description="Draw on a log scale (learning rates); low must then be above 0.")
    step: float | None = Field(default=None, gt=0, description="Only multiples of this step above low (not with log).")

    @model_validator(mode="after")
    def _ordered(self) -> SearchRange:
        if not self.low < self.high:
            raise ValueError(f"needs low below high (got low {self.low:g}, high {self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError("with log: true needs low above 0")
        if self.log and self.step is not None:
            raise ValueError("takes log or step, not both")
        return self


class SweepSpec(SpecModel):
    """``sweep:``: how many jobs Optuna picks, from which settings, ranked by which metric."""

    trials: int = Field(ge=1, le=MAX_CHILDREN, description=f"How many jobs to run in all (at most {MAX_CHILDREN}).")
    parallel: int = Field(default=2, ge=1, le=8, description="How many trials are queued at a time; the next ones are chosen from the finished.")
    metric: str = Field(default="auto", min_length=1, max_length=64,
                        description="What ranks the trials: auto (the report's main metric, else the eval loss), eval_loss, or a report metric "
                                    "name such as exact_match or accuracy.")
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="Seed of Optuna's sampler.")
    name: str | None = Field(default=None, max_length=120, description="The group's name (default: the spec's name followed by 'sweep').")
    search: dict[str, Union[SearchRange, list[Scalar]]] = Field(
        description="Setting -> a range {low, high, log} or a list of choices, e.g. {training.learning_rate: {low: 1.0e-5, high: 1.0e-3, log: true}, "
                    "lora.r: [4, 8, 16]}.")

    @field_validator("search")
    @classmethod
    def _search_settings(cls, search: dict[str, Any]) -> dict[str, Any]:
        if not search:
            raise ValueError("needs at least one setting to vary, e.g. {training.learning_rate: {low: 1.0e-5, high: 1.0e-3, log: true}}")
        sweepable = sweepable_fields()
        for path, choice in search.items():
            kind = sweepable.get(path)
            if path in NEVER_SWEPT:
                raise ValueError(f"names {path}, which cannot be swept: {NEVER_SWEPT[path]}")
            if kind is None:
                raise ValueError(f"names {shown(path)}, which cannot be swept; name a single-value setting such as training.learning_rate or lora.r")
            if isinstance(choice, SearchRange) and kind not in ("int", "float"):
                raise ValueError(f"gives a range for {path}, which is not a number; list its choices instead")
            if isinstance(choice, list):
                _check_values(path, choice)
        return search


class _SweepSection(BaseModel):
    sweep: SweepSpec


def _check_values(path: str, values: list[Any]) -> None:
    if not values:
        raise SpecError([f"{path} lists no values; give at least one ({EXAMPLE})"])
    if any(isinstance(value, (list, dict)) for value in values):
        raise SpecError([f"{path} lists a list or mapping; each value of a sweep is a single value"])
    if len({json.dumps(value) for value in values}) != len(values):
        raise SpecError([f"{path} lists the same value twice; give each value once"])


# ---- the plan: parse, expand, validate every child ---------------------------------------------------------

@dataclass
class SweepPlan:
    """A validated sweep: the spec mapping it varies, and either the grid's children or the Optuna settings."""

    base: dict[str, Any]
    name: str
    children: list[tuple[dict[str, Any], JobSpec]]
    """(the settings that vary, the child's spec): every grid combination, or Optuna's probe (a spec checked at submit)."""
    optuna: SweepSpec | None = None

    @property
    def kind(self) -> str:
        return "optuna" if self.optuna else "grid"


def _label_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def settings_label(settings: dict[str, Any]) -> str:
    """``learning_rate=0.0003, r=8``: the settings that make a child different (the last part of each name)."""
    return ", ".join(f"{path.rsplit('.', 1)[-1]}={_label_value(value)}" for path, value in settings.items())


def child_spec(base: dict[str, Any], settings: dict[str, Any], group_name: str) -> JobSpec:
    """The validated spec of one child: ``base`` with ``settings`` applied, named after the group and its settings."""
    data = copy.deepcopy(base)
    for path, value in settings.items():
        section, key = path.split(".", 1)
        data.setdefault(section, {})[key] = value
    data["name"] = f"{group_name} [{settings_label(settings)}]"[:200]
    try:
        return parse_spec(data)
    except SpecError as error:
        swept = [problem for problem in error.problems if problem.startswith(tuple(settings))]
        if not swept:  # the spec is invalid whatever the swept values are
            raise SpecError(error.problems[:1]) from None
        raise SpecError([f"the sweep's setting {settings_label(settings)} gives an invalid job: {swept[0]}"]) from None


def _group_name(data: dict[str, Any], optuna: SweepSpec | None) -> str:
    if optuna is not None and optuna.name:
        return optuna.name
    name = data.get("name")
    if isinstance(name, str) and name.strip():
        return f"{name.strip()[:100]} sweep"
    model, method = str(data.get("base_model", "model")), str(data.get("method", "lora"))
    return f"{Path(model).name or model}-{method} sweep"[:120]


def _probe_children(base: dict[str, Any], search: dict[str, SearchRange | list[Any]], name: str) -> list[tuple[dict[str, Any], JobSpec]]:
    """Every value Optuna may pick, each checked in a child spec before anything is queued (a range: its two ends; a list:
    each choice); the first probe is kept as the template of the trials."""
    kinds = sweepable_fields()
    values = {path: [choice.low, choice.high] if isinstance(choice, SearchRange) else list(choice) for path, choice in search.items()}
    values = {path: [int(value) if kinds[path] == "int" and not isinstance(value, bool) else value for value in options]
              for path, options in values.items()}
    first = {path: options[0] for path, options in values.items()}
    probes = [(first, child_spec(base, first, name))]
    for path, options in values.items():
        for value in options[1:]:
            child_spec(base, {**first, path: value}, name)
    return probes


def read_sweep(data: Any) -> SweepPlan | None:
    """The sweep a spec mapping describes, every child validated; None when it is a spec of one job.

    Raises :class:`SpecError` with one sentence: a list for a setting that cannot be swept, too many combinations,
    a child that would be invalid, or a problem in the ``sweep:`` section."""
    if not isinstance(data, dict):
        return None
    check_value_bounds(data)
    data = move_old_settings(data)  # a sweep of training.resolution from before the images: section sweeps images.resolution
    axes = _grid_axes(data)
    if "sweep" not in data and not axes:
        return None
    base = {key: value for key, value in data.items() if key != "sweep"}
    if "sweep" in data:
        if axes:
            raise SpecError([f"{next(iter(axes))} lists values and the spec has a sweep: section; put the choices in sweep.search instead"])
        try:
            optuna = _SweepSection.model_validate({"sweep": data["sweep"]}).sweep
        except ValidationError as error:
            raise SpecError(format_validation_error(error)[:1]) from None
        name = _group_name(data, optuna)
        return SweepPlan(base=base, name=name, children=_probe_children(base, optuna.search, name), optuna=optuna)
    for path, values in axes.items():
        _check_values(path, values)
    count = math.prod(len(values) for values in axes.values())
    if count > MAX_CHILDREN:
        sizes = " × ".join(str(len(values)) for values in axes.values())
        raise SpecError([f"this sweep makes {count} combinations ({sizes}); a sweep may queue at most {MAX_CHILDREN} jobs, so list fewer values"])
    name = _group_name(data, None)
    combinations = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
    return SweepPlan(base=base, name=name, children=[(settings, child_spec(base, settings, name)) for settings in combinations])


def read_sweep_yaml(text: str, source: str = "spec") -> SweepPlan | None:
    """:func:`read_sweep` of YAML text (None for a spec of one job; YAML errors are left to :func:`jobs.spec.parse_spec_yaml`)."""
    try:
        data = load_bounded_yaml(text or "", source)
    except yaml.YAMLError:
        return None
    return read_sweep(data)


def load_sweep(path: str | Path) -> SweepPlan | None:
    """:func:`read_sweep` of a spec file (None for a spec of one job, or a file :func:`jobs.spec.load_spec` will refuse)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return read_sweep_yaml(text, source=str(path))
