"""The memory estimate of a text-to-image LoRA job, and the refusal before a run that would not fit: FLUX.1 / SD 3.x in full,
SD 1.x/2.x and SDXL as a floor (their weights).

A flow-matching job has two peaks (:func:`jobs.trainers.images.flow.load_flow_parts`): while the captions are encoded,
the text encoders (T5 + CLIP, in the training precision) and the VAE are on the GPU and the transformer is not loaded
yet; while it trains, the encoders are freed and the stored transformer, its LoRA, the optimizer and the activations
take their place.
The estimate is the larger of the two, plus the CUDA context:

- **weights**: each component's parameter count read from its safetensors headers (no tensor is loaded); the
  transformer's Linear weights at 1 byte (``8bit``) or 0.55 byte (``nf4``: 4 bits plus block scales) per parameter,
  everything else at the training precision. ``fp8`` (diffusers' layerwise casting) stores at 1 byte every Linear, conv and
  embedding weight outside :data:`FP8_SKIP_PATTERNS` (the normalisation and modulation layers, position embeddings, the
  output projection stay at the training precision: about a quarter of FLUX.1's parameters);
- **fp8 copies**: a layer stored in fp8 is cast to the training precision for its forward pass, and autograd keeps that copy
  for the backward pass: every stored layer's copy without gradient checkpointing (more than no fp8 at all, so
  :func:`fp8_problem` refuses it), one block's with it;
- **LoRA**: ``r · (in + out)`` per adapted Linear, 16 bytes each (fp32 weight, gradient, two AdamW moments);
- **activations** per image: image tokens ``(H/16)·(W/16)`` (FLUX packs 2×2 latents; SD 3 patches 2×2) plus text tokens,
  times the transformer width, times :data:`SAVED_PER_TOKEN` values per block (every block without gradient
  checkpointing; one value per block plus one whole block with it), at 2 bytes (bf16) or 4 (fp32);
- **VAE encode**: :data:`VAE_BYTES_PER_PIXEL` bytes per input pixel (transient, in no-grad).

For SD 1.x/2.x and SDXL (:func:`estimate_unet_floor`) only the weights are counted: UNet, VAE and text encoders at the
training precision, the LoRA with its optimizer, the CUDA context. The UNet's activations are not modelled, so the figure
is a floor: a job over the budget by its floor cannot fit, one under it may still not.

    from jobs.models.memory_images import estimate_flow_memory, check_flow_fits
    estimate = estimate_flow_memory(folder, "flux", resolution=512, batch_size=1, quantize="nf4", precision_bytes=2,
                                    gradient_checkpointing=True, lora_params=lora_params(folder, targets, 16))
    check_flow_fits(estimate, free_bytes)   # raises ModelError with the numbers when it does not fit
    estimate_image_job(spec, resolve_pipeline(spec.base_model), precision_bytes=2)   # either family, from a spec
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

from jobs.errors import ModelError
from jobs.models.image_lora_targets import flow_target_modules, unet_target_modules
from jobs.models.memory import format_bytes
from jobs.models.pipelines import FLOW_FAMILIES, ResolvedPipeline
from jobs.spec import JobSpec

SAVED_PER_TOKEN = 20
"""Values of the block width a FLUX/SD 3 block keeps per token for backward (norms, q/k/v, attention out, MLP in and
out, modulation): the activation term's constant."""
VAE_BYTES_PER_PIXEL = 1536
CUDA_CONTEXT_BYTES = 600 * 1000**2
QUANTIZED_BYTES = {"8bit": 1.0, "nf4": 0.55}
TEXT_TOKENS = {"flux": 512, "sd3": 77 + 256}
HEADROOM = 0.92
"""The share of the free memory a job may plan to use (allocator fragmentation)."""
ENCODER_COMPONENTS = ("text_encoder", "text_encoder_2", "text_encoder_3")
FP8_SKIP_PATTERNS = ("pos_embed", "patch_embed", "norm", "^proj_in$", "^proj_out$")
"""Modules diffusers' ``enable_layerwise_casting`` leaves at the compute precision in a FLUX.1 / SD 3.x transformer (regular
expressions searched in each module name and its parents): its ``DEFAULT_SKIP_MODULES_PATTERN`` plus the two models'
``_skip_layerwise_casting_patterns`` (pos_embed, norm). A test checks the count against a cast transformer."""
FP8_NEEDS_CHECKPOINTING = ("images.quantize_base fp8 saves memory only with training.gradient_checkpointing on: without it the "
                           "backward pass keeps every layer's copy in the training precision, more than storing the base in it; "
                           "turn gradient checkpointing on or set quantize_base to none")


