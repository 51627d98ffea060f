"""Export tab: download a finished job's adapter as a zip; merge a LoRA adapter into its base; push it to the Hub.

Zips are built in a temporary folder (gradio serves them from its own cache); the merged model is also
saved under ``<data home>/models/job-<id>-merged`` so that it appears in the local catalog.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from jobs.errors import AdaptaError
from jobs.queue import get_job, list_jobs
from storage.paths import data_home
from storage.tables import JobStatus
from webui.i18n import Registry, t


@dataclass
class ExportTab:
    job: gr.Dropdown
    refresh: gr.Button
    zip_adapter: gr.Button
    merge: gr.Button
    status: gr.Markdown
    file: gr.File
    repo: gr.Textbox
    token: gr.Textbox
    private: gr.Checkbox
    push: gr.Button
    push_status: gr.Markdown


def build(r: Registry) -> ExportTab:
    r.markdown("export.intro")
    with gr.Row():
        job = r.make(gr.Dropdown, "export.job", choices=[], elem_id="export-job", scale=4)
        refresh = r.button("play.refresh", scale=1)
    with gr.Row():
        zip_adapter = r.button("export.zip", elem_id="export-zip")
        merge = r.button("export.merge", elem_id="export-merge")
    status = gr.Markdown(elem_id="export-status")
    file = r.make(gr.File, "export.file", interactive=False, elem_id="export-file")
    r.markdown("share.title")
    with gr.Row():
        repo = r.make(gr.Textbox, "share.repo", elem_id="share-repo", scale=3)
        token = r.make(gr.Textbox, "share.token", type="password", elem_id="share-token", scale=3)
        private = r.make(gr.Checkbox, "share.private", value=True, elem_id="share-private", scale=1)
    push = r.button("share.push", elem_id="share-push")
    push_status = gr.Markdown(elem_id="share-status")
    return ExportTab(job, refresh, zip_adapter, merge, status, file, repo, token, private, push, push_status)


def finished_jobs() -> object:
    choices = [(f"#{job.id} · {job.name}", str(job.id)) for job in list_jobs(status=JobStatus.SUCCEEDED, limit=100)]
    return gr.update(choices=choices, value=choices[0][1] if choices else None)


def _run_dir(job_id: str | None) -> tuple[int, Path]:
    if not job_id:
        raise AdaptaError("pick a succeeded job first")
    job = get_job(int(job_id))
    if job.status is not JobStatus.SUCCEEDED or not job.run_dir:
        raise AdaptaError(f"job {job_id} is {job.status.value}; only succeeded jobs can be exported")
    return int(job_id), Path(job.run_dir)


def _zip(folder: Path, name: str) -> str:
    target = Path(tempfile.mkdtemp(prefix="adapta-export-")) / name
    return shutil.make_archive(str(target), "zip", root_dir=folder)


def zip_adapter(job_id: str | None, lang: str) -> tuple[str, str | None]:
    try:
        number, run_dir = _run_dir(job_id)
        folder = next((run_dir / name for name in ("adapter", "model") if (run_dir / name).is_dir()), None)
        if folder is None:
            raise AdaptaError(f"job {number} has no adapter/ or model/ folder in {run_dir}")
        return f"✅ {t(lang, 'export.zipped', id=number)}", _zip(folder, f"job-{number}-{folder.name}")
    except AdaptaError as error:
        return f"⚠️ {error}", None


def merge_adapter(job_id: str | None, lang: str) -> tuple[str, str | None]:
    from jobs.inference import merge_run

    try:
        number, run_dir = _run_dir(job_id)
        output = data_home().model_dir(f"job-{number}-merged")
        merge_run(run_dir, output)
        return f"✅ {t(lang, 'export.merged', path=output)}", _zip(output, f"job-{number}-merged")
    except AdaptaError as error:
        return f"⚠️ {error}", None


def push_job(job_id: str | None, repo_id: str, token: str, private: bool, lang: str) -> str:
    """Push the job's adapter/model with its card; the token lives only in this call."""
    from jobs.hub_push import push_run

    try:
        _, run_dir = _run_dir(job_id)
        url = push_run(run_dir, (repo_id or "").strip(), token=(token or "").strip() or None, private=bool(private))
        return f"✅ {t(lang, 'share.pushed', url=url)}"
    except AdaptaError as error:
        return f"⚠️ {error}"


def wire(tab: ExportTab, lang: gr.State) -> None:
    tab.refresh.click(finished_jobs, None, tab.job, api_visibility="private")
    tab.zip_adapter.click(zip_adapter, [tab.job, lang], [tab.status, tab.file], api_visibility="private")
    tab.push.click(push_job, [tab.job, tab.repo, tab.token, tab.private, lang], tab.push_status, api_visibility="private")
    tab.merge.click(merge_adapter, [tab.job, lang], [tab.status, tab.file], api_visibility="private", concurrency_limit=1,
                    concurrency_id="inference")
