"""Download a Hub model ahead of any job ("Download now" in the Models tab), and manage what the cache holds.

A prefetch runs in a background thread of this process (downloads are network-bound; nothing trains here), one per
model and owner: :func:`start_prefetch` checks the model first (the same :func:`jobs.hub.download_plan.plan_download` a job
uses) and returns at once; :func:`prefetch_state` reports bytes, speed, ETA, the error sentence or the folder;
:func:`cancel_prefetch` stops it at the next chunk (the finished part stays and resumes). :func:`downloaded_models`
and :func:`delete_downloaded` use ``huggingface_hub``'s own cache scan and delete.

On a shared server a download belongs to who started it (``owner``): another user neither sees its state nor stops it,
and each user's "Downloaded models" lists only what they downloaded (:func:`downloads_of`, kept in
``<data home>/downloads/<owner>.json``). Two users downloading one model each run their own download; the cache's
per-file locks make the second wait for, then reuse, each file the first fetched. ``owner=None`` (a single-user server)
is one shared list, as before.

    start_prefetch("HuggingFaceTB/SmolLM2-135M-Instruct", token=None, owner="alice")
    prefetch_state("HuggingFaceTB/SmolLM2-135M-Instruct", owner="alice").line()
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from jobs.errors import AdaptaError, ModelError
from jobs.hub.download import DownloadCancelled, DownloadProgress, download_model
from jobs.hub.download_plan import plan_download
from jobs.models.hub_cache import scan_hub_cache
from jobs.models.memory import format_bytes
from jobs.models.source import is_hub_id
from storage.paths import data_home


@dataclass
class PrefetchState:
    """Where one "Download now" stands."""

    repo_id: str
    status: str = "checking"
    """checking, downloading, done, failed or cancelled."""
    progress: DownloadProgress | None = None
    message: str = ""
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def running(self) -> bool:
        return self.status in ("checking", "downloading")

    def line(self) -> str:
        """One line for a person."""
        if self.status == "checking":
            return f"checking {self.repo_id} on the Hub…"
        if self.status == "downloading" and self.progress is not None:
            return self.progress.line()
        if self.status == "done":
            return f"✅ {self.repo_id} is downloaded ({self.message})"
        return f"{'⏹️' if self.status == 'cancelled' else '❌'} {self.message}"


_states: dict[tuple[str | None, str], PrefetchState] = {}
"""(owner, repo id) -> that owner's latest download of the repo."""
_lock = threading.Lock()


def start_prefetch(repo_id: str, token: str | bool | None = None, owner: str | None = None) -> PrefetchState:
    """Start downloading ``repo_id`` in the background for ``owner`` (a second call while theirs runs returns the running one)."""
    repo_id = (repo_id or "").strip()
    if not is_hub_id(repo_id):
        raise ModelError(f"{repo_id or 'nothing'} is not a Hub model id; pick a model from the Hub search (org/name)")
    with _lock:
        current = _states.get((owner, repo_id))
        if current is not None and current.running:
            return current
        state = _states[(owner, repo_id)] = PrefetchState(repo_id)
    threading.Thread(target=_run, args=(state, token, owner), name=f"prefetch-{repo_id}", daemon=True).start()
    return state


def _run(state: PrefetchState, token: str | bool | None, owner: str | None) -> None:
    def report(progress: DownloadProgress) -> None:
        state.progress = progress

    try:
        plan = plan_download(state.repo_id, token=token)
        state.status = "downloading"
        download_model(plan, token=token, on_progress=report, cancelled=state.cancel)
        if owner is not None:
            record_download(owner, state.repo_id, plan.commit)
        state.message = f"{format_bytes(plan.total_bytes)}, commit {plan.commit[:10]}"
        state.status = "done"
    except DownloadCancelled as error:
        state.status, state.message = "cancelled", str(error)
    except AdaptaError as error:
        state.status, state.message = "failed", str(error)
    except Exception as error:  # noqa: BLE001 - a background thread reports, it never raises into nothing
        state.status, state.message = "failed", f"downloading {state.repo_id} failed unexpectedly ({type(error).__name__}: {error})"


def prefetch_state(repo_id: str, owner: str | None = None) -> PrefetchState | None:
    """The state of ``owner``'s latest prefetch of ``repo_id`` in this process (None when they started none)."""
    with _lock:
        return _states.get((owner, (repo_id or "").strip()))


def cancel_prefetch(repo_id: str, owner: str | None = None) -> bool:
    """Ask ``owner``'s running prefetch of ``repo_id`` to stop; False when none of theirs runs (another user's is untouched)."""
    state = prefetch_state(repo_id, owner)
    if state is None or not state.running:
        return False
    state.cancel.set()
    return True


def _downloading_anywhere(repo_id: str) -> bool:
    with _lock:
        return any(state.running for (_, repo), state in _states.items() if repo == repo_id)


# ---- who downloaded what (shared servers) ------------------------------------------------------------------------

def downloads_of(owner: str) -> dict[str, str]:
    """The Hub models ``owner`` downloaded on this server: repo id -> the commit fetched (empty when none or unreadable)."""
    try:
        recorded = json.loads(data_home().download_record(owner).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(repo): str(commit) for repo, commit in recorded.items()} if isinstance(recorded, dict) else {}


def record_download(owner: str, repo_id: str, commit: str) -> None:
    """Remember that ``owner`` downloaded ``repo_id`` at ``commit`` (written whole, then renamed into place, owner-only)."""
    record = data_home().download_record(owner)
    record.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _lock:
        entries = {**downloads_of(owner), repo_id: commit}
        partial = record.with_name(f".{record.name}.{uuid.uuid4().hex[:8]}.partial")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(entries, handle, indent=1, sort_keys=True)
        os.replace(partial, record)


def downloaded_models(owner: str | None = None) -> list[dict[str, Any]]:
    """The model repos in the Hugging Face cache: id, size on disk, number of revisions, last used (huggingface_hub's scan);
    with ``owner``, only the ones that owner downloaded (:func:`downloads_of`)."""
    cache = scan_hub_cache()
    if cache is None:
        return []
    mine = downloads_of(owner) if owner is not None else None
    rows = []
    for repo in sorted(cache.repos, key=lambda item: item.repo_id.lower()):
        if repo.repo_type == "model" and (mine is None or repo.repo_id in mine):
            rows.append({"id": repo.repo_id, "size_bytes": int(repo.size_on_disk), "size": format_bytes(int(repo.size_on_disk)),
                         "revisions": len(repo.revisions), "last_used": repo.last_accessed_str})
    return rows


def delete_downloaded(repo_id: str, *, in_use: set[str] | None = None) -> int:
    """Delete every cached revision of ``repo_id`` (huggingface_hub's delete strategy); returns the bytes freed.

    ``in_use``: base models of queued or running jobs, which are refused (the job would fail or download again)."""
    repo_id = (repo_id or "").strip()
    if in_use and repo_id in in_use:
        raise ModelError(f"model {repo_id} is the base of a queued or running job; wait for it to finish or cancel it, then delete")
    if _downloading_anywhere(repo_id):
        raise ModelError(f"model {repo_id} is still downloading; cancel the download first")
    cache = scan_hub_cache()
    repos = [repo for repo in (cache.repos if cache is not None else []) if repo.repo_id == repo_id and repo.repo_type == "model"]
    if not repos:
        raise ModelError(f"model {repo_id} is not in the Hugging Face cache; nothing to delete")
    strategy = cache.delete_revisions(*[revision.commit_hash for repo in repos for revision in repo.revisions])
    freed = int(strategy.expected_freed_size)
    strategy.execute()
    return freed
