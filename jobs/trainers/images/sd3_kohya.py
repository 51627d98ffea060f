"""An SD 3.x transformer LoRA in the kohya (sd-scripts ``networks/lora_sd3.py``) key layout that ComfyUI and Forge load:
the original MMDiT's module names.

ComfyUI maps ``lora_unet_<original key with "." as "_">`` onto the original checkpoint's weights and scales each update by
``alpha / rank`` from the file's ``.alpha`` tensors. (It also reads the diffusers file's ``transformer.<module>`` keys,
but that file has no ``.alpha``, so ComfyUI applies it at scale 1 instead of the trained ``alpha / r``: 1/2 of the update
at Adapta's default r 8, alpha 16.) The split diffusers projections are fused back as for FLUX
(:mod:`jobs.trainers.images.kohya_layout`). Keys, for joint block ``i``::

    lora_unet_joint_blocks_{i}_x_block_attn_qkv / _x_block_attn_proj / _x_block_attn2_qkv / _x_block_attn2_proj (SD 3.5)
    lora_unet_joint_blocks_{i}_context_block_attn_qkv / _context_block_attn_proj
    lora_unet_joint_blocks_{i}_x_block_mlp_fc1 / _x_block_mlp_fc2 / _context_block_mlp_fc1 / _context_block_mlp_fc2
    lora_unet_joint_blocks_{i}_x_block_adaLN_modulation_1 / _context_block_adaLN_modulation_1

The last block's context modulation holds (shift, scale) in the original checkpoint and (scale, shift) in diffusers
(``AdaLayerNormContinuous``): its up's halves are swapped back, as diffusers' checkpoint converter swaps them on load.
The check against ComfyUI's rules and diffusers' converter is ``tests/jobs/images/test_sd3_kohya.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.trainers.images.kohya_layout import BlockLayout, kohya_state_dict

if TYPE_CHECKING:
    import torch

SD3_LAYOUTS = {
    "transformer_blocks": BlockLayout(
        "joint_blocks",
        fused={"x_block_attn_qkv": ["attn.to_q", "attn.to_k", "attn.to_v"],
               "context_block_attn_qkv": ["attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"],
               "x_block_attn2_qkv": ["attn2.to_q", "attn2.to_k", "attn2.to_v"]},
        single={"attn.to_out.0": "x_block_attn_proj", "attn.to_add_out": "context_block_attn_proj", "attn2.to_out.0": "x_block_attn2_proj",
                "ff.net.0.proj": "x_block_mlp_fc1", "ff.net.2": "x_block_mlp_fc2", "ff_context.net.0.proj": "context_block_mlp_fc1",
                "ff_context.net.2": "context_block_mlp_fc2", "norm1.linear": "x_block_adaLN_modulation_1",
                "norm1_context.linear": "context_block_adaLN_modulation_1"}),
}


def original_modulation_order(module: str, up: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
    """The up of a context-pre-only block's ``norm1_context.linear`` (2 × width out: scale, shift) with its halves swapped to
    the original (shift, scale); every other up as it is."""
    import torch

    if module.endswith("norm1_context.linear") and up.shape[0] == 2 * down.shape[1]:
        scale, shift = up.chunk(2, dim=0)
        return torch.cat([shift, scale], dim=0)
    return up


def sd3_kohya_state_dict(peft_weights: dict[str, torch.Tensor], linear_shapes: dict[str, tuple[int, int]], alpha: float) -> dict[str, torch.Tensor]:
    """The kohya/original-layout weights of an SD 3.x transformer LoRA given in PEFT naming (``transformer_blocks.0.attn.to_q.lora_A.weight``).

    ``linear_shapes`` maps each Linear's name in the transformer to its (out, in) features. Raises :class:`UnsupportedError`
    for a LoRA outside the joint blocks (e.g. ``proj_out`` or the embedders).
    """
    return kohya_state_dict(peft_weights, linear_shapes, alpha, SD3_LAYOUTS, "SD 3", adjust_up=original_modulation_order)
