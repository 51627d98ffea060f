"""The text-to-image part of the before/after report: validation loss on held-out images and a base-vs-adapted grid.

``evaluate_text_to_image(spec, run_dir, outcome, sink)`` loads the base pipeline once and the trained LoRA
(``adapter/pytorch_lora_weights.safetensors``) into it with diffusers' ``load_lora_weights``, the way a user loads
it, then switches the LoRA off for the base model and on for the adapted one, so both see exactly the same inputs:

- **validation loss**: each held-out image (at most ``evaluation.max_rows``; which ones and why is decided before
  training by :func:`jobs.data.images.split_image_dataset` and read back from ``runs/<job>/split.json``) is resized to its
  aspect-ratio bucket as in training (``images.aspect_buckets``; else to the square resolution) and center-cropped, encoded
  once (the latent mean), noised at :data:`TIMESTEPS_PER_IMAGE` timesteps spread evenly over the schedule with noise
  from a generator seeded by (training seed, image number), and scored by the MSE between the UNet's prediction and
  its target (noise, or velocity for v-prediction models). FLUX.1 and SD 3.x are scored by the flow-matching loss instead:
  the latent mixed with the same fixed noise at sigma = timestep / 1000 and the transformer's velocity against
  ``noise - latent``. One :class:`ExampleScore` per image (score = -loss).
- **a grid**: each sample prompt (``samples.prompts``, else the first held-out captions) rendered at ``samples.seed``
  with at most :data:`GRID_MAX_STEPS` denoising steps, base and adapted, saved as ``runs/<job>/eval/grid-*.png`` and
  listed in ``report.extra["grid"]``.

With no held-out images (fewer than 50 and no ``data.validation``) the report has the grid alone and says why.
"""

from __future__ import annotations

import gc
import random
from pathlib import Path
from typing import Any

import torch

from jobs.data.images import HeldOutImages, ImageItem, image_count, load_image_dataset, split_image_dataset
from jobs.data.split import SPLIT_FILE, scored_summary, split_for_report
from jobs.evaluation.report import EvalReport, ExampleScore, MetricRow, change_of
from jobs.models import resolve_precision
from jobs.models.pipelines import FLOW_FAMILIES, resolve_pipeline
from jobs.spec import JobSpec
from jobs.trainers.images.batches import PreparedImage, crop_and_flip, image_training_sizes, prepare_images, sdxl_time_ids
from jobs.trainers.images.buckets import Size, pipeline_buckets
from jobs.trainers.images.flow import FlowParts, load_flow_parts, noisy_latents, predict_flow, vae_latents, with_negative
from jobs.trainers.images.lora_files import DIFFUSERS_FILE
from jobs.trainers.images.model import DiffusionParts, diffusion_target, load_parts, predict
from jobs.trainers.images.samples import render_prompt

TIMESTEPS_PER_IMAGE = 4
"""Each held-out image is scored at this many timesteps, the centres of equal slices of the noise schedule."""
GRID_MAX_STEPS = 20
GRID_MAX_PROMPTS = 8
GRID_FALLBACK_PROMPTS = 2
"""Without sample prompts, the grid renders this many held-out captions."""
EVAL_FOLDER = "eval"
ADAPTER_NAME = "adapted"
MAIN_METRIC = "val_loss"


MAX_UNET_BATCH = 8
"""The most UNet passes (images × timesteps) scored at once, whatever ``evaluation.batch_size`` says."""


def fixed_timesteps(num_train_timesteps: int, count: int = TIMESTEPS_PER_IMAGE) -> list[int]:
    """``count`` timesteps at the centres of equal slices of the schedule: 125, 375, 625, 875 of 1000 for 4."""
    return [int((number + 0.5) * num_train_timesteps / count) for number in range(count)]


