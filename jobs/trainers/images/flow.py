"""The flow-matching families, FLUX.1 (dev and schnell) and Stable Diffusion 3.x: the transformer, its LoRA, cached prompt
embeddings and the flow-matching step, the recipe of diffusers' ``train_dreambooth_lora_flux.py`` and ``..._sd3.py``.

:func:`load_flow_parts` loads the pipeline safely (:mod:`jobs.models.pipelines`; the frozen transformer in 8-bit or NF4 on
CUDA when ``images.quantize_base`` asks, or stored in float8 on any device: :func:`store_in_fp8`) and keeps a copy of its
``FlowMatchEulerDiscreteScheduler`` for training, whose sigmas carry the shift of the scheduler config. :func:`add_flow_lora`
adds PEFT LoRA to the transformer (the scripts' default targets, :mod:`jobs.models.image_lora_targets`). The T5 + CLIP
encoders run once per caption and sample prompt while the transformer is not loaded yet, and are freed before it loads
(:func:`load_flow_parts`), so the two never share the GPU.
:func:`sample_sigmas` draws the timesteps (logit-normal, mode or uniform), :func:`noisy_latents` mixes latents and noise
on the straight path, :func:`predict_flow` calls the transformer (latents packed 2×2 for FLUX, the guidance embedding for
FLUX-dev) and returns the velocity in the latent layout; the target is ``noise - latents``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from jobs.errors import UnsupportedError
from jobs.models.image_lora_targets import flow_target_modules
from jobs.models.memory_images import FlowMemoryEstimate, check_flow_fits, estimate_image_job, fp8_problem
from jobs.models.pipelines import ResolvedPipeline, load_pipeline, load_transformer, resolve_pipeline
from jobs.spec import JobSpec

MAX_SEQUENCE_LENGTH = {"flux": 512, "sd3": 256}
LOGIT_MEAN, LOGIT_STD, MODE_SCALE = 0.0, 1.0, 1.29
"""The scripts' defaults for the timestep density."""


@dataclass
class FlowParts:
    """A loaded FLUX.1 or SD 3.x pipeline and what the flow-matching loop uses."""

    pipe: Any
    resolved: ResolvedPipeline
    family: str
    transformer: Any
    vae: Any
    text_encoders: list[Any]
    """Empty once the prompts are cached (the encoders are freed)."""
    noise_scheduler: Any
    device: torch.device
    max_sequence_length: int
    flux_guidance: float = 3.5
    trains_text_encoder: bool = False
    prompt_cache: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    fp8_pending: bool = False
    """fp8 storage asked for and not applied yet: the transformer waits on the CPU in the training precision until its LoRA is in
    place (:func:`store_in_fp8`)."""

    def trained_modules(self) -> dict[str, torch.nn.Module]:
        """The modules that carry LoRA adapters: the transformer."""
        return {"transformer": self.transformer}

    def set_train_mode(self) -> None:
        """The transformer in train mode, the VAE in eval mode."""
        self.vae.eval()
        self.transformer.train()

    @property
    def guidance_embeds(self) -> bool:
        """True for FLUX.1-dev (a guidance embedding), False for FLUX.1-schnell and SD 3.x."""
        return bool(getattr(self.transformer.config, "guidance_embeds", False))


def _t5_tokenizer(pipe: Any, family: str) -> Any:
    return getattr(pipe, "tokenizer_2" if family == "flux" else "tokenizer_3", None)


ENCODER_NAMES = ("text_encoder", "text_encoder_2", "text_encoder_3")


