"""The actions behind the UI and the ``gradio_client`` API, as plain typed functions over ``jobs/`` and ``storage/``: the jobs'
own (submit, list, status, report, cancel, Hugging Face Jobs) here, and :func:`register_api`, which exposes them with those of
``api_models`` (Models tab), ``api_data`` (Data tab), ``api_playground`` (Playground) and ``api_files`` (zips, pushes, GGUF)
under stable names (``/search_models``, ``/model_info``, ``/inspect_dataset``, ``/inspect_hub_dataset``, ``/list_datasets``, ``/check_data``,
``/submit_job``, ``/submit_hf_job``, ``/list_jobs``, ``/job_status``, ``/job_report``, ``/cancel_job``, ``/download_job``,
``/push_to_hub``, ``/generate``, ``/generate_image``, ``/download_model``, ``/download_status``, ``/export_gguf``).
Every action takes the :class:`webui.access.Caller` of its request and sees only that caller's jobs and datasets on a
multi-user server. A user's mistake (an :class:`jobs.errors.AdaptaError`) reaches an API client as a ``gr.Error``
carrying its one sentence (:mod:`webui.api_caller`); nothing here trains or spawns anything.

    from gradio_client import Client
    client = Client("http://127.0.0.1:7860/")
    job_id = client.predict(open("spec.yaml").read(), api_name="/submit_job")
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from jobs.errors import AdaptaError
from jobs.evaluation.report import EvalReport, read_report
from jobs.metrics import last_metric
from jobs.queue import check_job_id, get_job, job_summary, list_jobs, phase_text, request_cancel, submit_job
from jobs.queue.hf_jobs import DEFAULT_FLAVOR, submit_remote_job
from jobs.queue.sweep import submit_sweep
from jobs.queue.sweep_plan import read_sweep_yaml
from jobs.queue.worker import LOG_FILE, log_tail
from jobs.spec import JobSpec, parse_spec_yaml
from storage.tables import JobStatus
from webui.access import Caller, caller_of, require_writer
from webui.api_caller import public_paths, user_errors
from webui.api_data import api_check_data, api_inspect_dataset, api_inspect_hub_dataset, api_list_datasets
from webui.api_files import api_download_job, api_export_gguf, api_push_to_hub
from webui.api_models import api_download_model, api_download_status, api_model_info, api_search_models
from webui.api_playground import api_generate, api_generate_image
from webui.submission import checked_for, submit_spec
from webui.train_tab import preflight_report

__all__ = ["checked_for", "preflight_checked", "register_api", "submit_action", "submit_spec"]


def refusals(report: str) -> str:
    """The refusing lines (❌) of a pre-flight report, as one sentence."""
    lines = [re.sub(r"^[-\s]*❌\s*", "", line).strip() for line in report.splitlines() if "❌" in line]
    return "; ".join(line for line in lines if line) or report.strip()


def preflight_checked(caller: Caller, hub_token: str | None = None) -> Callable[[JobSpec], JobSpec]:
    """:func:`webui.submission.checked_for`, then the Train tab's pre-flight (:func:`webui.train_tab.preflight_report`: the Hub
    model's download check, the memory estimate against this server, the steps): a spec the Train tab would refuse is refused here."""
    checked = checked_for(caller, hub_token)

    def check(spec: JobSpec) -> JobSpec:
        spec = checked(spec)
        fits, report = preflight_report(spec, "en", caller, hub_token)
        if not fits:
            raise AdaptaError(f"the pre-flight check refused this job: {refusals(report)}")
        return spec

    return check


def submit_action(spec_yaml: str, caller: Caller, hub_token: str | None = None) -> int:
    """Queue a spec after the Train tab's pre-flight; a sweep spec (lists of values, or a sweep: section) queues its group (every
    child passes the pre-flight) and returns its first child's id."""
    plan = read_sweep_yaml(spec_yaml or "")
    check = preflight_checked(caller, hub_token)
    if plan is not None:
        return submit_sweep(plan, owner=caller.owner, hub_token=hub_token, check=check)[0]
    return submit_job(check(parse_spec_yaml(spec_yaml or "")), owner=caller.owner, hub_token=hub_token)


def list_jobs_action(caller: Caller) -> list[dict[str, Any]]:
    return public_paths([{**job_summary(job), "group_id": job.group_id, "group_name": job.group_name}
                         for job in list_jobs(owner=caller.owner_filter)])


def job_status_action(job_id: int, caller: Caller) -> dict[str, Any]:
    job = get_job(int(job_id), owner=caller.owner_filter)
    summary = job_summary(job)
    total = job.total_steps or 0
    summary["progress"] = round(job.step / total, 4) if total else (1.0 if job.status is JobStatus.SUCCEEDED else 0.0)
    summary["eta_seconds"] = last_metric(int(job_id), "eta_seconds") if job.status is JobStatus.RUNNING else None
    if summary["download"] is not None:  # downloading the base model: the bar and the ETA follow the bytes
        download = summary["download"]
        summary["progress"] = round(download["done_bytes"] / download["total_bytes"], 4)
        summary["eta_seconds"] = download["eta_seconds"]
    summary["phase_text"] = phase_text(job)
    summary["phase_done"], summary["phase_total"] = (job.phase_done, job.phase_total) if job.status is JobStatus.RUNNING else (None, None)
    summary["loss"] = last_metric(int(job_id), "loss")
    live_log = Path(job.run_dir) / LOG_FILE if job.run_dir else None
    summary["log_tail"] = (log_tail(live_log, 20) if live_log is not None and live_log.is_file() else "") or (job.log_tail or "")
    return public_paths(summary)


