"""Find base models: search the Hugging Face Hub, describe one model, judge whether Adapta can adapt it here.

Everything degrades to the local catalog when the Hub cannot be reached (``HF_HUB_OFFLINE=1``, no network,
an error from the server): :func:`search_models` then returns the matching local models with a notice, and
:func:`model_info` describes local folders, ``.gguf`` files and the packaged models without any network.
The endpoint is read from ``HF_ENDPOINT`` at call time, so tests can point it at a loopback server. A Hub model's card
summary is read by :func:`fetch_hub_card_summary`, once per commit.

    from jobs.hub.search import search_models, model_info
    found = search_models("smollm", task="text-generation", sort="downloads")
    print(found.notice, [model["id"] for model in found.models])
    print(model_info("HuggingFaceTB/SmolLM2-135M-Instruct")["verdict"])
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.errors import ModelError
from jobs.hub.model_rows import card_summary, local_card, weights_bytes
from jobs.models.catalog import fit_tasks, local_catalog, packaged_for_hub_id, safetensors_params, task_hint
from jobs.models.hardware import QLORA_CPU_NOTE, Hardware, installed_kernels, qlora_blocker
from jobs.models.hub_cache import hub_cache_dir
from jobs.models.memory import estimate_for_config, format_bytes
from jobs.models.memory_budget import budget_memory, cpu_training_budget
from jobs.models.memory_job import workload_for
from jobs.models.pipelines import SUPPORTED_PIPELINES, SUPPORTED_TEXT
from jobs.models.source import PICKLE_SUFFIXES, model_architecture_supported
from jobs.spec import JobSpec, Method, Task

OFFLINE_NOTICE = "Hub unreachable (offline): showing local models"
TASK_FILTERS: dict[str, str] = {"text-generation": "text-generation", "text-classification": "text-classification", "text-to-image": "text-to-image",
                                "sentence-embedding": "sentence-similarity"}
"""Task filter names offered in the UI -> Hub pipeline tags."""
SORTS: dict[str, str] = {"downloads": "downloads", "likes": "likes", "recent": "last_modified"}
"""Sort names offered in the UI -> Hub sort keys."""
PIPELINE_TASKS: dict[str, Task] = {
    "text-generation": Task.CAUSAL_LM,
    "text2text-generation": Task.CAUSAL_LM,
    "text-classification": Task.TEXT_CLASSIFICATION,
    "sentence-similarity": Task.TEXT_CLASSIFICATION,
    "feature-extraction": Task.TEXT_CLASSIFICATION,
    "fill-mask": Task.TEXT_CLASSIFICATION,
}
SHAPE_KEYS = ("model_type", "hidden_size", "num_hidden_layers", "intermediate_size", "vocab_size", "num_attention_heads",
              "num_key_value_heads", "head_dim", "tie_word_embeddings", "text_config", "attention_probs_dropout_prob", "attention_dropout",
              "dim", "n_layers", "n_heads", "hidden_dim")
"""The config.json keys the memory estimate reads (the Hub's model info often carries only model_type and architectures)."""
_EXPAND = ["author", "cardData", "config", "downloads", "gated", "lastModified", "library_name", "likes", "pipeline_tag",
           "safetensors", "siblings", "tags"]
_SEARCH_EXPAND = ["author", "downloads", "likes", "pipeline_tag", "safetensors", "tags"]
"""What a search asks the Hub for each model (name, owner, size, licence tag, task, downloads and likes for the table)."""
_UNREACHABLE_FOR_SECONDS = 60.0
_unreachable_until = 0.0
_HUB_CARDS: dict[tuple[str, str], str] = {}
"""Card summaries already read, by (repo id, commit): checking a model again, or "Use this model", asks the Hub once."""


@dataclass
class HubSearch:
    """Search results: one dict per model; ``offline`` and ``notice`` say when the Hub could not be asked."""

    models: list[dict[str, Any]] = field(default_factory=list)
    offline: bool = False
    notice: str | None = None


def hub_client(token: str | bool | None = None) -> Any:
    """A Hub client for one caller: ``token`` is theirs (False: send none; None: this machine's default credentials)."""
    from huggingface_hub import HfApi

    return HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token)


