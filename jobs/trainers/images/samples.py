"""Sample images during text-to-image training: same prompts, same seed, every N steps.

Each call renders every prompt of ``spec.samples`` with the pipeline as it is now (LoRA active) into
``runs/<job>/samples/step-<step>-<i>.png`` and appends one line per image to ``samples/index.jsonl``
(step, prompt, seed, file) so the UI can show a growing gallery without listing folders. :func:`render_prompt`
renders one image at a fixed seed (the report's base-vs-adapted grid uses it too). FLUX.1 and SD 3.x render from the
prompt embeddings cached before training (their text encoders may have left the GPU), at the T5 length they trained with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from jobs.spec import SamplesSpec
from jobs.trainers.images.flow import FlowParts, pipeline_prompt_kwargs
from jobs.trainers.images.sample_index import SAMPLES


def sample_due(settings: SamplesSpec, step: int, max_steps: int) -> bool:
    """True when samples are rendered after ``step``: every ``every_steps`` and at the last step."""
    if not settings.prompts:
        return False
    return step == max_steps or bool(settings.every_steps and step % settings.every_steps == 0)


@torch.no_grad()
def render_prompt(pipe: Any, prompt: str, *, seed: int, num_inference_steps: int, guidance_scale: float, resolution: int,
                  flow: FlowParts | None = None) -> Any:
    """One PIL image of ``prompt`` at ``seed`` (the generator lives on the denoiser's device); with ``flow`` (FLUX.1, SD 3.x)
    the prompt is encoded as in training (cached embeddings when there are, else at the training T5 length)."""
    generator = torch.Generator(device=denoiser(pipe).device).manual_seed(seed)
    prompt_kwargs: dict[str, Any] = {"prompt": prompt}
    if flow is not None:
        prompt_kwargs = pipeline_prompt_kwargs(flow, prompt, guidance_scale) if prompt in flow.prompt_cache else {
            "prompt": prompt, "max_sequence_length": flow.max_sequence_length}
    return pipe(**prompt_kwargs, num_inference_steps=num_inference_steps, guidance_scale=guidance_scale, height=resolution, width=resolution,
                generator=generator).images[0]


def denoiser(pipe: Any) -> Any:
    """The pipeline's UNet (SD, SDXL) or transformer (FLUX.1, SD 3.x)."""
    return getattr(pipe, "transformer", None) or pipe.unet


@torch.no_grad()
def render_samples(pipe: Any, settings: SamplesSpec, step: int, run_dir: Path, resolution: int, flow: FlowParts | None = None) -> list[Path]:
    """Render every sample prompt at the fixed seed; returns the image files written."""
    folder = run_dir / SAMPLES
    folder.mkdir(parents=True, exist_ok=True)
    model = denoiser(pipe)
    was_training = model.training
    model.eval()
    written: list[Path] = []
    try:
        for number, prompt in enumerate(settings.prompts):
            image = render_prompt(pipe, prompt, seed=settings.seed, num_inference_steps=settings.num_inference_steps,
                                  guidance_scale=settings.guidance_scale, resolution=resolution, flow=flow)
            path = folder / f"step-{step:06d}-{number:02d}.png"
            image.save(path)
            written.append(path)
            with (folder / "index.jsonl").open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": step, "prompt": prompt, "seed": settings.seed, "file": path.name}) + "\n")
    finally:
        model.train(was_training)
    return written
