"""Image inference for the playground: base pipeline vs. the same pipeline with a trained LoRA, same seed.

One pipeline per (base model, adapter) stays in a small LRU cache; the LoRA is loaded once with
diffusers' ``load_lora_weights`` and switched off for the base image, so the pair costs one copy of the
weights. ``lora_scale`` scales the adapter (0 = base, 1 = as trained).

    from jobs.inference.images import load_image_run, compare_images
    loaded = load_image_run("data/runs/7")
    base, adapted = compare_images(loaded, "a photo of sks dog", seed=1, lora_scale=0.8)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs.errors import AdaptaError
from jobs.models.pipelines import DEFAULT_GUIDANCE, SUPPORTED_PIPELINES, load_pipeline, resolve_pipeline
from jobs.spec import Task, load_spec
from jobs.trainers.images.lora_files import DIFFUSERS_FILE

CACHE_SIZE = 2
ADAPTER_NAME = "adapta"
_cache: OrderedDict[tuple[str, str], LoadedImageRun] = OrderedDict()
_lock = threading.Lock()


@dataclass
class LoadedImageRun:
    """A pipeline with one LoRA loaded, and the settings to render at."""

    pipe: Any
    adapter_folder: Path
    resolution: int
    lock: threading.Lock


def load_pipeline_with_lora(base_model: str, adapter_folder: Path, weight_name: str = DIFFUSERS_FILE, resolution: int = 512) -> LoadedImageRun:
    """The cached pipeline of ``base_model`` with the LoRA file ``adapter_folder/weight_name`` loaded."""
    import torch

    adapter_folder = Path(adapter_folder)
    if not (adapter_folder / weight_name).is_file():
        raise AdaptaError(f"{adapter_folder} has no {weight_name}; pick a finished text-to-image run")
    key = (str(base_model), str((adapter_folder / weight_name).absolute()))
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    pipe = load_pipeline(resolve_pipeline(base_model))
    if torch.cuda.is_available():
        pipe.to("cuda")
    pipe.load_lora_weights(str(adapter_folder), weight_name=weight_name, adapter_name=ADAPTER_NAME)
    loaded = LoadedImageRun(pipe=pipe, adapter_folder=adapter_folder, resolution=resolution, lock=threading.Lock())
    with _lock:
        _cache[key] = loaded
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return loaded


def load_image_run(run_dir: str | Path) -> LoadedImageRun:
    """The pipeline and LoRA of a finished text-to-image run folder (its spec.yaml names the base model)."""
    run_dir = Path(run_dir)
    spec = load_spec(run_dir / "spec.yaml")
    if spec.task is not Task.TEXT_TO_IMAGE:
        raise AdaptaError(f"run {run_dir.name} is a {spec.task.value} run; image generation needs a text-to-image run")
    return load_pipeline_with_lora(spec.base_model, run_dir / "adapter", resolution=spec.images.resolution)


def generate_image(
    loaded: LoadedImageRun,
    prompt: str,
    *,
    seed: int = 0,
    lora_scale: float = 1.0,
    num_inference_steps: int = 25,
    guidance_scale: float | None = None,
    negative_prompt: str | None = None,
) -> Any:
    """One PIL image at ``seed``; ``lora_scale`` 0 gives the base pipeline's image; ``guidance_scale`` None: the family's
    default (:data:`jobs.models.pipelines.DEFAULT_GUIDANCE`)."""
    import torch

    with loaded.lock, torch.no_grad():
        pipe = loaded.pipe
        if guidance_scale is None:
            guidance_scale = DEFAULT_GUIDANCE[SUPPORTED_PIPELINES.get(type(pipe).__name__, "sd")]
        if lora_scale == 0:
            pipe.disable_lora()
        else:
            pipe.enable_lora()
            pipe.set_adapters([ADAPTER_NAME], adapter_weights=[float(lora_scale)])
        generator = torch.Generator(device=pipe.device).manual_seed(seed)
        try:
            return pipe(
                prompt, negative_prompt=negative_prompt, num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
                height=loaded.resolution, width=loaded.resolution, generator=generator,
            ).images[0]
        finally:
            pipe.enable_lora()


def compare_images(loaded: LoadedImageRun, prompt: str, *, seed: int = 0, lora_scale: float = 1.0, **settings: Any) -> tuple[Any, Any]:
    """(base image, LoRA image) for the same prompt and seed."""
    return generate_image(loaded, prompt, seed=seed, lora_scale=0, **settings), generate_image(loaded, prompt, seed=seed, lora_scale=lora_scale, **settings)
