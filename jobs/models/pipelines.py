"""Find and load a text-to-image pipeline safely (safetensors only, no remote code): Stable Diffusion 1.x/2.x, SDXL,
FLUX.1 (dev and schnell) and Stable Diffusion 3.x.

``base_model`` is a diffusers folder (``model_index.json`` + one subfolder per component), a Hub id found
in the local Hugging Face cache, or a single-file ``.safetensors`` SD/SDXL checkpoint (A1111/ComfyUI style) read by
diffusers' single-file loader. FLUX.1 and SD 3.x (the flow-matching families, :data:`FLOW_FAMILIES`) can keep their
frozen transformer in 8-bit or NF4 (bitsandbytes, CUDA only: :func:`load_transformer` refuses it elsewhere), loaded
apart from the text encoders so that they need not share the GPU.
:func:`check_pipeline_safety` refuses custom pipeline code, components from libraries other
than diffusers/transformers, and pickle-only weights before anything is loaded.

    from jobs.models.pipelines import load_pipeline
    pipe = load_pipeline("path/to/sd-folder")
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs.errors import ModelError
from jobs.models.source import PICKLE_SUFFIXES, from_hub_cache, is_hub_id

SUPPORTED_PIPELINES = {
    "StableDiffusionPipeline": "sd",
    "StableDiffusionXLPipeline": "sdxl",
    "FluxPipeline": "flux",
    "StableDiffusion3Pipeline": "sd3",
}
DEFAULT_GUIDANCE = {"sd": 7.5, "sdxl": 7.5, "flux": 3.5, "sd3": 7.0}
"""The guidance scale each family renders best at by default (the model cards': FLUX.1-dev 3.5, SD 3.x 7.0; FLUX.1-schnell
has no guidance input and ignores it)."""
FLOW_FAMILIES = ("flux", "sd3")
"""Families whose denoiser is a transformer trained with flow matching (not a UNet with DDPM noise)."""
FAMILY_NAMES = {"sd": "Stable Diffusion 1.x/2.x", "sdxl": "SDXL", "flux": "FLUX.1", "sd3": "Stable Diffusion 3.x"}
SUPPORTED_TEXT = "Stable Diffusion 1.x/2.x, SDXL, FLUX.1 and Stable Diffusion 3.x"
WEIGHT_COMPONENTS = ("unet", "transformer", "vae", "text_encoder", "text_encoder_2", "text_encoder_3")
QUANTIZATION_SETTINGS = {"8bit": {"load_in_8bit": True}, "nf4": {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}}
SAFE_LIBRARIES = {"diffusers", "transformers", None}


@dataclass(frozen=True)
class ResolvedPipeline:
    """A checked local pipeline: a diffusers folder or a single .safetensors file."""

    ref: str
    path: Path
    family: str
    """sd (1.x/2.x), sdxl, flux or sd3."""
    single_file: bool = False
    variant: str | None = None
    """``fp16`` when the folder holds only the half-precision weights (``*.fp16.safetensors``) of a Hub download."""


def check_pipeline_safety(folder: Path) -> dict[str, Any]:
    """Refuse a diffusers folder that needs custom code or ships pickle-only weights; return model_index.json."""
    index_file = folder / "model_index.json"
    if not index_file.is_file():
        hint = " (it looks like a transformers model: text-to-image needs a diffusers pipeline)" if (folder / "config.json").is_file() else ""
        raise ModelError(f"{folder} has no model_index.json, so it is not a diffusers pipeline folder{hint}; pick a {SUPPORTED_TEXT} folder")
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{index_file} is not valid JSON ({error}); re-download the pipeline") from None
    class_name = index.get("_class_name")
    if class_name not in SUPPORTED_PIPELINES:
        raise ModelError(
            f"pipeline {folder.name} is a {class_name or 'unknown pipeline'}; Adapta trains LoRA for "
            f"{', '.join(SUPPORTED_PIPELINES)} only (custom pipeline code is never run)"
        )
    if any(folder.glob("*.py")):
        raise ModelError(f"pipeline {folder.name} ships Python files, which would need remote code; Adapta keeps that off, pick a standard pipeline")
    for name, value in index.items():
        if name.startswith("_") or not isinstance(value, list) or len(value) != 2 or value[0] is None:
            continue
        library = value[0]
        if library not in SAFE_LIBRARIES:
            raise ModelError(f"pipeline {folder.name} component {name} comes from '{library}', custom code that Adapta does not run; pick a standard pipeline")
        if name in WEIGHT_COMPONENTS:
            sub = folder / name
            files = [path.name for path in sub.glob("*")] if sub.is_dir() else []
            if not any(file.endswith(".safetensors") for file in files):
                pickles = [file for file in files if file.endswith(PICKLE_SUFFIXES)]
                what = f"only pickle weights ({pickles[0]}), which can run code when loaded" if pickles else "no .safetensors weights"
                raise ModelError(f"pipeline {folder.name} component {name} has {what}; use a pipeline with .safetensors weights")
    return index


def pipeline_variant(folder: Path) -> str | None:
    """``fp16`` when the denoiser's (UNet or transformer) weights are there only as the fp16 variant (a half-precision download), else None."""
    denoiser = folder / "unet" if (folder / "unet").is_dir() else folder / "transformer"
    names = [path.name for path in denoiser.glob("*.safetensors")] if denoiser.is_dir() else []
    if names and all(".fp16." in name for name in names):
        return "fp16"
    return None


