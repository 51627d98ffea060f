"""The model families the GGUF export writes, as llama.cpp's own converter writes them, and why any other model is refused.

    from jobs.export.gguf_families import gguf_support
    folder = Path("data/models/job-7-merged")
    support = gguf_support(json.loads((folder / "config.json").read_text()), folder)
    support.exportable, support.reason, support.family.label

One :class:`Family` per transformers class: the llama.cpp architecture it becomes, whether q/k rows (and biases) are
permuted into llama.cpp's rotary layout, Gemma's stored norm offset (``1 + weight``), the rotary scalings and biases
llama.cpp reads for it, and the keys only that family has (Gemma 3's sliding window and local rotary base, Phi-3's
original context and partial rotary dimensions). Everything is decided from ``config.json`` (and ``tokenizer.json``)
alone, so the Models tab and the pre-flight can say whether a model exports before anything trains, and the export
refuses with the same sentence before it merges or writes a byte. Values and names follow llama.cpp's ``convert_hf_to_gguf.py`` (``conversion/llama.py``,
``qwen.py``, ``gemma.py``, ``phi.py``) and the loaders in its ``src/models/``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jobs.errors import AdaptaError
from jobs.export.gguf_vocab import tokenizer_refusal

ATTENTION_BIASES = ("q_proj.bias", "k_proj.bias", "v_proj.bias")
OUTPUT_BIAS = ("o_proj.bias",)
MLP_BIASES = ("gate_proj.bias", "up_proj.bias", "down_proj.bias")


@dataclass(frozen=True)
class Family:
    """How one transformers causal-LM class is written as GGUF."""

    label: str
    """The name people know (shown in refusals and the Models tab)."""
    gguf_arch: str
    """The ``gguf.MODEL_ARCH`` member name."""
    activation: str = "silu"
    """The only ``hidden_act`` llama.cpp's graph for this architecture computes."""
    permute_qk: bool = False
    """Llama-style rotary layout: llama.cpp stores q/k rows (weights and biases) interleaved per head."""
    norm_offset: float = 0.0
    """Added to every ``*norm.weight`` (Gemma's RMSNorm multiplies by ``1 + weight``; llama.cpp by the stored value)."""
    head_dim_free: bool = True
    """Whether llama.cpp reads ``attention.key_length`` for it (False: heads must be hidden / heads wide)."""
    biases: tuple[str, ...] = ()
    """Bias tensors llama.cpp loads for it (name suffixes); a model with any other bias is refused."""
    rope_types: tuple[str, ...] = ("default", "linear")
    """Rotary scalings written (``llama3`` as llama.cpp's ``rope_freqs`` tensor, ``longrope`` as its factor tensors)."""
    partial_rotary: bool = False
    """Whether only part of each head may be rotated (Phi-3's ``partial_rotary_factor``)."""
    extra: Callable[[Any, dict[str, Any]], None] | None = None
    """Writes the keys only this family has."""
    check: Callable[[dict[str, Any]], str | None] | None = None
    """Why a config of this family cannot be written, or None."""


@dataclass(frozen=True)
class GgufSupport:
    """Whether a model exports to GGUF, and if not, the one sentence that says why."""

    exportable: bool
    reason: str
    family: Family | None = None
    checked: bool = True
    """False when only the architecture was judged (the model's config.json and tokenizer are not on this machine yet)."""


# ---- the rotary settings, from either config layout ----------------------------------------------------------------------