def hub_offline() -> bool:
    """True when offline mode is on or the Hub failed within the last minute (so the UI does not wait again)."""
    from huggingface_hub import constants

    return bool(constants.is_offline_mode()) or time.monotonic() < _unreachable_until


def _mark_unreachable() -> None:
    global _unreachable_until
    _unreachable_until = time.monotonic() + _UNREACHABLE_FOR_SECONDS


def network_errors() -> tuple[type[BaseException], ...]:
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    errors: list[type[BaseException]] = [OfflineModeIsEnabled, HfHubHTTPError, OSError, TimeoutError, ValueError]
    for module_name in ("httpx", "httpx2"):
        try:
            module = __import__(module_name)
            errors.append(module.HTTPError)
            errors.append(module.TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


def local_models(query: str = "", task: str | None = None) -> list[dict[str, Any]]:
    """The local catalog as search rows, filtered by a free-text query and a task filter."""
    wanted = Task.SENTENCE_EMBEDDING if task == "sentence-embedding" else PIPELINE_TASKS.get(task or "")
    rows = []
    for entry in local_catalog():
        if query and query.lower() not in f"{entry.name} {entry.ref}".lower():
            continue
        if task == "text-to-image" or (wanted is not None and entry.task_hint is not None and wanted not in fit_tasks(entry)):
            continue
        rows.append({"id": entry.ref, "name": entry.name, "source": entry.source, "task": entry.task_hint.value if entry.task_hint else None,
                     "architecture": entry.architecture, "size": format_bytes(entry.size_bytes), "size_bytes": entry.size_bytes, "downloads": None,
                     "likes": None})
    return rows


def search_models(query: str = "", task: str | None = None, sort: str = "downloads", limit: int = 20, token: str | bool | None = None) -> HubSearch:
    """Search the Hub (free text, task filter, sort by downloads / likes / recent); fall back to local models."""
    if task and task not in TASK_FILTERS:
        raise ModelError(f"task filter {task!r} is unknown; use one of {', '.join(TASK_FILTERS)}")
    if sort not in SORTS:
        raise ModelError(f"sort {sort!r} is unknown; use one of {', '.join(SORTS)}")
    if hub_offline():
        return HubSearch(local_models(query, task), offline=True, notice=OFFLINE_NOTICE)
    try:
        found = list(hub_client(token).list_models(search=query or None, pipeline_tag=TASK_FILTERS.get(task or ""), sort=SORTS[sort],
                                        limit=max(1, min(int(limit), 100)), expand=_SEARCH_EXPAND))
    except network_errors():
        _mark_unreachable()
        return HubSearch(local_models(query, task), offline=True, notice=OFFLINE_NOTICE)
    rows = [{"id": info.id, "name": info.id, "source": "hub", "task": info.pipeline_tag, "architecture": None, "size": None,
             "downloads": info.downloads, "likes": info.likes, "owner": info.author, "license": _tag_license(info.tags),
             "parameters": getattr(info.safetensors, "total", None), "size_bytes": weights_bytes(getattr(info.safetensors, "parameters", None))}
            for info in found]
    return HubSearch(rows)


def _tag_license(tags: list[str] | None) -> str | None:
    """The licence a Hub model declares through its ``license:NAME`` tag, or None."""
    return next((tag.split(":", 1)[1] for tag in tags or [] if tag.startswith("license:")), None)


def available_memory() -> tuple[str, int]:
    """(device description, bytes a new job may use) here: the first CUDA GPU's memory less a reserve, else the CPU's total RAM
    less what running training processes hold and a reserve (not a momentary free figure, which swings with caches)."""
    try:
        import torch

        if torch.cuda.is_available():
            properties = torch.cuda.get_device_properties(0)
            return f"GPU {properties.name} ({format_bytes(properties.total_memory)})", budget_memory(int(properties.total_memory))
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return cpu_training_budget()


def _gguf_description(path: Path) -> tuple[dict[str, Any], int | None]:
    """A config-like dict and the parameter count of a .gguf file (read with the gguf package, no dequantising)."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))

    def field_value(name: str) -> Any:
        item = reader.fields.get(name)
        return item.contents() if item is not None else None

    arch = str(field_value("general.architecture") or "unknown")
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    config = {"model_type": arch, "hidden_size": field_value(f"{arch}.embedding_length"), "num_hidden_layers": field_value(f"{arch}.block_count"),
              "intermediate_size": field_value(f"{arch}.feed_forward_length"), "num_attention_heads": field_value(f"{arch}.attention.head_count"),
              "num_key_value_heads": field_value(f"{arch}.attention.head_count_kv"), "vocab_size": len(tokens.data) if tokens is not None else None}
    config = {key: value for key, value in config.items() if value is not None}
    return config, int(sum(int(tensor.n_elements) for tensor in reader.tensors)) or None


def _local_source(ref: str) -> Path | None:
    """A local folder or .gguf for ``ref`` (folder, file, cached Hub id, packaged Hub id), or None."""
    path = Path(ref).expanduser()
    if path.is_dir() or (path.is_file() and path.suffix.lower() == ".gguf"):
        return path
    packaged = packaged_for_hub_id(ref)
    if packaged:
        return Path(packaged)
    if "/" in ref and not path.exists():
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(ref, cache_dir=hub_cache_dir(), local_files_only=True))
        except Exception:  # noqa: BLE001 - not cached is the normal case
            return None
    return None


def _describe_local(ref: str, source: Path) -> dict[str, Any]:
    if source.suffix.lower() == ".gguf":
        config, params = _gguf_description(source)
        files = [source.name]
        architecture = f"{config['model_type']} (GGUF)"
    elif (source / "model_index.json").is_file():
        return _describe_local_pipeline(ref, source)
    else:
        config_file = source / "config.json"
        if not config_file.is_file():
            raise ModelError(f"{source} has no config.json, so it is not a transformers model folder; pick the folder that holds config.json")
        config = json.loads(config_file.read_text(encoding="utf-8"))
        files = sorted(entry.name for entry in source.iterdir())
        params = safetensors_params(sorted(source.glob("*.safetensors")))
        architecture = ((config.get("architectures") or [None])[0]) or str(config.get("model_type") or "unknown")
    hinted = task_hint(architecture, str(config.get("model_type") or ""))
    summary, license_name = local_card(source)
    return _describe(ref, "local", config, files, params, hinted, license_name=license_name, gated=False, tags=[], card_summary=summary)


def _describe_local_pipeline(ref: str, source: Path) -> dict[str, Any]:
    """A local diffusers folder (``model_index.json`` + one folder per component), described like a Hub pipeline."""
    try:
        index = json.loads((source / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelError(f"{source / 'model_index.json'} cannot be read ({error}); download the model again") from None
    files = sorted(path.relative_to(source).as_posix() for path in source.rglob("*") if path.is_file())
    weights = sorted(source.glob("*/*.safetensors"))
    full_precision = [path for path in weights if ".fp16." not in path.name]
    summary, license_name = local_card(source)
    return _describe(ref, "local", {"diffusers": {"_class_name": index.get("_class_name")}}, files, safetensors_params(full_precision or weights),
                     Task.TEXT_TO_IMAGE, license_name=license_name, gated=False, tags=["diffusers"], card_summary=summary)


def diffusers_pipeline(config: dict[str, Any], tags: Iterable[str]) -> str | None:
    """The diffusers pipeline class a model declares (``model_index.json``'s ``_class_name``, or the Hub's
    ``diffusers:<class>`` tag), or None for a model that is not a diffusers pipeline."""
    declared = (config.get("diffusers") or {}).get("_class_name")
    if declared:
        return str(declared)
    return next((tag.split(":", 1)[1] for tag in tags if tag.startswith("diffusers:")), None)


def fetch_hub_card_summary(repo_id: str, token: str | bool | None, files: Iterable[str], commit: str | None = None) -> str:
    """The summary of a Hub repo's README.md, read over HTTP (nothing lands in the cache) once per commit; "" when absent or
    unreachable."""
    if "README.md" not in set(files):
        return ""
    key = (repo_id, commit or "main")
    if key in _HUB_CARDS:
        return _HUB_CARDS[key]
    from huggingface_hub import get_session, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    try:
        url = hf_hub_url(repo_id, "README.md", revision=commit, endpoint=hub_client(token).endpoint)
        response = get_session().get(url, headers=build_hf_headers(token=token), timeout=10, follow_redirects=True)
    except network_errors():
        return ""
    if len(_HUB_CARDS) >= 256:
        _HUB_CARDS.clear()
    _HUB_CARDS[key] = card_summary(response.text) if response.status_code == 200 else ""
    return _HUB_CARDS[key]


def model_info(ref: str, batch_size: int = 8, seq_len: int = 512, token: str | bool | None = None, card: bool = False,
               **memory_settings: Any) -> dict[str, Any]:
    """Describe one model (local first, then the Hub): card summary, parameters, license, gated, formats, verdict, memory.

    ``card``: also read a Hub model's README.md for the summary (one small request per commit; the Models tab's detail view).

    ``memory_settings`` go to :func:`memory_table` (gradient_checkpointing, precision_bytes, lora_r, lora_targets)."""
    ref = (ref or "").strip()
    if not ref:
        raise ModelError("no model given; pick a model from the list or type a Hub id or a local folder")
    source = _local_source(ref)
    if source is not None:
        info = _describe_local(ref, source)
        info["local_source"] = str(source)  # the folder or .gguf described (what the Models tab reads the GGUF verdict from)
    else:
        if hub_offline():
            raise ModelError(f"model {ref} is not on this machine and the Hub is unreachable (offline); pick a local model or a folder")
        try:
            found = hub_client(token).model_info(ref, expand=_EXPAND)
        except network_errors() as error:
            from huggingface_hub.errors import RepositoryNotFoundError

            if isinstance(error, RepositoryNotFoundError):
                raise ModelError(f"there is no model {ref} on the Hub; check the spelling (org/name)") from None
            _mark_unreachable()
            raise ModelError(f"model {ref} is not on this machine and the Hub is unreachable ({OFFLINE_NOTICE})") from None
        card_data = found.card_data.to_dict() if found.card_data is not None else {}
        safetensors = getattr(found, "safetensors", None)
        params = int(safetensors.total) if safetensors is not None and getattr(safetensors, "total", None) else None
        files = sorted(sibling.rfilename for sibling in (found.siblings or []))
        summary = str(card_data.get("model_description") or card_data.get("description") or "")[:400]
        summary = summary or (fetch_hub_card_summary(ref, token, files, found.sha) if card else "")
        hinted = PIPELINE_TASKS.get(found.pipeline_tag or "")
        info = _describe(ref, "hub", dict(found.config or {}), files, params, hinted, license_name=card_data.get("license") or _tag_license(found.tags),
                         gated=bool(found.gated), tags=list(found.tags or []), card_summary=summary, pipeline_tag=found.pipeline_tag)
    info["memory"] = memory_table(info, batch_size=batch_size, seq_len=seq_len, **memory_settings)
    return info


def _formats(files: list[str]) -> list[str]:
    kinds = {".safetensors": "safetensors", ".gguf": "gguf", ".onnx": "onnx", **{suffix: "pickle" for suffix in PICKLE_SUFFIXES}}
    return sorted({kind for name in files for suffix, kind in kinds.items() if name.lower().endswith(suffix)})


def _describe(ref: str, where: str, config: dict[str, Any], files: list[str], params: int | None, task: Task | None, *, license_name: Any,
              gated: bool, tags: list[str], card_summary: str, pipeline_tag: str | None = None) -> dict[str, Any]:
    formats = _formats(files)
    needs_remote_code = bool(config.get("auto_map")) or "custom_code" in tags
    pickle_only = "pickle" in formats and "safetensors" not in formats and "gguf" not in formats
    reasons: list[str] = []
    pipeline = diffusers_pipeline(config, tags)
    if pipeline is not None or pipeline_tag == "text-to-image" or "diffusers" in tags:
        task = Task.TEXT_TO_IMAGE
        if pipeline not in SUPPORTED_PIPELINES:
            what = f"a {pipeline}" if pipeline else "not a diffusers pipeline"
            reasons.append(f"Adapta trains text-to-image LoRA on {SUPPORTED_TEXT} pipelines and this model is {what}; "
                           "pick one of those in the diffusers layout")
    if needs_remote_code:
        reasons.append("it needs trust_remote_code, which Adapta keeps off for safety")
    if pickle_only:
        reasons.append("it ships only pickle weights (.bin/.pt), which can run code when loaded")
    if not formats and where == "hub":
        reasons.append("no weight files were listed")
    model_type = str(config.get("model_type") or "")
    if task is not None and model_type and not reasons:
        try:
            model_architecture_supported(config, task)
        except ModelError as error:
            reasons.append(str(error))
    architecture = ((config.get("architectures") or [None])[0]) or model_type or pipeline or "unknown"
    return {
        "id": ref, "source": where, "pipeline_tag": pipeline_tag, "task": task.value if task else None, "architecture": architecture,
        "model_type": model_type, "parameters": params, "license": license_name, "gated": gated, "formats": formats,
        "needs_remote_code": needs_remote_code, "pickle_only": pickle_only, "card_summary": card_summary,
        "verdict": {"ok": not reasons, "reasons": reasons},
        "hidden_size": config.get("hidden_size"), "num_layers": config.get("num_hidden_layers"), "vocab_size": config.get("vocab_size"),
        "shape": {key: config[key] for key in SHAPE_KEYS if key in config},
    }


def memory_table(info: dict[str, Any], batch_size: int = 8, seq_len: int = 512, *, gradient_checkpointing: bool = False,
                 precision_bytes: int | None = None, lora_r: int = 8, lora_targets: Any = "auto",
                 job: JobSpec | None = None) -> dict[str, dict[str, Any]]:
    """Per method: estimated peak bytes (:func:`jobs.models.memory.estimate_for_config`: weights at the precision, gradients,
    optimizer, activations with or without gradient checkpointing, logits), a readable line, and whether it fits here.
    ``job``: count what its task and objective make of a batch (:func:`jobs.models.memory_job.workload_for`; default causal-LM
    SFT for a decoder)."""
    device, available = available_memory()
    on_cpu = device.startswith("CPU")
    qlora_blocked = qlora_blocker(Hardware(kernels=installed_kernels())) if on_cpu else None  # on a GPU: launch.py doctor says
    qlora_note = (f" (QLoRA {qlora_blocked})" if qlora_blocked else f" ({QLORA_CPU_NOTE})") if on_cpu else ""
    params = info.get("parameters")
    shape = info.get("shape") or {}
    table: dict[str, dict[str, Any]] = {}
    for method in Method:
        if not params:
            table[method.value] = {"bytes": None, "human": "unknown (parameter count not published)", "fits": None, "device": device}
            continue
        estimated = Method.LORA if on_cpu and method is Method.QLORA else method  # no 4-bit saving on the CPU (QLORA_CPU_NOTE)
        estimate = estimate_for_config(shape, int(params), estimated, batch_size=batch_size, seq_len=seq_len,
                                       precision_bytes=precision_bytes or (4 if on_cpu else 2), gradient_checkpointing=gradient_checkpointing,
                                       lora_r=lora_r, lora_targets=lora_targets, device="cpu" if on_cpu else "cuda",
                                       workload=workload_for(job, estimated) if job is not None else None)
        fits = estimate.total <= available and not (method is Method.QLORA and qlora_blocked)
        note = qlora_note if method is Method.QLORA else ""
        table[method.value] = {"bytes": estimate.total, "human": estimate.human() + note, "fits": fits, "device": device}
    return table
