"""The Train tab's recommendations and summary line: what :mod:`jobs.trainers.recommend` advises for the chosen model and data,
which untouched controls take it, and the one line before Submit (steps, time on this machine, memory, where the result goes).

    state = advise(state, caller, token, inputs)   # inputs: RecommendInputs; state: the tab's gr.State (plain JSON)
    updates = fill_untouched(state, current)       # control -> new value, only for controls the user has not changed
    summary_line(spec, state, "en", caller)        # "≈ 25 steps · ≈ 0.4 min on this machine (estimate) · ..."
    image_memory_line(spec, "en")                  # (ok, "✅ Memory: 9.8 GB (transformer ...), fits on GPU ...") for text-to-image

A control counts as untouched while it still holds the value last filled in (at first: the schema's default), so a
value the user typed, or a duplicated job's value, is never overwritten. The state holds plain JSON only.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from jobs.data import read_records
from jobs.errors import AdaptaError
from jobs.hub import search as hub
from jobs.models.memory import format_bytes
from jobs.models.memory_images import FlowMemoryEstimate, UnetMemoryFloor, estimate_image_job, fp8_problem
from jobs.models.memory_job import UNCALIBRATED_ERROR, memory_verdict
from jobs.models.pipelines import resolve_pipeline
from jobs.queue import list_jobs
from jobs.spec import DataSpec, JobSpec, Method, Task
from jobs.trainers.recommend import (
    DataProfile,
    estimate_seconds_per_step,
    learning_rate,
    optimizer_steps,
    profile_data,
    quality_values,
    recommend,
    steps_for_budget,
)
from storage.tables import JobStatus
from webui.access import Caller
from webui.api_caller import home_paths
from webui.api_data import check_data_owned
from webui.api_models import check_model_allowed
from webui.data_tab import tokenizer_for
from webui.i18n import t

ADVICE_NAMES = ("method", "epochs", "time_budget", "strength", "quality", "validation")
"""The reasons shown next to the decisions, in order."""
PRECISION_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
"""Bytes per value of ``training.precision`` (auto: 16-bit on a GPU, fp32 on CPU, decided where it is read)."""
FILLED_CONTROLS: dict[str, Any] = {
    "method": Method.LORA.value, "training.epochs": 1.0, "data.validation": 0.0, "training.learning_rate": 2e-4,
    "training.max_length": 512, "lora.r": 8, "lora.alpha": 16.0, "strength": None, "preset": None, "time_budget": 0,
    "training.max_steps": None,
}
"""The controls a recommendation may fill, with the value each starts with (the spec's defaults; no preset chosen)."""


@dataclass(frozen=True)
class RecommendInputs:
    """What a recommendation is computed from (the form's current choices)."""

    base_model: str
    train_file: str
    columns: dict[str, str]
    task: str
    method: str
    objective: str | None
    data_format: str
    batch_size: int = 8
    gradient_accumulation: int = 1


def seconds_per_step(base_model: str, owner: str | None = None) -> float | None:
    """Measured by the caller's latest succeeded job on the same base model (wall time / steps), if any."""
    for job in list_jobs(owner=owner, status=JobStatus.SUCCEEDED, limit=50):
        if job.base_model == base_model and job.started_at and job.finished_at and job.total_steps:
            return (job.finished_at - job.started_at).total_seconds() / job.total_steps
    return None


def count_steps(spec: JobSpec, read_data: bool = True) -> int | None:
    """Optimizer steps the job will take (max_steps, else epochs over the training rows; unknown when ``read_data`` is off)."""
    if spec.training.max_steps:
        return spec.training.max_steps
    try:
        if spec.data.from_hub or not read_data:
            return None  # known once the job has streamed it; a caller who cannot train reads no file
        rows = len(read_records(spec.data.train))
    except AdaptaError:
        return None
    return spec_steps(spec, rows)


def spec_steps(spec: JobSpec, rows: int) -> int:
    """Optimizer steps of ``spec`` over ``rows`` training rows."""
    fraction = spec.data.validation if isinstance(spec.data.validation, float) else 0.0
    return optimizer_steps(rows, spec.training.epochs, spec.training.batch_size, spec.training.gradient_accumulation, fraction)


@lru_cache(maxsize=16)
def _model_facts(ref: str, token: str | None) -> dict[str, Any] | None:
    try:
        return hub.model_info(ref, token=token or None)
    except AdaptaError:
        return None


def model_facts(ref: str, caller: Caller, token: str | None = None) -> dict[str, Any] | None:
    """:func:`jobs.hub.search.model_info` of a model the caller may use (cached per model), or None when it cannot be described."""
    ref = (ref or "").strip()
    if not ref:
        return None
    try:
        ref = check_model_allowed(ref, caller, token)  # models/NAME (as a shared server shows it) becomes its folder
    except AdaptaError:
        return None
    return _model_facts(ref, token)


@lru_cache(maxsize=4)
def _tokenizer(ref: str) -> Any:
    return tokenizer_for(ref)


def on_gpu() -> bool:
    return hub.available_memory()[0].startswith("GPU")


def _data_path(path: str, caller: Caller) -> str | None:
    """The caller's own data file behind ``path`` (a shared server shows paths inside the data home), or None."""
    if not path:
        return None
    spec = home_paths(JobSpec.model_construct(data=DataSpec.model_construct(train=path, validation=None)))
    if caller.can_write:
        try:
            check_data_owned(spec, caller)
        except AdaptaError:
            return None
        return spec.data.train
    return None


def advise(state: dict[str, Any] | None, caller: Caller, token: str | None, inputs: RecommendInputs) -> dict[str, Any]:
    """The tab's state with a fresh recommendation for ``inputs`` (the data is read again only when it or the model changed)."""
    state = dict(state or {})
    key = json.dumps([inputs.train_file, inputs.task, inputs.data_format, inputs.columns, inputs.base_model], sort_keys=True)
    problem = None
    if state.get("data_key") != key:
        profile = DataProfile(rows=None)
        path = _data_path(inputs.train_file, caller)
        if path:
            tokenizer = None
            if inputs.base_model and inputs.task != Task.TEXT_TO_IMAGE.value and model_facts(inputs.base_model, caller, token) is not None:
                tokenizer = _tokenizer(inputs.base_model)  # cached per model, so only after the caller's own access check
            try:
                profile = profile_data(path, inputs.task, inputs.data_format or "auto", inputs.columns, tokenizer=tokenizer)
            except AdaptaError as error:
                problem = str(error)
        facts = model_facts(inputs.base_model, caller, token)
        state.update(data_key=key, profile=asdict(profile), problem=problem, data_path=inputs.train_file,
                     parameters=(facts or {}).get("parameters"), fits={name: row["fits"] for name, row in (facts or {}).get("memory", {}).items()})
    measured = seconds_per_step(inputs.base_model, caller.owner_filter) if inputs.base_model else None
    gpu = on_gpu()
    profile = DataProfile(**state["profile"])
    length = quality_values(recommend(inputs.task, inputs.method, inputs.objective, profile, on_gpu=gpu).quality.value, profile)
    estimated = estimated_rate(state.get("parameters"), profile.mean_tokens, gpu, inputs.batch_size * inputs.gradient_accumulation,
                               int(length.get("training.max_length", 512)), inputs.method)
    advice = recommend(inputs.task, inputs.method, inputs.objective, profile, parameters=state.get("parameters"), on_gpu=gpu,
                       fits=state.get("fits"), seconds_per_step=measured or estimated, batch_size=inputs.batch_size * inputs.gradient_accumulation)
    state["advice"] = {name: [getattr(advice, name).value, getattr(advice, name).key, getattr(advice, name).values] for name in ADVICE_NAMES}
    state.update(on_gpu=gpu, measured_rate=measured, estimated_rate=estimated)
    return state


def _same(left: Any, right: Any) -> bool:
    if left in (None, "", 0) and right in (None, "", 0):
        return True
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return math.isclose(float(left), float(right), rel_tol=1e-6)
    return left == right


def fill_untouched(state: dict[str, Any], current: dict[str, Any], task: str, objective: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(state, control -> new value) for every control the user has not changed since it was last filled."""
    advice = state.get("advice") or {}
    filled = {**FILLED_CONTROLS, **state.get("filled", {})}
    untouched = {name for name in FILLED_CONTROLS if _same(current.get(name), filled.get(name))}
    method = advice["method"][0] if "method" in untouched else current.get("method")
    strength = advice["strength"][0] if "strength" in untouched else current.get("strength")
    preset = advice["quality"][0] if "preset" in untouched else current.get("preset")
    wanted: dict[str, Any] = {"method": method, "strength": strength, "preset": preset, "training.epochs": advice["epochs"][0],
                              "data.validation": advice["validation"][0] or 0.0, "time_budget": advice["time_budget"][0],
                              "training.learning_rate": learning_rate(strength, str(method), task, objective)}
    wanted.update(quality_values(preset, DataProfile(**state["profile"])))
    wanted["training.max_steps"] = budget_steps(state, wanted["time_budget"]) if "time_budget" in untouched else current.get("training.max_steps")
    changes = {name: value for name, value in wanted.items() if name in untouched and not _same(value, current.get(name))}
    state = {**state, "filled": {**filled, **changes}}
    return state, changes


def budget_steps(state: dict[str, Any], minutes: float | None) -> int | None:
    """training.max_steps for a time budget of ``minutes`` (None: no budget, or no rate to convert it with)."""
    rate = state.get("measured_rate") or state.get("estimated_rate")
    if not minutes or not rate:
        return None
    return steps_for_budget(float(minutes), float(rate))


def reason_lines(state: dict[str, Any] | None, lang: str) -> list[str]:
    """One "Recommended: value (reason)" line per decision, in :data:`ADVICE_NAMES` order ("" before any data is chosen)."""
    advice = (state or {}).get("advice")
    if not advice:
        return [""] * len(ADVICE_NAMES)
    lines = []
    for name in ADVICE_NAMES:
        value, key, values = advice[name]
        shown = t(lang, "train.rec.none") if value in (None, 0) and name in ("validation", "time_budget") else value
        shown = f"{shown:g}" if isinstance(shown, float) else shown
        lines.append(f"💡 {t(lang, 'train.rec.value', value=shown)} {t(lang, key, **values)}")
    problem = (state or {}).get("problem")
    if problem:
        lines[1] = f"⚠️ {problem}\n\n{lines[1]}"
    return lines


def chosen_line(base_model: str, train_file: str, lang: str) -> str:
    """The model and the data chosen in the earlier steps, as one line."""
    model = f"`{base_model}`" if base_model else t(lang, "train.chosen.none")
    data = f"`{train_file}`" if train_file else t(lang, "train.chosen.none")
    return t(lang, "train.chosen", model=model, data=data)


def summary_line(spec: JobSpec, state: dict[str, Any] | None, lang: str, caller: Caller, token: str | None = None) -> str:
    """Steps, estimated time on this machine, memory and where the result goes, as one line."""
    state = state or {}
    spec = home_paths(spec)
    parts = []
    rows = state.get("profile", {}).get("rows") if state.get("data_path") == spec.data.train else None
    steps = spec.training.max_steps or (spec_steps(spec, rows) if rows else None)
    parts.append(t(lang, "train.summary.steps", steps=f"{steps:,}" if steps else "?"))
    facts = model_facts(spec.base_model, caller, token) if spec.task.value != Task.TEXT_TO_IMAGE.value else None
    measured = seconds_per_step(spec.base_model, caller.owner_filter)
    if measured and steps:
        parts.append(t(lang, "train.summary.time_measured", time=duration(measured * steps)))
    elif facts and facts.get("parameters") and steps:
        rate = estimated_rate(facts["parameters"], state.get("profile", {}).get("mean_tokens") if rows else None, bool(state.get("on_gpu")),
                              spec.training.batch_size * spec.training.gradient_accumulation, spec.training.max_length, spec.method.value)
        parts.append(t(lang, "train.summary.time_estimated", time=duration(rate * steps)))
    else:
        parts.append(t(lang, "train.summary.time_unknown"))
    image_estimate = None
    if spec.task.value == Task.TEXT_TO_IMAGE.value:
        device, free = hub.available_memory()
        image_estimate = image_memory_estimate(spec, gpu=not device.startswith("CPU"))
    if image_estimate is not None:
        floor = isinstance(image_estimate, UnetMemoryFloor)
        key = "train.summary.memory_floor" if floor else ("train.summary.memory_fits" if image_estimate.total <= free else "train.summary.memory_no_fit")
        parts.append(t(lang, key, estimate=format_bytes(image_estimate.total), free=format_bytes(free), device=device.split(" (")[0]))
    elif facts and facts.get("parameters"):
        precision = PRECISION_BYTES.get(spec.training.precision.value)
        row = hub.memory_table(facts, batch_size=spec.training.batch_size, seq_len=spec.training.max_length, precision_bytes=precision,
                               gradient_checkpointing=spec.training.gradient_checkpointing, lora_r=spec.lora.r,
                               lora_targets=spec.lora.target_modules, job=spec)[spec.method.value]
        key = "train.summary.memory_fits" if row["fits"] else "train.summary.memory_no_fit"
        device, free = hub.available_memory()
        parts.append(t(lang, key, estimate=format_bytes(int(row["bytes"])), free=format_bytes(free), device=device.split(" (")[0]))
    else:
        parts.append(t(lang, "train.summary.memory_unknown"))
    full = spec.method is Method.FULL
    parts.append(t(lang, "train.summary.output_model" if full else "train.summary.output_adapter"))
    return "📋 " + " · ".join(parts)


def image_memory_estimate(spec: JobSpec, gpu: bool) -> FlowMemoryEstimate | UnetMemoryFloor | None:
    """The memory estimate of a text-to-image ``spec`` (:func:`jobs.models.memory_images.estimate_image_job`: FLUX.1 / SD 3.x in full,
    SD 1.x/2.x and SDXL their weights' floor) at the precision it will train in here; None when its pipeline is not a folder on
    this machine yet (a Hub pipeline before its download, a single-file checkpoint)."""
    precision = PRECISION_BYTES.get(spec.training.precision.value) or (2 if gpu else 4)  # auto: 16-bit on a GPU, fp32 on CPU
    try:
        resolved = resolve_pipeline(spec.base_model, spec.base_model_revision, half_precision=precision == 2)
        return estimate_image_job(spec, resolved, precision)
    except (AdaptaError, OSError, ValueError, KeyError):  # not here yet, or headers that cannot be read: no estimate
        return None


def image_memory_line(spec: JobSpec, lang: str) -> tuple[bool, str]:
    """(ok, line) of the pre-flight's memory check for a text-to-image job: fp8 storage without gradient checkpointing is refused;
    on a CUDA GPU an estimate over the budget is refused, as the trainer would refuse it before loading
    (:func:`jobs.trainers.images.flow.refuse_if_too_big`); on CPU it is a warning (the trainer does not refuse there). SD 1.x/2.x and
    SDXL are refused only when their weights alone are over."""
    problem = fp8_problem(spec.images.quantize_base.value, spec.training.gradient_checkpointing)
    if problem:
        return False, f"❌ {problem}"
    device, budget = hub.available_memory()
    gpu = not device.startswith("CPU")
    estimate = image_memory_estimate(spec, gpu)
    if estimate is None:
        return True, t(lang, "train.image_memory_unknown")
    values = {"estimate": estimate.human(), "device": device}
    if estimate.total <= budget:
        key = "train.image_floor_fits" if isinstance(estimate, UnetMemoryFloor) else "train.fits"
        return True, f"✅ {t(lang, key, **values)}"
    if gpu:
        return False, f"❌ {t(lang, 'train.image_no_fit', **values)}"
    return True, f"⚠️ {t(lang, 'train.image_over_on_cpu', **values)}"


def memory_line(row: dict[str, Any], spec: JobSpec, lang: str) -> tuple[bool, str]:
    """(ok, line) of the pre-flight's memory check for ``row`` (one method of :func:`jobs.hub.search.memory_table`).

    Over the budget, Submit refuses only where :func:`jobs.models.memory_job.memory_verdict` says the estimate was calibrated
    for this device, task, objective and method and stays over after its measured error; otherwise it warns (⚠️) and goes."""
    estimate, device_text = row["human"], row["device"]
    if row.get("bytes") is None:
        return True, f"✅ {t(lang, 'train.fits', estimate=estimate, device=device_text)}"
    device, budget = hub.available_memory()
    verdict = memory_verdict(int(row["bytes"]), budget, "cpu" if device.startswith("CPU") else "cuda", spec)
    if verdict.refuse or (row["fits"] is False and not verdict.over_budget):  # the latter: not memory (QLoRA without bitsandbytes)
        return False, f"❌ {t(lang, 'train.no_fit', estimate=estimate, device=device_text)}"
    if verdict.over_budget and verdict.uncalibrated:
        error = f"{UNCALIBRATED_ERROR:g}×"
        return True, f"⚠️ {t(lang, 'train.memory_uncalibrated', estimate=estimate, device=device_text, what=verdict.uncalibrated, error=error)}"
    if verdict.over_budget:
        return True, f"⚠️ {t(lang, 'train.memory_within_error', estimate=estimate, device=device_text, ratio=f'{verdict.ratio:.2f}')}"
    return True, f"✅ {t(lang, 'train.fits', estimate=estimate, device=device_text)}"


def duration(seconds: float) -> str:
    """A duration as people say it: 40 s, 12 min, 2.5 h."""
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def estimated_rate(parameters: int | None, mean_tokens: float | None, gpu: bool, rows_per_step: int, max_length: int,
                   method: str) -> float | None:
    """Seconds per optimizer step estimated from the model's size (None when its parameter count is unknown): rows per step
    times the tokens of an average row (capped by max_length; max_length when the lengths are unknown)."""
    if not parameters:
        return None
    tokens = rows_per_step * min(max_length, mean_tokens or max_length)
    return estimate_seconds_per_step(int(parameters), tokens, method, gpu)
