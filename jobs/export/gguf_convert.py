"""Write a transformers causal-LM folder (safetensors + tokenizer) as one GGUF file, offline, with the ``gguf`` library.

    from jobs.export.gguf_convert import convert_folder
    convert_folder("data/models/job-7-merged", "out/planets-Q8_0.gguf", "q8_0")

No llama.cpp checkout, no build and no network: the tensor names come from ``gguf``'s own tables
(``gguf.get_tensor_name_map``), the quantisers are ``gguf.quants`` (numpy), and the file is written the way
llama.cpp's ``convert_hf_to_gguf.py`` writes each family of :mod:`jobs.export.gguf_families` (q/k rows and biases
permuted for Llama's rotary layout, key/value lengths when heads are not hidden / heads wide, Gemma's norm offset,
rotary factors as tensors, norms and biases kept in F32, a tied embedding written once). A model, tensor or type
that cannot be written is refused with one sentence before the first byte is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jobs.errors import AdaptaError
from jobs.export.gguf_families import (
    Family,
    family_of,
    head_dim,
    llama3_rope_factors,
    rope_dimensions,
    rope_settings,
    supported_families,
)
from jobs.export.gguf_vocab import add_tokenizer, load_tokenizer, model_name
from jobs.models import read_config


@dataclass(frozen=True)
class QuantType:
    """One output type a user can pick: how 2-D weights are stored and how close to the original it must stay."""

    name: str
    """What the user types (``q8_0``) and what the file name carries (upper-cased)."""
    label: str
    weights: str
    """The ``GGMLQuantizationType`` name for 2-D weights."""
    embedding: str
    """The type for the token embedding (and untied output head): kept at 8 bits by the 4- and 5-bit types."""
    file_type: str
    """The ``LlamaFileType`` name written as ``general.file_type``."""
    min_top1: float
    """Verification: the least share of positions whose top-1 next token must match the merged model's."""
    exact_greedy: bool
    """Verification: greedy answers must be identical to the merged model's."""


QUANT_TYPES: dict[str, QuantType] = {
    quant.name: quant
    for quant in (
        QuantType("f16", "F16 (unquantised, 16-bit)", "F16", "F16", "MOSTLY_F16", 0.98, True),
        QuantType("bf16", "BF16 (unquantised, bfloat16)", "BF16", "BF16", "MOSTLY_BF16", 0.95, False),
        QuantType("q8_0", "Q8_0 (8-bit)", "Q8_0", "Q8_0", "MOSTLY_Q8_0", 0.90, False),
        QuantType("q5_1", "Q5_1 (5-bit, embedding at Q8_0)", "Q5_1", "Q8_0", "MOSTLY_Q5_1", 0.80, False),
        QuantType("q5_0", "Q5_0 (5-bit, embedding at Q8_0)", "Q5_0", "Q8_0", "MOSTLY_Q5_0", 0.80, False),
        QuantType("q4_1", "Q4_1 (4-bit, embedding at Q8_0)", "Q4_1", "Q8_0", "MOSTLY_Q4_1", 0.70, False),
        QuantType("q4_0", "Q4_0 (4-bit, embedding at Q8_0)", "Q4_0", "Q8_0", "MOSTLY_Q4_0", 0.70, False),
    )
}
"""The types the ``gguf`` library quantises in numpy. K-quants (Q4_K_M) need llama.cpp's C quantiser, which ``gguf`` lacks."""


def supported_architectures() -> str:
    return supported_families()


def quant_type(name: str) -> QuantType:
    """The :class:`QuantType` called ``name`` (any case), or a one-sentence refusal listing the choices."""
    key = (name or "").strip().lower()
    if key not in QUANT_TYPES:
        raise AdaptaError(f"GGUF type {name!r} is not offered; choose one of {', '.join(QUANT_TYPES)} (K-quants such as Q4_K_M "
                          "need llama.cpp's own quantize tool)")
    return QUANT_TYPES[key]


def architecture_of(config: dict[str, Any]) -> tuple[str, Family]:
    """The model's transformers class and its :class:`Family`; a one-sentence refusal for anything llama.cpp would not run."""
    return family_of(config)


def _permute(weights: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's rotary row order for one q or k projection (the inverse of transformers' ``_reverse_permute_weights``)."""
    return weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _read_tensors(folder: Path) -> Iterator[tuple[str, np.ndarray]]:
    """(name, float32 array) for every weight of the folder's safetensors files, one tensor in memory at a time."""
    from safetensors import safe_open

    for file in _weight_files(folder):
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 - safe_open is not a mapping
                yield key, handle.get_tensor(key).float().numpy()


def _encode(data: np.ndarray, qtype_name: str) -> tuple[np.ndarray, Any]:
    """``data`` (float32) stored as ``qtype_name``: F32 for 1-D tensors, F16 when rows do not fit the block size."""
    import gguf

    if data.ndim < 2:
        return data.astype(np.float32), gguf.GGMLQuantizationType.F32
    qtype = gguf.GGMLQuantizationType[qtype_name]
    if qtype is gguf.GGMLQuantizationType.F16:
        return data.astype(np.float16), qtype
    block, _ = gguf.GGML_QUANT_SIZES[qtype]
    if data.shape[-1] % block:
        return data.astype(np.float16), gguf.GGMLQuantizationType.F16
    return gguf.quants.quantize(data, qtype), qtype


