"""Image inference for the playground: base pipeline vs. the same pipeline with a trained LoRA, same seed.

One pipeline per (base model, adapter) stays in a small LRU cache; the LoRA is loaded once with
diffusers' ``load_lora_weights`` and switched off for the base image, so the pair costs one copy of the
weights. ``lora_scale`` scales the adapter (0 = base, 1 = as trained).

Where the pipeline runs is decided before it loads (:func:`choose_placement`, from the weights' sizes in the safetensors
headers and the GPU's free memory): on a CUDA GPU in bfloat16 (float16 for SD/SDXL on a GPU without bfloat16; float32
for FLUX/SD 3 there, which overflow in float16), all on the GPU when it fits, else with diffusers' model CPU offload (each
component on the GPU while it runs) or, when even the largest component does not fit, sequential offload (layer by
layer). Without a GPU: bfloat16 on a CPU that multiplies it natively (AVX-512 BF16 or AMX: a FLUX-wide Linear ran 4-7×
faster than in float32 on such a CPU, the tiny pipelines as fast or faster), else float32 (bfloat16 is emulated there,
slowly). The reason is one sentence, ``loaded.placement.reason``.

    from jobs.inference.images import load_image_run, compare_images
    loaded = load_image_run("data/runs/7")
    base, adapted = compare_images(loaded, "a photo of sks dog", seed=1, lora_scale=0.8)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.errors import AdaptaError
from jobs.models.memory import format_bytes
from jobs.models.memory_images import CUDA_CONTEXT_BYTES, HEADROOM, VAE_BYTES_PER_PIXEL, safetensors_params
from jobs.models.pipelines import DEFAULT_GUIDANCE, FLOW_FAMILIES, SUPPORTED_PIPELINES, WEIGHT_COMPONENTS, ResolvedPipeline, load_pipeline, resolve_pipeline
from jobs.spec import Task, load_spec
from jobs.trainers.images.lora_files import DIFFUSERS_FILE

CACHE_SIZE = 2
ADAPTER_NAME = "adapta"
DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}
_cache: OrderedDict[tuple[str, str], LoadedImageRun] = OrderedDict()
_lock = threading.Lock()


PLACEMENT_EN: dict[str, str] = {
    "cpu_bf16": "no CUDA GPU: bfloat16 on the CPU, which multiplies it natively (AVX-512 BF16 or AMX)",
    "cpu_fp32": "no CUDA GPU: float32 on the CPU (this CPU has no native bfloat16, which would be slow)",
    "needs": "the pipeline needs about {needed} in {dtype} and the GPU has {free} free",
    "all_on_gpu": "all on the GPU in {dtype}: {needs}",
    "model_offload": "{needs}: each component moves to the GPU while it runs (model CPU offload, slower)",
    "sequential_offload": ("{needs}, less than its {largest} alone ({largest_size}): the weights stream to the GPU layer by layer "
                           "(sequential CPU offload, much slower)"),
}
"""The words of :meth:`Placement.reason_in` in English; the web UI's Playground has the same keys in each language
(``placement.<key>``)."""


@dataclass(frozen=True)
class Placement:
    """Where and in which precision the Playground runs a pipeline, and why (one sentence, :attr:`reason`)."""

    device: str
    """cuda or cpu."""
    dtype: str
    """bfloat16, float16 or float32."""
    offload: str
    """none, model (each component on the GPU while it runs) or sequential (layer by layer)."""
    why: str
    """The key of its sentence in :data:`PLACEMENT_EN`."""
    sizes: dict[str, str] = field(default_factory=dict)
    """The sentence's numbers, formatted: ``needed`` and ``free`` on a GPU, ``largest`` and ``largest_size`` when it streams."""

    def reason_in(self, strings: dict[str, str] = PLACEMENT_EN) -> str:
        """Why it runs there, worded by ``strings`` (:data:`PLACEMENT_EN`, or the same keys in the page's language)."""
        needs = strings["needs"].format(dtype=self.dtype, **self.sizes) if self.device == "cuda" else ""
        return strings[self.why].format(needs=needs, dtype=self.dtype, **self.sizes)

    @property
    def reason(self) -> str:
        """Why it runs there, in English."""
        return self.reason_in()


@dataclass
class LoadedImageRun:
    """A pipeline with one LoRA loaded, and the settings to render at."""

    pipe: Any
    adapter_folder: Path
    resolution: int
    lock: threading.Lock
    placement: Placement | None = None