def cancel_action(job_id: int, caller: Caller) -> dict[str, Any]:
    require_writer(caller, "cancel jobs")
    status = request_cancel(int(job_id), owner=caller.owner_filter)
    return {"id": int(job_id), "status": status.value, "cancel_requested": status is JobStatus.RUNNING}


def job_report_action(job_id: int | str, caller: Caller) -> EvalReport | None:
    """The before/after report of one of the caller's jobs, or None while it has none (queued, running, or older than reports)."""
    job = get_job(check_job_id(job_id), owner=caller.owner_filter)
    return read_report(job.run_dir)


def submit_remote_action(spec: JobSpec, caller: Caller, token: str | None, push_repo: str, flavor: str, image_space: str | None) -> int:
    """Send the caller's job to Hugging Face Jobs; the token goes to the Hub as the job's secret and is kept in memory only."""
    require_writer(caller, "train")
    return submit_remote_job(spec, token=(token or "").strip() or None, push_repo=(push_repo or "").strip(), flavor=flavor or DEFAULT_FLAVOR,
                             image_space=(image_space or "").strip() or None, owner=caller.owner)


# ---- the gradio_client endpoints ---------------------------------------------------------------------------

def api_submit_job(spec_yaml: str, request: gr.Request, hub_token: str = "") -> int:
    """Validate a job spec given as YAML text and queue it as the caller's job; returns the job id (a sweep spec queues its
    group and returns its first child's id; /list_jobs gives each job's group_id). hub_token: yours, for a gated or private
    base model (kept in memory for this job only, never stored)."""
    return user_errors(submit_action)(spec_yaml, caller_of(request), hub_token)


def api_list_jobs(request: gr.Request) -> list:
    """The caller's jobs (every job on a single-user server), newest first, as JSON."""
    return user_errors(list_jobs_action)(caller_of(request))


def api_job_status(job_id: int, request: gr.Request) -> dict:
    """One job: status, progress, ETA, attempt, latest loss, error and log tail."""
    return user_errors(job_status_action)(job_id, caller_of(request))


def api_job_report(job_id: int, request: gr.Request) -> dict:
    """The before/after evaluation report of a finished job: metrics (base, adapted, which direction is better), every scored
    example with both outputs and whether it got better, worse or stayed the same, and what it was measured on. ``{"report": null}``
    while the job has none yet; ``skipped`` says why a finished job has no numbers."""

    def run() -> dict[str, Any]:
        report = job_report_action(job_id, caller_of(request))
        return {"job_id": int(job_id), "report": public_paths(report.to_dict()) if report is not None else None}

    return user_errors(run)()


def api_cancel_job(job_id: int, request: gr.Request) -> dict:
    """Cancel a queued job now, or ask a running one to stop."""
    return user_errors(cancel_action)(job_id, caller_of(request))


def api_submit_hf_job(spec_yaml: str, push_repo: str, token: str, request: gr.Request, flavor: str = DEFAULT_FLAVOR, space: str = "") -> int:
    """Run a spec on Hugging Face Jobs (flavor e.g. t4-small, a10g-small) from the Adapta Space ``space``; the result is pushed to push_repo.

    The spec must name a Hub model and a Hub dataset (hub:OWNER/NAME). Returns the local job id; its status follows the remote job.
    """
    return user_errors(lambda: submit_remote_action(parse_spec_yaml(spec_yaml or ""), caller_of(request), token, push_repo, flavor, space))()


def register_api() -> None:
    """Inside a Blocks context: the public endpoints (the file endpoint uses hidden components)."""
    for fn, name in ((api_search_models, "search_models"), (api_model_info, "model_info"), (api_submit_job, "submit_job"),
                     (api_list_jobs, "list_jobs"), (api_job_status, "job_status"), (api_cancel_job, "cancel_job"),
                     (api_generate, "generate"), (api_generate_image, "generate_image"), (api_push_to_hub, "push_to_hub"),
                     (api_inspect_hub_dataset, "inspect_hub_dataset"), (api_submit_hf_job, "submit_hf_job"),
                     (api_list_datasets, "list_datasets"), (api_download_model, "download_model"), (api_download_status, "download_status")):
        quick = ("list_jobs", "job_status", "search_models", "list_datasets", "download_status")
        gr.api(fn, api_name=name, concurrency_limit=None if name in quick else 2)
    gr.api(api_job_report, api_name="job_report", concurrency_limit=None)
    gr.api(api_check_data, api_name="check_data", concurrency_limit=2, concurrency_id="data_check")  # shares the Data tab's limit
    gr.api(api_export_gguf, api_name="export_gguf", concurrency_limit=1, concurrency_id="inference")
    with gr.Row(visible=False):
        file_in = gr.File(type="filepath")
        format_in = gr.Textbox(value="auto")
        task_in = gr.Textbox(value="causal-lm")
        report_out = gr.JSON()
        trigger = gr.Button()
        job_in = gr.Textbox()
        zip_out = gr.File()
        download = gr.Button()
    trigger.click(api_inspect_dataset, [file_in, format_in, task_in], report_out, api_name="inspect_dataset", api_visibility="public")
    download.click(api_download_job, job_in, zip_out, api_name="download_job", api_visibility="public", concurrency_limit=2)