def _weight_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise AdaptaError(f"{folder} has no .safetensors weights; save the model with save_pretrained before exporting to GGUF")
    return files


def tensor_plan(folder: Path, family: Family, config: dict[str, Any]) -> dict[str, str | None]:
    """Each safetensors tensor's GGUF name (None: not written), checked before anything is written: a tensor with no GGUF
    name, or a bias llama.cpp does not load for this family, is refused with one sentence."""
    import gguf
    from safetensors import safe_open

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH[family.gguf_arch], int(config["num_hidden_layers"]))
    tied = bool(config.get("tie_word_embeddings", family.gguf_arch == "GEMMA3"))
    plan: dict[str, str | None] = {}
    for file in _weight_files(folder):
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 - safe_open is not a mapping
                if key.endswith("rotary_emb.inv_freq") or (tied and key == "lm_head.weight"):
                    plan[key] = None
                    continue
                if key.endswith(".bias") and not (family.biases and key.endswith(family.biases)):
                    raise AdaptaError(f"tensor {key} of {folder.name} is a bias llama.cpp's {family.label} does not load; this model "
                                      "cannot be exported to GGUF (export the merged model as safetensors instead)")
                gguf_name = names.get_name(key, try_suffixes=(".weight", ".bias"))
                if gguf_name is None:
                    raise AdaptaError(f"tensor {key} of {folder.name} has no GGUF name; this model variant cannot be exported to GGUF")
                plan[key] = gguf_name
    return plan


def _prepared(hf_name: str, data: np.ndarray, family: Family, config: dict[str, Any]) -> np.ndarray:
    """A tensor as llama.cpp stores it: q/k rows in its rotary order (Llama-style families), Gemma's norm offset added."""
    heads = int(config["num_attention_heads"])
    if family.permute_qk and hf_name.endswith(("q_proj.weight", "q_proj.bias")):
        return _permute(data, heads)
    if family.permute_qk and hf_name.endswith(("k_proj.weight", "k_proj.bias")):
        return _permute(data, int(config.get("num_key_value_heads") or heads))
    if family.norm_offset and hf_name.endswith("norm.weight"):
        return data + np.float32(family.norm_offset)
    return data


def _rope_tensors(config: dict[str, Any]) -> list[tuple[str, np.ndarray]]:
    """Rotary factors llama.cpp reads as tensors: Llama 3.1's ``rope_freqs``, Phi-3's LongRoPE long and short factors."""
    full, _ = rope_settings(config)
    if full["rope_type"] == "llama3":
        return [("rope_freqs.weight", llama3_rope_factors(config))]
    if full["rope_type"] == "longrope":
        return [("rope_factors_long.weight", np.asarray(full["long_factor"], dtype=np.float32)),
                ("rope_factors_short.weight", np.asarray(full["short_factor"], dtype=np.float32))]
    return []


def _write_hyperparameters(writer: Any, family: Family, config: dict[str, Any]) -> None:
    heads = int(config["num_attention_heads"])
    full, _ = rope_settings(config)
    writer.add_context_length(int(config.get("max_position_embeddings") or 2048))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(heads)
    writer.add_head_count_kv(int(config.get("num_key_value_heads") or heads))
    if family.head_dim_free:
        writer.add_key_length(head_dim(config))
        writer.add_value_length(head_dim(config))
    writer.add_rope_dimension_count(rope_dimensions(config))
    writer.add_rope_freq_base(float(full["rope_theta"]))
    if full["rope_type"] == "linear":
        import gguf

        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(full["factor"]))
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps") or 1e-6))
    writer.add_vocab_size(int(config["vocab_size"]))
    if family.extra:
        family.extra(writer, config)


def convert_folder(folder: str | Path, output: str | Path, quant: str, *, name: str | None = None) -> Path:
    """Write the model in ``folder`` as ``output`` (GGUF) at ``quant``; returns ``output``. Written to a temporary name first."""
    import gguf

    folder, output, kind = Path(folder), Path(output), quant_type(quant)
    config = read_config(folder)
    _, family = family_of(config)
    plan = tensor_plan(folder, family, config)
    model_arch = gguf.MODEL_ARCH[family.gguf_arch]

    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    writer = gguf.GGUFWriter(str(partial), gguf.MODEL_ARCH_NAMES[model_arch], use_temp_file=True)  # tensors spool to disk
    writer.add_type(gguf.GGUFType.MODEL)
    tokenizer = load_tokenizer(folder)
    writer.add_name(model_name(name or folder.name, tokenizer))
    _write_hyperparameters(writer, family, config)
    writer.add_file_type(int(gguf.LlamaFileType[kind.file_type]))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    add_tokenizer(writer, tokenizer, folder, int(config["vocab_size"]))

    for gguf_name, data in _rope_tensors(config):
        writer.add_tensor(gguf_name, data, raw_dtype=gguf.GGMLQuantizationType.F32)
    for hf_name, data in _read_tensors(folder):
        gguf_name = plan.get(hf_name)
        if gguf_name is None:
            continue
        is_embedding = gguf_name in ("token_embd.weight", "output.weight")
        encoded, qtype = _encode(_prepared(hf_name, data, family, config), kind.embedding if is_embedding else kind.weights)
        writer.add_tensor(gguf_name, encoded, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.replace(output)
    return output
