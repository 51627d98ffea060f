"""An SD 3.x LoRA file in the kohya layout read the way ComfyUI reads it, and turned into diffusers' layout by diffusers' own
SD 3 checkpoint converter: the independent reader the SD 3 kohya export is checked against (diffusers has no SD 3 kohya
LoRA reader; ``SD3LoraLoaderMixin.lora_state_dict`` converts nothing).

ComfyUI's rules, written out from its source (comfyanonymous/ComfyUI):

- ``comfy/lora.py``, ``model_lora_keys_unet``: every ``diffusion_model.<key>.weight`` of the loaded model is reachable as
  ``lora_unet_<key with "." as "_">``; for SD 3 the model's keys are the original MMDiT's (``joint_blocks.0.x_block.attn.qkv``),
  which is the name sd-scripts' ``networks/lora_sd3.py`` gives its modules (``LORA_PREFIX_SD3 = "lora_unet"``). A key
  that maps nowhere is logged as "lora key not loaded" and ignored.
- ``comfy/weight_adapter/lora.py``, ``LoRAAdapter.load`` and ``calculate_weight``: ``weight += (alpha / rank) · up @ down``
  with rank the rows of ``lora_down`` and alpha the ``<name>.alpha`` tensor (scale 1 when the file has none).

diffusers' ``convert_sd3_transformer_checkpoint_to_diffusers`` (``loaders/single_file_utils.py``) turns original-layout
weights into the diffusers transformer's: it splits each ``qkv`` in three and swaps the (shift, scale) halves of the last
block's context modulation. It is linear, so converting a checkpoint that holds only the LoRA's updates (zeros elsewhere)
gives the updates in diffusers' layout.

    updates = comfy_updates_in_diffusers_layout(load_file("pytorch_lora_weights_kohya.safetensors"), transformer.config)
    # {"transformer_blocks.0.attn.to_q.weight": tensor, ...}: what ComfyUI adds to each weight
"""

from __future__ import annotations

from typing import Any

import torch


class UpdatesCheckpoint(dict):
    """An original-layout checkpoint holding the LoRA's updates that answers zeros for every other key the converter pops, and
    remembers which keys it was asked for (the original layout's names)."""

    def __init__(self, updates: dict[str, torch.Tensor], config: Any) -> None:
        super().__init__(updates)
        self.asked: set[str] = set()
        self.setdefault("context_embedder.weight", torch.zeros(config.caption_projection_dim, 1))
        for index in range(config.num_layers):  # the converter counts blocks and dual-attention blocks from the keys
            self.setdefault(f"joint_blocks.{index}.x_block.attn.qkv.weight", torch.zeros(6))
            if index in tuple(config.dual_attention_layers or ()):
                self.setdefault(f"joint_blocks.{index}.x_block.attn2.qkv.weight", torch.zeros(6))

    def pop(self, key: str, *default: Any) -> torch.Tensor:
        self.asked.add(key)
        return super().pop(key) if key in self else torch.zeros(6)


def original_layout_keys(config: Any) -> set[str]:
    """The original MMDiT checkpoint's keys diffusers' converter reads for a transformer of this config."""
    from diffusers.loaders.single_file_utils import convert_sd3_transformer_checkpoint_to_diffusers

    probe = UpdatesCheckpoint({}, config)
    convert_sd3_transformer_checkpoint_to_diffusers(probe)
    return probe.asked


def comfy_updates(kohya: dict[str, torch.Tensor], original_keys: set[str]) -> dict[str, torch.Tensor]:
    """ComfyUI's updates per original-layout weight; fails for a key ComfyUI would not load."""
    key_map = {"lora_unet_" + key.removesuffix(".weight").replace(".", "_"): key for key in original_keys if key.endswith(".weight")}
    updates = {}
    for name in sorted({key.split(".", 1)[0] for key in kohya}):
        assert name in key_map, f"ComfyUI would not load {name}: no such module in the original SD 3 layout"
        down, up = kohya[f"{name}.lora_down.weight"].float(), kohya[f"{name}.lora_up.weight"].float()
        alpha = float(kohya[f"{name}.alpha"]) if f"{name}.alpha" in kohya else float(down.shape[0])
        updates[key_map[name]] = alpha / down.shape[0] * (up @ down)
    return updates


def comfy_updates_in_diffusers_layout(kohya: dict[str, torch.Tensor], config: Any) -> dict[str, torch.Tensor]:
    """The kohya file's updates as ComfyUI applies them, converted to the diffusers transformer's weight names (only the
    weights the file changes)."""
    from diffusers.loaders.single_file_utils import convert_sd3_transformer_checkpoint_to_diffusers

    updates = comfy_updates(kohya, original_layout_keys(config))
    converted = convert_sd3_transformer_checkpoint_to_diffusers(UpdatesCheckpoint(dict(updates), config))
    return {name: value for name, value in converted.items() if value.dim() == 2 and name != "context_embedder.weight"}
