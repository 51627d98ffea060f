"""The pieces of a Stable Diffusion pipeline that training touches, LoRA on them, and prompt encoding.

:func:`load_parts` loads the pipeline (see :mod:`jobs.models.pipelines`), freezes it and builds a DDPM
noise scheduler from its scheduler config (so epsilon or v-prediction follows the model). :func:`add_lora`
adds PEFT adapters to the UNet attention (and the text encoders when asked). :func:`encode_prompts` turns
captions into UNet conditioning the way the pipelines do: SD uses the last hidden state, SDXL the
penultimate hidden states of both encoders concatenated plus the second encoder's pooled projection.
:func:`predict` and :func:`diffusion_target` are the UNet call and the regression target that training and the
held-out validation loss (:mod:`jobs.evaluation.images`) share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from jobs.models.image_lora_targets import unet_target_modules
from jobs.models.pipelines import ResolvedPipeline, load_pipeline, resolve_pipeline
from jobs.spec import JobSpec

TEXT_ENCODER_ATTENTION = ["q_proj", "k_proj", "v_proj", "out_proj"]
ENCODER_NAMES = ("text_encoder", "text_encoder_2")


@dataclass
class DiffusionParts:
    """A loaded pipeline and the modules the training loop uses."""

    pipe: Any
    resolved: ResolvedPipeline
    family: str
    unet: Any
    vae: Any
    text_encoders: list[Any]
    tokenizers: list[Any]
    noise_scheduler: Any
    device: torch.device
    trains_text_encoder: bool = False

    def trained_modules(self) -> dict[str, torch.nn.Module]:
        """The modules that carry LoRA adapters, by their diffusers component name."""
        modules = {"unet": self.unet}
        if self.trains_text_encoder:
            modules.update(dict(zip(ENCODER_NAMES, self.text_encoders, strict=False)))
        return modules

    def set_train_mode(self) -> None:
        """Adapted modules in train mode, frozen ones in eval mode."""
        self.vae.eval()
        for encoder in self.text_encoders:
            encoder.train(self.trains_text_encoder)
        self.unet.train()


def load_parts(base_model: str, dtype: torch.dtype, revision: str | None = None) -> DiffusionParts:
    """Load and freeze the pipeline of ``base_model`` (at ``revision`` for a Hub id) on the best device; build the DDPM noise scheduler."""
    from diffusers import DDPMScheduler

    resolved = resolve_pipeline(base_model, revision, half_precision=dtype != torch.float32)
    pipe = load_pipeline(resolved, dtype)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    pipe.to(device)
    encoders = [module for module in (getattr(pipe, "text_encoder", None), getattr(pipe, "text_encoder_2", None)) if module is not None]
    tokenizers = [module for module in (getattr(pipe, "tokenizer", None), getattr(pipe, "tokenizer_2", None)) if module is not None]
    for module in (pipe.unet, pipe.vae, *encoders):
        module.requires_grad_(False)
    return DiffusionParts(
        pipe=pipe, resolved=resolved, family=resolved.family, unet=pipe.unet, vae=pipe.vae, text_encoders=encoders,
        tokenizers=tokenizers, noise_scheduler=DDPMScheduler.from_config(pipe.scheduler.config), device=device,
    )


def add_lora(parts: DiffusionParts, spec: JobSpec) -> None:
    """Add a PEFT LoRA adapter to the UNet (and to the text encoders with ``images.train_text_encoder``)."""
    from peft import LoraConfig, inject_adapter_in_model

    settings = spec.lora

    def config(targets: list[str]) -> LoraConfig:
        return LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout, use_dora=settings.use_dora,
                          init_lora_weights="gaussian", target_modules=targets)

    parts.unet.add_adapter(config(unet_target_modules(settings.target_modules)))
    if spec.training.gradient_checkpointing:
        parts.unet.enable_gradient_checkpointing()
    if spec.images.train_text_encoder:
        parts.trains_text_encoder = True
        for encoder in parts.text_encoders:
            # PEFT directly: transformers' add_adapter insists on a newer PEFT than diffusers needs.
            encoder_config = config(TEXT_ENCODER_ATTENTION)
            inject_adapter_in_model(encoder_config, encoder, adapter_name="default")
            encoder.peft_config = {"default": encoder_config}
            encoder._hf_peft_config_loaded = True
            if spec.training.gradient_checkpointing:
                encoder.gradient_checkpointing_enable()


def _encode(parts: DiffusionParts, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor | None]:
    hidden_states, pooled = [], None
    for tokenizer, encoder in zip(parts.tokenizers, parts.text_encoders, strict=True):
        ids = tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt").input_ids
        if parts.family == "sdxl":
            output = encoder(ids.to(parts.device), output_hidden_states=True)
            pooled = output[0]
            hidden_states.append(output.hidden_states[-2])
        else:
            hidden_states.append(encoder(ids.to(parts.device))[0])
    return torch.cat(hidden_states, dim=-1), pooled


def encode_prompts(parts: DiffusionParts, captions: list[str], cache: dict[str, Any] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """UNet conditioning for ``captions``: (hidden states, pooled or None); frozen encoders are memoised in ``cache``."""
    if cache is None:
        return _encode(parts, captions)
    missing = [caption for caption in dict.fromkeys(captions) if caption not in cache]
    if missing:
        with torch.no_grad():
            hidden, pooled = _encode(parts, missing)
        for number, caption in enumerate(missing):
            cache[caption] = (hidden[number], None if pooled is None else pooled[number])
    hidden = torch.stack([cache[caption][0] for caption in captions])
    pooled = None if parts.family != "sdxl" else torch.stack([cache[caption][1] for caption in captions])
    return hidden, pooled


def diffusion_target(parts: DiffusionParts, latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """What the UNet learns to predict: the noise (epsilon models) or the velocity (v-prediction models)."""
    if parts.noise_scheduler.config.prediction_type == "v_prediction":
        return parts.noise_scheduler.get_velocity(latents, noise, timesteps)
    return noise


def predict(
    parts: DiffusionParts,
    noisy: torch.Tensor,
    timesteps: torch.Tensor,
    captions: list[str],
    dtype: torch.dtype,
    time_ids: torch.Tensor | None = None,
    cache: dict[str, Any] | None = None,
) -> torch.Tensor:
    """The UNet's prediction for ``noisy`` latents at ``timesteps`` given ``captions`` (SDXL also needs ``time_ids``,
    one row of six per latent), under autocast when the weights are half precision on CUDA."""
    hidden, pooled = encode_prompts(parts, captions, cache)
    extra: dict[str, Any] = {}
    if parts.family == "sdxl":
        if time_ids is None:
            raise ValueError("SDXL needs time_ids (original size, crop corner, target size) for every latent")
        extra = {"added_cond_kwargs": {"text_embeds": pooled, "time_ids": time_ids.to(parts.device, hidden.dtype)}}
    with torch.autocast(parts.device.type, dtype=dtype, enabled=parts.device.type == "cuda" and dtype != torch.float32):
        return parts.unet(noisy, timesteps, hidden, **extra).sample