@dataclass(frozen=True)
class FlowMemoryEstimate:
    """The two peaks of a flow-matching LoRA job and their parts, in bytes."""

    transformer: int
    text_encoders: int
    vae: int
    lora: int
    activations: int
    vae_encode: int
    context: int = CUDA_CONTEXT_BYTES
    fp8_copies: int = 0
    """fp8 storage: the training-precision copies of stored layers that autograd keeps for the backward pass."""

    @property
    def encode_peak(self) -> int:
        """While captions are encoded: text encoders and VAE (the transformer loads after)."""
        return self.text_encoders + self.vae + self.context

    @property
    def train_peak(self) -> int:
        """While the LoRA trains: stored transformer, VAE, LoRA with its optimizer, activations (and fp8's copies), the VAE's encode."""
        return self.transformer + self.vae + self.lora + self.activations + self.fp8_copies + self.vae_encode + self.context

    @property
    def total(self) -> int:
        """The job's peak: the larger of the two."""
        return max(self.encode_peak, self.train_peak)

    def human(self) -> str:
        """One line with the parts: what a refusal and the benchmark print."""
        return (f"{format_bytes(self.total)} (transformer {format_bytes(self.transformer)}, text encoders {format_bytes(self.text_encoders)} "
                f"while captions are encoded, LoRA and optimizer {format_bytes(self.lora)}, activations {format_bytes(self.activations)}, "
                + (f"fp8 layers' copies {format_bytes(self.fp8_copies)}, " if self.fp8_copies else "")
                + f"VAE {format_bytes(self.vae + self.vae_encode)}, CUDA context {format_bytes(self.context)})")


def safetensors_shapes(folder: Path) -> dict[str, list[int]]:
    """Tensor shapes of a component folder's safetensors files, read from their headers (no tensor is loaded; one variant:
    the full-precision files when both are there)."""
    files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    plain = [path for path in files if ".fp16." not in path.name]
    shapes: dict[str, list[int]] = {}
    for path in plain or files:
        with path.open("rb") as handle:
            size = struct.unpack("<Q", handle.read(8))[0]
            header = json.loads(handle.read(size))
        shapes.update({name: entry["shape"] for name, entry in header.items() if name != "__metadata__"})
    return shapes


def safetensors_params(folder: Path) -> int:
    """Parameters stored in a component folder's safetensors files."""
    return sum(math.prod(shape) for shape in safetensors_shapes(folder).values())


def lora_params(folder: Path, targets: list[str], rank: int, component: str = "transformer") -> int:
    """LoRA parameters ``r · (in + out)`` over the Linear weights of ``component`` (the transformer, or a UNet) whose module name
    is or ends with a target (PEFT's matching)."""
    total = 0
    for name, shape in safetensors_shapes(folder / component).items():
        module = name.removesuffix(".weight")
        if len(shape) == 2 and name.endswith(".weight") and any(module == target or module.endswith(f".{target}") for target in targets):
            total += rank * (shape[0] + shape[1])
    return total


def transformer_width(folder: Path) -> int:
    """The transformer's width (heads × head dim) from its config.json."""
    config = json.loads((folder / "transformer" / "config.json").read_text(encoding="utf-8"))
    return int(config["num_attention_heads"]) * int(config["attention_head_dim"])


def transformer_blocks(folder: Path) -> int:
    """Transformer blocks (FLUX: double- plus single-stream)."""
    config = json.loads((folder / "transformer" / "config.json").read_text(encoding="utf-8"))
    return int(config.get("num_layers", 0)) + int(config.get("num_single_layers", 0))


def fp8_stored_params(folder: Path) -> int:
    """Parameters of the transformer that fp8 storage keeps at 1 byte: the weights and biases of its Linear, conv and embedding
    layers (a weight of two or more dimensions) whose module name and parents match none of :data:`FP8_SKIP_PATTERNS`."""
    shapes = safetensors_shapes(folder / "transformer")
    stored = 0
    for name, shape in shapes.items():
        module, _, kind = name.rpartition(".")
        weight = shapes.get(f"{module}.weight")
        if kind not in ("weight", "bias") or weight is None or len(weight) < 2:
            continue
        prefixes = accumulate(module.split("."), lambda parent, child: f"{parent}.{child}")
        if not any(re.search(pattern, prefix) for prefix in prefixes for pattern in FP8_SKIP_PATTERNS):
            stored += math.prod(shape)
    return stored


def fp8_problem(quantize: str, gradient_checkpointing: bool) -> str | None:
    """Why fp8 storage cannot save memory for these settings (one sentence), or None."""
    return FP8_NEEDS_CHECKPOINTING if quantize == "fp8" and not gradient_checkpointing else None


