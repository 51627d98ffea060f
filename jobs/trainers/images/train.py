"""The text-to-image trainer: UNet (and optional text-encoder) LoRA for SD 1.x/2.x and SDXL, the diffusers recipe.

``train_text_to_image(spec, run_dir, sink)`` loads the pipeline safely, reads the image dataset, adds PEFT
LoRA adapters, and trains with DDPM noise, epsilon or v-prediction (from the scheduler config) and MSE or
Min-SNR-weighted loss. Images held out for the before/after report (``data.validation``, or a share of a large
``data.train``, see :func:`jobs.data.images.split_image_dataset`) are never trained on; the outcome names them.
Every step writes a metric row; samples are rendered every ``samples.every_steps``;
``checkpoints/checkpoint-<step>/`` holds LoRA weights (safetensors), optimizer state and a
``trainer_state.json`` written last, saved every ``training.save_steps`` steps (without it: at epoch ends), every
``training.checkpoint_minutes`` minutes and on a clean stop; a run resumes from the newest complete one (the
two newest are kept). Outputs go to ``adapter/`` in the diffusers and kohya formats (see
:mod:`jobs.trainers.images.lora_files`). Registered for ``task: text-to-image``.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from jobs.data.images import HeldOutImages, load_image_dataset, split_image_dataset
from jobs.data.split import write_split
from jobs.errors import UnsupportedError
from jobs.metrics import MetricsSink
from jobs.models import resolve_precision
from jobs.spec import Crop, JobSpec, TrainingSpec
from jobs.trainers.arguments import CHECKPOINTS
from jobs.trainers.images.batches import batch_indices, crop_and_flip, prepare_images, sdxl_time_ids
from jobs.trainers.images.lora_files import save_lora
from jobs.trainers.images.model import DiffusionParts, add_lora, diffusion_target, load_parts, predict
from jobs.trainers.images.samples import render_samples, sample_due
from jobs.trainers.tail import last_complete_checkpoint, peak_memory_bytes

STATE_FILE = "trainer_state.json"


@dataclass
class ImageTrainOutcome:
    """What a finished (or cleanly stopped) text-to-image run produced and measured (fields shared with text runs first)."""

    output_folder: Path
    global_step: int
    resumed_from_step: int | None
    first_loss: float | None
    last_loss: float | None
    train_loss: float | None
    trainable_params: int
    total_params: int
    train_examples: int
    skipped_rows: int
    runtime_seconds: float
    train_seconds: float
    """Seconds spent in optimizer steps (no loading, sampling or saving): the benchmark's denominator."""
    steps_per_second: float | None
    peak_memory_bytes: int
    stopped_early: bool
    base_model_path: str
    pipeline_family: str
    trigger_word: str | None
    samples: list[str]
    kohya_file: str
    skipped_images: dict[str, str] = field(default_factory=dict)
    eval_metrics: dict[str, float] = field(default_factory=dict)
    eval_examples: int = 0
    label_names: list[str] | None = None
    data_format: str = "images"
    data_mapping: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    is_main_process: bool = True
    held_out: HeldOutImages = field(default_factory=HeldOutImages)
    """The images kept out of training for the before/after report (or why there are none)."""


def total_steps(spec: JobSpec, examples: int) -> int:
    """Optimizer steps of the run: ``max_steps`` or epochs × batches per epoch / accumulation."""
    if spec.training.max_steps:
        return spec.training.max_steps
    per_epoch = math.ceil(examples / spec.training.batch_size)
    return max(1, math.ceil(spec.training.epochs * per_epoch / spec.training.gradient_accumulation))


def checkpoint_due(settings: TrainingSpec, step: int, max_steps: int, seconds_since_save: float, epoch_ended: bool = False) -> bool:
    """True when a resumable checkpoint is saved after ``step``: every ``save_steps`` steps (without save_steps: when
    an epoch ended), and once ``checkpoint_minutes`` have passed since the last save (or the start); never after the
    last step (the adapter is saved then)."""
    if step >= max_steps:
        return False
    by_steps = bool(settings.save_steps and step % settings.save_steps == 0) or (not settings.save_steps and epoch_ended)
    by_time = settings.checkpoint_minutes is not None and seconds_since_save >= settings.checkpoint_minutes * 60
    return by_steps or by_time


