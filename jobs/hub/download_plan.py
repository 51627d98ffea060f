"""Plan a Hub model's download before a single byte is written: what to fetch, pinned to one commit, and whether it may be.

:func:`plan_download` asks the Hub for the repo's metadata only (one ``model_info`` call with file sizes, one
``HEAD`` of its config to prove access) and refuses a repo that

- needs remote code (``auto_map`` in its config, the ``custom_code`` tag, Python files) or ships only pickles;
- does not fit the task (the architecture is not one transformers trains for it; not a diffusers pipeline);
- is gated or private and the caller's token cannot read it (the message links the model page);
- would not fit the disk that holds the cache (both numbers in the message).

It picks only the files a job loads (:func:`jobs.models.hub_cache.select_files`: config, tokenizer, generation config and
the safetensors weights of a transformers model; for a diffusers pipeline only the components the trainer loads, in the
``fp16`` variant when the precision allows it), pins the commit and counts what the cache already holds
(:func:`bytes_on_disk`). The transfer itself is :func:`jobs.hub.download.download_model`.

    plan = plan_download("Qwen/Qwen2.5-0.5B-Instruct", task=Task.CAUSAL_LM)
    print(plan.commit, plan.bytes_to_fetch)
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jobs.errors import ModelError
from jobs.hub.search import hub_client, network_errors
from jobs.models.hub_cache import RepoKind, hub_cache_dir, repo_cache_folder, repo_kind, select_files
from jobs.models.memory import format_bytes
from jobs.models.pipelines import SUPPORTED_PIPELINES
from jobs.models.source import PICKLE_SUFFIXES, model_architecture_supported
from jobs.spec import Task

DISK_HEADROOM_BYTES = 100 * 1024 * 1024
"""Space left free on the cache's disk after a download (logs, checkpoints and the OS need some too)."""
_REMOTE_CODE_SUFFIXES = (".py",)


@dataclass(frozen=True)
class DownloadPlan:
    """What downloading one Hub model means: the pinned commit, the chosen files and their sizes, the checks passed."""

    repo_id: str
    commit: str
    kind: RepoKind
    files: dict[str, int]
    """Chosen repo paths and their sizes in bytes."""
    blobs: dict[str, str] = field(default_factory=dict)
    """Repo path -> the blob name the cache stores it under (LFS sha256 or git blob id), to watch progress and fetch it resumably;
    only files of a known, non-zero size (the others, empty or unsized, are fetched whole by ``snapshot_download``)."""
    cached_bytes: int = 0
    """Bytes of the chosen files already in the cache."""
    parameters: int | None = None
    """Parameter count from the Hub's safetensors metadata (nothing downloaded)."""
    config: dict[str, Any] = field(default_factory=dict)
    gated: bool = False
    variant: str | None = None
    """diffusers only: ``fp16`` when the half-precision weights were chosen."""
    revision: str = "main"
    """What was asked for (a branch, tag or commit); the cache's ``refs/<revision>`` points at ``commit`` once downloaded."""

    @property
    def total_bytes(self) -> int:
        return sum(self.files.values())

    @property
    def bytes_to_fetch(self) -> int:
        return max(0, self.total_bytes - self.cached_bytes)


# ---- checks ------------------------------------------------------------------------------------------------------


def hub_page(repo_id: str) -> str:
    """The model's page on the Hub (where a gated model's terms are accepted)."""
    from huggingface_hub import constants

    return f"{(os.environ.get('HF_ENDPOINT') or constants.ENDPOINT).rstrip('/')}/{repo_id}"


def _free_disk_bytes(folder: Path) -> tuple[Path, int]:
    """(the nearest existing folder, its free bytes) for a cache folder that may not exist yet."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe, int(shutil.disk_usage(probe).free)


def check_disk_space(plan: DownloadPlan, cache_dir: Path | None = None) -> None:
    """Refuse a download that would not leave :data:`DISK_HEADROOM_BYTES` free on the cache's disk."""
    folder = cache_dir or hub_cache_dir()
    probe, free = _free_disk_bytes(folder)
    if plan.bytes_to_fetch + DISK_HEADROOM_BYTES > free:
        raise ModelError(
            f"model {plan.repo_id} needs {format_bytes(plan.bytes_to_fetch)} to download but the disk holding the Hugging Face cache "
            f"({probe}) has only {format_bytes(free)} free; free some space (the Models tab lists downloaded models to delete) "
            "or point HF_HUB_CACHE at a bigger disk"
        )


def _check_safe(repo_id: str, config: dict[str, Any], tags: list[str], names: list[str]) -> None:
    """Refuse remote code and pickle-only weights from the metadata alone."""
    root_python = [name for name in names if name.endswith(_REMOTE_CODE_SUFFIXES) and "/" not in name]
    if config.get("auto_map") or "custom_code" in tags or root_python:
        raise ModelError(
            f"model {repo_id} needs trust_remote_code (it ships its own Python code), which Adapta keeps off for safety; "
            "pick a model whose architecture is built into transformers"
        )
    weights = [name for name in names if name.endswith(".safetensors")]
    if not weights:
        pickles = [name for name in names if name.endswith(PICKLE_SUFFIXES)]
        if pickles:
            raise ModelError(
                f"model {repo_id} ships only pickle weights ({pickles[0]}), which can run code when loaded; "
                "pick a repo with .safetensors weights"
            )
        raise ModelError(f"model {repo_id} has no .safetensors weights on the Hub; pick another model")


