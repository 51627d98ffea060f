"""The memory estimate of a FLUX.1 / SD 3.x transformer LoRA job, and the refusal before a run that would not fit.

A flow-matching job has two peaks (:func:`jobs.trainers.images.flow.load_flow_parts`): while the captions are encoded,
the text encoders (T5 + CLIP, in the training precision) and the VAE are on the GPU and the transformer is not loaded
yet; while it trains, the encoders are freed and the stored transformer, its LoRA, the optimizer and the activations
take their place.
The estimate is the larger of the two, plus the CUDA context:

- **weights**: each component's parameter count read from its safetensors headers (no tensor is loaded); the
  transformer's Linear weights at 1 byte (``8bit``) or 0.55 byte (``nf4``: 4 bits plus block scales) per parameter,
  everything else at the training precision;
- **LoRA**: ``r · (in + out)`` per adapted Linear, 16 bytes each (fp32 weight, gradient, two AdamW moments);
- **activations** per image: image tokens ``(H/16)·(W/16)`` (FLUX packs 2×2 latents; SD 3 patches 2×2) plus text tokens,
  times the transformer width, times :data:`SAVED_PER_TOKEN` values per block (every block without gradient
  checkpointing; one value per block plus one whole block with it), at 2 bytes (bf16) or 4 (fp32);
- **VAE encode**: :data:`VAE_BYTES_PER_PIXEL` bytes per input pixel (transient, in no-grad).

    from jobs.models.memory_images import estimate_flow_memory, check_flow_fits
    estimate = estimate_flow_memory(folder, "flux", resolution=512, batch_size=1, quantize="nf4", precision_bytes=2,
                                    gradient_checkpointing=True, lora_params=lora_params(folder, targets, 16))
    check_flow_fits(estimate, free_bytes)   # raises ModelError with the numbers when it does not fit
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

from jobs.errors import ModelError
from jobs.models.memory import format_bytes

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

    @property
    def encode_peak(self) -> int:
        """While captions are encoded: text encoders and VAE (the transformer loads after)."""
        return self.text_encoders + self.vae + self.context

    @property
    def train_peak(self) -> int:
        """While the LoRA trains: stored transformer, VAE, LoRA with its optimizer, activations, the VAE's encode."""
        return self.transformer + self.vae + self.lora + self.activations + self.vae_encode + self.context

    @property
    def total(self) -> int:
        """The job's peak: the larger of the two."""
        return max(self.encode_peak, self.train_peak)

    def human(self) -> str:
        """One line with the parts: what a refusal and the benchmark print."""
        return (f"{format_bytes(self.total)} (transformer {format_bytes(self.transformer)}, text encoders {format_bytes(self.text_encoders)} "
                f"while captions are encoded, LoRA and optimizer {format_bytes(self.lora)}, activations {format_bytes(self.activations)}, "
                f"VAE {format_bytes(self.vae + self.vae_encode)}, CUDA context {format_bytes(self.context)})")


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


def lora_params(folder: Path, targets: list[str], rank: int) -> int:
    """LoRA parameters ``r · (in + out)`` over the transformer's Linear weights whose module name is or ends with a target
    (PEFT's matching)."""
    total = 0
    for name, shape in safetensors_shapes(folder / "transformer").items():
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


def estimate_flow_memory(folder: Path, family: str, *, resolution: int, batch_size: int, quantize: str, precision_bytes: int,
                         gradient_checkpointing: bool, lora_params: int) -> FlowMemoryEstimate:
    """The estimate of a FLUX.1 / SD 3.x LoRA job on the pipeline in ``folder`` (see the module docstring)."""
    transformer_params = safetensors_params(folder / "transformer")
    per_param = QUANTIZED_BYTES.get(quantize, float(precision_bytes))
    encoders = sum(safetensors_params(folder / name) for name in ENCODER_COMPONENTS)
    width, blocks = transformer_width(folder), transformer_blocks(folder)
    tokens = (resolution // 16) ** 2 + TEXT_TOKENS.get(family, 512)
    saved_blocks = blocks + SAVED_PER_TOKEN if gradient_checkpointing else blocks * SAVED_PER_TOKEN
    return FlowMemoryEstimate(
        transformer=int(transformer_params * per_param), text_encoders=encoders * precision_bytes,
        vae=safetensors_params(folder / "vae") * precision_bytes, lora=16 * lora_params,
        activations=batch_size * tokens * width * saved_blocks * precision_bytes,
        vae_encode=batch_size * resolution * resolution * VAE_BYTES_PER_PIXEL,
    )


def check_flow_fits(estimate: FlowMemoryEstimate, free_bytes: int, device: str = "the GPU") -> None:
    """Raise :class:`ModelError` with the numbers and what to change when the estimate exceeds ``free_bytes`` (with headroom)."""
    budget = int(free_bytes * HEADROOM)
    if estimate.total <= budget:
        return
    raise ModelError(f"this job needs about {estimate.human()} but {device} has {format_bytes(free_bytes)} free; set images.quantize_base "
                     "to nf4 (or 8bit), turn on training.gradient_checkpointing, or lower images.resolution, training.batch_size or lora.r")