def image_noise(seed: int, image_number: int, count: int, latent_shape: tuple[int, ...]) -> torch.Tensor:
    """The fixed noise of one held-out image: ``count`` draws of its latent's shape, from a CPU generator seeded by
    (seed, image number), so the base and the adapted model (and any device) get the same noise."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + image_number)
    return torch.randn((count, *latent_shape), generator=generator)


def _use_lora(parts: DiffusionParts | FlowParts, enabled: bool) -> None:
    if enabled:
        parts.pipe.enable_lora()
    else:
        parts.pipe.disable_lora()


def bucket_chunks(sizes: list[Size], images_per_batch: int) -> list[list[int]]:
    """The held-out images (their numbers) in batches of at most ``images_per_batch``, each of one training size (bucket), in
    the order each size first appears."""
    groups: dict[Size, list[int]] = {}
    for number, size in enumerate(sizes):
        groups.setdefault(size, []).append(number)
    return [members[start:start + images_per_batch] for members in groups.values() for start in range(0, len(members), images_per_batch)]


@torch.no_grad()
def validation_losses(parts: DiffusionParts | FlowParts, items: list[ImageItem], *, resolution: int, dtype: torch.dtype, seed: int,
                      timesteps: list[int], images_per_batch: int, buckets: list[Size] | None = None,
                      on_batch: Any = None) -> dict[str, torch.Tensor]:
    """{"base": (images, timesteps) losses, "adapted": the same} for ``items``, the LoRA switched off and on in turn; with
    ``buckets`` each image is scored at its aspect-ratio bucket, as it would have trained (batches of one bucket)."""
    rows: dict[str, list[torch.Tensor]] = {"base": [], "adapted": []}
    numbers: list[int] = []
    for chunk in bucket_chunks(image_training_sizes(items, resolution, buckets), images_per_batch):
        prepared = prepare_images([items[number] for number in chunk], resolution, buckets=buckets)
        crops = [crop_and_flip(item, False, False, random.Random(0)) for item in prepared]
        score = _flow_losses if isinstance(parts, FlowParts) else _unet_losses
        for mode, losses in score(parts, prepared, crops, dtype, seed, chunk, timesteps).items():
            rows[mode].append(losses)
        numbers += chunk
        if on_batch is not None:
            on_batch()
    _use_lora(parts, True)
    in_item_order = torch.argsort(torch.tensor(numbers))
    return {mode: torch.cat(losses)[in_item_order] for mode, losses in rows.items()}


def _fixed_noise(seed: int, numbers: list[int], count: int, latents: torch.Tensor) -> torch.Tensor:
    """The fixed noise of images ``numbers`` (``count`` rows each) in the layout of ``latents``, on its device."""
    noise = torch.cat([image_noise(seed, number, count, tuple(latents.shape[1:])) for number in numbers])
    return noise.to(latents.device, latents.dtype)


def _unet_losses(parts: DiffusionParts, prepared: list[PreparedImage], crops: list[Any], dtype: torch.dtype, seed: int, numbers: list[int],
                 timesteps: list[int]) -> dict[str, torch.Tensor]:
    """SD/SDXL losses of one batch of held-out images (of one size), (images, timesteps) per model: epsilon or velocity MSE."""
    count, device = len(timesteps), parts.device
    pixels = torch.stack([pixels for pixels, _ in crops]).to(device, parts.vae.dtype)
    latents = parts.vae.encode(pixels).latent_dist.mean * parts.vae.config.scaling_factor
    latents = latents.to(parts.unet.dtype).repeat_interleave(count, dim=0)
    noise = _fixed_noise(seed, numbers, count, latents)
    steps = torch.tensor(timesteps * len(prepared), device=device, dtype=torch.long)
    noisy = parts.noise_scheduler.add_noise(latents, noise, steps)
    target = diffusion_target(parts, latents, noise, steps).float()
    captions = [item.caption for item in prepared for _ in range(count)]
    time_ids = None
    if parts.family == "sdxl":
        time_ids = torch.stack([sdxl_time_ids(item.original_size, corner, item.target_hw) for item, (_, corner) in zip(prepared, crops, strict=True)
                                for _ in range(count)])
    losses = {}
    for mode in ("base", "adapted"):
        _use_lora(parts, mode == "adapted")
        prediction = predict(parts, noisy, steps, captions, dtype, time_ids).float()
        losses[mode] = ((prediction - target) ** 2).mean(dim=list(range(1, prediction.ndim))).view(len(prepared), count).cpu()
    return losses


def _flow_losses(parts: FlowParts, prepared: list[PreparedImage], crops: list[Any], dtype: torch.dtype, seed: int, numbers: list[int],
                 timesteps: list[int]) -> dict[str, torch.Tensor]:
    """Flow-matching losses of one batch of held-out images (of one size), (images, timesteps) per model, at sigma = timestep / 1000."""
    count, device = len(timesteps), parts.device
    latents = vae_latents(parts, torch.stack([pixels for pixels, _ in crops])).repeat_interleave(count, dim=0)
    noise = _fixed_noise(seed, numbers, count, latents)
    steps = torch.tensor(timesteps * len(prepared), device=device, dtype=torch.float32)
    noisy = noisy_latents(latents, noise, steps / parts.noise_scheduler.config.num_train_timesteps)
    target = (noise - latents).float()
    captions = [item.caption for item in prepared for _ in range(count)]
    losses = {}
    for mode in ("base", "adapted"):
        _use_lora(parts, mode == "adapted")
        prediction = predict_flow(parts, noisy, steps, captions, dtype).float()
        losses[mode] = ((prediction - target) ** 2).mean(dim=list(range(1, prediction.ndim))).view(len(prepared), count).cpu()
    return losses


def render_grid(parts: DiffusionParts | FlowParts, prompts: list[str], run_dir: Path, *, seed: int, num_inference_steps: int, guidance_scale: float,
                resolution: int, on_image: Any = None) -> list[dict[str, str]]:
    """Render each prompt with the LoRA off and on at the same seed into ``run_dir/eval/``; the rows of ``extra["grid"]``."""
    folder = Path(run_dir) / EVAL_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"prompt": prompt} for prompt in prompts]
    for mode in ("base", "adapted"):
        _use_lora(parts, mode == "adapted")
        for number, row in enumerate(rows):
            image = render_prompt(parts.pipe, row["prompt"], seed=seed, num_inference_steps=num_inference_steps,
                                  guidance_scale=guidance_scale, resolution=resolution, flow=parts if isinstance(parts, FlowParts) else None)
            name = f"grid-{number:02d}-{mode}.png"
            image.save(folder / name)
            row[mode] = f"{EVAL_FOLDER}/{name}"
            if on_image is not None:
                on_image()
    _use_lora(parts, True)
    return rows


def _held_out(spec: JobSpec, run_dir: Path) -> HeldOutImages:
    """The held-out images the run recorded in ``split.json`` (its data checked unchanged), read from their folder."""
    split = split_for_report(run_dir)
    images = spec.images
    dataset = load_image_dataset(spec.data.train, caption=images.caption, instance_prompt=images.instance_prompt, trigger_word=images.trigger_word)
    return split_image_dataset(spec, dataset, recorded=split)[1]


def _loss_report(report: EvalReport, items: list[ImageItem], losses: dict[str, torch.Tensor], timesteps: list[int]) -> None:
    base, adapted = losses["base"], losses["adapted"]
    report.main_metric = MAIN_METRIC
    report.metrics.append(MetricRow(MAIN_METRIC, "Validation loss (held-out images, fixed noise and timesteps)",
                                    float(base.mean()), float(adapted.mean()), higher_is_better=False))
    for column, step in enumerate(timesteps):
        report.metrics.append(MetricRow(f"val_loss_t{step}", f"Validation loss at timestep {step}",
                                        float(base[:, column].mean()), float(adapted[:, column].mean()), higher_is_better=False))
    report.score_name = "minus the image's validation loss (higher is better)"
    for item, before, after in zip(items, base.mean(dim=1).tolist(), adapted.mean(dim=1).tolist(), strict=True):
        report.examples.append(ExampleScore(row=None, input=item.caption, reference=item.path.name, base_output=f"loss {before:.4f}",
                                            adapted_output=f"loss {after:.4f}", base_score=-before, adapted_score=-after,
                                            change=change_of(-before, -after)))


def evaluate_text_to_image(spec: JobSpec, run_dir: Path, outcome: Any, sink: Any) -> EvalReport:
    """Score the base pipeline and the trained LoRA on the held-out images and render the base-vs-adapted grid."""
    held_out = _held_out(spec, run_dir)
    items = held_out.items[: spec.evaluation.max_rows]
    prompts = list(spec.samples.prompts[:GRID_MAX_PROMPTS]) or list(dict.fromkeys(item.caption for item in items))[:GRID_FALLBACK_PROMPTS]
    report = EvalReport(task=spec.task.value)
    if not items and not prompts:
        report.skipped = f"{held_out.reason}; and there are no samples.prompts to render a base-vs-adapted image grid either."
        return report

    gc.collect()  # the trainer's pipeline, so that two copies do not share a GPU that fits one
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    dtype, _ = resolve_precision(spec.training.precision)
    if resolve_pipeline(str(outcome.base_model_path)).family in FLOW_FAMILIES:
        to_cache = [item.caption for item in items] + with_negative(prompts, spec.samples.guidance_scale)
        parts = load_flow_parts(str(outcome.base_model_path), dtype, to_cache, quantize=spec.images.quantize_base.value,
                                flux_guidance=spec.images.flux_guidance, adapter_file=Path(outcome.output_folder) / DIFFUSERS_FILE,
                                adapter_name=ADAPTER_NAME)  # loaded before an fp8 base is stored, so the LoRA keeps its precision
    else:
        parts = load_parts(str(outcome.base_model_path), dtype)
        parts.pipe.load_lora_weights(str(outcome.output_folder), weight_name=DIFFUSERS_FILE, adapter_name=ADAPTER_NAME)
    resolution, seed = spec.images.resolution, spec.training.seed
    timesteps = fixed_timesteps(parts.noise_scheduler.config.num_train_timesteps)
    # UNet passes are far heavier than a text model's rows: at most 8 (2 images × 4 timesteps) go through at once
    images_per_batch = max(1, min(spec.evaluation.batch_size, MAX_UNET_BATCH) // len(timesteps))
    buckets = pipeline_buckets(parts, resolution) if spec.images.aspect_buckets else None
    batches = len(bucket_chunks(image_training_sizes(items, resolution, buckets), images_per_batch))
    total, done = batches + 2 * len(prompts), 0

    def advance() -> None:
        nonlocal done
        done += 1
        sink.record_phase("evaluating", done, total)

    if items:
        losses = validation_losses(parts, items, resolution=resolution, dtype=dtype, seed=seed, timesteps=timesteps,
                                   images_per_batch=images_per_batch, buckets=buckets, on_batch=advance)
        _loss_report(report, items, losses, timesteps)
        shaped = (f"resized to its aspect-ratio bucket (about {resolution}² px, as in training) and center-cropped" if buckets
                  else f"center-cropped to {resolution} px")
        capped = f", the first {len(items)} of {len(held_out.items)} (evaluation.max_rows)" if len(items) < len(held_out.items) else ""
        report.split = scored_summary(held_out.split, held_out.ids[: len(items)])
        report.measured_on = (f"{image_count(len(items))} held out from training, recorded in {SPLIT_FILE}: {held_out.source}{capped}; "
                              f"each {shaped} and scored at timesteps {', '.join(map(str, timesteps))} "
                              f"with the same noise (seed {seed}) for both models")
    else:
        report.measured_on = "sample prompts only (no held-out images, so no validation loss)"
        report.split = scored_summary(held_out.split, [])
        report.notes.append(f"No validation loss: {held_out.reason}.")

    steps = min(spec.samples.num_inference_steps, GRID_MAX_STEPS)
    grid = render_grid(parts, prompts, run_dir, seed=spec.samples.seed, num_inference_steps=steps, guidance_scale=spec.samples.guidance_scale,
                       resolution=resolution, on_image=advance)
    where = "the sample prompts" if spec.samples.prompts else "held-out captions (no samples.prompts were set)"
    report.notes.append(f"Image grid: {len(grid)} prompt(s) from {where}, base and adapted at seed {spec.samples.seed}, {steps} steps, "
                        f"guidance {spec.samples.guidance_scale:g}, in {EVAL_FOLDER}/ of the run folder.")
    if len(spec.samples.prompts) > GRID_MAX_PROMPTS:
        report.notes.append(f"The grid shows the first {GRID_MAX_PROMPTS} of the {len(spec.samples.prompts)} sample prompts.")
    report.extra = {
        "grid": grid,
        "grid_settings": {"seed": spec.samples.seed, "num_inference_steps": steps, "guidance_scale": spec.samples.guidance_scale,
                          "resolution": resolution},
        "timesteps": timesteps,
        "held_out": {"available": len(held_out.items), "scored": len(items), "source": held_out.source, "reason": held_out.reason},
    }
    return report