def _check_task(repo_id: str, config: dict[str, Any], kind: RepoKind, task: Task | None) -> None:
    if task is None:
        return
    task = Task(task)
    if task is Task.TEXT_TO_IMAGE:
        if kind != "diffusers":
            raise ModelError(f"model {repo_id} is not a diffusers pipeline, so it cannot be a text-to-image base; "
                             "pick a Stable Diffusion 1.x/2.x, SDXL, SD 3.x or FLUX.1 repo")
        class_name = (config.get("diffusers") or {}).get("_class_name") if isinstance(config.get("diffusers"), dict) else None
        if class_name and class_name not in SUPPORTED_PIPELINES:
            *others, last = SUPPORTED_PIPELINES
            raise ModelError(f"model {repo_id} is a {class_name}; Adapta trains LoRA for {', '.join(others)} and {last} only")
        return
    if kind == "diffusers":
        raise ModelError(f"model {repo_id} is a diffusers pipeline; use task text-to-image with it, or pick a text model")
    if config.get("model_type"):
        model_architecture_supported(config, task)


def _check_access(repo_id: str, commit: str, probe_file: str, token: str | bool | None) -> None:
    """HEAD one small file with the caller's token: a gated or private repo without access fails here, before any download."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    url = hf_hub_url(repo_id, probe_file, revision=commit, endpoint=os.environ.get("HF_ENDPOINT") or None)
    try:
        get_hf_file_metadata(url, token=token)
    except GatedRepoError:
        raise ModelError(gated_message(repo_id)) from None
    except RepositoryNotFoundError:
        raise ModelError(not_found_message(repo_id)) from None


def gated_message(repo_id: str) -> str:
    """The refusal for a gated repo the caller's token cannot read (planning and downloading say the same)."""
    return (f"model {repo_id} is gated: accept its terms at {hub_page(repo_id)} with your Hugging Face account, "
            "then give a token of that account (the token field, Sign in with Hugging Face, or HF_TOKEN)")


def not_found_message(repo_id: str) -> str:
    """The refusal for a repo that does not exist, or is private to the caller's token."""
    return (f"there is no model {repo_id} on the Hub, or it is private and no token that can read it was given; "
            "check the name (org/name) or give a token with access")


def _network_failure(repo_id: str, error: BaseException) -> ModelError:
    reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
    return ModelError(f"model {repo_id} is not in the local Hugging Face cache and the Hub could not be reached ({reason}); "
                      "check the connection (or HF_ENDPOINT) and try again, or pick a local folder / one of the installed models")


def plan_download(repo_id: str, *, revision: str | None = None, task: Task | None = None, token: str | bool | None = None,
                  half_precision: bool = False, cache_dir: Path | None = None, check_disk: bool = True) -> DownloadPlan:
    """Ask the Hub about ``repo_id`` (metadata only) and return what to download, or raise :class:`ModelError` saying why not.

    ``token`` is the caller's (None: the library's default credentials, False: none at all).
    """
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    cache = cache_dir or hub_cache_dir()
    try:
        info = hub_client(token).model_info(repo_id, revision=revision, files_metadata=True)
    except RevisionNotFoundError:
        raise ModelError(f"model {repo_id} has no revision {revision!r} on the Hub; give a branch, tag or commit that exists") from None
    except GatedRepoError:
        raise ModelError(gated_message(repo_id)) from None
    except RepositoryNotFoundError:
        raise ModelError(not_found_message(repo_id)) from None
    except network_errors() as error:  # HfHubHTTPError (e.g. a 5xx) included
        raise _network_failure(repo_id, error) from None
    siblings = list(info.siblings or [])
    names = [sibling.rfilename for sibling in siblings]
    kind = repo_kind(names)
    config = dict(info.config or {})
    tags = list(info.tags or [])
    _check_safe(repo_id, config, tags, names)
    _check_task(repo_id, config, kind, task)
    chosen, variant = select_files(names, kind, half_precision=half_precision)
    by_name = {sibling.rfilename: sibling for sibling in siblings}
    files = {name: int(by_name[name].size or 0) for name in chosen}
    blobs = {}
    for name in chosen:
        sibling = by_name[name]
        lfs = getattr(sibling, "lfs", None)
        blob = (lfs.sha256 if lfs is not None else None) or getattr(sibling, "blob_id", None)
        if blob and files[name] > 0:  # an empty file, or one whose size the Hub did not report, is left to the library's fetch
            blobs[name] = str(blob)
    commit = str(info.sha)
    _check_access(repo_id, commit, "model_index.json" if kind == "diffusers" else "config.json", token)
    safetensors = getattr(info, "safetensors", None)
    parameters = int(safetensors.total) if safetensors is not None and getattr(safetensors, "total", None) else None
    plan = DownloadPlan(repo_id=repo_id, commit=commit, kind=kind, files=files, blobs=blobs, parameters=parameters, config=config,
                        gated=bool(info.gated), variant=variant, revision=revision or "main")
    plan = replace(plan, cached_bytes=bytes_on_disk(plan, cache))
    if check_disk:
        check_disk_space(plan, cache)
    return plan


# ---- what the cache holds already ---------------------------------------------------------------------------------


def bytes_on_disk(plan: DownloadPlan, cache_dir: Path | None = None) -> int:
    """Bytes of the planned files in the cache: finished blobs count whole, unfinished ones by their ``.incomplete`` part."""
    blobs = repo_cache_folder(plan.repo_id, cache_dir) / "blobs"
    done = 0
    for name, size in plan.files.items():
        blob = plan.blobs.get(name)
        if blob is None:
            continue
        finished = blobs / blob
        partial = blobs / f"{blob}.incomplete"
        try:
            if finished.is_file():
                done += size
            elif partial.is_file():
                done += min(size, partial.stat().st_size)
        except OSError:
            continue
    return done
