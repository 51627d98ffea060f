"""Download a base model from the Hugging Face Hub into the standard Hugging Face cache, checked first.

:func:`plan_download` asks the Hub for the repo's metadata only (one ``model_info`` call with file sizes, one
``HEAD`` of its config to prove access) and refuses, before a single byte is written, a repo that

- needs remote code (``auto_map`` in its config, the ``custom_code`` tag, Python files) or ships only pickles;
- does not fit the task (the architecture is not one transformers trains for it; not a diffusers pipeline);
- is gated or private and the caller's token cannot read it (the message links the model page);
- would not fit the disk that holds the cache (both numbers in the message).

It picks only the files a job loads (:func:`select_files`: config, tokenizer, generation config and the
safetensors weights of a transformers model; for a diffusers pipeline only the components the trainer loads, in
the ``fp16`` variant when the precision allows it) and pins the commit. :func:`download_model` then fetches each
file into ``blobs/<hash>.incomplete`` of the standard cache, several at a time, under the library's per-blob file
lock (two processes wanting the same file download it once, and neither sees half of it), resuming what an earlier
try or a killed process left with a ``Range`` request, and places it only once its size and sha256 check out;
``snapshot_download`` then just links the finished blobs into the snapshot. Progress (bytes done / total / speed /
ETA) is read from the cache's blobs. A network failure is retried, then reported in one sentence; the snapshot
folder is only returned once every planned file is in it.

    plan = plan_download("Qwen/Qwen2.5-0.5B-Instruct", task=Task.CAUSAL_LM)
    folder = download_model(plan, on_progress=lambda p: print(p.line()))
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from jobs.errors import ModelError
from jobs.models.memory import format_bytes
from jobs.models.source import PICKLE_SUFFIXES, hub_cache_dir, model_architecture_supported
from jobs.spec import Task

RepoKind = Literal["transformers", "diffusers"]

DISK_HEADROOM_BYTES = 100 * 1024 * 1024
"""Space left free on the cache's disk after a download (logs, checkpoints and the OS need some too)."""
DOWNLOAD_TRIES = 3
RETRY_PAUSE_SECONDS = (2.0, 5.0)
PROGRESS_INTERVAL_SECONDS = 0.5
DOWNLOAD_WORKERS = 8

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
_REMOTE_CODE_SUFFIXES = (".py",)
_SHARD = re.compile(r"-\d{5}-of-\d{5}")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class DownloadProgress:
    """How far one download is: bytes on disk (cached before included) out of the planned total."""

    repo_id: str
    done_bytes: int
    total_bytes: int
    bytes_per_second: float | None
    finished: bool = False

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the current speed (None until a speed is known)."""
        if self.finished:
            return 0.0
        if not self.bytes_per_second:
            return None
        return max(0.0, (self.total_bytes - self.done_bytes) / self.bytes_per_second)

    @property
    def fraction(self) -> float:
        return 1.0 if self.total_bytes <= 0 else min(1.0, self.done_bytes / self.total_bytes)

    def line(self) -> str:
        """``downloading org/name: 120.3 MB / 988.1 MB (12 %), 45.0 MB/s, about 19 s left``."""
        text = f"downloading {self.repo_id}: {format_bytes(self.done_bytes)} / {format_bytes(self.total_bytes)} ({self.fraction:.0%})"
        if self.bytes_per_second:
            text += f", {format_bytes(int(self.bytes_per_second))}/s"
        eta = self.eta_seconds
        if eta is not None and not self.finished:
            text += f", about {eta:.0f} s left"
        return text


@dataclass(frozen=True)
class DownloadPlan:
    """What downloading one Hub model means: the pinned commit, the chosen files and their sizes, the checks passed."""

    repo_id: str
    commit: str
    kind: RepoKind
    files: dict[str, int]
    """Chosen repo paths and their sizes in bytes."""
    blobs: dict[str, str] = field(default_factory=dict)
    """Repo path -> the blob name the cache stores it under (LFS sha256 or git blob id), to watch progress."""
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


class DownloadCancelled(ModelError):
    """The download was stopped on request; the finished part stays in the cache and resumes next time."""

    def __init__(self) -> None:
        super().__init__("the download was cancelled; what was fetched stays in the cache and resumes next time")


class DownloadBar:
    """An ``on_progress`` callback that draws a terminal progress bar in bytes (``launch.py download`` and ``train``)."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, progress: DownloadProgress) -> None:
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=progress.total_bytes, initial=progress.done_bytes, unit="B", unit_scale=True,
                            desc=f"downloading {progress.repo_id}", dynamic_ncols=True)
        self.bar.update(progress.done_bytes - self.bar.n)
        if progress.finished:
            self.bar.close()


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


