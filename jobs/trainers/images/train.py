"""The text-to-image trainer: UNet (and optional text-encoder) LoRA for SD 1.x/2.x and SDXL, the diffusers recipe; FLUX.1
and SD 3.x pipelines go to the flow-matching loop of :mod:`jobs.trainers.images.flow_train`.

``train_text_to_image(spec, run_dir, sink)`` loads the pipeline safely, reads the image dataset, adds PEFT
LoRA adapters, and trains with DDPM noise, epsilon or v-prediction (from the scheduler config) and MSE or
Min-SNR-weighted loss (:func:`sd_micro_loss`, one micro-batch; the step loop is :func:`jobs.trainers.images.loop.run_steps`,
shared with FLUX.1 / SD 3.x). With ``images.aspect_buckets`` each image trains at its aspect-ratio bucket
(:mod:`jobs.trainers.images.buckets`), one bucket per batch, SDXL's time ids carrying the bucket's size and the crop corner.
Images held out for the before/after report (``data.validation``, or a share of a large
``data.train``, see :func:`jobs.data.images.split_image_dataset`) are never trained on; the outcome names them.
Every step writes a metric row; samples are rendered every ``samples.every_steps``;
``checkpoints/checkpoint-<step>/`` holds LoRA weights (safetensors), optimizer state and a
``trainer_state.json`` written last, saved every ``training.save_steps`` steps (without it: at epoch ends), every
``training.checkpoint_minutes`` minutes and on a clean stop; a run resumes from the newest complete one (the
two newest are kept; see :mod:`jobs.trainers.images.run_state`). Outputs go to ``adapter/`` in the diffusers and kohya
formats (see :mod:`jobs.trainers.images.lora_files`). Registered for ``task: text-to-image``.
"""

from __future__ import annotations

import random
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from jobs.errors import UnsupportedError
from jobs.metrics import MetricsSink
from jobs.models import resolve_precision
from jobs.models.pipelines import FLOW_FAMILIES, resolve_pipeline
from jobs.spec import BaseQuantization, Crop, JobSpec
from jobs.trainers.images.batches import PreparedImage, batch_order, center_corner, crop_and_flip, prepare_images, sdxl_time_ids
from jobs.trainers.images.buckets import pipeline_buckets
from jobs.trainers.images.flow_train import train_flow
from jobs.trainers.images.loop import run_steps
from jobs.trainers.images.lora_files import save_lora
from jobs.trainers.images.model import DiffusionParts, add_lora, diffusion_target, load_parts, predict
from jobs.trainers.images.run_state import ImageTrainOutcome, checkpoint_due, make_outcome, read_images, start_optimization
from jobs.trainers.images.samples import render_samples
from jobs.trainers.tail import peak_memory_bytes

__all__ = ["ImageTrainOutcome", "checkpoint_due", "train_text_to_image"]


def _loss(spec: JobSpec, parts: DiffusionParts, prediction: torch.Tensor, target: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    if spec.images.snr_gamma is None:
        return F.mse_loss(prediction.float(), target.float(), reduction="mean")
    from diffusers.training_utils import compute_snr

    snr = compute_snr(parts.noise_scheduler, timesteps)
    weights = torch.stack([snr, spec.images.snr_gamma * torch.ones_like(snr)], dim=1).min(dim=1)[0]
    weights = weights / snr if parts.noise_scheduler.config.prediction_type == "epsilon" else weights / (snr + 1)
    per_example = F.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=list(range(1, prediction.ndim)))
    return (per_example * weights).mean()