def _optimizer(parameters: list[torch.nn.Parameter], spec: JobSpec) -> torch.optim.Optimizer:
    settings = spec.training
    if spec.images.use_8bit_adam:
        if not torch.cuda.is_available():
            raise UnsupportedError("images.use_8bit_adam needs a CUDA GPU and bitsandbytes; set it to false on this machine")
        try:
            import bitsandbytes as bnb
        except ImportError:
            raise UnsupportedError("images.use_8bit_adam needs the bitsandbytes package; install it or set use_8bit_adam to false") from None
        return bnb.optim.AdamW8bit(parameters, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    return torch.optim.AdamW(parameters, lr=settings.learning_rate, weight_decay=settings.weight_decay)


def _save_checkpoint(run_dir: Path, step: int, parts: DiffusionParts, optimizer: Any, lr_scheduler: Any, state: dict[str, Any]) -> None:
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    folder = run_dir / CHECKPOINTS / f"checkpoint-{step}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    weights = {f"{name}.{key}": value.contiguous() for name, module in parts.trained_modules().items()
               for key, value in get_peft_model_state_dict(module).items()}
    save_file(weights, str(folder / "lora.safetensors"))
    torch.save({"optimizer": optimizer.state_dict(), "lr_scheduler": lr_scheduler.state_dict()}, folder / "optimizer.pt")
    (folder / STATE_FILE).write_text(json.dumps({**state, "global_step": step}), encoding="utf-8")  # written last: marks it complete
    older = sorted((int(p.name.rsplit("-", 1)[1]), p) for p in (run_dir / CHECKPOINTS).glob("checkpoint-*") if p.name.rsplit("-", 1)[1].isdigit())
    for _, stale in older[:-2]:
        shutil.rmtree(stale, ignore_errors=True)


def _load_checkpoint(folder: Path, parts: DiffusionParts, optimizer: Any, lr_scheduler: Any) -> dict[str, Any]:
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    weights = load_file(str(folder / "lora.safetensors"))
    for name, module in parts.trained_modules().items():
        prefix = f"{name}."
        set_peft_model_state_dict(module, {key[len(prefix):]: value for key, value in weights.items() if key.startswith(prefix)})
    saved = torch.load(folder / "optimizer.pt", weights_only=True)
    optimizer.load_state_dict(saved["optimizer"])
    lr_scheduler.load_state_dict(saved["lr_scheduler"])
    return json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))


def _loss(spec: JobSpec, parts: DiffusionParts, prediction: torch.Tensor, target: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    if spec.images.snr_gamma is None:
        return F.mse_loss(prediction.float(), target.float(), reduction="mean")
    from diffusers.training_utils import compute_snr

    snr = compute_snr(parts.noise_scheduler, timesteps)
    weights = torch.stack([snr, spec.images.snr_gamma * torch.ones_like(snr)], dim=1).min(dim=1)[0]
    weights = weights / snr if parts.noise_scheduler.config.prediction_type == "epsilon" else weights / (snr + 1)
    per_example = F.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=list(range(1, prediction.ndim)))
    return (per_example * weights).mean()


