"""The Playground's actions and their ``gradio_client`` endpoints: a finished job (or a base model) answering a prompt beside
its base, and a text-to-image job's images with and without its LoRA.

    /generate, /generate_image
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import gradio as gr

from jobs.errors import AdaptaError
from jobs.hub import search as hub
from jobs.inference.images import PLACEMENT_EN, compare_images, load_image_run
from jobs.inference.text import GenerationSettings, classify, compare_generate, load_base, load_run
from jobs.queue import get_job
from jobs.spec import Task
from jobs.trainers.images.sample_index import read_sample_index
from storage.tables import JobStatus
from webui.access import Caller, caller_of
from webui.api_caller import user_errors
from webui.api_models import check_model_allowed
from webui.i18n import DEFAULT_LANGUAGE, string_table

MAX_IMAGE_STEPS = 100
MAX_PROMPT_CHARS = 8000
"""The longest Playground prompt: with at most 1024 new tokens, one user's generation holds the shared inference slot for a
bounded time (generation runs in a worker thread, never on the server's event loop, one at a time per concurrency group)."""
IMAGE_STEPS_DEFAULT = 25


def load_for_playground(source: str, caller: Caller) -> Any:
    """A loaded model for a job id (its run) or a base model reference; cached by jobs.inference.text."""
    text = str(source or "").strip()
    if not text:
        raise AdaptaError("pick a finished job or a base model first")
    if text.isdigit():
        job = get_job(int(text), owner=caller.owner_filter)
        if job.status is not JobStatus.SUCCEEDED:
            raise AdaptaError(f"job {text} is {job.status.value}; only succeeded jobs can be tried in the playground")
        return load_run(job.run_dir)
    text = check_model_allowed(text, caller)
    task = Task.TEXT_CLASSIFICATION if (hub.model_info(text).get("task") == Task.TEXT_CLASSIFICATION.value) else Task.CAUSAL_LM
    return load_base(text, task)


def generate_action(source: str, prompt: str, caller: Caller, max_new_tokens: int = 64, temperature: float = 0.0, top_p: float = 0.9) -> dict[str, Any]:
    if not (prompt or "").strip():
        raise AdaptaError("write a prompt first")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise AdaptaError(f"the prompt is {len(prompt):,} characters; the Playground takes at most {MAX_PROMPT_CHARS:,}: shorten it")
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
    return read_sample_index(Path(job.run_dir))


def generate_image_action(job_id: int | str, prompt: str, caller: Caller, seed: int = 0, lora_scale: float = 1.0,
                          steps: int = IMAGE_STEPS_DEFAULT) -> tuple[Any, Any]:
    """(base image, LoRA image) as PIL images for a succeeded text-to-image job, same prompt and seed."""
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


def image_placement_reason(job_id: int | str, caller: Caller, lang: str = DEFAULT_LANGUAGE) -> str:
    """Where a text-to-image job's cached Playground pipeline runs and why (GPU or CPU, precision, offload), for the status line,
    in ``lang``."""
    job = get_job(int(str(job_id).strip()), owner=caller.owner_filter)
    placement = load_image_run(job.run_dir).placement if job.run_dir else None
    return placement.reason_in(string_table(lang, "placement.", PLACEMENT_EN)) if placement else ""


def png_base64(image: Any) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# ---- the gradio_client endpoints ---------------------------------------------------------------------------

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
