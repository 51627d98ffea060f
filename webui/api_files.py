"""What leaves the server from a succeeded job, and their ``gradio_client`` endpoints: the adapter as a zip (in the caller's
bounded export folder under the data home, never world-readable), a push to the Hub with its model card, and GGUF files for llama.cpp / Ollama.

    /download_job, /push_to_hub, /export_gguf
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import gradio as gr

from jobs.errors import AdaptaError
from jobs.export import export_gguf
from jobs.export.hub_push import push_gguf_run, push_merged_run, push_run
from jobs.queue import get_job
from storage.paths import data_home
from storage.tables import JobStatus
from webui.access import Caller, caller_of, current_caller, require_weights_download, require_writer
from webui.api_caller import public_paths, user_errors


def succeeded_run(job_id: int | str | None, caller: Caller) -> tuple[int, Path]:
    """(id, run folder) of one of the caller's succeeded jobs; another user's job is 'not found'."""
    if not str(job_id or "").strip():
        raise AdaptaError("pick a succeeded job first")
    job = get_job(int(job_id), owner=caller.owner_filter)
    if job.status is not JobStatus.SUCCEEDED or not job.run_dir:
        raise AdaptaError(f"job {job_id} is {job.status.value}; only succeeded jobs can be exported or pushed")
    return int(job.id), Path(job.run_dir)


EXPORT_KEEP_SECONDS = 3600
EXPORT_FOLDER_MODE = 0o700
EXPORT_FILE_MODE = 0o600
ANONYMOUS_EXPORTS = "anonymous"
"""The exports folder of callers without a name (a demo server's visitors); a reserved word, never an account's name."""


def export_folder(caller: Caller | None = None) -> Path:
    """The caller's folder of download zips, ``<data home>/exports/<owner>/`` (mode 0o700; default: the caller of the Gradio
    event being handled): one zip per job and kind, replaced by the next export of the same thing, and files older than an
    hour removed whenever another is made, so repeated exports stay bounded. It lives in the data home, so two Adapta servers
    on one machine never share it, and one owner's folder never holds another owner's zip."""
    caller = caller or current_caller()
    folder = data_home().export_dir(caller.owner_filter or caller.owner or ANONYMOUS_EXPORTS)
    folder.mkdir(mode=EXPORT_FOLDER_MODE, parents=True, exist_ok=True)
    folder.chmod(EXPORT_FOLDER_MODE)
    cutoff = time.time() - EXPORT_KEEP_SECONDS
    for old in folder.rglob("*"):
        try:
            if old.is_file() and old.stat().st_mtime < cutoff:
                old.unlink(missing_ok=True)
        except FileNotFoundError:  # a concurrent export renamed or replaced it meanwhile
            continue
    return folder


def zip_folder(folder: Path, name: str, caller: Caller | None = None) -> str:
    """``folder`` zipped as ``<export folder>/<name>.zip``: written under a temporary name unique to this call in the same folder
    (mode 0o600), then renamed into place, so concurrent exports of one job never see each other's half-written or renamed
    files. Gradio serves it from its cache, which keys copies by content, so an unchanged folder is cached once."""
    target = export_folder(caller)
    staging = Path(shutil.make_archive(str(target / f".{name}-{uuid.uuid4().hex}"), "zip", root_dir=folder))
    try:
        staging.chmod(EXPORT_FILE_MODE)
        final = target / f"{name}.zip"
        os.replace(staging, final)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return str(final)


def served_path(path: str | Path) -> str:
    """``path`` as a Gradio event may return it: inside an event, a copy in Gradio's own cache (Gradio moves only files under the
    working directory or the temp folder, and a data home may be elsewhere, e.g. ``/data/adapta`` on a Space; the copy keeps the
    file's 0o600 mode); outside one, ``path`` itself."""
    from gradio.context import LocalContext
    from gradio.processing_utils import save_file_to_cache

    blocks = LocalContext.blocks.get(None)
    if blocks is None or not getattr(blocks, "has_launched", False):
        return str(path)
    return save_file_to_cache(path, blocks.GRADIO_CACHE)