def load_flow_parts(base_model: str, dtype: torch.dtype, prompts: list[str], revision: str | None = None, *, quantize: str | None = None,
                    flux_guidance: float = 3.5, adapter_file: Path | None = None, adapter_name: str = "default") -> FlowParts:
    """Load a FLUX.1 or SD 3.x pipeline on the best device in two phases, so the text encoders never share the GPU with the
    transformer: first the text encoders and VAE, which encode every one of ``prompts`` into ``prompt_cache`` and are then
    freed; then the transformer (``quantize``: 8bit or nf4, CUDA only; fp8, see :func:`store_in_fp8`). Everything is frozen.

    ``adapter_file`` (a diffusers LoRA file) is loaded into the transformer as ``adapter_name`` before it is stored in fp8. With fp8
    and no adapter file the transformer stays on the CPU in ``dtype`` (``fp8_pending``) until :func:`add_flow_lora` has added the
    LoRA: PEFT creates a LoRA layer in its base layer's dtype, so a LoRA added after the cast would be float8 too."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    resolved = resolve_pipeline(base_model, revision, half_precision=dtype != torch.float32)
    pipe = load_pipeline(resolved, dtype, with_transformer=False)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    pipe.to(device)
    pipe.vae.requires_grad_(False)
    tokenizer = _t5_tokenizer(pipe, resolved.family)
    limit = MAX_SEQUENCE_LENGTH[resolved.family]
    if tokenizer is not None and tokenizer.model_max_length:
        limit = min(limit, int(tokenizer.model_max_length))
    parts = FlowParts(pipe=pipe, resolved=resolved, family=resolved.family, transformer=None, vae=pipe.vae, text_encoders=[],
                      noise_scheduler=FlowMatchEulerDiscreteScheduler.from_config(pipe.scheduler.config), device=device,
                      max_sequence_length=limit, flux_guidance=flux_guidance)
    cache_prompts(parts, prompts)
    pipe.register_modules(**dict.fromkeys(ENCODER_NAMES[: 2 if resolved.family == "flux" else 3]))  # freed: only the cache is used now
    if device.type == "cuda":
        torch.cuda.empty_cache()
    storage = quantize or "none"
    transformer = load_transformer(resolved, dtype, None if storage == "fp8" else storage)
    if storage == "none":
        transformer.to(device)  # a bitsandbytes transformer is on the GPU as it loads; an fp8 one moves once stored
    transformer.requires_grad_(False)
    pipe.register_modules(transformer=transformer)
    parts.transformer = transformer
    parts.fp8_pending = storage == "fp8"
    if adapter_file is not None:
        pipe.load_lora_weights(str(adapter_file.parent), weight_name=adapter_file.name, adapter_name=adapter_name)
        if parts.fp8_pending:
            store_in_fp8(parts)
    return parts


def store_in_fp8(parts: FlowParts) -> None:
    """Store the frozen transformer in float8 (e4m3) and move it to the device: diffusers' layerwise casting casts each Linear,
    conv and embedding layer to the training precision for its forward pass and back after it; normalisation and modulation
    layers, position embeddings and the output projection stay in the training precision, and so do the LoRA layers already
    added (diffusers skips PEFT's, and stops PEFT from casting their input to float8). The quality trade is that of an 8-bit
    base (what ai-toolkit and musubi-tuner call fp8_base)."""
    parts.transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=parts.transformer.dtype)
    parts.transformer.to(parts.device)
    parts.fp8_pending = False


def estimate_for_spec(spec: JobSpec, resolved: ResolvedPipeline, dtype: torch.dtype) -> FlowMemoryEstimate:
    """The memory estimate of ``spec`` on the resolved FLUX.1 / SD 3.x pipeline (:mod:`jobs.models.memory_images`)."""
    estimate = estimate_image_job(spec, resolved, dtype.itemsize)
    if not isinstance(estimate, FlowMemoryEstimate):
        raise ValueError(f"{resolved.path} is not a FLUX.1 / SD 3.x pipeline folder")
    return estimate


def refuse_if_too_big(spec: JobSpec, dtype: torch.dtype) -> FlowMemoryEstimate | None:
    """Before loading: refuse fp8 storage without gradient checkpointing (:func:`jobs.models.memory_images.fp8_problem`, any device),
    and on a CUDA GPU raise :class:`jobs.errors.ModelError` with the numbers when the estimate exceeds the free memory; returns the
    estimate (None without a GPU or for a single-file checkpoint)."""
    problem = fp8_problem(spec.images.quantize_base.value, spec.training.gradient_checkpointing)
    if problem:
        raise UnsupportedError(problem)
    if not torch.cuda.is_available():
        return None
    resolved = resolve_pipeline(spec.base_model, spec.base_model_revision, half_precision=dtype != torch.float32)
    if resolved.single_file:
        return None
    estimate = estimate_for_spec(spec, resolved, dtype)
    free, _ = torch.cuda.mem_get_info()
    check_flow_fits(estimate, free, torch.cuda.get_device_name())
    return estimate


def add_flow_lora(parts: FlowParts, spec: JobSpec) -> None:
    """Add a PEFT LoRA adapter to the transformer (then, with fp8 storage pending, store it: :func:`store_in_fp8`); text-encoder
    LoRA is refused for these families."""
    from peft import LoraConfig

    if spec.images.train_text_encoder:
        raise UnsupportedError("images.train_text_encoder is for SD 1.x/2.x and SDXL; FLUX.1 and SD 3.x train the transformer only, "
                               "set it to false")
    settings = spec.lora
    parts.transformer.add_adapter(LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout, use_dora=settings.use_dora,
                                             init_lora_weights="gaussian", target_modules=flow_target_modules(parts.family, settings.target_modules)))
    if spec.training.gradient_checkpointing:
        parts.transformer.enable_gradient_checkpointing()
    if parts.fp8_pending:
        store_in_fp8(parts)


@torch.no_grad()
def _encode(parts: FlowParts, prompts: list[str]) -> list[dict[str, torch.Tensor]]:
    pipe, device = parts.pipe, parts.device
    if parts.family == "flux":
        embeds, pooled, _ = pipe.encode_prompt(prompt=prompts, prompt_2=None, device=device, max_sequence_length=parts.max_sequence_length)
    else:
        embeds, _, pooled, _ = pipe.encode_prompt(prompt=prompts, prompt_2=None, prompt_3=None, device=device, do_classifier_free_guidance=False,
                                                  max_sequence_length=parts.max_sequence_length)
    return [{"prompt_embeds": embeds[number], "pooled_prompt_embeds": pooled[number]} for number in range(len(prompts))]


def cache_prompts(parts: FlowParts, prompts: list[str]) -> None:
    """Encode every prompt not cached yet (T5 + CLIP, in batches of 8, with the pipeline's own ``encode_prompt``) into
    ``parts.prompt_cache``."""
    missing = [prompt for prompt in dict.fromkeys(prompts) if prompt not in parts.prompt_cache]
    for start in range(0, len(missing), 8):
        batch = missing[start:start + 8]
        parts.prompt_cache.update(zip(batch, _encode(parts, batch), strict=True))


def with_negative(prompts: list[str], guidance_scale: float) -> list[str]:
    """``prompts`` plus the empty prompt that SD 3.x renders as the negative under classifier-free guidance (guidance above 1)."""
    return [*prompts, ""] if prompts and guidance_scale > 1 else list(prompts)


def cached_embeddings(parts: FlowParts, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(prompt embeddings, pooled embeddings) of ``captions`` from the cache, stacked as a batch."""
    rows = [parts.prompt_cache[caption] for caption in captions]
    return torch.stack([row["prompt_embeds"] for row in rows]), torch.stack([row["pooled_prompt_embeds"] for row in rows])


def pipeline_prompt_kwargs(parts: FlowParts, prompt: str, guidance_scale: float) -> dict[str, Any]:
    """The pipeline call's prompt arguments from the cache (the encoders may be off the GPU): embeddings, and for SD 3.x
    with guidance above 1 the empty prompt's embeddings as the negative."""
    row = parts.prompt_cache[prompt]
    kwargs = {"prompt_embeds": row["prompt_embeds"][None], "pooled_prompt_embeds": row["pooled_prompt_embeds"][None]}
    if parts.family == "sd3" and guidance_scale > 1:
        empty = parts.prompt_cache[""]
        kwargs.update(negative_prompt_embeds=empty["prompt_embeds"][None], negative_pooled_prompt_embeds=empty["pooled_prompt_embeds"][None])
    return kwargs


def vae_latents(parts: FlowParts, pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pixels in [-1, 1] to the transformer's latents: a VAE sample (the mean without ``generator``), shifted and scaled."""
    distribution = parts.vae.encode(pixels.to(parts.device, parts.vae.dtype)).latent_dist
    latents = distribution.sample(generator) if generator is not None else distribution.mean
    shift = getattr(parts.vae.config, "shift_factor", None) or 0.0
    return ((latents - shift) * parts.vae.config.scaling_factor).to(parts.transformer.dtype)


def sample_sigmas(parts: FlowParts, scheme: str, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(timesteps, sigmas) for one batch: density ``scheme`` (logit_normal, mode or uniform) over the scheduler's own shifted schedule."""
    from diffusers.training_utils import compute_density_for_timestep_sampling

    u = compute_density_for_timestep_sampling(weighting_scheme=scheme, batch_size=batch_size, logit_mean=LOGIT_MEAN, logit_std=LOGIT_STD,
                                              mode_scale=MODE_SCALE, device=generator.device, generator=generator)
    scheduler = parts.noise_scheduler
    indices = (u.cpu() * scheduler.config.num_train_timesteps).long().clamp(0, len(scheduler.timesteps) - 1)
    return scheduler.timesteps[indices].to(parts.device), scheduler.sigmas[indices].to(parts.device)


def noisy_latents(latents: torch.Tensor, noise: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """The straight path between data and noise at ``sigmas`` (one per latent): (1 - σ) x + σ ε."""
    sigma = sigmas.view(-1, *([1] * (latents.ndim - 1))).to(latents.dtype)
    return (1.0 - sigma) * latents + sigma * noise


def predict_flow(parts: FlowParts, noisy: torch.Tensor, timesteps: torch.Tensor, captions: list[str], dtype: torch.dtype) -> torch.Tensor:
    """The transformer's velocity for ``noisy`` latents (B, C, H, W) at ``timesteps`` (0-1000) given cached ``captions``, in the
    latent layout, under autocast when the weights are half precision on CUDA."""
    embeds, pooled = cached_embeddings(parts, captions)
    embeds, pooled = embeds.to(parts.device), pooled.to(parts.device)
    with torch.autocast(parts.device.type, dtype=dtype, enabled=parts.device.type == "cuda" and dtype != torch.float32):
        if parts.family == "sd3":
            return parts.transformer(hidden_states=noisy, timestep=timesteps, encoder_hidden_states=embeds, pooled_projections=pooled,
                                     return_dict=False)[0]
        from diffusers import FluxPipeline

        batch, channels, height, width = noisy.shape
        packed = FluxPipeline._pack_latents(noisy, batch, channels, height, width)
        image_ids = FluxPipeline._prepare_latent_image_ids(batch, height // 2, width // 2, parts.device, embeds.dtype)
        text_ids = torch.zeros(embeds.shape[1], 3, device=parts.device, dtype=embeds.dtype)
        guidance = torch.full((batch,), parts.flux_guidance, device=parts.device, dtype=torch.float32) if parts.guidance_embeds else None
        output = parts.transformer(hidden_states=packed, timestep=timesteps / 1000, guidance=guidance, pooled_projections=pooled,
                                   encoder_hidden_states=embeds, txt_ids=text_ids, img_ids=image_ids, return_dict=False)[0]
        scale = parts.pipe.vae_scale_factor
        return FluxPipeline._unpack_latents(output, height=height * scale, width=width * scale, vae_scale_factor=scale)