def rope_settings(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(full-attention rotary parameters, sliding-window ones or None) from transformers 5's ``rope_parameters`` or the older
    ``rope_scaling`` + ``rope_theta`` keys; ``rope_type`` and ``rope_theta`` are always set."""
    params = config.get("rope_parameters") or {}
    if "full_attention" in params or "sliding_attention" in params:
        full, sliding = dict(params.get("full_attention") or {}), params.get("sliding_attention")
    else:
        full, sliding = dict(params or config.get("rope_scaling") or {}), None
    full.setdefault("rope_theta", config.get("rope_theta") or 10000.0)
    full["rope_type"] = full.get("rope_type") or full.get("type") or "default"
    if "partial_rotary_factor" not in full and config.get("partial_rotary_factor") is not None:
        full["partial_rotary_factor"] = config["partial_rotary_factor"]
    if sliding is None and config.get("rope_local_base_freq"):
        sliding = {"rope_type": "default", "rope_theta": config["rope_local_base_freq"]}
    if sliding is not None:
        sliding = {**sliding, "rope_type": sliding.get("rope_type") or sliding.get("type") or "default"}
    return full, sliding


def head_dim(config: dict[str, Any]) -> int:
    return int(config.get("head_dim") or int(config["hidden_size"]) // int(config["num_attention_heads"]))


def rope_dimensions(config: dict[str, Any]) -> int:
    """How many dimensions of each head are rotated (llama.cpp's ``rope.dimension_count``)."""
    full, _ = rope_settings(config)
    factor = float(full.get("partial_rotary_factor") or 1.0)
    if factor == 1.0:
        return head_dim(config)
    return int(factor * int(config["hidden_size"])) // int(config["num_attention_heads"])  # as llama.cpp's Phi-3 converter


def llama3_rope_factors(config: dict[str, Any]) -> np.ndarray:
    """Llama 3.1's per-frequency rotary factors, the ``rope_freqs`` tensor llama.cpp applies (its converter's formula)."""
    full, _ = rope_settings(config)
    dim = head_dim(config)
    base = float(full["rope_theta"])
    factor = float(full.get("factor", 8.0))
    low, high = float(full.get("low_freq_factor", 1.0)), float(full.get("high_freq_factor", 4.0))
    old_context = float(full.get("original_max_position_embeddings", 8192))
    low_wavelength, high_wavelength = old_context / low, old_context / high
    factors = []
    for frequency in 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float64) / dim)):
        wavelength = 2 * math.pi / frequency
        if wavelength < high_wavelength:
            factors.append(1.0)
        elif wavelength > low_wavelength:
            factors.append(factor)
        else:
            smooth = (old_context / wavelength - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.asarray(factors, dtype=np.float32)


def longrope_attention_factor(config: dict[str, Any]) -> float:
    """Phi-3's LongRoPE attention factor, as llama.cpp's converter computes it."""
    full, _ = rope_settings(config)
    original = float(config.get("original_max_position_embeddings") or full["original_max_position_embeddings"])
    scale = float(config["max_position_embeddings"]) / original
    return math.sqrt(1 + math.log(scale) / math.log(original)) if scale > 1.0 else 1.0


# ---- family-specific keys and checks ------------------------------------------------------------------------------------

def sliding_period(config: dict[str, Any]) -> int | None:
    """Gemma 3's layer pattern as llama.cpp's period (every ``period``-th layer global, the rest sliding), 0 when there is no
    sliding layer, None when the pattern is not periodic."""
    layers = int(config["num_hidden_layers"])
    wanted = int(config.get("sliding_window_pattern") or config.get("_sliding_window_pattern") or 6)
    types = config.get("layer_types")
    if not types:
        return wanted
    sliding = [kind == "sliding_attention" for kind in types]
    if not any(sliding):
        return 0
    for period in [wanted, *range(2, layers + 2)]:
        if all(sliding[index] == (index % period < period - 1) for index in range(layers)):
            return period
    return None


def _gemma3_check(config: dict[str, Any]) -> str | None:
    expected = int(config["hidden_size"]) // int(config["num_attention_heads"]) if int(config["num_hidden_layers"]) == 62 else head_dim(config)
    scalar = config.get("query_pre_attn_scalar")
    if scalar is not None and int(scalar) != expected:
        return (f"its query_pre_attn_scalar is {scalar} but llama.cpp scales Gemma 3 queries by 1/sqrt({expected}), so the file would "
                "answer differently")
    if config.get("attn_logit_softcapping"):
        return "it uses attention logit soft-capping, which llama.cpp's Gemma 3 does not compute"
    if sliding_period(config) is None:
        return f"its sliding/global layer pattern {config.get('layer_types')} is not periodic, which llama.cpp's Gemma 3 needs"
    _, sliding = rope_settings(config)
    if sliding is not None and sliding["rope_type"] != "default":
        return f"its sliding layers use {sliding['rope_type']} rotary scaling, which llama.cpp does not apply to them"
    return None


def _gemma3_extra(writer: Any, config: dict[str, Any]) -> None:
    period = sliding_period(config)
    if period:
        writer.add_sliding_window(int(config["sliding_window"]))
        writer.add_sliding_window_pattern(int(period))
        _, sliding = rope_settings(config)
        writer.add_rope_freq_base_swa(float((sliding or {}).get("rope_theta", 10000.0)))
    if config.get("final_logit_softcapping"):
        writer.add_final_logit_softcapping(float(config["final_logit_softcapping"]))


def _qwen2_check(config: dict[str, Any]) -> str | None:
    if config.get("use_sliding_window"):
        return "it uses a sliding attention window, which llama.cpp's Qwen2 does not apply"
    return None


def _phi3_extra(writer: Any, config: dict[str, Any]) -> None:
    full, _ = rope_settings(config)
    original = config.get("original_max_position_embeddings") or full.get("original_max_position_embeddings")
    writer.add_rope_scaling_orig_ctx_len(int(original or config["max_position_embeddings"]))
    writer.add_sliding_window(int(config.get("sliding_window") or 0))
    if full["rope_type"] == "longrope":
        writer.add_rope_scaling_attn_factors(longrope_attention_factor(config))


def _phi3_check(config: dict[str, Any]) -> str | None:
    full, _ = rope_settings(config)
    if full["rope_type"] == "longrope":
        if not full.get("long_factor") or not full.get("short_factor"):
            return "its LongRoPE settings lack long_factor or short_factor"
        if not (config.get("original_max_position_embeddings") or full.get("original_max_position_embeddings")):
            return "its LongRoPE settings lack original_max_position_embeddings"
    return None


def _smollm3_check(config: dict[str, Any]) -> str | None:
    layers = int(config["num_hidden_layers"])
    no_rope = config.get("no_rope_layers") or [int((index + 1) % 4 != 0) for index in range(layers)]
    if [bool(flag) for flag in no_rope] != [(index + 1) % 4 != 0 for index in range(layers)]:
        return "its layers without rotary embeddings are not every fourth layer, the only pattern llama.cpp's SmolLM3 knows"
    return None


LLAMA_BIASES = ATTENTION_BIASES + OUTPUT_BIAS + MLP_BIASES
FAMILIES: dict[str, Family] = {
    "LlamaForCausalLM": Family("Llama", "LLAMA", permute_qk=True, biases=LLAMA_BIASES, rope_types=("default", "linear", "llama3")),
    "MistralForCausalLM": Family("Mistral", "LLAMA", permute_qk=True, rope_types=("default", "linear", "llama3")),
    "Qwen2ForCausalLM": Family("Qwen2", "QWEN2", head_dim_free=False, biases=ATTENTION_BIASES, check=_qwen2_check),
    "Qwen3ForCausalLM": Family("Qwen3", "QWEN3", biases=ATTENTION_BIASES),
    "Gemma3ForCausalLM": Family("Gemma 3", "GEMMA3", activation="gelu_pytorch_tanh", norm_offset=1.0, biases=ATTENTION_BIASES,
                                extra=_gemma3_extra, check=_gemma3_check),
    "Phi3ForCausalLM": Family("Phi-3", "PHI3", head_dim_free=False, rope_types=("default", "longrope"), partial_rotary=True,
                              extra=_phi3_extra, check=_phi3_check),
    "SmolLM3ForCausalLM": Family("SmolLM3", "SMOLLM3", permute_qk=True, check=_smollm3_check),
}
"""transformers classes this export writes, mapped as llama.cpp maps them (Mistral is written as ``llama``)."""


def supported_families() -> str:
    return ", ".join(dict.fromkeys(family.label for family in FAMILIES.values()))


def _config_refusal(family: Family, config: dict[str, Any]) -> str | None:
    """Why llama.cpp cannot run this config of ``family`` as it is, or None."""
    activation = config.get("hidden_activation") or config.get("hidden_act") or family.activation  # Gemma reads the first
    if activation != family.activation:
        return f"its activation is {activation}, but llama.cpp's {family.label} computes {family.activation}"
    heads = int(config["num_attention_heads"])
    if not family.head_dim_free and head_dim(config) * heads != int(config["hidden_size"]):
        return (f"its heads are {head_dim(config)} wide, not hidden_size / heads = {int(config['hidden_size']) // heads}, and llama.cpp's "
                f"{family.label} assumes they are")
    full, _ = rope_settings(config)
    if full["rope_type"] not in family.rope_types:
        return (f"it uses {full['rope_type']} rotary scaling, which this export does not write for {family.label} "
                f"(it writes {', '.join(family.rope_types)})")
    if not family.partial_rotary and float(full.get("partial_rotary_factor") or 1.0) != 1.0:
        return f"it rotates only part of each head (partial_rotary_factor {full['partial_rotary_factor']}), which llama.cpp's {family.label} does not"
    if config.get("attention_bias") and not set(ATTENTION_BIASES + OUTPUT_BIAS) <= set(family.biases):
        return f"it has attention biases, which llama.cpp's {family.label} does not load"
    if config.get("mlp_bias") and not set(MLP_BIASES) <= set(family.biases):
        return f"it has MLP biases, which llama.cpp's {family.label} does not load"
    return family.check(config) if family.check else None


MODEL_TYPES = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM",
               "gemma3_text": "Gemma3ForCausalLM", "phi3": "Phi3ForCausalLM", "smollm3": "SmolLM3ForCausalLM"}
