"""The modules a text-to-image LoRA adapts, by name, without torch: the UNet of SD 1.x/2.x and SDXL, the transformer of FLUX.1
and SD 3.x (the defaults of diffusers' ``train_dreambooth_lora_*.py`` scripts). The trainers (:mod:`jobs.trainers.images`) add
LoRA to these modules; the memory estimate (:mod:`jobs.models.memory_images`) counts its parameters from the same names.

    from jobs.models.image_lora_targets import flow_target_modules, unet_target_modules
    flow_target_modules("flux", "auto")   # ["attn.to_k", ..., "ff_context.net.2"]
"""

from __future__ import annotations

UNET_ATTENTION = ["to_k", "to_q", "to_v", "to_out.0"]
UNET_ALL_LINEAR = UNET_ATTENTION + ["proj_in", "proj_out", "ff.net.0.proj", "ff.net.2"]
ATTENTION_TARGETS = ["attn.to_k", "attn.to_q", "attn.to_v", "attn.to_out.0", "attn.add_k_proj", "attn.add_q_proj", "attn.add_v_proj",
                     "attn.to_add_out"]
FEED_FORWARD_TARGETS = ["ff.net.0.proj", "ff.net.2", "ff_context.net.0.proj", "ff_context.net.2"]
DEFAULT_TARGETS = {"flux": ATTENTION_TARGETS + FEED_FORWARD_TARGETS, "sd3": ATTENTION_TARGETS}
"""``lora.target_modules: auto``, as the diffusers scripts default: FLUX also adapts the feed-forward layers; ``attn.to_q``
and friends match FLUX's single-stream blocks too."""
ALL_LINEAR_EXTRA = {"flux": ["proj_mlp"], "sd3": FEED_FORWARD_TARGETS}


def unet_target_modules(target: str | list[str]) -> list[str]:
    """``lora.target_modules`` for a UNet: auto → attention projections, all-linear → also proj and feed-forward."""
    if target == "auto":
        return list(UNET_ATTENTION)
    if target == "all-linear":
        return list(UNET_ALL_LINEAR)
    return list(target)


def flow_target_modules(family: str, target: str | list[str]) -> list[str]:
    """``lora.target_modules`` for a FLUX.1/SD 3.x transformer: auto → the scripts' defaults, all-linear → also the rest of the MLPs."""
    if target == "auto":
        return list(DEFAULT_TARGETS[family])
    if target == "all-linear":
        return DEFAULT_TARGETS[family] + ALL_LINEAR_EXTRA[family]
    return list(target)
