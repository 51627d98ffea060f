"""Load a resolved base model and its tokenizer the safe way, and choose the training precision.

Everything loads with ``use_safetensors=True`` and ``trust_remote_code=False``. Causal LMs load with
``AutoModelForCausalLM``; classifiers with ``AutoModelForSequenceClassification`` and a new head sized to
the label names (``ignore_mismatched_sizes=True`` lets a checkpoint with another head load too).

    from jobs.models import resolve_model, load_tokenizer, load_base_model
    resolved = resolve_model("path/to/model")
    tokenizer = load_tokenizer(resolved)
    model = load_base_model(resolved, Task.CAUSAL_LM, pad_token_id=tokenizer.pad_token_id)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs.errors import ModelError, UnsupportedError
from jobs.models.hardware import default_dtype, hardware_from_torch, qlora_blocker
from jobs.models.source import ResolvedModel, check_model_safety, model_architecture_supported
from jobs.spec import Method, Precision, Task

if TYPE_CHECKING:  # torch and transformers load inside the functions, so importing this module (and jobs.models) stays cheap
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def load_tokenizer(resolved: ResolvedModel) -> PreTrainedTokenizerBase:
    """The model's tokenizer; when it has no pad token, the end-of-sequence token is used for padding."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved.path, trust_remote_code=False)
    except (OSError, ValueError) as error:
        raise ModelError(
            f"cannot load a tokenizer from {resolved.path} ({error}); the model folder needs its tokenizer files "
            "(tokenizer.json or tokenizer_config.json with its vocabulary)"
        ) from None
    if tokenizer.pad_token is None:
        fallback = tokenizer.eos_token or tokenizer.unk_token
        if fallback is None:
            raise ModelError(
                f"the tokenizer of {resolved.ref} has no pad, end-of-sequence or unknown token to pad with; pick another model"
            )
        tokenizer.pad_token = fallback
    return tokenizer


def load_sentence_transformer(folder: str | Path, *, dtype: torch.dtype | None = None, device: str | None = None) -> Any:
    """A sentence-transformers model from a checked local folder: safetensors only, no remote code, never the network.

    A plain transformers folder (no ``modules.json``) gets sentence-transformers' default mean pooling."""
    import torch
    from sentence_transformers import SentenceTransformer

    config = check_model_safety(Path(folder))
    model_architecture_supported(config, Task.SENTENCE_EMBEDDING)
    return SentenceTransformer(str(folder), device=device or ("cuda" if torch.cuda.is_available() else "cpu"), trust_remote_code=False,
                               local_files_only=True, model_kwargs={"use_safetensors": True, "dtype": dtype or torch.float32})


def load_base_model(
    resolved: ResolvedModel,
    task: Task,
    *,
    label_names: list[str] | None = None,
    dtype: torch.dtype | None = None,
    quantize_4bit: bool = False,
    device_map: Any = None,
    pad_token_id: int | None = None,
    attention: str | None = None,
) -> PreTrainedModel:
    """Load the base model for ``task``.

    ``label_names`` (text-classification only, required there) name the classes in order; they become
    ``config.id2label``/``label2id`` and size the new head. ``dtype`` defaults to float32 (see
    :func:`resolve_precision`). ``quantize_4bit`` loads NF4 weights for QLoRA (bitsandbytes; on a CUDA GPU
    computing in bf16, on the CPU in fp32).
    ``pad_token_id`` should be the tokenizer's; without it the config keeps its own or falls back to eos.
    ``attention`` is the attention implementation (:func:`jobs.models.hardware.choose_attention`); a model without support for
    ``flash_attention_2`` loads with transformers' default (SDPA, else eager) instead.
    """
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification

    task = Task(task)
    config = check_model_safety(resolved.path)
    model_architecture_supported(config, task)
    kwargs: dict[str, Any] = {
        "use_safetensors": True,
        "trust_remote_code": False,
        "dtype": dtype or torch.float32,
    }
    if quantize_4bit:
        cuda = torch.cuda.is_available()
        compute_dtype = torch.bfloat16 if cuda else torch.float32  # the CPU trains in fp32 (resolve_precision)
        kwargs["quantization_config"] = _four_bit_config(compute_dtype)
        kwargs["dtype"] = compute_dtype
        if device_map is None:
            device_map = {"": torch.cuda.current_device() if cuda else "cpu"}
    if device_map is not None:
        kwargs["device_map"] = device_map
    if task is Task.TEXT_CLASSIFICATION:
        names = [str(name) for name in (label_names or [])]
        if len(names) < 2 or len(set(names)) != len(names):
            raise ModelError(
                f"text-classification needs at least two distinct label names, got {names}; check the label column of the data"
            )
        kwargs.update(
            num_labels=len(names),
            id2label=dict(enumerate(names)),
            label2id={name: index for index, name in enumerate(names)},
            ignore_mismatched_sizes=True,
        )
        auto_class: Any = AutoModelForSequenceClassification
    elif task is Task.SENTENCE_EMBEDDING:
        auto_class = AutoModel  # the bare backbone; pooling lives in the sentence-transformers modules (load_sentence_transformer)
    else:
        auto_class = AutoModelForCausalLM
    if attention and attention != "sdpa":  # sdpa is transformers' own default (with eager where a model lacks it)
        kwargs["attn_implementation"] = attention
    try:
        try:
            model = auto_class.from_pretrained(resolved.path, **kwargs)
        except (ImportError, ValueError) as error:
            if "attn_implementation" not in kwargs:
                raise
            print(f"adapta: {attention} unavailable for {resolved.ref} ({str(error).splitlines()[0]}); using the default attention", flush=True)
            kwargs.pop("attn_implementation")
            model = auto_class.from_pretrained(resolved.path, **kwargs)
    except OSError as error:
        raise ModelError(f"cannot load model {resolved.ref} from {resolved.path} ({error}); re-download or re-convert it") from None
    _set_pad_token_id(model, pad_token_id)
    return model


