"""The local Hugging Face cache, read without the network: where it is, which files of a repo a job loads, and whether a
cached snapshot holds them all.

:func:`cached_snapshot` is how a Hub id resolves to a folder (:func:`jobs.models.source.from_hub_cache`) and how a run
knows it need not download (:mod:`jobs.hub.fetch`); :func:`select_files` is also what a download plans to fetch
(:mod:`jobs.hub.download_plan`), so a finished download and a complete snapshot mean the same files. Writing into the
cache is :mod:`jobs.hub.download`'s job.

    from jobs.models.hub_cache import cached_snapshot
    folder = cached_snapshot("HuggingFaceTB/SmolLM2-135M-Instruct")  # None when not (completely) cached
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

RepoKind = Literal["transformers", "diffusers"]

TEXT_MODEL_FILES = frozenset({
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
    "added_tokens.json", "vocab.json", "vocab.txt", "merges.txt", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model",
    "chat_template.jinja", "chat_template.json", "model.safetensors.index.json",
})
"""Top-level files of a transformers model repo that loading the model and its tokenizer may read."""
SENTENCE_TRANSFORMERS_FILES = frozenset({"modules.json", "sentence_bert_config.json", "config_sentence_transformers.json"})
"""Top-level files of a sentence-transformers model: its module list, maximum length and prompts."""
SENTENCE_TRANSFORMERS_MODULE_CONFIGS = ("1_Pooling/config.json", "2_Normalize/config.json")
"""The small config files of its pooling and normalisation modules (no weights of their own)."""
PIPELINE_COMPONENTS = ("unet", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler", "feature_extractor")
"""The diffusers components the text-to-image trainer loads (safety checker and image encoder are never loaded)."""
_PIPELINE_SMALL_FILES = (".json", ".txt", ".model")
_SHARD = re.compile(r"-\d{5}-of-\d{5}")
_COMMIT = re.compile(r"[0-9a-f]{40}")


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder, read from the environment now (HF_HUB_CACHE, HF_HOME), not at import."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(variable):
            return Path(os.environ[variable]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "huggingface" / "hub"


def scan_hub_cache() -> Any:
    """``huggingface_hub``'s scan of the Hugging Face cache (``HFCacheInfo``), or None when there is no cache yet."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        return scan_cache_dir(hub_cache_dir())
    except (CacheNotFound, OSError):
        return None


def repo_cache_folder(repo_id: str, cache_dir: Path | None = None) -> Path:
    """``<cache>/models--org--name``, the folder the Hugging Face cache keeps one model repo in."""
    from huggingface_hub.file_download import repo_folder_name

    return (cache_dir or hub_cache_dir()) / repo_folder_name(repo_id=repo_id, repo_type="model")


def is_commit_hash(revision: str) -> bool:
    """True when ``revision`` is a full commit hash (40 hex digits) rather than a branch or tag."""
    return bool(_COMMIT.fullmatch(revision))


# ---- which files -------------------------------------------------------------------------------------------------


def repo_kind(paths: list[str] | set[str]) -> RepoKind:
    """diffusers when the repo has a ``model_index.json`` at its root, else transformers."""
    return "diffusers" if "model_index.json" in set(paths) else "transformers"


def _is_variant_weight(name: str, variant: str) -> bool:
    return f".{variant}." in name


def select_files(paths: list[str] | set[str], kind: RepoKind | None = None, *, half_precision: bool = False) -> tuple[list[str], str | None]:
    """The repo paths a job loads, and the diffusers variant chosen (``fp16`` or None).

    transformers: the top-level config, tokenizer and generation files and the ``*.safetensors`` weights (``model*``
    shards when present, so a duplicate such as ``consolidated.safetensors`` is skipped), plus a sentence-transformers
    model's module files (``modules.json``, its pooling config); never pickles, ONNX, flax, TF or other subfolders.
    diffusers: ``model_index.json`` and, per component the trainer loads, its small config/vocabulary files and its
    safetensors weights, the ``fp16`` variant when ``half_precision`` (or when it is the only one).
    """
    names = sorted(set(paths))
    kind = kind or repo_kind(names)
    if kind == "transformers":
        top = [name for name in names if "/" not in name]
        weights = [name for name in top if name.endswith(".safetensors")]
        model_weights = [name for name in weights if name.startswith("model")]
        chosen = [name for name in top if name in TEXT_MODEL_FILES | SENTENCE_TRANSFORMERS_FILES or name.endswith(".tiktoken")]
        chosen += [name for name in names if name in SENTENCE_TRANSFORMERS_MODULE_CONFIGS]
        return sorted(chosen + (model_weights or weights)), None
    chosen = ["model_index.json"] if "model_index.json" in names else []
    variant = None
    for component in PIPELINE_COMPONENTS:
        inside = [name for name in names if name.startswith(f"{component}/") and name.count("/") == 1]
        chosen += [name for name in inside if name.endswith(_PIPELINE_SMALL_FILES) and ".index." not in name]
        weights = [name for name in inside if name.endswith(".safetensors")]
        plain = [name for name in weights if not _is_variant_weight(name, "fp16")]
        half = [name for name in weights if _is_variant_weight(name, "fp16")]
        use_half = bool(half) and (half_precision or not plain)
        picked = half if use_half else plain
        if use_half:
            variant = "fp16"
        chosen += picked
        if any(_SHARD.search(name) for name in picked):  # sharded weights need their index
            suffix = ".index.fp16.json" if use_half else ".index.json"
            chosen += [name for name in inside if name.endswith(suffix)]
    return sorted(set(chosen)), variant


# ---- what the cache holds ----------------------------------------------------------------------------------------


def cached_commit(repo_id: str, revision: str | None = None, cache_dir: Path | None = None) -> str | None:
    """The commit the cache holds for ``revision`` (a commit hash is returned as is when its snapshot exists)."""
    folder = repo_cache_folder(repo_id, cache_dir)
    wanted = revision or "main"
    if is_commit_hash(wanted):
        return wanted if (folder / "snapshots" / wanted).is_dir() else None
    ref = folder / "refs" / wanted
    try:
        commit = ref.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return commit if commit and (folder / "snapshots" / commit).is_dir() else None


def cached_snapshot(repo_id: str, revision: str | None = None, *, half_precision: bool = False, cache_dir: Path | None = None) -> Path | None:
    """The cached snapshot folder of ``repo_id`` at ``revision`` when every file a job needs is there (no network), else None.

    When the cache holds the repo's tree listing (written by ``snapshot_download``), the files a job needs are checked one by
    one, so an interrupted download is never taken for a finished one.
    """
    from huggingface_hub import get_cached_repo_tree
    from huggingface_hub.errors import CachedRepoTreeNotFoundError

    commit = cached_commit(repo_id, revision, cache_dir)
    if commit is None:
        return None
    folder = repo_cache_folder(repo_id, cache_dir) / "snapshots" / commit
    try:
        tree = [entry.path for entry in get_cached_repo_tree(repo_id, revision=commit, cache_dir=cache_dir or hub_cache_dir())]
    except (CachedRepoTreeNotFoundError, OSError, ValueError):
        tree = None
    if tree is not None:
        needed, _ = select_files(tree, half_precision=half_precision)
        if not needed or any(not (folder / name).is_file() for name in needed):
            return None
        return folder
    return folder if any(path.is_file() for path in folder.rglob("*")) else None
