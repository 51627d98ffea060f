"""Write a trained text-to-image LoRA in the diffusers format and in the kohya/A1111/ComfyUI format, side by side.

``adapter/pytorch_lora_weights.safetensors`` loads with ``pipe.load_lora_weights(folder)`` (the LoRA config,
alpha included, travels in the safetensors metadata). ``adapter/pytorch_lora_weights_kohya.safetensors``
holds the same weights with ``lora_unet_*`` / ``lora_te1_*`` / ``lora_te2_*`` keys and per-module ``.alpha``
tensors, the layout A1111, ComfyUI, Forge and diffusers' own kohya loader read. A FLUX.1 LoRA's kohya file has the BFL
``lora_unet_double_blocks_*`` / ``lora_unet_single_blocks_*`` keys (:mod:`jobs.trainers.images.flux_kohya`), an SD 3.x
LoRA's the original MMDiT's ``lora_unet_joint_blocks_*`` keys (:mod:`jobs.trainers.images.sd3_kohya`; ComfyUI and Forge
load it, diffusers has no reader for it). A transformer LoRA on a module outside the blocks (``lora.target_modules``
naming an embedder) has no kohya name: then only the diffusers file is written, and the log says why.

    from jobs.trainers.images.lora_files import save_lora
    files = save_lora(run_dir / "adapter", "sd", unet, {"text_encoder": None}, alpha=16)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs.errors import UnsupportedError
from jobs.trainers.images.flux_kohya import flux_kohya_state_dict
from jobs.trainers.images.kohya_layout import linear_shapes
from jobs.trainers.images.sd3_kohya import sd3_kohya_state_dict

if TYPE_CHECKING:  # torch loads in save_lora, so the file names can be imported cheaply (the Playground's image inference)
    import torch

DIFFUSERS_FILE = "pytorch_lora_weights.safetensors"
KOHYA_FILE = "pytorch_lora_weights_kohya.safetensors"
KOHYA_BASE_VERSION = {"sd": "sd_v1", "sdxl": "sdxl_base_v1-0", "flux": "flux1", "sd3": "sd3"}
KOHYA_NETWORK_MODULE = {"flux": "networks.lora_flux", "sd3": "networks.lora_sd3"}
TRANSFORMER_FAMILIES = {"flux": "FluxPipeline", "sd3": "StableDiffusion3Pipeline"}
TRANSFORMER_KOHYA_WRITERS = {"flux": flux_kohya_state_dict, "sd3": sd3_kohya_state_dict}
_log = logging.getLogger(__name__)


def lora_layers(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The LoRA weights of a PEFT-adapted module in PEFT naming (``...to_q.lora_A.weight``), which diffusers loads as is.

    Not ``convert_state_dict_to_diffusers``: it renames attention keys to the old ``lora.down`` names but leaves
    ``proj_in``/``ff`` keys in PEFT names, and diffusers' loader then drops one half of such a mixed file.
    """
    from peft.utils import get_peft_model_state_dict

    return get_peft_model_state_dict(module)


def _metadata(module: torch.nn.Module) -> dict[str, Any]:
    config = module.peft_config["default"].to_dict()
    return {key: sorted(value) if isinstance(value, set) else value for key, value in config.items()}


def _kohya_metadata(family: str, rank: int, alpha: float) -> dict[str, str]:
    return {"ss_network_module": KOHYA_NETWORK_MODULE.get(family, "networks.lora"), "ss_network_dim": str(rank),
            "ss_network_alpha": str(alpha), "ss_base_model_version": KOHYA_BASE_VERSION.get(family, family), "ss_training_tool": "adapta"}


def _save_transformer_lora(folder: Path, family: str, transformer: torch.nn.Module, alpha: float) -> dict[str, Path | None]:
    import diffusers
    from safetensors.torch import save_file

    weights = lora_layers(transformer)
    cls = getattr(diffusers, TRANSFORMER_FAMILIES[family])
    cls.save_lora_weights(str(folder), safe_serialization=True, transformer_lora_layers=weights, transformer_lora_adapter_metadata=_metadata(transformer))
    try:
        kohya = TRANSFORMER_KOHYA_WRITERS[family]({key: value.detach().float().cpu() for key, value in weights.items()},
                                                  linear_shapes(transformer), alpha)
    except UnsupportedError as error:
        _log.warning("no %s written: %s", KOHYA_FILE, error)
        return {"diffusers": folder / DIFFUSERS_FILE, "kohya": None}
    rank = next(int(value.shape[0]) for key, value in weights.items() if key.endswith("lora_A.weight"))
    save_file(kohya, str(folder / KOHYA_FILE), metadata=_kohya_metadata(family, rank, alpha))
    return {"diffusers": folder / DIFFUSERS_FILE, "kohya": folder / KOHYA_FILE}


def save_lora(folder: Path, family: str, unet: torch.nn.Module, text_encoders: dict[str, torch.nn.Module | None], alpha: float) -> dict[str, Path | None]:
    """Save the diffusers-format and kohya-format files into ``folder``; returns {"diffusers": path, "kohya": path or None}.
    For FLUX.1 and SD 3.x ``unet`` is the transformer (their text encoders are not trained)."""
    import torch
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline
    from diffusers.utils import convert_all_state_dict_to_peft, convert_state_dict_to_kohya
    from safetensors.torch import load_file, save_file

    folder.mkdir(parents=True, exist_ok=True)
    if family in TRANSFORMER_FAMILIES:
        return _save_transformer_lora(folder, family, unet, alpha)
    kwargs: dict[str, Any] = {"unet_lora_layers": lora_layers(unet), "unet_lora_adapter_metadata": _metadata(unet)}
    for name, encoder in text_encoders.items():
        if encoder is not None:
            kwargs[f"{name}_lora_layers"] = lora_layers(encoder)
            kwargs[f"{name}_lora_adapter_metadata"] = _metadata(encoder)
    cls = StableDiffusionXLPipeline if family == "sdxl" else StableDiffusionPipeline
    cls.save_lora_weights(str(folder), safe_serialization=True, **kwargs)

    diffusers_file = folder / DIFFUSERS_FILE
    kohya = convert_state_dict_to_kohya(convert_all_state_dict_to_peft(load_file(str(diffusers_file))))
    for key in kohya:
        if key.endswith(".alpha"):  # diffusers writes alpha = rank; the trained alpha is what scales the update
            kohya[key] = torch.tensor(float(alpha))
    rank = next(int(value.shape[0]) for key, value in kohya.items() if key.endswith("lora_down.weight"))
    metadata = _kohya_metadata(family, rank, alpha)
    kohya_file = folder / KOHYA_FILE
    save_file({key: value.contiguous() for key, value in kohya.items()}, str(kohya_file), metadata=metadata)
    return {"diffusers": diffusers_file, "kohya": kohya_file}
