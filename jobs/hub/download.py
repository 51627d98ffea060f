"""Download a planned Hub model into the standard Hugging Face cache: the byte transfer, resumed and checked, with progress.

:func:`download_model` takes a :class:`jobs.hub.download_plan.DownloadPlan` (the checked, pinned list of files) and fetches
each file into ``blobs/<hash>.incomplete`` of the standard cache, several at a time, under the library's per-blob file
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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs.errors import ModelError
from jobs.hub.download_plan import DownloadPlan, bytes_on_disk, gated_message, not_found_message
from jobs.hub.search import network_errors
from jobs.models.hub_cache import hub_cache_dir, is_commit_hash, repo_cache_folder
from jobs.models.memory import format_bytes

DOWNLOAD_TRIES = 3
RETRY_PAUSE_SECONDS = (2.0, 5.0)
PROGRESS_INTERVAL_SECONDS = 0.5
DOWNLOAD_WORKERS = 8
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


def allow_patterns(files: list[str]) -> list[str]:
    """``snapshot_download`` patterns that match exactly these paths (glob characters escaped)."""
    return [glob.escape(name) for name in files]


# ---- progress ----------------------------------------------------------------------------------------------------


class _ProgressWatcher(threading.Thread):
    """Reports :class:`DownloadProgress` every :data:`PROGRESS_INTERVAL_SECONDS` from the cache's blob sizes."""

    def __init__(self, plan: DownloadPlan, on_progress: Callable[[DownloadProgress], None], cache_dir: Path | None):
        super().__init__(name=f"download-progress-{plan.repo_id}", daemon=True)
        self.plan, self.on_progress, self.cache_dir = plan, on_progress, cache_dir
        self.stopped = threading.Event()
        self.started_at = time.monotonic()
        self.start_bytes = bytes_on_disk(plan, cache_dir)

    def snapshot(self, finished: bool = False) -> DownloadProgress:
        done = self.plan.total_bytes if finished else bytes_on_disk(self.plan, self.cache_dir)
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
    """Fetch every planned file whose blob name and non-zero size are known, largest first, several at a time (an empty file has
    nothing to resume, and one of unknown size cannot be checked: ``snapshot_download`` fetches those)."""
    from concurrent.futures import ThreadPoolExecutor

    names = sorted((name for name in plan.files if name in plan.blobs and plan.files[name] > 0), key=lambda name: -plan.files[name])
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
                raise ModelError(gated_message(plan.repo_id)) from None
            except RepositoryNotFoundError:
                raise ModelError(not_found_message(plan.repo_id)) from None
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


# ---- the ref -----------------------------------------------------------------------------------------------------


def _record_ref(plan: DownloadPlan, cache_dir: Path | None = None) -> None:
    """Point ``refs/<revision>`` at the downloaded commit (atomically), as ``snapshot_download`` does for a branch or tag, so the
    model is found later without the network (the download itself asked for the pinned commit)."""
    if is_commit_hash(plan.revision):
        return
    ref = repo_cache_folder(plan.repo_id, cache_dir) / "refs" / plan.revision
    ref.parent.mkdir(parents=True, exist_ok=True)
    partial = ref.with_name(f".{ref.name}.{os.getpid()}.partial")
    partial.write_text(plan.commit, encoding="utf-8")
    os.replace(partial, ref)