def allow_patterns(files: list[str]) -> list[str]:
    """``snapshot_download`` patterns that match exactly these paths (glob characters escaped)."""
    return [glob.escape(name) for name in files]


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
            raise ModelError(f"model {repo_id} is not a diffusers pipeline, so it cannot be a text-to-image base; pick a Stable Diffusion 1.x/2.x or SDXL repo")
        class_name = (config.get("diffusers") or {}).get("_class_name") if isinstance(config.get("diffusers"), dict) else None
        from jobs.models.pipelines import SUPPORTED_PIPELINES

        if class_name and class_name not in SUPPORTED_PIPELINES:
            raise ModelError(f"model {repo_id} is a {class_name}; Adapta trains LoRA for {' and '.join(SUPPORTED_PIPELINES)} only")
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
        raise ModelError(_gated(repo_id)) from None
    except RepositoryNotFoundError:
        raise ModelError(_not_found(repo_id)) from None


def _gated(repo_id: str) -> str:
    return (f"model {repo_id} is gated: accept its terms at {hub_page(repo_id)} with your Hugging Face account, "
            "then give a token of that account (the token field, Sign in with Hugging Face, or HF_TOKEN)")


def _not_found(repo_id: str) -> str:
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

    from jobs.hub.search import hub_client, network_errors

    cache = cache_dir or hub_cache_dir()
    try:
        info = hub_client(token).model_info(repo_id, revision=revision, files_metadata=True)
    except RevisionNotFoundError:
        raise ModelError(f"model {repo_id} has no revision {revision!r} on the Hub; give a branch, tag or commit that exists") from None
    except GatedRepoError:
        raise ModelError(_gated(repo_id)) from None
    except RepositoryNotFoundError:
        raise ModelError(_not_found(repo_id)) from None
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
        if blob:
            blobs[name] = str(blob)
    commit = str(info.sha)
    _check_access(repo_id, commit, "model_index.json" if kind == "diffusers" else "config.json", token)
    safetensors = getattr(info, "safetensors", None)
    parameters = int(safetensors.total) if safetensors is not None and getattr(safetensors, "total", None) else None
    plan = DownloadPlan(repo_id=repo_id, commit=commit, kind=kind, files=files, blobs=blobs, parameters=parameters, config=config,
                        gated=bool(info.gated), variant=variant, revision=revision or "main")
    plan = replace(plan, cached_bytes=_bytes_on_disk(plan, cache))
    if check_disk:
        check_disk_space(plan, cache)
    return plan


# ---- progress ----------------------------------------------------------------------------------------------------


def repo_cache_folder(repo_id: str, cache_dir: Path | None = None) -> Path:
    """``<cache>/models--org--name``, the folder the Hugging Face cache keeps one model repo in."""
    from huggingface_hub.file_download import repo_folder_name

    return (cache_dir or hub_cache_dir()) / repo_folder_name(repo_id=repo_id, repo_type="model")


def _bytes_on_disk(plan: DownloadPlan, cache_dir: Path | None = None) -> int:
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


class _ProgressWatcher(threading.Thread):
    """Reports :class:`DownloadProgress` every :data:`PROGRESS_INTERVAL_SECONDS` from the cache's blob sizes."""

    def __init__(self, plan: DownloadPlan, on_progress: Callable[[DownloadProgress], None], cache_dir: Path | None):
        super().__init__(name=f"download-progress-{plan.repo_id}", daemon=True)
        self.plan, self.on_progress, self.cache_dir = plan, on_progress, cache_dir
        self.stopped = threading.Event()
        self.started_at = time.monotonic()
        self.start_bytes = _bytes_on_disk(plan, cache_dir)

    def snapshot(self, finished: bool = False) -> DownloadProgress:
        done = self.plan.total_bytes if finished else _bytes_on_disk(self.plan, self.cache_dir)
        elapsed = time.monotonic() - self.started_at
        fetched = done - self.start_bytes
        speed = fetched / elapsed if elapsed > 0.2 and fetched > 0 else None
        return DownloadProgress(self.plan.repo_id, done, self.plan.total_bytes, speed, finished=finished)

    def run(self) -> None:
        while not self.stopped.wait(PROGRESS_INTERVAL_SECONDS):
            try:
                self.on_progress(self.snapshot())
            except Exception:  # noqa: BLE001 - a failing progress writer must not stop the download
                continue


