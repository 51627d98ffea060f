"""A FLUX.1 transformer LoRA in the kohya (sd-scripts) key layout that ComfyUI and Forge load: BFL module names.

The diffusers transformer splits what the original FLUX.1 checkpoint fuses, so the split LoRAs are fused back the way
diffusers' own reader (``_convert_kohya_flux_lora_to_diffusers``) un-fuses them: the downs of q, k, v (and the single
blocks' MLP input) stacked, the ups block-diagonal, and ``alpha`` multiplied by the number of parts so that
``alpha / rank`` stays the trained scale. Parts that carry no LoRA get zero weights. Keys::

    lora_unet_double_blocks_{i}_img_attn_qkv / _txt_attn_qkv / _img_attn_proj / _txt_attn_proj
    lora_unet_double_blocks_{i}_img_mlp_0 / _img_mlp_2 / _txt_mlp_0 / _txt_mlp_2 / _img_mod_lin / _txt_mod_lin
    lora_unet_single_blocks_{i}_linear1 / _linear2 / _modulation_lin

each with ``.lora_down.weight``, ``.lora_up.weight`` and ``.alpha``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from jobs.errors import UnsupportedError

if TYPE_CHECKING:
    import torch

DOUBLE_FUSED = {"img_attn_qkv": ["attn.to_q", "attn.to_k", "attn.to_v"], "txt_attn_qkv": ["attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"]}
DOUBLE_SINGLE = {"attn.to_out.0": "img_attn_proj", "attn.to_add_out": "txt_attn_proj", "ff.net.0.proj": "img_mlp_0", "ff.net.2": "img_mlp_2",
                 "ff_context.net.0.proj": "txt_mlp_0", "ff_context.net.2": "txt_mlp_2", "norm1.linear": "img_mod_lin",
                 "norm1_context.linear": "txt_mod_lin"}
SINGLE_FUSED = {"linear1": ["attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"]}
SINGLE_SINGLE = {"proj_out": "linear2", "norm.linear": "modulation_lin"}
BLOCK_KEY = re.compile(r"^(transformer_blocks|single_transformer_blocks)\.(\d+)\.(.+)\.lora_([AB])\.weight$")


def _module_shape(shapes: dict[str, tuple[int, int]], name: str) -> tuple[int, int]:
    if name not in shapes:
        raise UnsupportedError(f"the FLUX transformer has no module {name}; the kohya file cannot be written for this model")
    return shapes[name]


def flux_kohya_state_dict(peft_weights: dict[str, torch.Tensor], linear_shapes: dict[str, tuple[int, int]], alpha: float) -> dict[str, torch.Tensor]:
    """The kohya/BFL-layout weights of a FLUX.1 transformer LoRA given in PEFT naming (``transformer_blocks.0.attn.to_q.lora_A.weight``).

    ``linear_shapes`` maps each Linear's name in the transformer to its (out, in) features (for the zero parts of fused
    modules). Raises :class:`UnsupportedError` for a LoRA on a module outside the BFL blocks (e.g. the embedders).
    """
    import torch

    modules: dict[tuple[str, int], dict[str, dict[str, torch.Tensor]]] = {}
    for key, value in peft_weights.items():
        match = BLOCK_KEY.match(key)
        if match is None:
            raise UnsupportedError(f"LoRA on {key.rsplit('.lora_', 1)[0]} has no place in the kohya FLUX layout; use the diffusers file")
        kind, index, module, which = match.groups()
        modules.setdefault((kind, int(index)), {}).setdefault(module, {})[which] = value
    out: dict[str, torch.Tensor] = {}

    def put(name: str, down: torch.Tensor, up: torch.Tensor, parts: int) -> None:
        out[f"lora_unet_{name}.lora_down.weight"] = down.contiguous()
        out[f"lora_unet_{name}.lora_up.weight"] = up.contiguous()
        out[f"lora_unet_{name}.alpha"] = torch.tensor(float(alpha) * parts)

    for (kind, index), trained in sorted(modules.items()):
        prefix, fused_map, single_map = (("double_blocks", DOUBLE_FUSED, DOUBLE_SINGLE) if kind == "transformer_blocks"
                                         else ("single_blocks", SINGLE_FUSED, SINGLE_SINGLE))
        rank = next(iter(trained.values()))["A"].shape[0]
        for fused_name, members in fused_map.items():
            if not any(member in trained for member in members):
                continue
            downs, ups = [], []
            for member in members:
                if member in trained:
                    downs.append(trained[member]["A"])
                    ups.append(trained[member]["B"])
                else:
                    out_features, in_features = _module_shape(linear_shapes, f"{kind}.{index}.{member}")
                    reference = next(iter(trained.values()))["A"]
                    downs.append(torch.zeros(rank, in_features, dtype=reference.dtype))
                    ups.append(torch.zeros(out_features, rank, dtype=reference.dtype))
            put(f"{prefix}_{index}_{fused_name}", torch.cat(downs), torch.block_diag(*ups), len(members))
        for module, kohya_name in single_map.items():
            if module in trained:
                put(f"{prefix}_{index}_{kohya_name}", trained[module]["A"], trained[module]["B"], 1)
        known = {member for members in fused_map.values() for member in members} | set(single_map)
        unknown = sorted(set(trained) - known)
        if unknown:
            raise UnsupportedError(f"LoRA on {kind}.{index}.{unknown[0]} has no place in the kohya FLUX layout; use the diffusers file")
    return out


def linear_shapes(transformer: torch.nn.Module) -> dict[str, tuple[int, int]]:
    """(out, in) features of every Linear in the transformer's blocks (PEFT-wrapped ones by their base layer)."""
    import torch

    shapes = {}
    for name, module in transformer.named_modules():
        if isinstance(module, torch.nn.Linear) and (name.startswith(("transformer_blocks.", "single_transformer_blocks."))):
            shapes[name.removesuffix(".base_layer")] = (module.out_features, module.in_features)
    return shapes