def train_text_to_image(
    spec: JobSpec,
    run_dir: Path,
    sink: MetricsSink,
    *,
    show_progress: bool = False,
    stop_file: Path | None = None,
) -> ImageTrainOutcome:
    """Train one text-to-image LoRA spec into ``run_dir``; resumes from ``run_dir/checkpoints`` when it holds one."""
    started = time.perf_counter()
    settings = spec.training
    torch.manual_seed(settings.seed)
    images = spec.images
    dataset = load_image_dataset(spec.data.train, caption=images.caption, instance_prompt=images.instance_prompt, trigger_word=images.trigger_word)
    train_items, held_out = split_image_dataset(spec, dataset)
    write_split(run_dir, held_out.split)  # runs/<job>/split.json: the images trained on and held out
    dtype, _ = resolve_precision(settings.precision)
    parts = load_parts(spec.base_model, dtype, spec.base_model_revision)
    add_lora(parts, spec)
    trainable = [p for module in parts.trained_modules().values() for p in module.parameters() if p.requires_grad]
    for parameter in trainable:
        parameter.data = parameter.data.float()  # LoRA weights train in fp32 even when the base is half precision
    total = sum(p.numel() for module in (parts.unet, parts.vae, *parts.text_encoders) for p in module.parameters())
    optimizer = _optimizer(trainable, spec)
    max_steps = total_steps(spec, len(train_items))
    from diffusers.optimization import get_scheduler

    lr_scheduler = get_scheduler(settings.scheduler.value, optimizer, num_warmup_steps=int(settings.warmup_ratio * max_steps), num_training_steps=max_steps)

    last = last_complete_checkpoint(run_dir / CHECKPOINTS)
    state: dict[str, Any] = {"first_loss": None, "loss_sum": 0.0, "loss_count": 0}
    resumed_from = None
    if last is not None:
        state = _load_checkpoint(last, parts, optimizer, lr_scheduler)
        resumed_from = int(state["global_step"])
    step = resumed_from or 0

    resolution, device = images.resolution, parts.device
    use_cache = images.cache_latents
    prepared = prepare_images(train_items, resolution)
    embeddings: dict[str, Any] | None = None if parts.trains_text_encoder else {}
    latent_cache: dict[int, Any] = {}
    if use_cache:
        with torch.no_grad():
            for index, item in enumerate(prepared):
                pixels, _ = crop_and_flip(item, resolution, False, False, random.Random(0))
                latent_cache[index] = parts.vae.encode(pixels[None].to(device, parts.vae.dtype)).latent_dist
    sink.set_total_steps(max_steps)
    bar = None
    if show_progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_steps, initial=step, unit="step", dynamic_ncols=True)
    samples: list[str] = sorted(p.name for p in (run_dir / "samples").glob("*.png")) if (run_dir / "samples").is_dir() else []
    train_seconds, last_loss, stopped = 0.0, None, False
    accumulation, batch_size = settings.gradient_accumulation, settings.batch_size
    parts.set_train_mode()
    last_save = time.monotonic()
    while step < max_steps:
        step_started = time.perf_counter()
        rng = random.Random(settings.seed * 7919 + step)
        generator = torch.Generator(device=device).manual_seed(settings.seed * 104_729 + step)
        step_loss = 0.0
        for micro in range(accumulation):
            indices = batch_indices(len(prepared), batch_size, settings.seed, step * accumulation + micro)
            captions = [prepared[i].caption for i in indices]
            with torch.no_grad():
                if use_cache:
                    latents = torch.cat([latent_cache[i].sample(generator) for i in indices])
                    corners = [((prepared[i].image.size[1] - resolution) // 2, (prepared[i].image.size[0] - resolution) // 2) for i in indices]
                else:
                    pairs = [crop_and_flip(prepared[i], resolution, images.crop is Crop.RANDOM, images.random_flip, rng) for i in indices]
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
                time_ids = torch.stack([sdxl_time_ids(prepared[i].original_size, corner, resolution) for i, corner in zip(indices, corners, strict=True)])
            prediction = predict(parts, noisy, timesteps, captions, dtype, time_ids, embeddings)
            loss = _loss(spec, parts, prediction, target, timesteps)
            (loss / accumulation).backward()
            step_loss += float(loss.detach()) / accumulation
        grad_norm = float(torch.nn.utils.clip_grad_norm_(trainable, settings.max_grad_norm))
        optimizer.step()
        lr_scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        train_seconds += time.perf_counter() - step_started
        last_loss = step_loss
        if state["first_loss"] is None:
            state["first_loss"] = step_loss
        state["loss_sum"] += step_loss
        state["loss_count"] += 1
        if step % settings.logging_steps == 0 or step == max_steps:
            done = step - (resumed_from or 0)
            speed = done / train_seconds if train_seconds > 0 else 0.0
            sink.record(step, {
                "loss": step_loss, "learning_rate": lr_scheduler.get_last_lr()[0], "grad_norm": grad_norm,
                "epoch": step * accumulation * batch_size / len(prepared), "steps_per_second": speed,
                "images_per_second": speed * batch_size * accumulation, "eta_seconds": (max_steps - step) / speed if speed else 0.0,
            }, total_steps=max_steps)
        if bar is not None:
            bar.update(1)
            bar.set_postfix({"loss": f"{step_loss:.4g}"}, refresh=False)
        stopped = stop_file is not None and stop_file.exists() and step < max_steps
        if sample_due(spec.samples, step, max_steps):
            samples += [p.name for p in render_samples(parts.pipe, spec.samples, step, run_dir, resolution)]
        per_step = accumulation * batch_size
        epoch_ended = step * per_step // len(prepared) > (step - 1) * per_step // len(prepared)
        if stopped or checkpoint_due(settings, step, max_steps, time.monotonic() - last_save, epoch_ended):
            _save_checkpoint(run_dir, step, parts, optimizer, lr_scheduler, state)
            last_save = time.monotonic()
        if stopped:
            break
    if bar is not None:
        bar.close()

    output_folder = run_dir / "adapter"
    encoders = {name: module for name, module in parts.trained_modules().items() if name != "unet"}
    files = save_lora(output_folder, parts.family, parts.unet, encoders, alpha=spec.lora.alpha)
    done = step - (resumed_from or 0)
    return ImageTrainOutcome(
        output_folder=output_folder,
        global_step=step,
        resumed_from_step=resumed_from,
        first_loss=state["first_loss"],
        last_loss=last_loss,
        train_loss=state["loss_sum"] / state["loss_count"] if state["loss_count"] else None,
        trainable_params=sum(p.numel() for p in trainable),
        total_params=total,
        train_examples=len(train_items),
        skipped_rows=len(dataset.unreadable),
        runtime_seconds=time.perf_counter() - started,
        train_seconds=train_seconds,
        steps_per_second=done / train_seconds if train_seconds > 0 else None,
        peak_memory_bytes=peak_memory_bytes(),
        stopped_early=stopped,
        base_model_path=str(parts.resolved.path),
        pipeline_family=parts.family,
        trigger_word=images.trigger_word,
        samples=samples,
        kohya_file=files["kohya"].name,
        skipped_images=dict(dataset.unreadable),
        data_mapping={"caption_source": dataset.caption_source},
        warnings=dataset.problems,
        eval_examples=len(held_out.items),
        held_out=held_out,
    )
