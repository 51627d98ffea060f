"""Export tab: download a finished job's adapter as a zip; merge a LoRA adapter into its base; push it to the Hub.

Zips are built in a temporary folder (gradio serves them from its own cache), only for the caller's own jobs; the merged model is also
saved under ``<data home>/models/job-<id>-merged`` so that it appears in the local catalog.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from jobs.errors import AdaptaError
from jobs.queue import list_jobs
from storage.paths import data_home
from storage.tables import JobStatus
from webui.access import caller_hub_token, caller_of, require_writer
from webui.api import adapter_zip, push_action, succeeded_run, zip_folder
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
    merged: gr.Checkbox
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
        merged = r.make(gr.Checkbox, "share.merged", value=False, elem_id="share-merged", scale=1)
    push = r.button("share.push", elem_id="share-push")
    push_status = gr.Markdown(elem_id="share-status")
    return ExportTab(job, refresh, zip_adapter, merge, status, file, repo, token, private, merged, push, push_status)


def finished_jobs(request: gr.Request) -> object:
    """The caller's succeeded jobs as picker choices, newest first."""
    caller = caller_of(request)
    choices = [(f"#{job.id} · {job.name}", str(job.id)) for job in list_jobs(owner=caller.owner_filter, status=JobStatus.SUCCEEDED, limit=100)]
    return gr.update(choices=choices, value=choices[0][1] if choices else None)


def zip_adapter(job_id: str | None, lang: str, request: gr.Request) -> tuple[str, str | None]:
    try:
        path = adapter_zip(job_id, caller_of(request))
        return f"✅ {t(lang, 'export.zipped', id=int(str(job_id)))}", path
    except AdaptaError as error:
        return f"⚠️ {error}", None


def merge_adapter(job_id: str | None, lang: str, request: gr.Request) -> tuple[str, str | None]:
    from jobs.inference import merge_run

    try:
        caller = caller_of(request)
        require_writer(caller, "merge models")
        number, run_dir = succeeded_run(job_id, caller)
        output = data_home().merged_model_dir(number)
        merge_run(run_dir, output)
        return f"✅ {t(lang, 'export.merged', path=output)}", zip_folder(output, f"job-{number}-merged")
    except AdaptaError as error:
        return f"⚠️ {error}", None


def push_job(job_id: str | None, repo_id: str, token: str, private: bool, merged: bool, lang: str, request: gr.Request,
             oauth_token: gr.OAuthToken | None) -> str:
    """Push the job's adapter/model with its card; the token (typed, or from Hugging Face sign-in) lives only in this call."""
    try:
        url = push_action(job_id, repo_id, caller_hub_token(token, oauth_token), private, caller_of(request), bool(merged))
        return f"✅ {t(lang, 'share.pushed', url=url)}"
    except AdaptaError as error:
        return f"⚠️ {error}"


def wire(tab: ExportTab, lang: gr.State) -> None:
    tab.refresh.click(finished_jobs, None, tab.job, api_visibility="private")
    tab.zip_adapter.click(zip_adapter, [tab.job, lang], [tab.status, tab.file], api_visibility="private")
    tab.push.click(push_job, [tab.job, tab.repo, tab.token, tab.private, tab.merged, lang], tab.push_status, api_visibility="private",
                   concurrency_limit=1, concurrency_id="inference")
    tab.merge.click(merge_adapter, [tab.job, lang], [tab.status, tab.file], api_visibility="private", concurrency_limit=1,
                    concurrency_id="inference")