def component_params(resolved: ResolvedPipeline) -> dict[str, int]:
    """Parameters per weight component (transformer or unet, vae, text encoders) from the safetensors headers; a single-file
    checkpoint counts as one component of its file size at 2 bytes a weight."""
    if resolved.single_file:
        return {"checkpoint": resolved.path.stat().st_size // 2}
    counts = {name: safetensors_params(resolved.path / name) for name in WEIGHT_COMPONENTS if (resolved.path / name).is_dir()}
    return {name: count for name, count in counts.items() if count}


def choose_placement(family: str, params: dict[str, int], *, cuda: bool, bf16_supported: bool, free_bytes: int, resolution: int) -> Placement:
    """The device, precision and offloading of a pipeline of ``family`` whose components hold ``params`` weights, on a machine
    with (``cuda``) or without a CUDA GPU with ``free_bytes`` free; ``bf16_supported``: the GPU, or without one the CPU,
    computes in bfloat16 natively. Pure, so it is tested for any machine."""
    if not cuda:
        return Placement("cpu", "bfloat16", "none", "cpu_bf16") if bf16_supported else Placement("cpu", "float32", "none", "cpu_fp32")
    dtype = "bfloat16" if bf16_supported else ("float32" if family in FLOW_FAMILIES else "float16")
    size = DTYPE_BYTES[dtype]
    working = CUDA_CONTEXT_BYTES + VAE_BYTES_PER_PIXEL * resolution * resolution
    weights = size * sum(params.values())
    budget = int(free_bytes * HEADROOM)
    largest_name, largest = max(params.items(), key=lambda item: item[1], default=("pipeline", 0))
    sizes = {"needed": format_bytes(weights + working), "free": format_bytes(free_bytes)}
    if weights + working <= budget:
        return Placement("cuda", dtype, "none", "all_on_gpu", sizes)
    if size * largest + working <= budget:
        return Placement("cuda", dtype, "model", "model_offload", sizes)
    return Placement("cuda", dtype, "sequential", "sequential_offload", {**sizes, "largest": largest_name, "largest_size": format_bytes(size * largest)})


def placement_here(resolved: ResolvedPipeline, resolution: int) -> Placement:
    """:func:`choose_placement` for this machine's GPU (its free memory now) or CPU."""
    import torch

    cuda = torch.cuda.is_available()
    return choose_placement(resolved.family, component_params(resolved), cuda=cuda,
                            bf16_supported=torch.cuda.is_bf16_supported() if cuda else cpu_has_native_bf16(),
                            free_bytes=torch.cuda.mem_get_info()[0] if cuda else 0, resolution=resolution)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX-512 BF16 or AMX tiles), by torch's CPU capability probe."""
    import torch

    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(probe() for probe in probes if probe is not None)


def _place(pipe: Any, placement: Placement) -> None:
    if placement.device == "cpu":
        return
    if placement.offload == "model":
        pipe.enable_model_cpu_offload()
    elif placement.offload == "sequential":
        pipe.enable_sequential_cpu_offload()
    else:
        pipe.to("cuda")


def _free_cached_pipelines() -> None:
    """Drop the cached pipelines (their GPU memory with them) so that a new one may fit."""
    import gc

    import torch

    with _lock:
        _cache.clear()
    gc.collect()
    torch.cuda.empty_cache()


def load_pipeline_with_lora(base_model: str, adapter_folder: Path, weight_name: str = DIFFUSERS_FILE, resolution: int = 512) -> LoadedImageRun:
    """The cached pipeline of ``base_model`` with the LoRA file ``adapter_folder/weight_name`` loaded, placed by
    :func:`placement_here` (cached pipelines are dropped first when the new one would not fit the GPU whole)."""
    import torch

    adapter_folder = Path(adapter_folder)
    if not (adapter_folder / weight_name).is_file():
        raise AdaptaError(f"{adapter_folder} has no {weight_name}; pick a finished text-to-image run")
    key = (str(base_model), str((adapter_folder / weight_name).absolute()))
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    resolved = resolve_pipeline(base_model)
    placement = placement_here(resolved, resolution)
    if placement.offload != "none" and _cache:
        _free_cached_pipelines()
        placement = placement_here(resolved, resolution)
    pipe = load_pipeline(resolved, getattr(torch, placement.dtype))
    pipe.load_lora_weights(str(adapter_folder), weight_name=weight_name, adapter_name=ADAPTER_NAME)
    _place(pipe, placement)
    loaded = LoadedImageRun(pipe=pipe, adapter_folder=adapter_folder, resolution=resolution, lock=threading.Lock(), placement=placement)
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