def _set_pad_token_id(model: PreTrainedModel, pad_token_id: int | None) -> None:
    """Put a pad token id on the config (and the generation config) so batching and classification work."""
    if pad_token_id is None:
        pad_token_id = model.config.pad_token_id
    if pad_token_id is None:
        eos = model.config.eos_token_id
        pad_token_id = eos[0] if isinstance(eos, (list, tuple)) and eos else eos
    if pad_token_id is None:
        return
    model.config.pad_token_id = pad_token_id
    generation_config = getattr(model, "generation_config", None)
    if generation_config is not None and generation_config.pad_token_id is None:
        generation_config.pad_token_id = pad_token_id


def _four_bit_config(compute_dtype: torch.dtype) -> Any:
    """The QLoRA quantisation: NF4 with double quantisation, computing in ``compute_dtype`` (bf16 on a GPU, fp32 on the CPU).

    Raises :class:`UnsupportedError` where bitsandbytes is missing, or too old for the CPU (:func:`qlora_blocker`)."""
    blocker = qlora_blocker(hardware_from_torch())
    if blocker is not None:
        raise UnsupportedError(f"QLoRA {blocker}; or use method lora instead")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
    )


def resolve_precision(precision: Precision, method: Method | None = None) -> tuple[torch.dtype, dict[str, bool]]:
    """The dtype to load the base model in and the Trainer flags (``{"bf16": ..., "fp16": ...}``).

    auto: bf16 on a CUDA GPU that supports it, fp16 on other CUDA GPUs, fp32 on CPU. bf16 and fp16 need
    CUDA. Full fine-tuning keeps fp32 weights and lets autocast run in half precision (fp16 gradients of
    fp16 weights cannot be unscaled), so with ``method=Method.FULL`` the load dtype stays float32.
    """
    import torch

    precision = Precision(precision)
    cuda = torch.cuda.is_available()
    if precision is Precision.AUTO:
        precision = Precision(default_dtype(hardware_from_torch()))
    if precision is Precision.FP32:
        return torch.float32, {"bf16": False, "fp16": False}
    if not cuda:
        raise UnsupportedError(f"precision {precision.value} needs a CUDA GPU and this machine has none; use precision fp32 or auto")
    if precision is Precision.BF16 and not torch.cuda.is_bf16_supported():
        raise UnsupportedError("this GPU does not support bf16; use precision fp16 or auto")
    half = torch.bfloat16 if precision is Precision.BF16 else torch.float16
    load_dtype = torch.float32 if method is not None and Method(method) is Method.FULL else half
    return load_dtype, {"bf16": precision is Precision.BF16, "fp16": precision is Precision.FP16}


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; 4-bit packed weights count as the parameters they hold."""
    trainable = total = 0
    for parameter in model.parameters():
        count = parameter.numel()
        if parameter.__class__.__name__ == "Params4bit":  # two 4-bit values per byte of storage
            storage = getattr(parameter, "quant_storage", None)
            count *= 2 * (storage.itemsize if storage is not None else 1)
        total += count
        if parameter.requires_grad:
            trainable += count
    return trainable, total
