"""Export tab: download a finished job's adapter as a zip; merge a LoRA adapter into its base; export GGUF; push it to the Hub.

Zips are written to one bounded export folder (see :func:`webui.api.zip_folder`), only for the caller's own jobs; the merged model is
also saved under ``<data home>/models/job-<id>-merged`` so that it appears in the local catalog. GGUF files land in
``runs/<id>/gguf/`` with their Ollama Modelfile and ``gguf_verification.json``; the table shows each file's size and how closely it
answers like the merged model. Gradio copies every file it serves into its cache: :func:`build` gives the app a ``delete_cache``
schedule (:data:`CACHE_CLEANUP`) so those copies do not pile up. Run it with the app: ``python launch.py``.

Nothing empty is shown: the tab has no body until the caller has a finished job (the guide's empty state says why), and each
file box appears with its first file. The body is built when the tab opens (``gr.render`` on its ``select`` and on a language
switch), not with the page: the page loads ~30 components and their events fewer. Opening the tab asks whether there is a job
to offer (:attr:`ExportTab.offered`); the body is built when that answer changes (and again, in the new language, on a language
switch), and each opening lists the finished jobs afresh. Its widgets carry keys, so what was typed survives a re-render; the
picked job lives in :attr:`ExportTab.wanted`, which the guide's "Share it" sets before it opens the tab.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.context import Context

from jobs.errors import AdaptaError
from jobs.export import QUANT_TYPES, offered_files
from jobs.export.merge import merge_run
from jobs.queue import list_jobs
from storage.paths import data_home
from storage.tables import JobStatus
from webui.access import caller_hub_token, caller_of, require_writer
from webui.api_caller import public_paths
from webui.api_files import adapter_zip, export_folder, export_gguf_action, push_action, served_path, succeeded_run, zip_folder
from webui.guide import keep_selection
from webui.i18n import Registry, keyed, t

GGUF_CHOICES = [(name.upper(), name) for name in QUANT_TYPES]
CACHE_CLEANUP = (900, 3600)
"""Gradio's ``delete_cache`` (every 15 minutes, copies older than an hour), set on the app unless it already has one."""


@dataclass
class ExportTab:
    """What the page has from the start (its body is built when the tab opens): the job the body shows and whether there is
    a finished job to offer."""

    wanted: gr.State
    offered: gr.State


@dataclass
class ExportBody:
    """The tab's widgets, built by :func:`build`'s render each time the tab opens."""

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
    gguf_types: gr.CheckboxGroup
    gguf_export: gr.Button
    gguf_status: gr.Markdown
    gguf_files: gr.File
    push_gguf: gr.Checkbox
    push: gr.Button
    push_status: gr.Markdown


def build(lang: gr.State, opened: gr.Tab) -> ExportTab:
    """The tab: the remembered job now; the body once ``opened`` is selected with a finished job to offer, in ``lang``.

    A body that is never opened costs the page nothing. Its events are private (the HTTP API's export endpoints are
    registered by :mod:`webui.api` at startup). Gradio's ``delete_cache`` schedule is set here, on the app."""
    tab = ExportTab(wanted=gr.State(None), offered=gr.State(False))
    root = Context.root_block
    if root is not None and root.delete_cache is None:
        root.delete_cache = CACHE_CLEANUP

    def offering(request: gr.Request) -> bool:
        return bool(finished_jobs(request).get("choices"))

    opened.select(offering, None, tab.offered, api_visibility="private", show_progress="hidden")

    @gr.render(inputs=[tab.offered, lang, tab.wanted], triggers=[tab.offered.change, lang.change], show_progress="hidden",
               concurrency_limit=None)
    def body(offered: bool, language: str, job_id: str | None, request: gr.Request) -> None:
        choices = keep_selection(finished_jobs(request), job_id)
        if not offered or not choices.get("choices"):
            return  # not opened yet, or nothing to export: the guide's empty state says why
        with gr.Column(elem_id="export-body"):
            parts = _build_body(Registry(language), choices, caller_of(request).can_write)
        wire(parts, lang, tab, opened)

    return tab