def _progress_bar_class(cancelled: threading.Event | None) -> Any:
    """A silent tqdm for ``snapshot_download`` whose updates raise :class:`DownloadCancelled` once ``cancelled`` is set."""
    from tqdm.auto import tqdm

    class SilentCancellableBar(tqdm):  # not the hub's tqdm subclass, so the library passes our kwargs through untouched
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.pop("name", None)
            kwargs["disable"] = False
            kwargs["file"] = open(os.devnull, "w")  # noqa: SIM115 - closed in close()
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            if cancelled is not None and cancelled.is_set():
                raise DownloadCancelled()
            return super().update(n)

        def close(self) -> None:
            handle = self.fp
            super().close()
            try:
                handle.close()
            except (AttributeError, OSError):
                pass

    return SilentCancellableBar


# ---- download ----------------------------------------------------------------------------------------------------


def _fetch_blob(plan: DownloadPlan, name: str, cache: Path, token: str | bool | None, cancelled: threading.Event | None) -> None:
    """Download one file into ``blobs/<blob>`` of the standard cache, resuming ``blobs/<blob>.incomplete`` left by an earlier try.

    ``huggingface_hub`` 2.4 writes each download to a fresh process-unique temporary file, so a killed process's bytes are never
    reused; this keeps one partial file per blob instead, under the library's own per-blob file lock (so two processes, or this
    and the library, never write it at once), appends with a ``Range`` request, checks the size (and the sha256 of LFS files),
    then renames it into place. The library then only links the finished blobs into the snapshot."""
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import WeakFileLock, build_hf_headers, hf_raise_for_status, http_stream_backoff

    blob_name, size = plan.blobs[name], plan.files[name]
    repo_folder = repo_cache_folder(plan.repo_id, cache)
    blob = repo_folder / "blobs" / blob_name
    if blob.is_file():
        return
    blob.parent.mkdir(parents=True, exist_ok=True)
    lock = cache / ".locks" / repo_folder.name / f"{blob_name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with WeakFileLock(lock):
        if blob.is_file():  # another process finished it while we waited
            return
        partial = blob.with_name(f"{blob_name}.incomplete")
        start = partial.stat().st_size if partial.is_file() else 0
        if start > size:
            partial.unlink()
            start = 0
        headers = build_hf_headers(token=token)
        if start:
            headers["Range"] = f"bytes={start}-"
        url = hf_hub_url(plan.repo_id, name, revision=plan.commit, endpoint=os.environ.get("HF_ENDPOINT") or None)
        if start < size:
            with http_stream_backoff("GET", url, headers=headers, retry_on_exceptions=(), retry_on_status_codes=(408, 429, 500, 502, 503, 504),
                                     follow_redirects=True) as response:
                if response.status_code >= 400:
                    response.read()
                hf_raise_for_status(response)
                resumed = bool(start) and response.status_code == 206  # a server that ignores Range sends it all again
                digest = _sha256_of(partial) if resumed else hashlib.sha256()
                with partial.open("ab" if resumed else "wb") as handle:
                    for chunk in response.iter_bytes():  # as the bytes arrive, so a cut connection loses nothing received
                        if cancelled is not None and cancelled.is_set():
                            raise DownloadCancelled()
                        handle.write(chunk)
                        digest.update(chunk)  # hashed while it streams: no second read of the file
        else:
            digest = _sha256_of(partial)
        _verify_and_place(plan, name, partial, blob, digest.hexdigest())


