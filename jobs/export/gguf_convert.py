"""Write a transformers causal-LM folder (safetensors + tokenizer) as one GGUF file, offline, with the ``gguf`` library.

    from jobs.export.gguf_convert import convert_folder
    convert_folder("data/models/job-7-merged", "out/planets-Q8_0.gguf", "q8_0")

No llama.cpp checkout, no build and no network: the tensor names come from ``gguf``'s own tables
(``gguf.get_tensor_name_map``), the quantisers are ``gguf.quants`` (numpy), and the file is written the way
llama.cpp's ``convert_hf_to_gguf.py`` writes these architectures (Llama's q/k rows permuted for its rotary
layout, norms and biases kept in F32, a tied embedding written once). Architectures outside
:data:`ARCHITECTURES` and tokenizers that are not byte-level BPE are refused with one sentence.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jobs.errors import AdaptaError
from jobs.export.gguf_vocab import add_tokenizer


@dataclass(frozen=True)
class QuantType:
    """One output type a user can pick: how 2-D weights are stored and how close to the original it must stay."""

    name: str
    """What the user types (``q8_0``) and what the file name carries (upper-cased)."""
    label: str
    weights: str
    """The ``GGMLQuantizationType`` name for 2-D weights."""
    embedding: str
    """The type for the token embedding (and untied output head): kept at 8 bits by the 4-bit type, as llama.cpp does."""
    file_type: str
    """The ``LlamaFileType`` name written as ``general.file_type``."""
    min_top1: float
    """Verification: the least share of positions whose top-1 token must match the merged model's."""
    exact_greedy: bool
    """Verification: greedy answers must be identical to the merged model's."""


QUANT_TYPES: dict[str, QuantType] = {
    quant.name: quant
    for quant in (
        QuantType("f16", "F16 (unquantised, 16-bit)", "F16", "F16", "MOSTLY_F16", 0.99, True),
        QuantType("bf16", "BF16 (unquantised, bfloat16)", "BF16", "BF16", "MOSTLY_BF16", 0.97, False),
        QuantType("q8_0", "Q8_0 (8-bit)", "Q8_0", "Q8_0", "MOSTLY_Q8_0", 0.95, False),
        QuantType("q4_0", "Q4_0 (4-bit, embedding at Q8_0)", "Q4_0", "Q8_0", "MOSTLY_Q4_0", 0.70, False),
    )
}
"""The types this converter writes. K-quants (Q4_K_M) need llama.cpp's C quantiser, which ``gguf`` does not ship."""


@dataclass(frozen=True)
class Architecture:
    gguf_arch: str
    """The ``gguf.MODEL_ARCH`` member name."""
    permute_qk: bool
    """Llama-style rotary layout: llama.cpp stores q/k rows interleaved per head (transformers undoes it on load)."""


ARCHITECTURES: dict[str, Architecture] = {
    "LlamaForCausalLM": Architecture("LLAMA", True),
    "MistralForCausalLM": Architecture("LLAMA", True),
    "Qwen2ForCausalLM": Architecture("QWEN2", False),
}
"""transformers classes this converter knows, mapped as llama.cpp maps them (Mistral is written as ``llama``)."""


def supported_architectures() -> str:
    return ", ".join(sorted(name.removesuffix("ForCausalLM") for name in ARCHITECTURES))


def quant_type(name: str) -> QuantType:
    """The :class:`QuantType` called ``name`` (any case), or a one-sentence refusal listing the choices."""
    key = (name or "").strip().lower()
    if key not in QUANT_TYPES:
        raise AdaptaError(f"GGUF type {name!r} is not offered; choose one of {', '.join(QUANT_TYPES)}")
    return QUANT_TYPES[key]


def architecture_of(config: dict[str, Any]) -> tuple[str, Architecture]:
    """The model's transformers class and how to write it; a one-sentence refusal for any other architecture."""
    names = config.get("architectures") or [str(config.get("model_type", "unknown"))]
    for name in names:
        if name in ARCHITECTURES:
            return name, ARCHITECTURES[name]
    raise AdaptaError(f"GGUF export does not support the {names[0]} architecture yet; it supports {supported_architectures()} "
                      "models (export the merged model as safetensors instead)")


def _permute(weights: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's rotary row order for one q or k projection (the inverse of transformers' ``_reverse_permute_weights``)."""
    return weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _read_tensors(folder: Path) -> Iterator[tuple[str, np.ndarray]]:
    """(name, float32 array) for every weight of the folder's safetensors files, one tensor in memory at a time."""
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise AdaptaError(f"{folder} has no .safetensors weights; save the model with save_pretrained before exporting to GGUF")
    for file in files:
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


def convert_folder(folder: str | Path, output: str | Path, quant: str, *, name: str | None = None) -> Path:
    """Write the model in ``folder`` as ``output`` (GGUF) at ``quant``; returns ``output``. Written to a temporary name first."""
    import gguf

    folder, output, kind = Path(folder), Path(output), quant_type(quant)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise AdaptaError(f"{folder} has no config.json; GGUF export needs a transformers model folder")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    _, arch = architecture_of(config)
    rope = config.get("rope_scaling") or config.get("rope_parameters") or {}
    if rope.get("rope_type", rope.get("type", "default")) not in ("default", None):
        raise AdaptaError(f"{folder.name} uses {rope.get('rope_type', rope.get('type'))} rotary scaling, which this GGUF converter does not "
                          "write yet; export the merged model as safetensors instead")
    model_arch = gguf.MODEL_ARCH[arch.gguf_arch]
    arch_name = gguf.MODEL_ARCH_NAMES[model_arch]
    blocks = int(config["num_hidden_layers"])
    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    hidden = int(config["hidden_size"])
    head_dim = int(config.get("head_dim") or hidden // heads)
    names = gguf.get_tensor_name_map(model_arch, blocks)

    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    writer = gguf.GGUFWriter(str(partial), arch_name, use_temp_file=True)  # encoded tensors spool to disk, not memory
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name or folder.name)
    writer.add_context_length(int(config.get("max_position_embeddings") or 2048))
    writer.add_embedding_length(hidden)
    writer.add_block_count(blocks)
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(config.get("rope_theta") or (config.get("rope_parameters") or {}).get("rope_theta") or 10000.0))
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps") or 1e-6))
    writer.add_vocab_size(int(config["vocab_size"]))
    writer.add_file_type(int(gguf.LlamaFileType[kind.file_type]))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    add_tokenizer(writer, folder, int(config["vocab_size"]))

    tied = bool(config.get("tie_word_embeddings", False))
    for hf_name, data in _read_tensors(folder):
        if hf_name.endswith("rotary_emb.inv_freq") or (tied and hf_name == "lm_head.weight"):
            continue
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise AdaptaError(f"tensor {hf_name} of {folder.name} has no GGUF name; this model variant cannot be exported to GGUF")
        if arch.permute_qk and hf_name.endswith("q_proj.weight"):
            data = _permute(data, heads)
        elif arch.permute_qk and hf_name.endswith("k_proj.weight"):
            data = _permute(data, kv_heads)
        is_embedding = gguf_name in ("token_embd.weight", "output.weight")
        encoded, qtype = _encode(data, kind.embedding if is_embedding else kind.weights)
        writer.add_tensor(gguf_name, encoded, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.replace(output)
    return output