def _build_body(r: Registry, choices: dict[str, Any], can_write: bool) -> ExportBody:
    """The widgets, ``choices`` in the picker; the writing buttons greyed out for a caller who may not write (the server
    refuses their events anyway). Every control says ``interactive=True``: Gradio's page decides a widget's interactivity from
    the events it had at load, which do not include a later render's. A ``key`` makes Gradio keep a widget's value across
    re-renders; the picker has none, so that the job the guide asks for (``choices``' value) wins."""
    r.markdown("export.intro")
    with gr.Row():
        job = r.make(gr.Dropdown, "export.job", choices=choices["choices"], value=choices.get("value"), elem_id="export-job", scale=4,
                     interactive=True)
        refresh = r.button("play.refresh", scale=1)
    with gr.Row():
        zip_adapter = r.button("export.zip", elem_id="export-zip")
        merge = r.button("export.merge", elem_id="export-merge", interactive=can_write)
    status = gr.Markdown(elem_id="export-status", key="export-status")
    file = r.make(keyed(gr.File, "export-file"), "export.file", interactive=False, visible=False, elem_id="export-file",
                  preserved_by_key=["value", "visible"])
    r.markdown("gguf.title")
    with gr.Row():
        gguf_types = r.make(keyed(gr.CheckboxGroup, "gguf-types"), "gguf.types", info="gguf.types.info", choices=GGUF_CHOICES,
                            value=["f16", "q8_0"], elem_id="gguf-types", scale=4, interactive=True)
        gguf_export = r.button("gguf.export", elem_id="gguf-export", scale=1)
    gguf_status = gr.Markdown(elem_id="gguf-status", key="gguf-status")
    gguf_files = r.make(keyed(gr.File, "gguf-files"), "export.file", interactive=False, file_count="multiple", visible=False,
                        elem_id="gguf-files", preserved_by_key=["value", "visible"])
    r.markdown("share.title")
    with gr.Row():
        repo = r.make(keyed(gr.Textbox, "share-repo"), "share.repo", elem_id="share-repo", scale=3, interactive=True)
        token = r.make(keyed(gr.Textbox, "share-token"), "share.token", type="password", elem_id="share-token", scale=3,
                      interactive=True)
        private = r.make(keyed(gr.Checkbox, "share-private"), "share.private", value=True, elem_id="share-private", scale=1,
                        interactive=True)
        merged = r.make(keyed(gr.Checkbox, "share-merged"), "share.merged", value=False, elem_id="share-merged", scale=1,
                       interactive=True)
        push_gguf = r.make(keyed(gr.Checkbox, "share-gguf"), "share.gguf", value=False, elem_id="share-gguf", scale=1,
                          interactive=True)
    push = r.button("share.push", elem_id="share-push", interactive=can_write)
    push_status = gr.Markdown(elem_id="share-status", key="share-status")
    return ExportBody(job, refresh, zip_adapter, merge, status, file, repo, token, private, merged, gguf_types, gguf_export, gguf_status,
                      gguf_files, push_gguf, push, push_status)


def revealing(action: Callable[..., tuple[str, Any]]) -> Callable[..., tuple[str, Any]]:
    """``action`` (returning a status line and its file or files) with the file box shown only when there is a file; the
    same signature, so Gradio still passes the request and the progress tracker."""
    @functools.wraps(action)
    def run(*args: Any, **kwargs: Any) -> tuple[str, Any]:
        status, files = action(*args, **kwargs)
        return status, gr.update(value=files, visible=bool(files))

    return run


def finished_jobs(request: gr.Request) -> object:
    """The caller's succeeded jobs as picker choices, newest first."""
    caller = caller_of(request)
    choices = [(f"#{job.id} · {job.name}", str(job.id)) for job in list_jobs(owner=caller.owner_filter, status=JobStatus.SUCCEEDED, limit=100)]
    return gr.update(choices=choices, value=choices[0][1] if choices else None)


def zip_adapter(job_id: str | None, lang: str, request: gr.Request) -> tuple[str, str | None]:
    try:
        path = served_path(adapter_zip(job_id, caller_of(request)))
        return f"✅ {t(lang, 'export.zipped', id=int(str(job_id)))}", path
    except AdaptaError as error:
        return f"⚠️ {error}", None


def merge_adapter(job_id: str | None, lang: str, request: gr.Request) -> tuple[str, str | None]:
    try:
        caller = caller_of(request)
        require_writer(caller, "merge models")
        number, run_dir = succeeded_run(job_id, caller)
        output = data_home().merged_model_dir(number)
        merge_run(run_dir, output)
        return f"✅ {t(lang, 'export.merged', path=public_paths(str(output)))}", served_path(zip_folder(output, f"job-{number}-merged", caller))
    except AdaptaError as error:
        return f"⚠️ {error}", None


