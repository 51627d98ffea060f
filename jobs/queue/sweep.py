"""Sweeps: one spec that queues a group of jobs, one child per combination of settings, and marks the best.

Two kinds, both written in an ordinary spec file:

- **grid**: a short list for a few single-value settings of ``training``, ``lora``, ``prompt_tuning`` or a task's own
  section (any but :data:`FIXED_SECTIONS`): ``training: {learning_rate: [1.0e-4, 3.0e-4]}``, ``lora: {r: [8, 16]}``
  queues every combination (at most :data:`MAX_CHILDREN`);
- **Optuna**: a ``sweep:`` section (:class:`SweepSpec`) asks for ``trials`` jobs whose settings Optuna picks from
  ``search``; ``parallel`` of them are queued at a time and :func:`advance_sweeps` (called by every worker between
  jobs) tells Optuna the finished ones' results and queues the next. The study lives in an SQLite file under
  ``<data home>/sweeps/<group>/`` next to ``sweep.json`` (what to queue), so a restart loses nothing.

Every child is a normal, fully validated :class:`~jobs.spec.JobSpec`; the children share ``Job.group_id`` and
``Job.group_name``. The best child is the one with the best adapted value of its report's main metric
(:meth:`EvalReport.main`), or the lowest final eval loss for children without a report.

    plan = read_sweep_yaml(text)              # None for a spec of one job
    job_ids = submit_sweep(plan, owner="local")
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import math
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import update
from sqlmodel import col, select

from jobs.errors import AdaptaError, SpecError
from jobs.evaluation.report import REPORT_FILE, EvalReport, read_report
from jobs.queue import InvalidTransition, delete_job, get_job, prepare_for_queue, request_cancel, submit_job
from jobs.spec import JobSpec, SpecModel, format_validation_error, parse_spec
from jobs.spec.compat import move_old_settings
from jobs.spec.limits import check_value_bounds, load_bounded_yaml, shown
from storage.db import session_scope
from storage.paths import data_home, safe_name
from storage.tables import Job, JobStatus

MAX_CHILDREN = 32
"""The most jobs one sweep may queue (grid combinations or Optuna trials)."""
FIXED_SECTIONS = frozenset({"data", "samples", "evaluation", "resources"})
"""Spec sections a sweep never varies (what is trained on, what is shown, how it is measured, where it runs); every other
section (training, lora, prompt_tuning, and a task's own section when one is added) may be swept."""
SWEEP_FILE = "sweep.json"
STUDY_FILE = "study.db"
STOPPED_FILE = "stopped"
LOCK_FILE = "lock"
LOG = logging.getLogger("adapta")
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


# ---- queueing -----------------------------------------------------------------------------------------------

Check = Callable[[JobSpec], JobSpec]
_tokens: dict[str, str] = {}  # group id -> the submitter's Hub token, for trials queued later by this process (memory only)


def sweeps_root() -> Path:
    """``<data home>/sweeps``: one folder per Optuna sweep (``sweep.json``, ``study.db``)."""
    return data_home().root / "sweeps"


def _queue_children(specs: Iterable[JobSpec], group_id: str, group_name: str, owner: str, priority: int, hub_token: str | None) -> list[int]:
    ids = [submit_job(spec, owner=owner, priority=priority, hub_token=hub_token) for spec in specs]
    with session_scope() as session:
        session.exec(update(Job).where(col(Job.id).in_(ids)).values(group_id=group_id, group_name=group_name))
    return ids


def submit_sweep(plan: SweepPlan, *, owner: str = "local", priority: int = 0, hub_token: str | None = None, check: Check | None = None) -> list[int]:
    """Queue a sweep's children as one group (an Optuna sweep: its first ``parallel`` trials); returns their job ids.

    ``check`` (the web API's access checks) runs on every child's spec before anything is queued."""
    check = check or (lambda spec: spec)
    group_id = f"sweep-{uuid.uuid4().hex[:10]}"
    if plan.optuna is None:
        checked = [check(spec) for _, spec in plan.children]
        return _queue_children(checked, group_id, plan.name, owner, priority, hub_token)
    from filelock import FileLock

    probe = prepare_for_queue(check(plan.children[0][1])).model_dump(mode="json")
    record = {"group_id": group_id, "group_name": plan.name, "owner": owner, "priority": priority, "base": probe,
              "sweep": plan.optuna.model_dump(mode="json")}
    folder = sweeps_root() / group_id
    folder.mkdir(parents=True)
    if hub_token:
        _tokens[group_id] = hub_token
    with FileLock(str(folder / LOCK_FILE)):  # a worker's advance_sweeps waits its turn (it skips a locked sweep)
        (folder / SWEEP_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")
        return _advance_optuna(folder)


# ---- ranking ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Score:
    """What a finished child scored on the metric that ranks its group."""

    value: float
    metric: str
    label: str
    higher_is_better: bool


_report_cache: dict[str, tuple[int, EvalReport | None]] = {}


def cached_report(run_dir: str | None) -> EvalReport | None:
    """The run's report, read again only when its file changed (the Jobs tab asks every poll)."""
    if not run_dir:
        return None
    path = Path(run_dir) / REPORT_FILE
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    cached = _report_cache.get(run_dir)
    if cached is None or cached[0] != stamp:
        cached = (stamp, read_report(run_dir))
        _report_cache[run_dir] = cached
    return cached[1]


def job_score(job: Job, metric: str = "auto") -> Score | None:
    """A succeeded job's score: the adapted value of its report's main metric (or of ``metric``), else its last eval loss."""
    if job.status is not JobStatus.SUCCEEDED:
        return None
    report = cached_report(job.run_dir)
    if report is not None and not report.skipped:
        row = report.main() if metric == "auto" else report.metric(metric)
        if row is not None and row.adapted is not None and math.isfinite(row.adapted):
            return Score(float(row.adapted), row.name, row.label, row.higher_is_better)
    if metric in ("auto", "eval_loss"):
        from jobs.metrics import metric_series

        series = metric_series(int(job.id), "eval_loss")
        if series:
            return Score(float(series[-1][1]), "eval_loss", "eval loss", False)
    return None


@dataclass
class GroupRanking:
    """The children of one group ranked by one metric; ``best`` is None until one has a score."""

    group_id: str
    group_name: str
    jobs: list[Job]
    scores: dict[int, Score]
    metric: str | None
    best: int | None

    def summary(self) -> str:
        """One line: how many children in which status, and the best one with its value."""
        counts = Counter(job.status.value for job in self.jobs)
        states = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
        line = f"{self.group_name}: {len(self.jobs)} jobs ({states})"
        if self.best is not None:
            score = self.scores[self.best]
            direction = "highest" if score.higher_is_better else "lowest"
            line += f"; best: #{self.best} with {score.label} {score.value:.4g} ({direction} is best)"
        return line


def sweep_metric(group_id: str) -> str:
    """The metric an Optuna sweep named (``auto`` for a grid)."""
    record = _sweep_record(sweeps_root() / safe_name(group_id))
    return record["sweep"].get("metric", "auto") if record else "auto"


def rank_group(jobs: list[Job], metric: str | None = None) -> GroupRanking:
    """Rank one group's children: every scored child on the metric most of them report; the best by its direction."""
    first = jobs[0]
    metric = metric or sweep_metric(first.group_id or "")
    scores = {int(job.id): score for job in jobs if (score := job_score(job, metric)) is not None}
    common = Counter(score.metric for score in scores.values()).most_common(1)
    chosen = common[0][0] if common else None
    scores = {job_id: score for job_id, score in scores.items() if score.metric == chosen}
    best = None
    if scores:
        pick = max if next(iter(scores.values())).higher_is_better else min
        best = pick(scores, key=lambda job_id: scores[job_id].value)
    return GroupRanking(first.group_id or "", first.group_name or "", jobs, scores, chosen, best)


def rank_groups(jobs: Iterable[Job]) -> dict[str, GroupRanking]:
    """Every group among ``jobs`` ranked (group id -> ranking)."""
    grouped: dict[str, list[Job]] = {}
    for job in jobs:
        if job.group_id:
            grouped.setdefault(job.group_id, []).append(job)
    return {group_id: rank_group(children) for group_id, children in grouped.items()}


def group_labels(jobs: list[Job]) -> dict[int, str]:
    """job id -> what the Jobs tab shows in its group column: the group's name, with ★ on its best child."""
    labels = {}
    for ranking in rank_groups(jobs).values():
        for job in ranking.jobs:
            labels[int(job.id)] = f"★ {ranking.group_name}" if job.id == ranking.best else ranking.group_name
    return labels


# ---- the group's actions (scoped by owner) ------------------------------------------------------------------

def group_children(group_id: str, owner: str | None = None) -> list[Job]:
    """The jobs of one group, oldest first (only ``owner``'s when given)."""
    query = select(Job).where(Job.group_id == group_id).order_by(col(Job.id).asc())
    if owner is not None:
        query = query.where(Job.owner == owner)
    with session_scope() as session:
        return list(session.exec(query).all())


def group_of(job_id: int, owner: str | None = None) -> str:
    """The group id of one of ``owner``'s jobs; a job of its own is refused in one sentence."""
    job = get_job(job_id, owner)
    if not job.group_id:
        raise AdaptaError(f"job {job_id} is not part of a sweep; use cancel or delete for a job of its own")
    return job.group_id


def _stop_sweep(group_id: str) -> None:
    folder = sweeps_root() / safe_name(group_id)
    if folder.is_dir():
        (folder / STOPPED_FILE).touch()


def cancel_group(group_id: str, owner: str | None = None) -> list[int]:
    """Cancel every queued or running child of the group (an Optuna sweep queues no more); returns the cancelled ids."""
    children = group_children(group_id, owner)
    if not children:
        raise AdaptaError(f"there is no sweep {shown(group_id)}; list jobs with `launch.py jobs`")
    _stop_sweep(group_id)
    cancelled = []
    for job in children:
        if not job.status.finished:
            try:
                request_cancel(int(job.id), owner)
            except InvalidTransition:  # it finished in the meantime
                continue
            cancelled.append(int(job.id))
    return cancelled


def delete_group(group_id: str, owner: str | None = None) -> list[int]:
    """Delete every child of the group with its runs (refused, deleting nothing, while a child runs); returns the ids."""
    children = group_children(group_id, owner)
    if not children:
        raise AdaptaError(f"there is no sweep {shown(group_id)}; list jobs with `launch.py jobs`")
    running = [str(job.id) for job in children if job.status is JobStatus.RUNNING]
    if running:
        raise InvalidTransition(f"jobs {', '.join(running)} of this sweep are running; cancel the group first, then delete it")
    _stop_sweep(group_id)
    for job in children:
        delete_job(int(job.id), owner)
    if not group_children(group_id):  # every child is gone: so is the study
        shutil.rmtree(sweeps_root() / safe_name(group_id), ignore_errors=True)
    return [int(job.id) for job in children]


# ---- Optuna: the next trials, when earlier ones finish --------------------------------------------------------

def _sweep_record(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / SWEEP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _distributions(search: dict[str, Any]) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    kinds = sweepable_fields()
    distributions = {}
    for path, choice in search.items():
        if isinstance(choice, list):
            distributions[path] = CategoricalDistribution(choice)
        elif kinds[path] == "int":
            distributions[path] = IntDistribution(int(choice["low"]), int(choice["high"]), log=choice["log"], step=int(choice["step"] or 1))
        else:
            distributions[path] = FloatDistribution(choice["low"], choice["high"], log=choice["log"], step=choice["step"])
    return distributions


def _objective(job: Job, metric: str) -> float | None:
    """What Optuna minimises for a finished child (a higher-is-better metric negated); None for a failed one."""
    score = job_score(job, metric)
    if score is None:
        return None
    return -score.value if score.higher_is_better else score.value


def _advance_optuna(folder: Path) -> list[int]:
    """Tell the study the finished trials' results and queue trials until ``parallel`` run or ``trials`` exist; the new job ids."""
    import optuna
    from optuna.trial import TrialState

    record = _sweep_record(folder)
    if record is None or (folder / STOPPED_FILE).exists():
        return []
    settings = SweepSpec.model_validate(record["sweep"])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{folder / STUDY_FILE}"
    study = optuna.create_study(study_name=record["group_id"], storage=storage, direction="minimize", load_if_exists=True,
                                sampler=optuna.samplers.TPESampler(seed=settings.seed + len(group_children(record["group_id"]))))
    jobs = {int(job.id): job for job in group_children(record["group_id"])}
    queued: list[int] = []

    def queue(trial: optuna.trial.Trial) -> None:
        spec = child_spec(record["base"], trial.params, record["group_name"])
        job_id = _queue_children([spec], record["group_id"], record["group_name"], record["owner"], record["priority"],
                                 _tokens.get(record["group_id"]))[0]
        trial.set_user_attr("job_id", job_id)
        queued.append(job_id)

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        job = jobs.get(trial.user_attrs.get("job_id", -1))
        if "job_id" not in trial.user_attrs:  # asked, then the process stopped before its job was queued
            queue(optuna.trial.Trial(study, trial._trial_id))
        elif job is None:  # its job was deleted
            study.tell(trial.number, state=TrialState.FAIL)
        elif job.status.finished:
            value = _objective(job, settings.metric)
            study.tell(trial.number, value) if value is not None else study.tell(trial.number, state=TrialState.FAIL)
    running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    distributions = _distributions(record["sweep"]["search"])
    while len(study.trials) < settings.trials and running < settings.parallel:
        queue(study.ask(distributions))
        running += 1
    if len(study.trials) >= settings.trials and running == 0:
        (folder / STOPPED_FILE).touch()
    return queued


_seen: dict[tuple[str, str], tuple[tuple[int, str], ...]] = {}


def advance_sweeps() -> list[int]:
    """Move every unfinished Optuna sweep on (tell finished trials, queue the next); the worker calls this between jobs.

    Cheap when nothing changed: a sweep's study is opened only when its children's statuses differ from the last look,
    and only by one process at a time (a file lock). Returns the ids of the jobs it queued."""
    from filelock import FileLock, Timeout

    root = sweeps_root()
    if not root.is_dir():
        return []
    queued: list[int] = []
    for folder in sorted(root.iterdir()):
        if not (folder / SWEEP_FILE).is_file() or (folder / STOPPED_FILE).exists():
            continue
        key = (str(root), folder.name)
        signature = tuple((int(job.id), job.status.value) for job in group_children(folder.name))
        if _seen.get(key) == signature:
            continue
        try:
            with FileLock(str(folder / LOCK_FILE), timeout=0):
                queued += _advance_optuna(folder)
        except Timeout:
            continue
        except Exception:  # noqa: BLE001 - one broken sweep (a bad study file) must never stop the worker from claiming jobs
            LOG.exception("could not advance sweep %s; it is retried when one of its jobs changes", folder.name)
        _seen[key] = tuple((int(job.id), job.status.value) for job in group_children(folder.name))
    return queued