def adapter_zip(job_id: int | str | None, caller: Caller) -> str:
    """A zip of the adapter/ (or model/) folder of one of the caller's succeeded jobs."""
    require_weights_download(caller)  # a demo visitor sees every job, but gets no weights unless the operator allows it
    number, run_dir = succeeded_run(job_id, caller)
    folder = next((run_dir / name for name in ("adapter", "model") if (run_dir / name).is_dir()), None)
    if folder is None:
        raise AdaptaError(f"job {number} has no adapter/ or model/ folder in {run_dir}")
    return zip_folder(folder, f"job-{number}-{folder.name}", caller)


def push_action(job_id: int | str | None, repo_id: str, token: str | None, private: bool, caller: Caller, merged: bool = False,
                gguf: str = "") -> str:
    """Push one of the caller's succeeded jobs to OWNER/NAME with its model card (``merged``: the LoRA merged into its base,
    saved under ``<data home>/models/job-<id>-merged``; ``gguf``: comma-separated GGUF types, exported, verified and pushed
    instead); returns the repo URL. The token is used once."""
    require_writer(caller, "push to the Hub")
    number, run_dir = succeeded_run(job_id, caller)
    repo_id, token = (repo_id or "").strip(), (token or "").strip() or None
    if gguf_types(gguf):
        return push_gguf_run(run_dir, repo_id, token=token, quants=gguf_types(gguf), merged_dir=data_home().merged_model_dir(number),
                             private=bool(private))
    if merged:
        return push_merged_run(run_dir, repo_id, token=token, private=bool(private), merged_dir=data_home().merged_model_dir(number))
    return push_run(run_dir, repo_id, token=token, private=bool(private))


def gguf_types(text: str | list[str] | None) -> list[str]:
    """GGUF types from "f16, q8_0" (or a list), lower-cased, without blanks."""
    items = text if isinstance(text, list) else str(text or "").replace(";", ",").split(",")
    return [item.strip().lower() for item in items if item and item.strip()]


def export_gguf_action(job_id: int | str | None, types: str | list[str], caller: Caller, progress: Any = None) -> Any:
    """Export one of the caller's succeeded causal-LM jobs to GGUF under ``runs/<id>/gguf`` (merged once into
    ``models/job-<id>-merged``), with its Modelfile, every file loaded back and compared (a :class:`jobs.export.GgufExport`)."""
    require_writer(caller, "export models")
    number, run_dir = succeeded_run(job_id, caller)
    return export_gguf(run_dir, gguf_types(types) or ["q8_0"], merged_dir=data_home().merged_model_dir(number), progress=progress)


# ---- the gradio_client endpoints ---------------------------------------------------------------------------

def api_download_job(job_id: str, request: gr.Request) -> str:
    """A zip of a succeeded job's adapter/ (or model/) folder; only the job's owner may download it."""
    return served_path(user_errors(adapter_zip)(job_id, caller_of(request)))


def api_push_to_hub(job_id: int, repo_id: str, token: str, request: gr.Request, private: bool = True, merged: bool = False,
                    gguf: str = "") -> dict:
    """Push a succeeded job's adapter (or model; ``merged``: the LoRA merged into its base; ``gguf``: e.g. "q8_0" or "f16,q8_0",
    the verified GGUF files with a Modelfile and a card on running them) with its model card to OWNER/NAME.

    The token is used once, never stored. Returns {'url': ...}."""
    return {"url": user_errors(push_action)(job_id, repo_id, token, private, caller_of(request), bool(merged), gguf or "")}


def api_export_gguf(job_id: int, request: gr.Request, types: str = "q8_0") -> dict:
    """Export a succeeded text-generation job to GGUF for llama.cpp / Ollama / LM Studio. types: comma-separated f16, bf16, q8_0,
    q4_0. Each file is loaded back and compared with the merged model on prompts from the job's data.

    Returns {'passed': bool, 'folder': str, 'modelfile': str, 'files': [{type, file, size_bytes, top1_agreement,
    max_logit_difference, greedy_identical, greedy_prompts, passed}], 'prompts': str}."""

    def run() -> dict[str, Any]:
        result = export_gguf_action(job_id, types, caller_of(request))
        return public_paths({"passed": result.passed, "folder": str(result.folder), "modelfile": str(result.modelfile),
                             "files": result.report["files"], "prompts": result.report["prompts"]})

    return user_errors(run)()