def gguf_report(lang: str, number: int, result: Any) -> str:
    """The export's verdict, a table of its files (size, agreement with the merged model) and the Ollama command."""
    head = t(lang, "gguf.done" if result.passed else "gguf.failed", id=number, folder=public_paths(str(result.folder)))
    rows = [t(lang, "gguf.table"), "|---|---|---:|---:|---:|---:|---|"]
    for file in result.files:
        check = file.verification or {}
        verdict = t(lang, "gguf.passed" if file.passed else "gguf.not_passed")
        rows.append(f"| {file.type} | `{file.path.name}` | {file.size_bytes / 1e6:.1f} MB | {check.get('top1_agreement', '')} | "
                    f"{check.get('max_logit_difference', '')} | {check.get('greedy_identical', '')}/{check.get('greedy_prompts', '')} | "
                    f"{'✅' if file.passed else '❌'} {verdict} |")
    errors = [f"- `{file.path.name}`: {file.verification['error']}" for file in result.files if (file.verification or {}).get("error")]
    errors += [f"- ⚠️ {note}" for note in dict.fromkeys([(result.report.get("tokenizer") or {}).get("warning"), result.report.get("tokenizer_note")])
               if note]  # what llama.cpp still splits differently, never silently
    return (f"{'✅' if result.passed else '❌'} {head}\n\n" + "\n".join(rows) + "".join(f"\n\n{line}" for line in errors)
            + f"\n\n{t(lang, 'gguf.ollama', modelfile=result.modelfile.name)}")


def served_copies(paths: list[Path], name: str) -> list[str]:
    """``paths`` made servable by Gradio (which serves only the working directory and the temp folder) as hard links in the
    bounded export folder, named as they are, so the Modelfile's ``FROM`` still finds its GGUF; a copy when linking fails."""
    target = export_folder() / name
    target.mkdir(exist_ok=True)
    served = []
    for path in paths:
        link = target / path.name
        link.unlink(missing_ok=True)
        try:
            os.link(path, link)
        except OSError:
            shutil.copyfile(path, link)
        os.utime(link)  # the export folder prunes by age: this copy is fresh
        served.append(str(link))
    return served


def export_gguf(job_id: str | None, types: list[str], lang: str, request: gr.Request,
                progress: gr.Progress = gr.Progress()) -> tuple[str, list[str] | None]:  # noqa: B008 - gradio's progress idiom
    """Export the job to the chosen GGUF types (merging first), verify each file, and offer the files and Modelfile for download."""
    try:
        result = export_gguf_action(job_id, types, caller_of(request),
                                    progress=lambda share, step: progress(share, desc=t(lang, "gguf.progress", step=step)))
        files = offered_files(result)  # never a file llama.cpp refused or that failed its check
        return gguf_report(lang, int(str(job_id)), result), served_copies(files, f"job-{int(str(job_id))}-gguf")
    except AdaptaError as error:
        return f"⚠️ {error}", None


def push_job(job_id: str | None, repo_id: str, token: str, private: bool, merged: bool, gguf: bool, types: list[str], lang: str,
             request: gr.Request, oauth_token: gr.OAuthToken | None) -> str:
    """Push the job's adapter/model (or its GGUF files) with its card; the token (typed, or from Hugging Face sign-in) lives only in
    this call."""
    try:
        url = push_action(job_id, repo_id, caller_hub_token(token, oauth_token), private, caller_of(request), bool(merged),
                          ",".join(types or []) if gguf else "")
        return f"✅ {t(lang, 'share.pushed', url=url)}"
    except AdaptaError as error:
        return f"⚠️ {error}"


def wire(tab: ExportBody, lang: gr.State, kept: ExportTab, opened: gr.Tab) -> None:
    """The body's events (all private): the picker lists the finished jobs afresh each time ``opened`` is selected, shows the
    job the guide asks for (``kept.wanted``) and remembers the pick there."""
    def refreshed(current: str | None, request: gr.Request) -> Any:
        return keep_selection(finished_jobs(request), current)

    quiet: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
    tab.refresh.click(refreshed, tab.job, tab.job, **quiet)
    opened.select(refreshed, tab.job, tab.job, **quiet)
    kept.wanted.change(refreshed, kept.wanted, tab.job, **quiet)
    tab.job.change(lambda job_id: job_id, tab.job, kept.wanted, **quiet)
    tab.zip_adapter.click(revealing(zip_adapter), [tab.job, lang], [tab.status, tab.file], api_visibility="private")
    tab.push.click(push_job, [tab.job, tab.repo, tab.token, tab.private, tab.merged, tab.push_gguf, tab.gguf_types, lang], tab.push_status,
                   api_visibility="private",
                   concurrency_limit=1, concurrency_id="inference")
    tab.merge.click(revealing(merge_adapter), [tab.job, lang], [tab.status, tab.file], api_visibility="private", concurrency_limit=1,
                    concurrency_id="inference")
    tab.gguf_export.click(revealing(export_gguf), [tab.job, tab.gguf_types, lang], [tab.gguf_status, tab.gguf_files], api_visibility="private",
                          concurrency_limit=1, concurrency_id="inference")