"""``config.json``'s ``model_type`` → the transformers class of :data:`FAMILIES` (for a model known only by its type, a GGUF file)."""


def unsupported_architecture(name: str) -> str:
    return (f"GGUF export does not support the {name} architecture yet; it supports {supported_families()} models (export the merged "
            "model as safetensors instead)")


def family_of(config: dict[str, Any]) -> tuple[str, Family]:
    """The model's transformers class and how to write it; one sentence (AdaptaError) saying why when it cannot be written."""
    names = config.get("architectures") or [str(config.get("model_type", "unknown"))]
    name = next((candidate for candidate in names if candidate in FAMILIES), None)
    if name is None:
        raise AdaptaError(unsupported_architecture(names[0]))
    family = FAMILIES[name]
    reason = _config_refusal(family, config)
    if reason:
        raise AdaptaError(f"this {family.label} model cannot be exported to GGUF: {reason} (export the merged model as safetensors "
                          "instead)")
    return name, family


def _tokenizer_refusal(folder: Path) -> str | None:
    tokenizer_json = folder / "tokenizer.json"
    if tokenizer_json.is_file():
        try:
            return tokenizer_refusal(json.loads(tokenizer_json.read_text(encoding="utf-8")), folder.name)
        except (OSError, ValueError) as error:
            return f"its tokenizer.json cannot be read ({error})"
    if (folder / "tokenizer.model").is_file():
        return (f"the tokenizer of {folder.name} is only a SentencePiece tokenizer.model, without the tokenizer.json GGUF export reads; "
                "load it with transformers' AutoTokenizer and save_pretrained it into the model folder to write one")
    return None


