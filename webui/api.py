"""The actions behind the UI and the ``gradio_client`` API, as plain typed functions over ``jobs/`` and ``storage/``.

The tabs call these; :func:`register_api` exposes them under stable names (``/search_models``,
``/model_info``, ``/inspect_dataset``, ``/inspect_hub_dataset``, ``/list_datasets``, ``/submit_job``, ``/submit_hf_job``,
``/list_jobs``, ``/job_status``, ``/cancel_job``, ``/download_job``, ``/push_to_hub``, ``/generate``, ``/generate_image``,
``/download_model``, ``/download_status``, ``/export_gguf``).
Every action takes the :class:`webui.access.Caller` of its request and sees only that caller's jobs and datasets on a
multi-user server. A user's mistake (an :class:`jobs.errors.AdaptaError`) reaches an API client as a ``gr.Error``
carrying its one sentence; nothing here trains or spawns anything.

    from gradio_client import Client
    client = Client("http://127.0.0.1:7860/")
    job_id = client.predict(open("spec.yaml").read(), api_name="/submit_job")
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
from sqlmodel import col, select

from jobs.data import SUPPORTED_EXTENSIONS, inspect_dataset
from jobs.errors import AdaptaError, DataError
from jobs.evaluation.report import EvalReport, read_report
from jobs.hub.prefetch import delete_downloaded, prefetch_state, start_prefetch
from jobs.hub import search as hub
from jobs.hub.tokens import token_for_request
from jobs.metrics import last_metric
from jobs.models.memory import format_bytes
from jobs.queue import check_job_id, get_job, job_summary, list_jobs, phase_text, request_cancel, submit_job
from jobs.queue.hf_jobs import DEFAULT_FLAVOR
from jobs.queue.worker import LOG_FILE, log_tail
from jobs.spec import HUB_DATA_PREFIX, DataFormat, JobSpec, Task, parse_spec_yaml
from jobs.spec.limits import shown
from storage.db import session_scope
from storage.paths import data_home, safe_name
from storage.tables import Dataset, JobStatus
from webui.access import AccessMode, Caller, access_mode, caller_of, current_caller, require_weights_download, require_writer

LOG = logging.getLogger("adapta")
F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_MAX_UPLOAD_MB = 200
IMAGE_ARCHIVE = ".zip"
IMAGES_FORMAT = "images"
MAX_IMAGE_STEPS = 100
IMAGE_STEPS_DEFAULT = 25


def max_upload_bytes() -> int:
    """The upload limit: ``ADAPTA_MAX_UPLOAD_MB`` (default 200) megabytes."""
    try:
        megabytes = float(os.environ.get("ADAPTA_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB))
    except ValueError:
        megabytes = DEFAULT_MAX_UPLOAD_MB
    return int(megabytes * 1024 * 1024)


def public_paths(value: Any) -> Any:
    """On a shared server (accounts, Space, demo) the data home's absolute path is cut from every string of ``value``, so callers
    see ``uploads/…`` and ``runs/7`` instead of the server's folders; a single-user server shows paths as they are."""
    if access_mode() is AccessMode.OPEN:
        return value
    root = str(data_home().root.absolute())
    if isinstance(value, str):
        return value.replace(root + os.sep, "").replace(root, ".")
    if isinstance(value, dict):
        return {key: public_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [public_paths(item) for item in value]
    return value


def home_paths(spec: JobSpec) -> JobSpec:
    """On a shared server, data paths relative to the data home (as :func:`public_paths` shows them) point back into it."""
    if access_mode() is AccessMode.OPEN or spec.data.from_hub:
        return spec
    root = data_home().root.absolute()

    def inside(value: Any) -> Any:
        if isinstance(value, str) and value and not Path(value).is_absolute() and (root / value).exists():
            return str(root / value)
        return value

    data = spec.data.model_copy(update={"train": inside(spec.data.train), "validation": inside(spec.data.validation)})
    return spec.model_copy(update={"data": data})


def report_unexpected(error: BaseException, where: str) -> str:
    """Log an unexpected exception once, as one line with an error id and its last frames (a RecursionError's thousands of
    repeated frames are not copied), and return the sentence the caller sees."""
    error_id = uuid.uuid4().hex[:8]
    frames = traceback.extract_tb(error.__traceback__)[-5:]
    trail = " <- ".join(f"{Path(frame.filename).name}:{frame.lineno} {frame.name}" for frame in reversed(frames))
    LOG.error("error %s in %s: %s: %s [%s]", error_id, where, type(error).__name__, shown(str(error), 300), trail)
    return f"something went wrong on the server (error id {error_id}); nothing was changed, try again or report the id to its operator"


def user_errors(fn: F) -> F:
    """Turn an AdaptaError (and a bad argument) into a ``gr.Error`` with its sentence, and any other exception into one sentence
    with an error id (logged once); the server keeps serving."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AdaptaError as error:
            raise gr.Error(public_paths(str(error)), print_exception=False) from None
        except (TypeError, ValueError) as error:
            raise gr.Error(f"invalid input: {public_paths(shown(str(error), 300))}", print_exception=False) from None
        except Exception as error:  # noqa: BLE001 - the last line of defence of a request: one sentence, one log line
            raise gr.Error(report_unexpected(error, getattr(fn, "__name__", "request")), print_exception=False) from None

    return wrapper  # type: ignore[return-value]


# ---- models -------------------------------------------------------------------------------------------------

def search_models_action(query: str = "", task: str = "", sort: str = "downloads", hub_token: str | None = None,
                         caller: Caller | None = None) -> dict[str, Any]:
    """Hub search with the caller's token (on a shared server never the operator's: private models stay the operator's); local
    models derived from another user's job are left out (no caller given: the caller of the Gradio event being handled)."""
    from jobs.models.catalog import model_visible_to

    found = hub.search_models(query or "", task or None, sort or "downloads", token=token_for_request(hub_token))
    owner = (caller or current_caller()).owner_filter
    models = [row for row in found.models if row.get("source") != "data-home" or model_visible_to(str(row["id"]), owner)]
    return {"models": models, "offline": found.offline, "notice": found.notice}


def check_model_allowed(ref: str, caller: Caller | None = None) -> str:
    """``ref`` if it may be used here: anything on a single-user server; on a shared one (accounts, Space, demo) a Hub id or a
    model this server offers (packaged, Hugging Face cache, ``<data home>/models``), never another path on the server, and a
    model derived from a job (``models/job-<id>-merged``) only by that job's owner (no caller given: the caller of the Gradio
    event being handled, anonymous outside one)."""
    ref = (ref or "").strip()
    if access_mode() is AccessMode.OPEN or not ref:
        return ref
    path = Path(ref).expanduser()
    if not (path.is_absolute() or path.exists() or ref.startswith((".", "~"))):
        return ref  # a Hub id
    from jobs.models.catalog import local_catalog, model_visible_to

    owner = (caller or current_caller()).owner_filter
    offered = {entry.ref for entry in local_catalog(owner=owner)}
    inside = path.exists() and path.resolve().is_relative_to(data_home().models.resolve())
    if (ref in offered or inside) and model_visible_to(ref, owner):
        return ref
    raise AdaptaError(f"{ref} is not a model this server offers; on a shared server pick a Hub model or one from the local list")


def model_info_action(model: str, hub_token: str | None = None, caller: Caller | None = None, card: bool = False) -> dict[str, Any]:
    """``card``: also read a Hub model's README.md for the summary (the Models tab's detail view)."""
    return hub.model_info(check_model_allowed(model, caller), token=token_for_request(hub_token), card=card)


def prefetch_action(model: str, caller: Caller, hub_token: str | None = None) -> str:
    """Start "Download now" for a Hub model with the caller's token; the first status line."""
    require_writer(caller, "download models")
    return start_prefetch(model, token=token_for_request(hub_token)).line()


def prefetch_status_action(model: str) -> str:
    state = prefetch_state(model)
    return state.line() if state is not None else ""


def delete_downloaded_action(model: str, caller: Caller) -> str:
    """Delete a model from the Hugging Face cache (single-user servers only: a shared server's cache is the operator's)."""
    require_writer(caller, "delete downloaded models")
    if access_mode() is not AccessMode.OPEN:
        raise AdaptaError("the model cache of a shared server is managed by its operator; ask them to delete models")
    busy = {job.base_model for status in (JobStatus.QUEUED, JobStatus.RUNNING) for job in list_jobs(status=status)}
    freed = delete_downloaded(model, in_use=busy)
    return f"deleted {model} from the Hugging Face cache ({format_bytes(freed)} freed)"


# ---- data ---------------------------------------------------------------------------------------------------

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
    from jobs.data.images import inspect_image_dataset

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
    """On a multi-user server, refuse any path that is not one of the caller's uploads (or a Hub dataset)."""
    if caller.owner_filter is None or str(path).startswith(HUB_DATA_PREFIX):
        return
    if str(path) not in {row.path for row in owned_datasets(caller)}:
        raise DataError(f"{field_name} {path} is not one of your uploads; upload the file in the Data tab and use its stored path")


def check_data_owned(spec: JobSpec, caller: Caller) -> None:
    """A job may only read the caller's own uploads (or a Hub dataset) on a multi-user server, never another path."""
    check_own_upload(spec.data.train, caller, "data.train")
    if isinstance(spec.data.validation, str) and not spec.data.from_hub:
        check_own_upload(spec.data.validation, caller, "data.validation")


def previous_uploads(caller: Caller) -> list[tuple[str, str]]:
    """(label, path) of the caller's registered datasets whose file still exists, newest first."""
    rows = owned_datasets(caller)
    unit = {IMAGES_FORMAT: "images"}
    return [(f"{row.name} · {row.rows} {unit.get(row.format, 'rows')} · #{row.id}", row.path) for row in rows if Path(row.path).is_file()]


def preview_hub_action(ref: str, config: str | None = None, split: str | None = None) -> str:
    """The path of a JSON Lines file holding the first rows of a Hub dataset split (streamed), for inspection."""
    from jobs.data.hub_datasets import hub_preview_file

    return str(hub_preview_file(ref, (config or "").strip() or None, (split or "").strip() or "train"))


def inspect_action(path: str, format: str = "auto", task: str = "causal-lm", columns: dict[str, str] | None = None,
                   tokenizer: Any = None, max_length: int | None = None) -> dict[str, Any]:
    report = inspect_dataset(path, DataFormat(format or "auto"), columns or None, Task(task or "causal-lm"), tokenizer=tokenizer, max_length=max_length)
    return report.to_dict()


# ---- jobs ---------------------------------------------------------------------------------------------------

def submit_spec(spec: JobSpec, caller: Caller, hub_token: str | None = None) -> int:
    """Queue ``spec`` as the caller's job (refused for anonymous and demo callers, and for another user's files).

    ``hub_token`` (the caller's, for a gated or private base model) stays in memory and reaches only this job's process."""
    return submit_job(checked_for(caller)(spec), owner=caller.owner, hub_token=hub_token)


def checked_for(caller: Caller) -> Callable[[JobSpec], JobSpec]:
    """The checks a caller's spec passes before it is queued (writer, data-home paths, allowed model, own data files)."""
    require_writer(caller, "train")

    def check(spec: JobSpec) -> JobSpec:
        spec = home_paths(spec)
        check_model_allowed(spec.base_model, caller)
        check_data_owned(spec, caller)
        return spec

    return check


def submit_action(spec_yaml: str, caller: Caller, hub_token: str | None = None) -> int:
    """Queue a spec; a sweep spec (lists of values, or a sweep: section) queues its group and returns its first child's id."""
    from jobs.queue.sweep import read_sweep_yaml, submit_sweep

    plan = read_sweep_yaml(spec_yaml or "")
    if plan is not None:
        return submit_sweep(plan, owner=caller.owner, hub_token=hub_token, check=checked_for(caller))[0]
    return submit_spec(parse_spec_yaml(spec_yaml or ""), caller, hub_token)


def list_jobs_action(caller: Caller) -> list[dict[str, Any]]:
    return public_paths([{**job_summary(job), "group_id": job.group_id, "group_name": job.group_name}
                         for job in list_jobs(owner=caller.owner_filter)])


def job_status_action(job_id: int, caller: Caller) -> dict[str, Any]:
    job = get_job(int(job_id), owner=caller.owner_filter)
    summary = job_summary(job)
    total = job.total_steps or 0
    summary["progress"] = round(job.step / total, 4) if total else (1.0 if job.status is JobStatus.SUCCEEDED else 0.0)
    summary["eta_seconds"] = last_metric(int(job_id), "eta_seconds") if job.status is JobStatus.RUNNING else None
    if summary["download"] is not None:  # downloading the base model: the bar and the ETA follow the bytes
        download = summary["download"]
        summary["progress"] = round(download["done_bytes"] / download["total_bytes"], 4)
        summary["eta_seconds"] = download["eta_seconds"]
    summary["phase_text"] = phase_text(job)
    summary["loss"] = last_metric(int(job_id), "loss")
    live_log = Path(job.run_dir) / LOG_FILE if job.run_dir else None
    summary["log_tail"] = (log_tail(live_log, 20) if live_log is not None and live_log.is_file() else "") or (job.log_tail or "")
    return public_paths(summary)


def cancel_action(job_id: int, caller: Caller) -> dict[str, Any]:
    require_writer(caller, "cancel jobs")
    status = request_cancel(int(job_id), owner=caller.owner_filter)
    return {"id": int(job_id), "status": status.value, "cancel_requested": status is JobStatus.RUNNING}


# ---- playground ---------------------------------------------------------------------------------------------

def load_for_playground(source: str, caller: Caller) -> Any:
    """A loaded model for a job id (its run) or a base model reference; cached by jobs.inference.text."""
    from jobs.inference.text import load_base, load_run

    text = str(source or "").strip()
    if not text:
        raise AdaptaError("pick a finished job or a base model first")
    if text.isdigit():
        job = get_job(int(text), owner=caller.owner_filter)
        if job.status is not JobStatus.SUCCEEDED:
            raise AdaptaError(f"job {text} is {job.status.value}; only succeeded jobs can be tried in the playground")
        return load_run(job.run_dir)
    check_model_allowed(text, caller)
    task = Task.TEXT_CLASSIFICATION if (hub.model_info(text).get("task") == Task.TEXT_CLASSIFICATION.value) else Task.CAUSAL_LM
    return load_base(text, task)


def generate_action(source: str, prompt: str, caller: Caller, max_new_tokens: int = 64, temperature: float = 0.0, top_p: float = 0.9) -> dict[str, Any]:
    from jobs.inference.text import GenerationSettings, classify, compare_generate

    if not (prompt or "").strip():
        raise AdaptaError("write a prompt first")
    loaded = load_for_playground(source, caller)
    if loaded.task is Task.TEXT_CLASSIFICATION:
        return {"task": loaded.task.value, "base": classify(loaded, prompt, adapter=False), "adapted": classify(loaded, prompt, adapter=True)}
    settings = GenerationSettings(max_new_tokens=max(1, min(int(max_new_tokens), 1024)), temperature=max(0.0, float(temperature)),
                                  top_p=min(1.0, max(0.05, float(top_p))))
    base, adapted = compare_generate(loaded, prompt, settings)
    return {"task": loaded.task.value, "base": base, "adapted": adapted if loaded.is_adapter else base}


def job_task(job_id: int | str, caller: Caller) -> str:
    """The task of one of the caller's jobs (causal-lm, text-classification, text-to-image)."""
    return str(get_job(int(job_id), owner=caller.owner_filter).task)


def job_samples(job_id: int | str, caller: Caller) -> list[dict[str, Any]]:
    """The sample images a text-to-image job has rendered so far, oldest first ({step, prompt, seed, file, path})."""
    job = get_job(int(job_id), owner=caller.owner_filter)
    if job.task != Task.TEXT_TO_IMAGE.value or not job.run_dir:
        return []
    from jobs.trainers.images.sample_index import read_sample_index

    return read_sample_index(Path(job.run_dir))


def generate_image_action(job_id: int | str, prompt: str, caller: Caller, seed: int = 0, lora_scale: float = 1.0,
                          steps: int = IMAGE_STEPS_DEFAULT) -> tuple[Any, Any]:
    """(base image, LoRA image) as PIL images for a succeeded text-to-image job, same prompt and seed."""
    from jobs.inference.images import compare_images, load_image_run

    if not (prompt or "").strip():
        raise AdaptaError("write a prompt first")
    text = str(job_id).strip()
    if not text.isdigit():
        raise AdaptaError("pick a finished text-to-image job first")
    job = get_job(int(text), owner=caller.owner_filter)
    if job.task != Task.TEXT_TO_IMAGE.value:
        raise AdaptaError(f"job {text} is a {job.task} job; image generation needs a text-to-image job")
    if job.status is not JobStatus.SUCCEEDED or not job.run_dir:
        raise AdaptaError(f"job {text} is {job.status.value}; only succeeded jobs can be tried in the playground")
    loaded = load_image_run(job.run_dir)
    return compare_images(loaded, prompt, seed=max(0, int(seed)), lora_scale=min(2.0, max(0.0, float(lora_scale))),
                          num_inference_steps=max(1, min(int(steps), MAX_IMAGE_STEPS)))


def png_base64(image: Any) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# ---- the gradio_client endpoints ----------------------------------------------------------------------------

def api_search_models(query: str, request: gr.Request, task: str = "", sort: str = "downloads", hub_token: str = "") -> dict:
    """Search the Hub (or, offline, the local catalog). task: text-generation | text-classification | text-to-image.
    hub_token: yours, to see your private models (used for this call only)."""
    return user_errors(search_models_action)(query, task, sort, hub_token, caller_of(request))


def api_model_info(model: str, request: gr.Request, hub_token: str = "") -> dict:
    """Describe one model: parameters, license, formats, compatibility verdict and memory per method (hub_token: yours, for
    a private or gated model; used for this call only)."""
    return user_errors(model_info_action)(model, hub_token, caller_of(request))


def api_download_model(model: str, request: gr.Request, hub_token: str = "") -> str:
    """Start downloading a Hub model into this server's Hugging Face cache ("Download now"); poll /download_status."""
    return user_errors(prefetch_action)(model, caller_of(request), hub_token)


def api_download_status(model: str) -> str:
    """Where the latest download of a Hub model stands: bytes done / total, speed and ETA, or how it ended."""
    return user_errors(prefetch_status_action)(model)


def api_submit_job(spec_yaml: str, request: gr.Request, hub_token: str = "") -> int:
    """Validate a job spec given as YAML text and queue it as the caller's job; returns the job id (a sweep spec queues its
    group and returns its first child's id; /list_jobs gives each job's group_id). hub_token: yours, for a gated or private
    base model (kept in memory for this job only, never stored)."""
    return user_errors(submit_action)(spec_yaml, caller_of(request), hub_token)


def api_list_jobs(request: gr.Request) -> list:
    """The caller's jobs (every job on a single-user server), newest first, as JSON."""
    return user_errors(list_jobs_action)(caller_of(request))


def api_job_status(job_id: int, request: gr.Request) -> dict:
    """One job: status, progress, ETA, attempt, latest loss, error and log tail."""
    return user_errors(job_status_action)(job_id, caller_of(request))


def job_report_action(job_id: int | str, caller: Caller) -> EvalReport | None:
    """The before/after report of one of the caller's jobs, or None while it has none (queued, running, or older than reports)."""
    job = get_job(check_job_id(job_id), owner=caller.owner_filter)
    return read_report(job.run_dir)


def api_job_report(job_id: int, request: gr.Request) -> dict:
    """The before/after evaluation report of a finished job: metrics (base, adapted, which direction is better), every scored
    example with both outputs and whether it got better, worse or stayed the same, and what it was measured on. ``{"report": null}``
    while the job has none yet; ``skipped`` says why a finished job has no numbers."""

    def run() -> dict[str, Any]:
        report = job_report_action(job_id, caller_of(request))
        return {"job_id": int(job_id), "report": public_paths(report.to_dict()) if report is not None else None}

    return user_errors(run)()


def api_cancel_job(job_id: int, request: gr.Request) -> dict:
    """Cancel a queued job now, or ask a running one to stop."""
    return user_errors(cancel_action)(job_id, caller_of(request))


def api_generate(source: str, prompt: str, request: gr.Request, max_new_tokens: int = 64, temperature: float = 0.0, top_p: float = 0.9) -> dict:
    """source: a job id (base vs adapted) or a base model; returns {'base': ..., 'adapted': ...}."""
    return user_errors(generate_action)(source, prompt, caller_of(request), max_new_tokens, temperature, top_p)


def api_generate_image(job_id: int, prompt: str, request: gr.Request, seed: int = 0, lora_scale: float = 1.0, steps: int = 10) -> dict:
    """A succeeded text-to-image job: the base pipeline's image and the LoRA's image for the same prompt and seed.

    Returns {'base': str, 'lora': str, 'format': 'png', 'seed': int, 'lora_scale': float, 'steps': int}, where base
    and lora are base64-encoded PNG files (JSON-safe, nothing to download):
    ``PIL.Image.open(io.BytesIO(base64.b64decode(result['lora'])))``. lora_scale 0 gives the base image; steps 1-100.
    """

    def run() -> dict[str, Any]:
        base, lora = generate_image_action(job_id, prompt, caller_of(request), seed, lora_scale, steps)
        return {"base": png_base64(base), "lora": png_base64(lora), "format": "png", "seed": int(seed), "lora_scale": float(lora_scale),
                "steps": max(1, min(int(steps), MAX_IMAGE_STEPS))}

    return user_errors(run)()


def succeeded_run(job_id: int | str | None, caller: Caller) -> tuple[int, Path]:
    """(id, run folder) of one of the caller's succeeded jobs; another user's job is 'not found'."""
    if not str(job_id or "").strip():
        raise AdaptaError("pick a succeeded job first")
    job = get_job(int(job_id), owner=caller.owner_filter)
    if job.status is not JobStatus.SUCCEEDED or not job.run_dir:
        raise AdaptaError(f"job {job_id} is {job.status.value}; only succeeded jobs can be exported or pushed")
    return int(job.id), Path(job.run_dir)


EXPORT_KEEP_SECONDS = 3600


def export_folder() -> Path:
    """The one folder download zips are written to (``<tmp>/adapta-exports``): one zip per job and kind, replaced by the next
    export of the same thing, and zips older than an hour removed whenever another is made, so repeated exports stay bounded."""
    folder = Path(tempfile.gettempdir()) / "adapta-exports"
    folder.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - EXPORT_KEEP_SECONDS
    for old in folder.rglob("*"):
        if old.is_file() and old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    return folder


def zip_folder(folder: Path, name: str) -> str:
    """``folder`` zipped as ``<export folder>/<name>.zip`` (written under a temporary name, then renamed into place); Gradio
    serves it from its cache, which keys copies by content, so an unchanged folder is cached once."""
    target = export_folder()
    staging = shutil.make_archive(str(target / f".{name}-{uuid.uuid4().hex[:8]}"), "zip", root_dir=folder)
    final = target / f"{name}.zip"
    os.replace(staging, final)
    return str(final)


def adapter_zip(job_id: int | str | None, caller: Caller) -> str:
    """A zip of the adapter/ (or model/) folder of one of the caller's succeeded jobs."""
    require_weights_download(caller)  # a demo visitor sees every job, but gets no weights unless the operator allows it
    number, run_dir = succeeded_run(job_id, caller)
    folder = next((run_dir / name for name in ("adapter", "model") if (run_dir / name).is_dir()), None)
    if folder is None:
        raise AdaptaError(f"job {number} has no adapter/ or model/ folder in {run_dir}")
    return zip_folder(folder, f"job-{number}-{folder.name}")


def push_action(job_id: int | str | None, repo_id: str, token: str | None, private: bool, caller: Caller, merged: bool = False,
                gguf: str = "") -> str:
    """Push one of the caller's succeeded jobs to OWNER/NAME with its model card (``merged``: the LoRA merged into its base,
    saved under ``<data home>/models/job-<id>-merged``; ``gguf``: comma-separated GGUF types, exported, verified and pushed
    instead); returns the repo URL. The token is used once."""
    from jobs.export.hub_push import push_gguf_run, push_merged_run, push_run

    require_writer(caller, "push to the Hub")
    number, run_dir = succeeded_run(job_id, caller)
    repo_id, token = (repo_id or "").strip(), (token or "").strip() or None
    if gguf_types(gguf):
        return push_gguf_run(run_dir, repo_id, token=token, quants=gguf_types(gguf), merged_dir=data_home().merged_model_dir(number),
                             private=bool(private))
    if merged:
        return push_merged_run(run_dir, repo_id, token=token, private=bool(private), merged_dir=data_home().merged_model_dir(number))
    return push_run(run_dir, repo_id, token=token, private=bool(private))


def api_push_to_hub(job_id: int, repo_id: str, token: str, request: gr.Request, private: bool = True, merged: bool = False,
                    gguf: str = "") -> dict:
    """Push a succeeded job's adapter (or model; ``merged``: the LoRA merged into its base; ``gguf``: e.g. "q8_0" or "f16,q8_0",
    the verified GGUF files with a Modelfile and a card on running them) with its model card to OWNER/NAME.

    The token is used once, never stored. Returns {'url': ...}."""
    return {"url": user_errors(push_action)(job_id, repo_id, token, private, caller_of(request), bool(merged), gguf or "")}


def gguf_types(text: str | list[str] | None) -> list[str]:
    """GGUF types from "f16, q8_0" (or a list), lower-cased, without blanks."""
    items = text if isinstance(text, list) else str(text or "").replace(";", ",").split(",")
    return [item.strip().lower() for item in items if item and item.strip()]


def export_gguf_action(job_id: int | str | None, types: str | list[str], caller: Caller, progress: Any = None) -> Any:
    """Export one of the caller's succeeded causal-LM jobs to GGUF under ``runs/<id>/gguf`` (merged once into
    ``models/job-<id>-merged``), with its Modelfile, every file loaded back and compared (a :class:`jobs.export.GgufExport`)."""
    from jobs.export import export_gguf

    require_writer(caller, "export models")
    number, run_dir = succeeded_run(job_id, caller)
    return export_gguf(run_dir, gguf_types(types) or ["q8_0"], merged_dir=data_home().merged_model_dir(number), progress=progress)


def api_export_gguf(job_id: int, request: gr.Request, types: str = "q8_0") -> dict:
    """Export a succeeded text-generation job to GGUF for llama.cpp / Ollama / LM Studio. types: comma-separated f16, bf16, q8_0,
    q4_0. Each file is loaded back and compared with the merged model on prompts from the job's data.

    Returns {'passed': bool, 'folder': str, 'modelfile': str, 'files': [{type, file, size_bytes, top1_agreement,
    max_logit_difference, greedy_identical, greedy_prompts, passed}], 'prompts': str}."""

    def run() -> dict[str, Any]:
        result = export_gguf_action(job_id, types, caller_of(request))
        return public_paths({"passed": result.passed, "folder": str(result.folder), "modelfile": str(result.modelfile),
                             "files": result.report["files"], "prompts": result.report["prompts"]})

    return user_errors(run)()


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


def api_download_job(job_id: str, request: gr.Request) -> str:
    """A zip of a succeeded job's adapter/ (or model/) folder; only the job's owner may download it."""
    return user_errors(adapter_zip)(job_id, caller_of(request))


def submit_remote_action(spec: JobSpec, caller: Caller, token: str | None, push_repo: str, flavor: str, image_space: str | None) -> int:
    """Send the caller's job to Hugging Face Jobs; the token goes to the Hub as the job's secret and is kept in memory only."""
    from jobs.queue.hf_jobs import submit_remote_job

    require_writer(caller, "train")
    return submit_remote_job(spec, token=(token or "").strip() or None, push_repo=(push_repo or "").strip(), flavor=flavor or DEFAULT_FLAVOR,
                             image_space=(image_space or "").strip() or None, owner=caller.owner)


def api_submit_hf_job(spec_yaml: str, push_repo: str, token: str, request: gr.Request, flavor: str = DEFAULT_FLAVOR, space: str = "") -> int:
    """Run a spec on Hugging Face Jobs (flavor e.g. t4-small, a10g-small) from the Adapta Space ``space``; the result is pushed to push_repo.

    The spec must name a Hub model and a Hub dataset (hub:OWNER/NAME). Returns the local job id; its status follows the remote job.
    """
    return user_errors(lambda: submit_remote_action(parse_spec_yaml(spec_yaml or ""), caller_of(request), token, push_repo, flavor, space))()


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


def register_api() -> None:
    """Inside a Blocks context: the public endpoints (the file endpoint uses hidden components)."""
    for fn, name in ((api_search_models, "search_models"), (api_model_info, "model_info"), (api_submit_job, "submit_job"),
                     (api_list_jobs, "list_jobs"), (api_job_status, "job_status"), (api_cancel_job, "cancel_job"),
                     (api_generate, "generate"), (api_generate_image, "generate_image"), (api_push_to_hub, "push_to_hub"),
                     (api_inspect_hub_dataset, "inspect_hub_dataset"), (api_submit_hf_job, "submit_hf_job"),
                     (api_list_datasets, "list_datasets"), (api_download_model, "download_model"), (api_download_status, "download_status")):
        quick = ("list_jobs", "job_status", "search_models", "list_datasets", "download_status")
        gr.api(fn, api_name=name, concurrency_limit=None if name in quick else 2)
    gr.api(api_job_report, api_name="job_report", concurrency_limit=None)
    gr.api(api_export_gguf, api_name="export_gguf", concurrency_limit=1, concurrency_id="inference")
    with gr.Row(visible=False):
        file_in = gr.File(type="filepath")
        format_in = gr.Textbox(value="auto")
        task_in = gr.Textbox(value="causal-lm")
        report_out = gr.JSON()
        trigger = gr.Button()
        job_in = gr.Textbox()
        zip_out = gr.File()
        download = gr.Button()
    trigger.click(api_inspect_dataset, [file_in, format_in, task_in], report_out, api_name="inspect_dataset", api_visibility="public")
    download.click(api_download_job, job_in, zip_out, api_name="download_job", api_visibility="public", concurrency_limit=2)
