"""The FLUX.1 / SD 3.x text-to-image loop: transformer LoRA with the flow-matching loss (see :mod:`jobs.trainers.images.flow`).

``train_flow(spec, run_dir, sink)`` is what :func:`jobs.trainers.images.train.train_text_to_image` runs for a FLUX.1 or
SD 3.x pipeline. Per step: images resized to their aspect-ratio bucket and cropped as for SD (:mod:`jobs.trainers.images.batches`;
packed 2×2 for FLUX at any height and width, with latent image ids of that grid), encoded by the VAE (shifted and
scaled), noised on the straight path at sigmas drawn with ``images.timestep_sampling`` from the scheduler's shifted
schedule, and the transformer regresses the velocity ``noise - latents`` (MSE). Captions and sample prompts are encoded
once (T5 + CLIP) before the transformer loads; the text encoders are then freed and samples render from the cached
embeddings. The step loop (seeds, batches, metric rows, samples, checkpoints, resume, the stop file) is the SD trainer's
(:func:`jobs.trainers.images.loop.run_steps`); this module gives it :func:`flow_micro_loss`.
"""

from __future__ import annotations

import random
import time
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

from jobs.metrics import MetricsSink
from jobs.models import resolve_precision
from jobs.spec import Crop, JobSpec
from jobs.trainers.images.batches import PreparedImage, batch_order, crop_and_flip, prepare_images
from jobs.trainers.images.buckets import pipeline_buckets
from jobs.trainers.images.flow import (
    FlowParts,
    add_flow_lora,
    load_flow_parts,
    noisy_latents,
    predict_flow,
    refuse_if_too_big,
    sample_sigmas,
    vae_latents,
    with_negative,
)
from jobs.trainers.images.loop import run_steps
from jobs.trainers.images.lora_files import save_lora
from jobs.trainers.images.run_state import ImageTrainOutcome, make_outcome, read_images, start_optimization
from jobs.trainers.images.samples import render_samples
from jobs.trainers.tail import peak_memory_bytes


def flow_step_loss(parts: FlowParts, spec: JobSpec, latents: torch.Tensor, captions: list[str], generator: torch.Generator,
                   dtype: torch.dtype) -> torch.Tensor:
    """The flow-matching loss of one micro-batch of latents: sigmas drawn, noise mixed in, the velocity regressed."""
    with torch.no_grad():
        noise = torch.randn(latents.shape, generator=generator, device=parts.device, dtype=latents.dtype)
        timesteps, sigmas = sample_sigmas(parts, spec.images.timestep_sampling.value, latents.shape[0], generator)
        noisy = noisy_latents(latents, noise, sigmas)
        target = noise - latents
    prediction = predict_flow(parts, noisy, timesteps, captions, dtype)
    return F.mse_loss(prediction.float(), target.float(), reduction="mean")


def flow_micro_loss(indices: list[int], rng: random.Random, generator: torch.Generator, *, spec: JobSpec, parts: FlowParts,
                    prepared: list[PreparedImage], dtype: torch.dtype) -> torch.Tensor:
    """The loss of one FLUX.1 / SD 3.x micro-batch (all of one bucket): the images cropped (and flipped) as for SD, encoded by the
    VAE, then :func:`flow_step_loss` with their captions."""
    images = spec.images
    with torch.no_grad():
        pixels = torch.stack([crop_and_flip(prepared[i], images.crop is Crop.RANDOM, images.random_flip, rng)[0] for i in indices])
        latents = vae_latents(parts, pixels, generator)
    return flow_step_loss(parts, spec, latents, [prepared[i].caption for i in indices], generator, dtype)


def train_flow(spec: JobSpec, run_dir: Path, sink: MetricsSink, *, show_progress: bool = False, stop_file: Path | None = None) -> ImageTrainOutcome:
    """Train a FLUX.1 or SD 3.x transformer LoRA into ``run_dir``; resumes from ``run_dir/checkpoints`` when it holds one."""
    started = time.perf_counter()
    settings, images = spec.training, spec.images
    torch.manual_seed(settings.seed)
    dataset, train_items, held_out = read_images(spec, run_dir)
    dtype, _ = resolve_precision(settings.precision)
    refuse_if_too_big(spec, dtype)  # before a byte is on the GPU, with the numbers
    prompts = [item.caption for item in train_items] + with_negative(spec.samples.prompts, spec.samples.guidance_scale)
    parts = load_flow_parts(spec.base_model, dtype, prompts, spec.base_model_revision, quantize=images.quantize_base.value,
                            flux_guidance=images.flux_guidance)
    add_flow_lora(parts, spec)
    total = sum(p.numel() for module in (parts.transformer, parts.vae) for p in module.parameters())
    prepared = prepare_images(train_items, images.resolution, buckets=pipeline_buckets(parts, images.resolution) if images.aspect_buckets else None)
    order = batch_order(prepared, settings.batch_size, settings.seed)
    run = start_optimization(spec, run_dir, parts, order.batches_per_epoch)
    micro_step = partial(flow_micro_loss, spec=spec, parts=parts, prepared=prepared, dtype=dtype)

    def render(step: int) -> list[Path]:
        return render_samples(parts.pipe, spec.samples, step, run_dir, images.resolution, flow=parts)

    done = run_steps(spec, run_dir, sink, run, parts, order, micro_step, render, show_progress=show_progress, stop_file=stop_file)

    output_folder = run_dir / "adapter"
    files = save_lora(output_folder, parts.family, parts.transformer, {}, alpha=spec.lora.alpha)
    return make_outcome(spec, run, output_folder=output_folder, step=done.step, last_loss=done.last_loss, total_params=total, dataset=dataset,
                        train_items=train_items, held_out=held_out, started=started, train_seconds=done.train_seconds, stopped=done.stopped,
                        base_model_path=str(parts.resolved.path), family=parts.family, samples=done.samples,
                        kohya_file=files["kohya"].name if files.get("kohya") else "", peak_memory=peak_memory_bytes())
