"""The Models tab's actions and their ``gradio_client`` endpoints: Hub search, one model's description, "Download now",
deleting a downloaded model, and which models a caller may use on a shared server (:func:`check_model_allowed`: no other path
of the server, no model derived from another user's job, and a Hub model in the shared cache only when the Hub says the
caller's own token may read it, :func:`jobs.hub.repo_access.require_read_access`).

    /search_models, /model_info, /download_model, /download_status
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from jobs.errors import AdaptaError
from jobs.hub import search as hub
from jobs.hub.prefetch import PrefetchState, delete_downloaded, prefetch_state, start_prefetch
from jobs.hub.repo_access import known_readable, require_read_access
from jobs.hub.tokens import token_for_request
from jobs.models.catalog import hub_id_for_packaged, local_catalog, model_visible_to
from jobs.models.hub_cache import repo_cache_folder
from jobs.models.memory import format_bytes
from jobs.models.source import is_hub_id
from jobs.queue import list_jobs
from storage.paths import data_home
from storage.tables import JobStatus
from webui.access import AccessMode, Caller, access_mode, caller_of, current_caller, require_writer
from webui.api_caller import public_paths, user_errors


def search_models_action(query: str = "", task: str = "", sort: str = "downloads", hub_token: str | None = None,
                         caller: Caller | None = None) -> dict[str, Any]:
    """Hub search with the caller's token (on a shared server never the operator's: private models stay the operator's); local
    models derived from another user's job are left out (no caller given: the caller of the Gradio event being handled). On a
    shared server the local rows (offline) are only those the caller may use: a cached Hub model on record as public or as theirs
    (:func:`jobs.hub.repo_access.known_readable`), a packaged model under its Hub id, and paths shown by :func:`public_paths`."""
    found = hub.search_models(query or "", task or None, sort or "downloads", token=token_for_request(hub_token))
    caller = caller or current_caller()
    owner = caller.owner_filter
    models = [row for row in found.models if row.get("source") != "data-home" or model_visible_to(str(row["id"]), owner)]
    if access_mode() is not AccessMode.OPEN:
        models = [_shared_row(row) for row in models if row.get("source") != "hf-cache" or known_readable(str(row["id"]), caller.owner)]
    return public_paths({"models": models, "offline": found.offline, "notice": found.notice})


def _shared_row(row: dict[str, Any]) -> dict[str, Any]:
    """A search row as a shared server shows it: a packaged model by its Hub id (which resolves to the packaged copy), not by the
    path of the server's software."""
    if row.get("source") != "packaged":
        return row
    return {**row, "id": hub_id_for_packaged(str(row["id"])) or row["id"]}


def check_model_allowed(ref: str, caller: Caller | None = None, hub_token: str | None = None) -> str:
    """``ref`` if it may be used here: anything on a single-user server; on a shared one (accounts, Space, demo) a Hub id or a
    model this server offers (packaged, Hugging Face cache, ``<data home>/models``), never another path on the server, and a
    model derived from a job (``models/job-<id>-merged``) only by that job's owner (no caller given: the caller of the Gradio
    event being handled, anonymous outside one); ``models/NAME`` (as search shows it) is returned as its full path. A Hub
    model the shared cache holds is allowed only when the Hub says the caller's token (``hub_token``; none given: no token)
    may read it; one not cached is downloaded with that token, which the Hub checks itself."""
    ref = (ref or "").strip()
    if access_mode() is AccessMode.OPEN or not ref:
        return ref
    caller = caller or current_caller()
    path = Path(ref).expanduser()
    in_home = data_home().root.absolute() / ref
    if not path.is_absolute() and in_home.is_dir() and in_home.resolve().is_relative_to(data_home().models.resolve()):
        ref, path = str(in_home), in_home  # a model folder as a shared server shows it: models/NAME
    if not (path.is_absolute() or path.exists() or ref.startswith((".", "~"))):
        if is_hub_id(ref) and repo_cache_folder(ref).exists():
            require_read_access(ref, token_for_request(hub_token), caller.owner)
        return ref  # a Hub id
    owner = caller.owner_filter
    offered = {entry.ref for entry in local_catalog(owner=owner)}
    inside = path.exists() and path.resolve().is_relative_to(data_home().models.resolve())
    if (ref in offered or inside) and model_visible_to(ref, owner):
        return ref
    raise AdaptaError(f"{ref} is not a model this server offers; on a shared server pick a Hub model or one from the local list")


def model_info_action(model: str, hub_token: str | None = None, caller: Caller | None = None, card: bool = False) -> dict[str, Any]:
    """``card``: also read a Hub model's README.md for the summary (the Models tab's detail view)."""
    return hub.model_info(check_model_allowed(model, caller, hub_token), token=token_for_request(hub_token), card=card)


def prefetch_action(model: str, caller: Caller, hub_token: str | None = None) -> str:
    """Start "Download now" for a Hub model with the caller's token; the first status line."""
    require_writer(caller, "download models")
    if access_mode() is not AccessMode.OPEN and is_hub_id((model or "").strip()):  # asked first, so that a download is on record
        require_read_access(model.strip(), token_for_request(hub_token), caller.owner)  # as the caller's (offline: still theirs)
    return start_prefetch(model, token=token_for_request(hub_token), owner=caller.owner_filter).line()


def callers_download(model: str, caller: Caller) -> PrefetchState | None:
    """The caller's own latest download of ``model`` (another user's download is not theirs to see), or None."""
    model = (model or "").strip()
    return prefetch_state(model, owner=caller.owner_filter) if model else None


def prefetch_status_action(model: str, caller: Caller) -> str:
    """The line of the caller's own latest download of ``model`` ("" without one)."""
    state = callers_download(model, caller)
    return state.line() if state is not None else ""


def delete_downloaded_action(model: str, caller: Caller) -> str:
    """Delete a model from the Hugging Face cache (single-user servers only: a shared server's cache is the operator's)."""
    require_writer(caller, "delete downloaded models")
    if access_mode() is not AccessMode.OPEN:
        raise AdaptaError("the model cache of a shared server is managed by its operator; ask them to delete models")
    busy = {job.base_model for status in (JobStatus.QUEUED, JobStatus.RUNNING) for job in list_jobs(status=status)}
    freed = delete_downloaded(model, in_use=busy)
    return f"deleted {model} from the Hugging Face cache ({format_bytes(freed)} freed)"


# ---- the gradio_client endpoints ---------------------------------------------------------------------------

def api_search_models(query: str, request: gr.Request, task: str = "", sort: str = "downloads", hub_token: str = "") -> dict:
    """Search the Hub (or, offline, the local catalog). task: text-generation | text-classification | text-to-image.
    hub_token: yours, to see your private models (used for this call only)."""
    return user_errors(search_models_action)(query, task, sort, hub_token, caller_of(request))


def api_model_info(model: str, request: gr.Request, hub_token: str = "") -> dict:
    """Describe one model: parameters, license, formats, compatibility verdict and memory per method (hub_token: yours, for
    a private or gated model; used for this call only)."""
    return user_errors(model_info_action)(model, hub_token, caller_of(request))


def api_download_model(model: str, request: gr.Request, hub_token: str = "") -> str:
    """Start downloading a Hub model into this server's Hugging Face cache ("Download now"); poll /download_status."""
    return user_errors(prefetch_action)(model, caller_of(request), hub_token)


def api_download_status(model: str, request: gr.Request) -> str:
    """Where your latest download of a Hub model stands: bytes done / total, speed and ETA, or how it ended."""
    return user_errors(prefetch_status_action)(model, caller_of(request))
