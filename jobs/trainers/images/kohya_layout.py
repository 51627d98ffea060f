"""A transformer LoRA in the kohya (sd-scripts) key layout: diffusers' split projections fused back into the original
checkpoint's modules. Shared by FLUX.1 (:mod:`jobs.trainers.images.flux_kohya`) and SD 3.x (:mod:`jobs.trainers.images.sd3_kohya`).

A fused module's LoRA stacks its members' downs and puts their ups block-diagonally, so that ``up @ down`` is the members'
updates one above the other; ``alpha`` is multiplied by the number of members, so that ``alpha / rank`` (the scale
ComfyUI, Forge and sd-scripts apply, rank being the stacked down's rows) stays the trained scale. A member that carries no
LoRA gets zero weights. Keys: ``lora_unet_{block prefix}_{i}_{module}.lora_down.weight``, ``.lora_up.weight``, ``.alpha``.

    layouts = {"transformer_blocks": BlockLayout("joint_blocks", fused={...}, single={...})}
    kohya = kohya_state_dict(peft_weights, linear_shapes(transformer), alpha, layouts, "SD 3")
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from jobs.errors import UnsupportedError

if TYPE_CHECKING:
    import torch

BLOCK_KEY = re.compile(r"^([a-z_]+)\.(\d+)\.(.+)\.lora_([AB])\.weight$")


@dataclass(frozen=True)
class BlockLayout:
    """How one list of diffusers blocks (``transformer_blocks``) is named in the original checkpoint."""

    prefix: str
    """The original block list's name: ``double_blocks``, ``single_blocks``, ``joint_blocks``."""
    fused: dict[str, list[str]] = field(default_factory=dict)
    """Original module → the diffusers modules it fuses, in its row order (``x_block_attn_qkv`` → to_q, to_k, to_v)."""
    single: dict[str, str] = field(default_factory=dict)
    """diffusers module → original module, one to one."""


UpAdjust = Callable[[str, "torch.Tensor", "torch.Tensor"], "torch.Tensor"]
"""(diffusers module name, up, down) → the up in the original module's row order (SD 3's swapped modulation halves)."""


def _module_shape(shapes: dict[str, tuple[int, int]], name: str, family: str) -> tuple[int, int]:
    if name not in shapes:
        raise UnsupportedError(f"the {family} transformer has no module {name}; the kohya file cannot be written for this model")
    return shapes[name]


def _outside(module: str, family: str) -> UnsupportedError:
    return UnsupportedError(f"LoRA on {module} has no place in the kohya {family} layout; use the diffusers file")


def _by_block(peft_weights: dict[str, torch.Tensor], layouts: dict[str, BlockLayout], family: str) -> dict[tuple[str, int], dict[str, dict[str, torch.Tensor]]]:
    modules: dict[tuple[str, int], dict[str, dict[str, torch.Tensor]]] = {}
    for key, value in peft_weights.items():
        match = BLOCK_KEY.match(key)
        if match is None or match.group(1) not in layouts:
            raise _outside(key.rsplit(".lora_", 1)[0], family)
        kind, index, module, which = match.groups()
        modules.setdefault((kind, int(index)), {}).setdefault(module, {})[which] = value
    return modules


def kohya_state_dict(peft_weights: dict[str, torch.Tensor], linear_shapes: dict[str, tuple[int, int]], alpha: float,
                     layouts: dict[str, BlockLayout], family: str, adjust_up: UpAdjust | None = None) -> dict[str, torch.Tensor]:
    """The kohya-layout weights of a transformer LoRA given in PEFT naming (``transformer_blocks.0.attn.to_q.lora_A.weight``).

    ``linear_shapes`` maps each Linear's name in the transformer to its (out, in) features (for the zero parts of fused
    modules); ``family`` names the model in errors. Raises :class:`UnsupportedError` for a LoRA on a module the layouts
    do not name (e.g. the embedders).
    """
    import torch

    out: dict[str, torch.Tensor] = {}

    def put(name: str, down: torch.Tensor, up: torch.Tensor, parts: int) -> None:
        out[f"lora_unet_{name}.lora_down.weight"] = down.contiguous()
        out[f"lora_unet_{name}.lora_up.weight"] = up.contiguous()
        out[f"lora_unet_{name}.alpha"] = torch.tensor(float(alpha) * parts)

    def up_of(kind: str, index: int, module: str, weights: dict[str, torch.Tensor]) -> torch.Tensor:
        return adjust_up(f"{kind}.{index}.{module}", weights["B"], weights["A"]) if adjust_up else weights["B"]

    for (kind, index), trained in sorted(_by_block(peft_weights, layouts, family).items()):
        layout = layouts[kind]
        reference = next(iter(trained.values()))["A"]
        rank = reference.shape[0]
        for fused_name, members in layout.fused.items():
            if not any(member in trained for member in members):
                continue
            downs, ups = [], []
            for member in members:
                if member in trained:
                    downs.append(trained[member]["A"])
                    ups.append(up_of(kind, index, member, trained[member]))
                else:
                    out_features, in_features = _module_shape(linear_shapes, f"{kind}.{index}.{member}", family)
                    downs.append(torch.zeros(rank, in_features, dtype=reference.dtype))
                    ups.append(torch.zeros(out_features, rank, dtype=reference.dtype))
            put(f"{layout.prefix}_{index}_{fused_name}", torch.cat(downs), torch.block_diag(*ups), len(members))
        for module, kohya_name in layout.single.items():
            if module in trained:
                put(f"{layout.prefix}_{index}_{kohya_name}", trained[module]["A"], up_of(kind, index, module, trained[module]), 1)
        known = {member for members in layout.fused.values() for member in members} | set(layout.single)
        unknown = sorted(set(trained) - known)
        if unknown:
            raise _outside(f"{kind}.{index}.{unknown[0]}", family)
    return out


def linear_shapes(transformer: torch.nn.Module) -> dict[str, tuple[int, int]]:
    """(out, in) features of every Linear in the transformer's blocks (PEFT-wrapped ones by their base layer)."""
    import torch

    shapes = {}
    for name, module in transformer.named_modules():
        if isinstance(module, torch.nn.Linear) and name.startswith(("transformer_blocks.", "single_transformer_blocks.")):
            shapes[name.removesuffix(".base_layer")] = (module.out_features, module.in_features)
    return shapes