def gguf_support(config: dict[str, Any], folder: Path | None = None) -> GgufSupport:
    """Whether a model with this ``config.json`` (and, given its ``folder``, its tokenizer) exports to a GGUF llama.cpp runs,
    decided before anything trains."""
    try:
        _, family = family_of(config)
    except AdaptaError as error:
        return GgufSupport(False, str(error))
    except (KeyError, TypeError, ValueError) as error:
        return GgufSupport(False, f"its config.json lacks what GGUF export reads ({error}); export the merged model as safetensors instead")
    reason = _tokenizer_refusal(folder) if folder is not None else None
    if reason:
        return GgufSupport(False, f"this {family.label} model cannot be exported to GGUF: {reason}", family)
    return GgufSupport(True, f"exports to GGUF as llama.cpp's {family.gguf_arch.lower()} architecture", family)


def architecture_support(architecture: str) -> GgufSupport:
    """Whether models of ``architecture`` (a transformers class such as ``Qwen3ForCausalLM``, or a ``model_type`` such as
    ``qwen3``) export to GGUF, for a model whose config.json and tokenizer are not on this machine yet (``checked`` False)."""
    name = architecture if architecture in FAMILIES else MODEL_TYPES.get(architecture.split(" ")[0])
    if name is None:
        return GgufSupport(False, unsupported_architecture(architecture), checked=False)
    family = FAMILIES[name]
    return GgufSupport(True, f"{family.label} models export to GGUF as llama.cpp's {family.gguf_arch.lower()} architecture", family,
                       checked=False)


def model_gguf_support(source: Path | None, architecture: str) -> GgufSupport:
    """Whether a model exports to GGUF: from its ``config.json`` and tokenizer when ``source`` is its folder on this machine, else
    from its ``architecture`` alone (a Hub model not downloaded, a .gguf file)."""
    if source is not None and source.is_dir() and (source / "config.json").is_file():
        try:
            config = json.loads((source / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            return GgufSupport(False, f"its config.json cannot be read ({error})")
        return gguf_support(config, source)
    return architecture_support(architecture)
