"""The SD 3.x LoRA file in the kohya/ComfyUI layout: read with ComfyUI's rules and converted by diffusers' own SD 3 checkpoint
converter (tests/jobs/images/comfy_sd3_reader.py), it gives every adapted weight the trained update, alpha/r included."""

from __future__ import annotations

import pytest
import torch

from jobs.errors import UnsupportedError
from jobs.trainers.images.kohya_layout import linear_shapes
from jobs.trainers.images.sd3_kohya import sd3_kohya_state_dict
from tests.jobs.images.comfy_sd3_reader import comfy_updates_in_diffusers_layout

RANK, ALPHA = 2, 8.0


def tiny_sd35_transformer() -> torch.nn.Module:
    """Two joint blocks, the first with SD 3.5's second image attention, the last context-pre-only (no context MLP or output)."""
    from diffusers import SD3Transformer2DModel

    torch.manual_seed(0)
    return SD3Transformer2DModel(sample_size=8, patch_size=1, in_channels=4, num_layers=2, attention_head_dim=8, num_attention_heads=2,
                                 joint_attention_dim=16, caption_projection_dim=16, pooled_projection_dim=16, out_channels=4,
                                 dual_attention_layers=(0,), qk_norm="rms_norm")


def random_lora(shapes: dict[str, tuple[int, int]], names: list[str]) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    weights = {}
    for name in names:
        out_features, in_features = shapes[name]
        weights[f"{name}.lora_A.weight"] = torch.randn(RANK, in_features, generator=generator)
        weights[f"{name}.lora_B.weight"] = torch.randn(out_features, RANK, generator=generator)
    return weights


def test_sd3_kohya_file_gives_comfyui_the_trained_update_of_every_module() -> None:
    transformer = tiny_sd35_transformer()
    shapes = linear_shapes(transformer)
    assert "transformer_blocks.1.norm1_context.linear" in shapes and "transformer_blocks.0.attn2.to_q" in shapes
    left_out = {"transformer_blocks.0.attn.to_k", "transformer_blocks.1.attn.add_v_proj"}  # zero parts of a fused qkv
    trained = [name for name in shapes if name not in left_out]
    peft = random_lora(shapes, trained)
    kohya = sd3_kohya_state_dict(peft, shapes, ALPHA)
    assert "lora_unet_joint_blocks_0_x_block_attn_qkv.lora_down.weight" in kohya
    assert kohya["lora_unet_joint_blocks_0_x_block_attn_qkv.lora_down.weight"].shape == (3 * RANK, 16)
    assert float(kohya["lora_unet_joint_blocks_0_x_block_attn_qkv.alpha"]) == 3 * ALPHA
    assert float(kohya["lora_unet_joint_blocks_0_x_block_mlp_fc2.alpha"]) == ALPHA

    updates = comfy_updates_in_diffusers_layout(kohya, transformer.config)
    for name in shapes:
        got = updates[f"{name}.weight"]
        if name in left_out:
            assert torch.count_nonzero(got) == 0, name
        else:
            want = ALPHA / RANK * peft[f"{name}.lora_B.weight"] @ peft[f"{name}.lora_A.weight"]
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5, msg=lambda text, name=name: f"{name}: {text}")


def test_sd3_lora_outside_the_joint_blocks_has_no_kohya_name() -> None:
    shapes = {"proj_out": (4, 16)}
    with pytest.raises(UnsupportedError, match="proj_out has no place in the kohya SD 3 layout; use the diffusers file"):
        sd3_kohya_state_dict(random_lora(shapes, ["proj_out"]), shapes, ALPHA)
