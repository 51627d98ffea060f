"""A FLUX.1 transformer LoRA in the kohya (sd-scripts) key layout that ComfyUI and Forge load: BFL module names.

The diffusers transformer splits what the original FLUX.1 checkpoint fuses, so the split LoRAs are fused back
(:mod:`jobs.trainers.images.kohya_layout`) the way diffusers' own reader (``_convert_kohya_flux_lora_to_diffusers``)
un-fuses them: the downs of q, k, v (and the single blocks' MLP input) stacked, the ups block-diagonal, and ``alpha``
multiplied by the number of parts so that ``alpha / rank`` stays the trained scale. Keys::

    lora_unet_double_blocks_{i}_img_attn_qkv / _txt_attn_qkv / _img_attn_proj / _txt_attn_proj
    lora_unet_double_blocks_{i}_img_mlp_0 / _img_mlp_2 / _txt_mlp_0 / _txt_mlp_2 / _img_mod_lin / _txt_mod_lin
    lora_unet_single_blocks_{i}_linear1 / _linear2 / _modulation_lin

each with ``.lora_down.weight``, ``.lora_up.weight`` and ``.alpha``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.trainers.images.kohya_layout import BlockLayout, kohya_state_dict

if TYPE_CHECKING:
    import torch

FLUX_LAYOUTS = {
    "transformer_blocks": BlockLayout(
        "double_blocks",
        fused={"img_attn_qkv": ["attn.to_q", "attn.to_k", "attn.to_v"], "txt_attn_qkv": ["attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"]},
        single={"attn.to_out.0": "img_attn_proj", "attn.to_add_out": "txt_attn_proj", "ff.net.0.proj": "img_mlp_0", "ff.net.2": "img_mlp_2",
                "ff_context.net.0.proj": "txt_mlp_0", "ff_context.net.2": "txt_mlp_2", "norm1.linear": "img_mod_lin",
                "norm1_context.linear": "txt_mod_lin"}),
    "single_transformer_blocks": BlockLayout(
        "single_blocks", fused={"linear1": ["attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"]},
        single={"proj_out": "linear2", "norm.linear": "modulation_lin"}),
}


def flux_kohya_state_dict(peft_weights: dict[str, torch.Tensor], linear_shapes: dict[str, tuple[int, int]], alpha: float) -> dict[str, torch.Tensor]:
    """The kohya/BFL-layout weights of a FLUX.1 transformer LoRA given in PEFT naming (``transformer_blocks.0.attn.to_q.lora_A.weight``).

    ``linear_shapes`` maps each Linear's name in the transformer to its (out, in) features (for the zero parts of fused
    modules). Raises :class:`UnsupportedError` for a LoRA on a module outside the BFL blocks (e.g. the embedders).
    """
    return kohya_state_dict(peft_weights, linear_shapes, alpha, FLUX_LAYOUTS, "FLUX")