def resolve_pipeline(ref: str, revision: str | None = None, *, half_precision: bool = False) -> ResolvedPipeline:
    """Turn ``spec.base_model`` into a checked local pipeline; raises :class:`ModelError` with what to do."""
    text = ref.strip()
    path = Path(text).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".safetensors":
            raise ModelError(f"{path.name} is not a .safetensors checkpoint; .ckpt and other pickle files can run code, convert it to .safetensors")
        family = "sdxl" if "xl" in path.name.lower() else "sd"
        return ResolvedPipeline(ref=ref, path=path.absolute(), family=family, single_file=True)
    if path.is_dir():
        folder = path.absolute()
    elif is_hub_id(text):
        folder = from_hub_cache(text, revision, half_precision=half_precision)
    else:
        raise ModelError(f"pipeline {path} does not exist; give a diffusers folder with model_index.json, a .safetensors checkpoint or a cached Hub id")
    index = check_pipeline_safety(folder)
    return ResolvedPipeline(ref=ref, path=folder, family=SUPPORTED_PIPELINES[index["_class_name"]], variant=pipeline_variant(folder))


def pipeline_class(family: str) -> Any:
    """The diffusers pipeline class of a family (sd, sdxl, flux or sd3)."""
    import diffusers

    name = next((name for name, known in SUPPORTED_PIPELINES.items() if known == family), "StableDiffusionPipeline")
    return getattr(diffusers, name)


def quantization_config(quantize: str | None) -> Any:
    """diffusers' bitsandbytes config that stores a transformer in 8-bit or NF4 (bf16 compute); None for ``none``.

    Raises :class:`ModelError` in one sentence where it cannot work: no CUDA GPU, or no bitsandbytes.
    """
    if quantize in (None, "none"):
        return None
    import torch

    if quantize not in QUANTIZATION_SETTINGS:
        raise ModelError(f"images.quantize_base {quantize} is unknown; use none, 8bit or nf4")
    if not torch.cuda.is_available():
        raise ModelError(f"images.quantize_base {quantize} needs a CUDA GPU (bitsandbytes); set it to none on this machine")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ModelError(f"images.quantize_base {quantize} needs the bitsandbytes package; install it or set quantize_base to none") from None
    from diffusers import BitsAndBytesConfig

    settings = dict(QUANTIZATION_SETTINGS[quantize])
    if quantize == "nf4":
        settings["bnb_4bit_compute_dtype"] = torch.bfloat16
    return BitsAndBytesConfig(**settings)


def load_transformer(resolved: ResolvedPipeline, dtype: Any, quantize: str | None = None) -> Any:
    """The transformer of a FLUX.1 / SD 3.x pipeline folder alone (safetensors only) in ``dtype``; ``quantize`` (8bit or nf4,
    CUDA only) stores its Linear weights quantized, on the GPU."""
    import diffusers

    if resolved.family not in FLOW_FAMILIES:
        raise ModelError(f"images.quantize_base {quantize} is for FLUX.1 and SD 3.x transformers; a {FAMILY_NAMES[resolved.family]} "
                         "pipeline trains in full precision, set quantize_base to none")
    quantization = quantization_config(quantize)
    index = json.loads((resolved.path / "model_index.json").read_text(encoding="utf-8"))
    cls = getattr(diffusers, index["transformer"][1])
    extra: dict[str, Any] = {"variant": resolved.variant} if resolved.variant else {}
    if quantization is not None:
        extra["quantization_config"] = quantization
    try:
        return cls.from_pretrained(str(resolved.path), subfolder="transformer", torch_dtype=dtype, use_safetensors=True, **extra)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        first = str(error).split("\n")[0][:200]
        raise ModelError(f"cannot load the transformer of {resolved.path.name} with diffusers ({first}); check that the pipeline is complete") from None


def load_pipeline(resolved: ResolvedPipeline | str, dtype: Any = None, *, with_transformer: bool = True) -> Any:
    """Load the pipeline (safetensors only, safety checker off) in ``dtype`` (default float32); ``with_transformer=False``
    leaves out a FLUX.1 / SD 3.x transformer (text encoders and VAE only; :func:`load_transformer` loads it later)."""
    import torch

    if isinstance(resolved, str):
        resolved = resolve_pipeline(resolved)
    cls = pipeline_class(resolved.family)
    dtype = dtype or torch.float32
    extra: dict[str, Any] = {"safety_checker": None, "requires_safety_checker": False} if resolved.family == "sd" else {}
    if not with_transformer and resolved.family in FLOW_FAMILIES:
        extra["transformer"] = None
    try:
        if resolved.single_file:
            pipe = cls.from_single_file(str(resolved.path), dtype=dtype, **extra)
        else:
            if resolved.variant:
                extra["variant"] = resolved.variant
            pipe = cls.from_pretrained(str(resolved.path), dtype=dtype, use_safetensors=True, **extra)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        first = str(error).split("\n")[0][:200]
        message = f"cannot load pipeline {resolved.path.name} with diffusers ({first}); check that it is a complete {SUPPORTED_TEXT} pipeline"
        raise ModelError(message) from None
    pipe.set_progress_bar_config(disable=True)
    return pipe
