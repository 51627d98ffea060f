"""Make a job's base model present before training: the Hub download phase of a run, pinned to one commit.

:func:`fetch_base_model` is called by :func:`jobs.run.execute_run` before the trainer starts. For a Hub id it uses
the cached snapshot when every needed file is there, otherwise it checks and downloads the model
(:mod:`jobs.models.download`) while ``on_progress`` reports bytes; either way it returns the spec with
``base_model_revision`` set to the exact commit, which the run's ``spec.yaml``, summary and model card record.
Offline (``HF_HUB_OFFLINE=1``, or the Hub unreachable) a cached or packaged model still works and anything else
fails with one sentence. Local folders and ``.gguf`` files pass through unchanged.

    spec = fetch_base_model(spec, on_progress=lambda progress: print(progress.line()))
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from jobs.errors import ModelError
from jobs.models.catalog import packaged_for_hub_id
from jobs.models.download import DownloadProgress, cached_snapshot, download_model, plan_download
from jobs.models.source import is_hub_id
from jobs.spec import JobSpec, Precision, Task


def wants_half_precision(spec: JobSpec) -> bool:
    """True when the run will compute in 16 bits (so a diffusers ``fp16`` variant is the right download)."""
    if spec.training.precision in (Precision.BF16, Precision.FP16):
        return True
    if spec.training.precision is Precision.AUTO:
        import torch

        return bool(torch.cuda.is_available())
    return False


def hub_offline() -> bool:
    """True when this process may not contact the Hub (``HF_HUB_OFFLINE``)."""
    from huggingface_hub import constants

    return bool(constants.is_offline_mode())


def fetch_base_model(spec: JobSpec, *, on_progress: Callable[[DownloadProgress], None] | None = None, token: str | bool | None = None,
                     cancelled: threading.Event | None = None) -> JobSpec:
    """Ensure a Hub base model is in the cache (downloading it when needed); return the spec pinned to its commit."""
    ref = spec.base_model
    if not is_hub_id(ref):
        return spec
    half = spec.task is Task.TEXT_TO_IMAGE and wants_half_precision(spec)
    folder = cached_snapshot(ref, spec.base_model_revision, half_precision=half)
    if folder is not None:
        return spec.model_copy(update={"base_model_revision": folder.name})
    packaged = packaged_for_hub_id(ref)
    if hub_offline():
        if packaged is not None:
            return spec
        raise ModelError(
            f"model {ref} is not in the local Hugging Face cache and the Hub is unreachable (offline mode is on); "
            f"download it on a connected machine with `hf download {ref}`, or pick a local folder / one of the installed models"
        )
    try:
        plan = plan_download(ref, revision=spec.base_model_revision, task=spec.task, token=token, half_precision=half)
    except ModelError:
        if packaged is not None and spec.base_model_revision is None:
            return spec  # the Hub cannot give it right now, but a copy is installed here
        raise
    download_model(plan, token=token, on_progress=on_progress, cancelled=cancelled)
    return spec.model_copy(update={"base_model_revision": plan.commit})


def download_preflight(spec: JobSpec, token: str | bool | None = None) -> str | None:
    """Before queueing: for a Hub model not yet cached, check it from the Hub's metadata (safety, task, access, disk) and say
    what the job will download; None when nothing needs downloading. Raises :class:`ModelError` when the job could not
    use the model, so the refusal comes at submit time, not minutes later in the job."""
    from jobs.models.memory import format_bytes

    ref = spec.base_model
    if not is_hub_id(ref) or hub_offline():
        return None
    half = spec.task is Task.TEXT_TO_IMAGE and wants_half_precision(spec)
    if cached_snapshot(ref, spec.base_model_revision, half_precision=half) is not None:
        return None
    try:
        plan = plan_download(ref, revision=spec.base_model_revision, task=spec.task, token=token, half_precision=half)
    except ModelError:
        if packaged_for_hub_id(ref) is not None and spec.base_model_revision is None:
            return None
        raise
    return (f"the job first downloads {ref} from the Hub: {format_bytes(plan.bytes_to_fetch)} in {len(plan.files)} files "
            f"(commit {plan.commit[:10]})")