def sd_micro_loss(indices: list[int], rng: random.Random, generator: torch.Generator, *, spec: JobSpec, parts: DiffusionParts,
                  prepared: list[PreparedImage], latent_cache: dict[int, Any], dtype: torch.dtype,
                  embeddings: dict[str, Any] | None) -> torch.Tensor:
    """The loss of one SD/SDXL micro-batch: latents (cached, or cropped and encoded now), DDPM noise at random timesteps, the
    UNet's epsilon or v-prediction against its target (MSE or Min-SNR weighted)."""
    images, device = spec.images, parts.device
    captions = [prepared[i].caption for i in indices]
    with torch.no_grad():
        if images.cache_latents:
            latents = torch.cat([latent_cache[i].sample(generator) for i in indices])
            corners = [center_corner(prepared[i]) for i in indices]
        else:
            pairs = [crop_and_flip(prepared[i], images.crop is Crop.RANDOM, images.random_flip, rng) for i in indices]
            pixels = torch.stack([pixel for pixel, _ in pairs]).to(device, parts.vae.dtype)
            corners = [corner for _, corner in pairs]
            latents = parts.vae.encode(pixels).latent_dist.sample(generator)
        latents = (latents * parts.vae.config.scaling_factor).to(parts.unet.dtype)
        noise = torch.randn(latents.shape, generator=generator, device=device, dtype=latents.dtype)
        if images.noise_offset:
            offset_shape = (latents.shape[0], latents.shape[1], 1, 1)
            noise = noise + images.noise_offset * torch.randn(offset_shape, generator=generator, device=device, dtype=latents.dtype)
        timesteps = torch.randint(0, parts.noise_scheduler.config.num_train_timesteps, (latents.shape[0],), generator=generator, device=device).long()
        noisy = parts.noise_scheduler.add_noise(latents, noise, timesteps)
        target = diffusion_target(parts, latents, noise, timesteps)
    time_ids = None
    if parts.family == "sdxl":
        time_ids = torch.stack([sdxl_time_ids(prepared[i].original_size, corner, prepared[i].target_hw)
                                for i, corner in zip(indices, corners, strict=True)])
    prediction = predict(parts, noisy, timesteps, captions, dtype, time_ids, embeddings)
    return _loss(spec, parts, prediction, target, timesteps)


def train_text_to_image(
    spec: JobSpec,
    run_dir: Path,
    sink: MetricsSink,
    *,
    show_progress: bool = False,
    stop_file: Path | None = None,
) -> ImageTrainOutcome:
    """Train one text-to-image LoRA spec into ``run_dir``; resumes from ``run_dir/checkpoints`` when it holds one.
    FLUX.1 and SD 3.x pipelines train in :func:`jobs.trainers.images.flow_train.train_flow`."""
    dtype, _ = resolve_precision(spec.training.precision)
    if resolve_pipeline(spec.base_model, spec.base_model_revision, half_precision=dtype != torch.float32).family in FLOW_FAMILIES:
        return train_flow(spec, run_dir, sink, show_progress=show_progress, stop_file=stop_file)
    if spec.images.quantize_base is not BaseQuantization.NONE:  # never silently ignored
        raise UnsupportedError(f"images.quantize_base is {spec.images.quantize_base.value}, but only FLUX.1 and SD 3.x transformers are "
                               "stored quantized; an SD/SDXL UNet trains in the training precision: set images.quantize_base to none")
    started = time.perf_counter()
    settings = spec.training
    torch.manual_seed(settings.seed)
    images = spec.images
    dataset, train_items, held_out = read_images(spec, run_dir)
    parts = load_parts(spec.base_model, dtype, spec.base_model_revision)
    add_lora(parts, spec)
    total = sum(p.numel() for module in (parts.unet, parts.vae, *parts.text_encoders) for p in module.parameters())
    prepared = prepare_images(train_items, images.resolution, buckets=pipeline_buckets(parts, images.resolution) if images.aspect_buckets else None)
    order = batch_order(prepared, settings.batch_size, settings.seed)
    run = start_optimization(spec, run_dir, parts, order.batches_per_epoch)
    latent_cache: dict[int, Any] = {}
    if images.cache_latents:
        with torch.no_grad():
            for index, item in enumerate(prepared):
                pixels, _ = crop_and_flip(item, False, False, random.Random(0))
                latent_cache[index] = parts.vae.encode(pixels[None].to(parts.device, parts.vae.dtype)).latent_dist
    micro_step = partial(sd_micro_loss, spec=spec, parts=parts, prepared=prepared, latent_cache=latent_cache, dtype=dtype,
                         embeddings=None if parts.trains_text_encoder else {})

    def render(step: int) -> list[Path]:
        return render_samples(parts.pipe, spec.samples, step, run_dir, images.resolution)

    done = run_steps(spec, run_dir, sink, run, parts, order, micro_step, render, show_progress=show_progress, stop_file=stop_file)

    output_folder = run_dir / "adapter"
    encoders = {name: module for name, module in parts.trained_modules().items() if name != "unet"}
    files = save_lora(output_folder, parts.family, parts.unet, encoders, alpha=spec.lora.alpha)
    return make_outcome(spec, run, output_folder=output_folder, step=done.step, last_loss=done.last_loss, total_params=total, dataset=dataset,
                        train_items=train_items, held_out=held_out, started=started, train_seconds=done.train_seconds, stopped=done.stopped,
                        base_model_path=str(parts.resolved.path), family=parts.family, samples=done.samples, kohya_file=files["kohya"].name,
                        peak_memory=peak_memory_bytes())