def estimate_flow_memory(folder: Path, family: str, *, resolution: int, batch_size: int, quantize: str, precision_bytes: int,
                         gradient_checkpointing: bool, lora_params: int) -> FlowMemoryEstimate:
    """The estimate of a FLUX.1 / SD 3.x LoRA job on the pipeline in ``folder`` (see the module docstring)."""
    transformer_params = safetensors_params(folder / "transformer")
    encoders = sum(safetensors_params(folder / name) for name in ENCODER_COMPONENTS)
    width, blocks = transformer_width(folder), transformer_blocks(folder)
    fp8_copies = 0
    if quantize == "fp8":
        stored = fp8_stored_params(folder)
        transformer = stored + (transformer_params - stored) * precision_bytes
        fp8_copies = stored * precision_bytes // (max(1, blocks) if gradient_checkpointing else 1)
    else:
        transformer = int(transformer_params * QUANTIZED_BYTES.get(quantize, float(precision_bytes)))
    tokens = (resolution // 16) ** 2 + TEXT_TOKENS.get(family, 512)
    saved_blocks = blocks + SAVED_PER_TOKEN if gradient_checkpointing else blocks * SAVED_PER_TOKEN
    return FlowMemoryEstimate(
        transformer=transformer, text_encoders=encoders * precision_bytes,
        vae=safetensors_params(folder / "vae") * precision_bytes, lora=16 * lora_params,
        activations=batch_size * tokens * width * saved_blocks * precision_bytes,
        vae_encode=batch_size * resolution * resolution * VAE_BYTES_PER_PIXEL, fp8_copies=fp8_copies,
    )


@dataclass(frozen=True)
class UnetMemoryFloor:
    """What an SD 1.x/2.x or SDXL LoRA job holds at least, in bytes: its weights (the UNet's activations come on top)."""

    unet: int
    text_encoders: int
    vae: int
    lora: int
    context: int = CUDA_CONTEXT_BYTES

    @property
    def total(self) -> int:
        """The floor: every weight on the GPU (the trainer loads the whole pipeline), the LoRA with its optimizer, the context."""
        return self.unet + self.text_encoders + self.vae + self.lora + self.context

    def human(self) -> str:
        """One line with the parts, saying what is not counted."""
        return (f"at least {format_bytes(self.total)} (UNet {format_bytes(self.unet)}, text encoders {format_bytes(self.text_encoders)}, "
                f"VAE {format_bytes(self.vae)}, LoRA and optimizer {format_bytes(self.lora)}, CUDA context {format_bytes(self.context)}; "
                "the UNet's activations are not estimated and come on top)")


def estimate_unet_floor(folder: Path, *, precision_bytes: int, lora_params: int) -> UnetMemoryFloor:
    """The weights of an SD 1.x/2.x or SDXL pipeline folder at the training precision, and its LoRA (see the module docstring)."""
    return UnetMemoryFloor(unet=safetensors_params(folder / "unet") * precision_bytes,
                           text_encoders=sum(safetensors_params(folder / name) for name in ENCODER_COMPONENTS) * precision_bytes,
                           vae=safetensors_params(folder / "vae") * precision_bytes, lora=16 * lora_params)


def estimate_image_job(spec: JobSpec, resolved: ResolvedPipeline, precision_bytes: int) -> FlowMemoryEstimate | UnetMemoryFloor | None:
    """The estimate of a text-to-image ``spec`` on its resolved pipeline folder: the full estimate for FLUX.1 / SD 3.x, the
    weights' floor for SD 1.x/2.x and SDXL; None for a single-file checkpoint (no folder of headers to read)."""
    if resolved.single_file:
        return None
    folder, rank = resolved.path, spec.lora.r
    if resolved.family in FLOW_FAMILIES:
        targets = flow_target_modules(resolved.family, spec.lora.target_modules)
        return estimate_flow_memory(folder, resolved.family, resolution=spec.images.resolution, batch_size=spec.training.batch_size,
                                    quantize=spec.images.quantize_base.value, precision_bytes=precision_bytes,
                                    gradient_checkpointing=spec.training.gradient_checkpointing, lora_params=lora_params(folder, targets, rank))
    targets = unet_target_modules(spec.lora.target_modules)
    return estimate_unet_floor(folder, precision_bytes=precision_bytes, lora_params=lora_params(folder, targets, rank, component="unet"))


def check_flow_fits(estimate: FlowMemoryEstimate, free_bytes: int, device: str = "the GPU") -> None:
    """Raise :class:`ModelError` with the numbers and what to change when the estimate exceeds ``free_bytes`` (with headroom)."""
    budget = int(free_bytes * HEADROOM)
    if estimate.total <= budget:
        return
    raise ModelError(f"this job needs about {estimate.human()} but {device} has {format_bytes(free_bytes)} free; set images.quantize_base "
                     "to nf4 (or 8bit or fp8), turn on training.gradient_checkpointing, or lower images.resolution, training.batch_size or lora.r")
