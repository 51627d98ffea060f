"""text-to-image's own sections: ``images:`` (how images and captions are read, how the diffusion LoRA trains) and
``samples:`` (images rendered during training), with the choices only they use.
"""

from __future__ import annotations

from enum import Enum

from pydantic import Field

from jobs.spec.base import SpecModel


class CaptionSource(str, Enum):
    """text-to-image: where each image's caption comes from."""

    AUTO = "auto"
    TXT = "txt"
    METADATA = "metadata"
    INSTANCE_PROMPT = "instance_prompt"


class Crop(str, Enum):
    """text-to-image: how an image is cropped to the training resolution after resizing its short side."""

    CENTER = "center"
    RANDOM = "random"


class TimestepSampling(str, Enum):
    """text-to-image, flow-matching pipelines (FLUX.1, SD 3.x): how training timesteps are drawn (diffusers'
    ``compute_density_for_timestep_sampling``)."""

    LOGIT_NORMAL = "logit_normal"
    MODE = "mode"
    UNIFORM = "uniform"


class BaseQuantization(str, Enum):
    """text-to-image, FLUX.1 and SD 3.x: how the frozen base transformer is stored while its LoRA trains (8bit and nf4: bitsandbytes,
    CUDA only; fp8: diffusers' layerwise casting, float8 storage computed in the training precision, any device)."""

    NONE = "none"
    INT8 = "8bit"
    NF4 = "nf4"
    FP8 = "fp8"


class ImagesSpec(SpecModel):
    """text-to-image: how images and captions are read and how the diffusion LoRA trains (see :mod:`jobs.trainers.images.train`).
    These settings lived in data:, training: and lora: before; specs that still have them there load with a warning
    (:mod:`jobs.spec.compat`)."""

    caption: CaptionSource = Field(default=CaptionSource.AUTO, description="Where captions come from: auto (metadata.jsonl/csv, else "
                                   "same-name .txt files, else the instance prompt), txt, metadata or instance_prompt.")
    instance_prompt: str | None = Field(default=None, max_length=1000, description="One caption for every image without its own, "
                                        "e.g. 'a photo of sks dog'.")
    trigger_word: str | None = Field(default=None, max_length=100, description="A rare word put in front of every caption that lacks "
                                     "it, e.g. sks.")
    resolution: int = Field(default=512, ge=32, le=4096, multiple_of=8, description="Training size in pixels (a multiple of 8): the square's side; "
                            "aspect-ratio buckets hold about as many pixels.")
    aspect_buckets: bool = Field(default=True, description="Train each image at the aspect-ratio bucket nearest its own shape "
                                 "(about resolution² pixels, sides in steps of 64 px), each batch from one bucket, so portraits and "
                                 "landscapes keep their content; off: every image is cropped square.")
    crop: Crop = Field(default=Crop.CENTER, description="Center or random crop of what is left after resizing the image to cover "
                       "its bucket (the square without aspect_buckets).")
    random_flip: bool = Field(default=False, description="Flip images horizontally at random (not for subjects with text or asymmetry).")
    noise_offset: float = Field(default=0.0, ge=0, le=1.0, description="Offset noise strength (0.05-0.1 helps very dark or bright images).")
    snr_gamma: float | None = Field(default=None, gt=0, le=100, description="Min-SNR loss weighting gamma (5 is typical; empty: plain MSE).")
    cache_latents: bool = Field(default=False, description="Encode every image with the VAE once (faster; disables random crop and flip).")
    use_8bit_adam: bool = Field(default=False, description="8-bit AdamW from bitsandbytes (needs CUDA and bitsandbytes).")
    train_text_encoder: bool = Field(default=False, description="Also put LoRA on the text encoder(s) attention (lora.r, alpha and "
                                     "dropout apply to both).")
    timestep_sampling: TimestepSampling = Field(default=TimestepSampling.LOGIT_NORMAL, description="FLUX.1 and SD 3.x: how training "
                                                "timesteps are drawn: logit_normal (mean 0, std 1), mode (scale 1.29) or uniform; "
                                                "the scheduler's shift applies on top.")
    flux_guidance: float = Field(default=3.5, ge=0, le=30, description="FLUX.1-dev: the guidance value fed to the guidance "
                                 "embedding while training (ignored by FLUX.1-schnell and SD 3.x).")
    quantize_base: BaseQuantization = Field(default=BaseQuantization.NONE, description="FLUX.1 and SD 3.x: store the frozen "
                                            "transformer in 8bit or nf4 (bitsandbytes, CUDA only) or fp8 (float8 storage, any device, "
                                            "needs training.gradient_checkpointing) so the job fits a 24 GB card.")


class SamplesSpec(SpecModel):
    """text-to-image: sample images rendered during training at fixed seeds, saved under runs/<job>/samples/."""

    prompts: list[str] = Field(default_factory=list, max_length=16, description="Prompts to render (empty: no samples).")
    every_steps: int | None = Field(default=None, ge=1, description="Render every N steps (empty: at the end only).")
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="Seed of the sample images, the same at every step.")
    num_inference_steps: int = Field(default=25, ge=1, le=200, description="Denoising steps per sample image.")
    guidance_scale: float = Field(default=7.5, ge=0, le=30, description="Classifier-free guidance scale of the samples.")