def _sha256_of(path: Path) -> Any:
    """A running sha256 of a file's current bytes (to continue hashing a resumed download)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(4 * 1024 * 1024), b""):
            digest.update(block)
    return digest


def _verify_and_place(plan: DownloadPlan, name: str, partial: Path, blob: Path, sha256: str) -> None:
    """Rename a finished partial file into ``blob`` after checking its size (and sha256 when the blob is named by one)."""
    got = partial.stat().st_size
    if got != plan.files[name]:
        if got > plan.files[name]:
            partial.unlink()
        raise OSError(f"{name} arrived with {got} of {plan.files[name]} bytes")
    if _SHA256.fullmatch(plan.blobs[name]) and sha256 != plan.blobs[name]:
        partial.unlink()
        raise OSError(f"{name} does not match its sha256 (a corrupted transfer); it will be fetched again")
    os.replace(partial, blob)


def _fetch_all(plan: DownloadPlan, cache: Path, token: str | bool | None, cancelled: threading.Event | None) -> None:
    """Fetch every planned file whose blob name is known, largest first, several at a time."""
    from concurrent.futures import ThreadPoolExecutor

    names = sorted((name for name in plan.files if name in plan.blobs), key=lambda name: -plan.files[name])
    with ThreadPoolExecutor(max_workers=DOWNLOAD_WORKERS, thread_name_prefix="adapta-download") as pool:
        for future in [pool.submit(_fetch_blob, plan, name, cache, token, cancelled) for name in names]:
            future.result()


def download_model(plan: DownloadPlan, *, token: str | bool | None = None, on_progress: Callable[[DownloadProgress], None] | None = None,
                   cancelled: threading.Event | None = None, cache_dir: Path | None = None, tries: int = DOWNLOAD_TRIES) -> Path:
    """Fetch the planned files into the Hugging Face cache (resuming partial files) and return the snapshot folder.

    Network failures are retried ``tries`` times with a pause; each try resumes what the last one left. Raises
    :class:`ModelError` (one sentence) when it still fails, :class:`DownloadCancelled` when ``cancelled`` was set.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    from jobs.hub.search import network_errors

    cache = cache_dir or hub_cache_dir()
    watcher = _ProgressWatcher(plan, on_progress, cache) if on_progress is not None else None
    if watcher is not None:
        on_progress(watcher.snapshot())
        watcher.start()
    try:
        for attempt in range(1, tries + 1):
            try:
                _fetch_all(plan, cache, token, cancelled)
                # The blobs are in place: the library links them into the snapshot, records the tree listing and fetches any
                # file whose blob name the metadata did not give.
                folder = Path(snapshot_download(plan.repo_id, revision=plan.commit, cache_dir=cache, token=token,
                                                allow_patterns=allow_patterns(list(plan.files)), max_workers=DOWNLOAD_WORKERS,
                                                tqdm_class=_progress_bar_class(cancelled)))
                break
            except DownloadCancelled:
                raise
            except GatedRepoError:
                raise ModelError(_gated(plan.repo_id)) from None
            except RepositoryNotFoundError:
                raise ModelError(_not_found(plan.repo_id)) from None
            except network_errors() as error:  # HfHubHTTPError included
                if cancelled is not None and cancelled.is_set():
                    raise DownloadCancelled() from None
                if attempt == tries:
                    reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
                    raise ModelError(
                        f"downloading model {plan.repo_id} from the Hub failed {tries} times ({reason}); check the connection and run the job "
                        "again: the files already fetched stay in the cache and the download resumes where it stopped"
                    ) from None
                time.sleep(RETRY_PAUSE_SECONDS[min(attempt - 1, len(RETRY_PAUSE_SECONDS) - 1)])
    finally:
        if watcher is not None:
            watcher.stopped.set()
    missing = [name for name in plan.files if not (folder / name).is_file()]
    if missing:
        raise ModelError(f"the download of model {plan.repo_id} is incomplete ({', '.join(missing[:3])} missing); run it again to resume")
    _record_ref(plan, cache)
    if watcher is not None:
        on_progress(watcher.snapshot(finished=True))
    return folder


# ---- the cache ---------------------------------------------------------------------------------------------------


def _record_ref(plan: DownloadPlan, cache_dir: Path | None = None) -> None:
    """Point ``refs/<revision>`` at the downloaded commit (atomically), as ``snapshot_download`` does for a branch or tag, so the
    model is found later without the network (the download itself asked for the pinned commit)."""
    if _COMMIT.fullmatch(plan.revision):
        return
    ref = repo_cache_folder(plan.repo_id, cache_dir) / "refs" / plan.revision
    ref.parent.mkdir(parents=True, exist_ok=True)
    partial = ref.with_name(f".{ref.name}.{os.getpid()}.partial")
    partial.write_text(plan.commit, encoding="utf-8")
    os.replace(partial, ref)


def cached_commit(repo_id: str, revision: str | None = None, cache_dir: Path | None = None) -> str | None:
    """The commit the cache holds for ``revision`` (a commit hash is returned as is when its snapshot exists)."""
    folder = repo_cache_folder(repo_id, cache_dir)
    wanted = revision or "main"
    if _COMMIT.fullmatch(wanted):
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
