"""Models tab: search the Hub (or the local catalog when offline), describe a model, pick it, download it ahead.

The verdict says whether Adapta can adapt the model (task and architecture supported, no remote code, no
pickle-only weights); the memory table estimates each method against the GPU found here, or the CPU's RAM.
"Download now" fetches the selected Hub model into the Hugging Face cache with live progress (a job would
otherwise download it first); "Downloaded models" lists the cache with sizes and deletes from it. The token
field holds the caller's Hugging Face token for gated or private models, in this browser session only.

The results table shows models as people know them (:mod:`jobs.hub.model_rows`): name, owner, parameters, size, licence,
task, where it lives, Hub downloads and likes; no cell ever holds a file-system path. Each row's reference (Hub id or
local path) stays in a ``gr.State`` that selection reads; clicking a row fills the detail panel (card summary, licence,
verdict, memory table, and the path of a local model). The task filter follows the Train form's task
(:func:`filter_for_task`, wired in ``webui/app.py``), "all tasks" stays selectable, and a new filter searches again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from jobs.errors import AdaptaError
from jobs.export.gguf_families import model_gguf_support
from jobs.hub import search as hub
from jobs.hub.model_rows import (
    WHERE_DOWNLOADED,
    WHERE_HUB,
    WHERE_LOCAL,
    WHERE_PACKAGED,
    ModelRow,
    describe_ref,
    format_parameters,
    rows_from_search,
    split_hub_id,
)
from jobs.hub.prefetch import cancel_prefetch, downloaded_models
from jobs.models.hardware import MACHINE_LINE_EN, Hardware, detect_hardware, doctor_line
from jobs.models.memory import format_bytes
from jobs.spec import JobSpec, Task
from webui.access import Caller, caller_hub_token, caller_of
from webui.api_models import (
    callers_download,
    delete_downloaded_action,
    model_info_action,
    prefetch_action,
    search_models_action,
)
from webui.i18n import DEFAULT_LANGUAGE, Registry, labels, string_table, t

RESULT_COLUMNS = ["name", "owner", "parameters", "size", "license", "task", "where", "downloads", "likes"]
"""The results table's columns (``models.col.<name>`` is each header); a row's reference is kept out of the table."""
DOWNLOADED_COLUMNS = ["name", "owner", "size", "revisions", "last_used"]
MEMORY_COLUMNS = ["method", "estimate", "fits", "device"]
DOWNLOAD_POLL_SECONDS = 1.0
TRAIN_TASK_FILTERS: dict[str, str] = {Task.CAUSAL_LM.value: "text-generation", Task.TEXT_CLASSIFICATION.value: "text-classification",
                                      Task.SENTENCE_EMBEDDING.value: "sentence-embedding", Task.TEXT_TO_IMAGE.value: "text-to-image"}
"""The Train form's task -> the Models tab's search filter (a key of :data:`jobs.hub.search.TASK_FILTERS`)."""
_WHERE_KEYS = {WHERE_HUB: "hub", WHERE_PACKAGED: "packaged", WHERE_DOWNLOADED: "downloaded", WHERE_LOCAL: "local"}
CSS = "#model-results thead th, #downloaded-models thead th, #model-memory thead th {padding-top: 0; padding-bottom: 0}"
"""The Models tab's tables: the header row no taller than the rows (``webui/app.py`` adds this to the page's CSS)."""


@dataclass
class ModelsTab:
    notice: gr.Markdown
    query: gr.Textbox
    task: gr.Dropdown
    sort: gr.Radio
    search: gr.Button
    results: gr.Dataframe
    result_rows: gr.State
    model_ref: gr.Textbox
    check: gr.Button
    use: gr.Button
    info: gr.Markdown
    memory: gr.Dataframe
    status: gr.Markdown
    token: gr.Textbox
    download: gr.Button
    cancel_download: gr.Button
    download_status: gr.Markdown
    download_timer: gr.Timer
    downloaded: gr.Dataframe
    refresh_downloaded: gr.Button
    delete: gr.Button
    download_row: gr.Row | None = None
    """Download / stop: shown once a model is named."""
    downloaded_box: gr.Accordion | None = None
    """The closed "Downloaded models" accordion: its table is read when it opens, not on every page load."""


def build(r: Registry) -> ModelsTab:
    r.markdown("models.intro")
    hardware = detect_hardware()  # once per page build (nvidia-smi); a language switch only rewords it
    r.register(gr.Markdown(machine_line(hardware, r.language), elem_id="machine-line"), value=lambda lang: machine_line(hardware, lang))
    token = r.make(gr.Textbox, "models.token", info="models.token.info", type="password", elem_id="hub-token")
    notice = gr.Markdown(elem_id="hub-notice")
    with gr.Row():
        query = r.make(gr.Textbox, "models.query", scale=3)
        task = r.make(gr.Dropdown, "models.task", choices=task_choices(DEFAULT_LANGUAGE), value=filter_for_task(default_train_task()), scale=1,
                      elem_id="model-task")
        sort = r.make(gr.Radio, "models.sort", choices=list(hub.SORTS), value="downloads", scale=1)
    search = r.button("models.search", variant="secondary")
    results = gr.Dataframe(headers=labels(DEFAULT_LANGUAGE, "models.col.", RESULT_COLUMNS), interactive=False, wrap=True, visible=False,
                           elem_id="model-results")
    result_rows = gr.State([])
    with gr.Row():
        model_ref = r.make(gr.Textbox, "models.ref", info="models.ref.info", scale=4, elem_id="model-ref")
        check = r.button("models.check", scale=1, elem_id="model-check")
        use = r.button("models.use", variant="primary", scale=1, elem_id="model-use")
    status = gr.Markdown(elem_id="model-status")
    with gr.Row(visible=False, elem_id="model-download-row") as download_row:
        download = r.button("models.download", size="sm", elem_id="model-download")
        cancel_download = r.button("models.cancel_download", size="sm", elem_id="model-download-cancel")
    download_status = gr.Markdown(elem_id="model-download-status")
    download_timer = gr.Timer(DOWNLOAD_POLL_SECONDS, active=False)  # polls only while the caller's download runs (see wire)
    with gr.Group(elem_id="model-detail"):
        info = r.markdown("models.detail_hint", elem_id="model-info")
        memory = gr.Dataframe(headers=MEMORY_COLUMNS, interactive=False, visible=False, elem_id="model-memory")
    with r.make(gr.Accordion, "models.downloaded", open=False, elem_id="downloaded-box") as downloaded_box:
        downloaded = gr.Dataframe(headers=labels(DEFAULT_LANGUAGE, "models.col.", DOWNLOADED_COLUMNS), interactive=False, elem_id="downloaded-models")
        with gr.Row():
            refresh_downloaded = r.button("models.refresh_downloaded", size="sm")
            delete = r.button("models.delete", size="sm", variant="stop", elem_id="model-delete")
    return ModelsTab(notice, query, task, sort, search, results, result_rows, model_ref, check, use, info, memory, status, token, download, cancel_download,
                     download_status, download_timer, downloaded, refresh_downloaded, delete, download_row, downloaded_box)


def machine_line(hardware: Hardware, lang: str) -> str:
    """``launch.py doctor``'s one-line form (no torch in the web server) in ``lang``: the GPUs or none, and what QLoRA needs."""
    return f"🖥️ {doctor_line(hardware, string_table(lang, 'machine.', MACHINE_LINE_EN))}"


def default_train_task() -> str:
    """The Train form's task when the page opens (the JobSpec default)."""
    return str(JobSpec.model_fields["task"].default.value)


def filter_for_task(train_task: str | None) -> str:
    """The search filter for the Train form's task ("" lists all tasks): the task filter follows what the user trains."""
    return TRAIN_TASK_FILTERS.get(str(train_task or ""), "")


def task_choices(lang: str) -> list[tuple[str, str]]:
    """The task filter's choices: "all tasks", then each Train task by its name (the value is the search filter)."""
    return [(t(lang, "models.all_tasks"), ""), *[(task, search_filter) for task, search_filter in TRAIN_TASK_FILTERS.items()]]


def where_badge(row: ModelRow, lang: str) -> str:
    """packaged / downloaded / local folder / Hub, with "· ready" for a packaged GGUF model already converted."""
    badge = t(lang, f"models.where.{_WHERE_KEYS.get(row.where, 'local')}")
    return f"{badge} · {t(lang, 'models.ready')}" if row.ready else badge


def row_cells(row: ModelRow, lang: str) -> list[str]:
    """One table row for people: no path, no empty 'None' (a blank cell when a fact is unknown)."""
    def count(value: int | None) -> str:
        return "" if value is None else f"{value:,}"

    return [row.name, row.owner, format_parameters(row.parameters), format_bytes(row.size_bytes) if row.size_bytes else "", row.license or "",
            row.task or "", where_badge(row, lang), count(row.downloads), count(row.likes)]


def results_frame(rows: list[ModelRow], lang: str) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The table (translated headers) and the state that maps each row back to its model reference."""
    cells = [row_cells(row, lang) for row in rows]
    return pd.DataFrame(cells, columns=labels(lang, "models.col.", RESULT_COLUMNS)), [{"ref": row.ref, "cells": row_cells} for row, row_cells in
                                                                              zip(rows, cells, strict=True)]


def run_search(query: str, task: str, sort: str, lang: str, token: str | None = None, oauth_token: gr.OAuthToken | None = None
               ) -> tuple[str, pd.DataFrame, list[dict[str, Any]]]:
    try:
        found = search_models_action(query, task, sort, caller_hub_token(token, oauth_token))
    except AdaptaError as error:
        return f"⚠️ {error}", pd.DataFrame(columns=labels(lang, "models.col.", RESULT_COLUMNS)), []
    notice = f"⚠️ **{t(lang, 'models.offline')}**" if found["offline"] else t(lang, "models.online", count=len(found["models"]))
    frame, refs = results_frame(rows_from_search(found["models"]), lang)
    return notice, frame, refs


def first_search(lang: str) -> tuple[str, pd.DataFrame, list[dict[str, Any]]]:
    """The search the page runs when it opens: every model for the Train form's default task."""
    return run_search("", filter_for_task(default_train_task()), "downloads", lang)


def shown_frame(frame: pd.DataFrame) -> Any:
    """A table's update that hides it while it has no rows (its headers alone would be an empty widget)."""
    return gr.update(value=frame, visible=not frame.empty)


def first_results(lang: str) -> list[Any]:
    """:func:`first_search` for the page's load event: notice, results (hidden when none), rows."""
    notice, frame, rows = first_search(lang)
    return [notice, shown_frame(frame), rows]


def describe(info: dict[str, Any], lang: str) -> str:
    """The detail panel: what the model is (name, owner, where, card summary), its facts, the path of a local model, the verdict."""
    verdict = info["verdict"]
    ref = str(info["id"])
    name, owner, where = describe_ref(ref)
    badge = t(lang, f"models.where.{_WHERE_KEYS.get(where, 'local')}")
    lines = [f"### {name}", f"{owner} · {badge}" if owner else badge, "", info.get("card_summary") or f"_{t(lang, 'models.no_card')}_", ""]
    params = info.get("parameters")
    lines += [
        f"- {t(lang, 'models.params')}: {format_parameters(params)}" if params else f"- {t(lang, 'models.params')}: ?",
        f"- {t(lang, 'models.arch')}: {info.get('architecture')} · {t(lang, 'models.task_label')}: {info.get('task') or '?'}",
        f"- {t(lang, 'models.license')}: {info.get('license') or '?'} · {t(lang, 'models.gated')}: {t(lang, 'yes' if info.get('gated') else 'no')}",
        f"- {t(lang, 'models.formats')}: {', '.join(info.get('formats') or []) or '?'}",
    ]
    if info.get("source") == "local" and Path(ref).expanduser().exists():
        lines.append(f"- {t(lang, 'models.path')}: `{Path(ref).expanduser()}`")
    if verdict["ok"]:
        lines.append(f"\n✅ **{t(lang, 'models.compatible')}**")
    else:
        lines.append(f"\n❌ **{t(lang, 'models.incompatible')}**: " + "; ".join(verdict["reasons"]))
    gguf = gguf_line(info, lang)
    if gguf:
        lines.append(f"\n{gguf}")
    return "\n".join(lines)


def gguf_line(info: dict[str, Any], lang: str) -> str | None:
    """Whether a fine-tune of this text-generation model exports to GGUF for llama.cpp (the Train pre-flight's sentence), judged
    from its config.json and tokenizer when it is on this machine, else from its architecture; None for other tasks."""
    if info.get("task") != Task.CAUSAL_LM.value:
        return None
    source = info.get("local_source")
    support = model_gguf_support(Path(source) if source else None, str(info.get("architecture") or info.get("model_type") or "unknown"))
    if not support.exportable or support.family is None:
        return t(lang, "train.gguf_no", reason=support.reason)
    return t(lang, "train.gguf_yes" if support.checked else "models.gguf_unchecked", family=support.family.label)


def run_check(ref: str, lang: str, token: str | None = None, oauth_token: gr.OAuthToken | None = None) -> tuple[str, str, pd.DataFrame]:
    try:
        info = model_info_action(ref, caller_hub_token(token, oauth_token), card=True)
    except AdaptaError as error:
        return f"⚠️ {error}", "", pd.DataFrame(columns=MEMORY_COLUMNS)
    rows = [[method, row["human"], "—" if row["fits"] is None else t(lang, "yes" if row["fits"] else "no"), row["device"]]
            for method, row in info["memory"].items()]
    return "", describe(info, lang), pd.DataFrame(rows, columns=MEMORY_COLUMNS)


def selected_row(evt: gr.SelectData) -> tuple[int | None, list[str]]:
    """(row index, the row's cells as text) of a Dataframe click."""
    index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    cells = [str(cell) for cell in (evt.row_value or [])]
    try:
        return int(index), cells
    except (TypeError, ValueError):
        return None, cells


def pick_row(rows: list[dict[str, Any]], evt: gr.SelectData) -> Any:
    """The clicked model's reference: the row whose cells match (the table may be sorted in the browser), else by position."""
    index, cells = selected_row(evt)
    matching = [row["ref"] for row in rows or [] if [str(cell) for cell in row["cells"]] == cells]
    if matching:
        return matching[0]
    if index is not None and 0 <= index < len(rows or []):
        return rows[index]["ref"]
    return gr.update()


def pick_downloaded(evt: gr.SelectData) -> Any:
    """The Hub id of a clicked "Downloaded models" row (owner/name), for Check, Download and Delete."""
    _, cells = selected_row(evt)
    if len(cells) < 2 or not cells[0]:
        return gr.update()
    return f"{cells[1]}/{cells[0]}" if cells[1] else cells[0]


def download_running(ref: str, caller: Caller) -> bool:
    """Whether the caller's own download of ``ref`` is still running (the Models tab polls its progress only then)."""
    state = callers_download(ref, caller)
    return state is not None and state.running


def polling(active: bool) -> gr.Timer:
    """The download timer's update: ticking (every :data:`DOWNLOAD_POLL_SECONDS`) or stopped."""
    return gr.Timer(DOWNLOAD_POLL_SECONDS, active=active)


def start_download(ref: str, token: str | None, request: gr.Request, oauth_token: gr.OAuthToken | None) -> list[Any]:
    """Outputs: the download line, the download timer (ticking while the download runs)."""
    caller = caller_of(request)
    try:
        line = prefetch_action(ref, caller, caller_hub_token(token, oauth_token))
    except AdaptaError as error:
        return [f"⚠️ {error}", polling(False)]
    return [line, polling(download_running(ref, caller))]


def stop_download(ref: str, request: gr.Request) -> Any:
    """Stop the caller's own download of ``ref`` (another user's download of the same model runs on)."""
    return "⏹️ stopping…" if cancel_prefetch(ref, owner=caller_of(request).owner_filter) else gr.update()


def download_line(ref: str, request: gr.Request) -> list[Any]:
    """Outputs: the selected model's download line (unchanged when there is none), the download timer (stopped once the
    caller's download of it ended: its last line stays)."""
    state = callers_download(ref, caller_of(request))  # read once: its line, and whether it still runs
    return [state.line() if state is not None else gr.update(), polling(state is not None and state.running)]


def downloaded_rows(caller: Caller) -> list[list[Any]]:
    """The "Downloaded models" rows the caller may see: the whole cache on a single-user server, else what they downloaded."""
    return [[*split_hub_id(model["id"]), model["size"], model["revisions"], model["last_used"]]
            for model in downloaded_models(owner=caller.owner_filter)]


def downloaded_frame(lang: str | None = None, request: gr.Request | None = None) -> pd.DataFrame:
    """The Hugging Face cache by model name and owner (no cache path), sizes and last use; on a shared server only the caller's
    own downloads."""
    return pd.DataFrame(downloaded_rows(caller_of(request)), columns=labels(lang or DEFAULT_LANGUAGE, "models.col.", DOWNLOADED_COLUMNS))


def delete_selected(ref: str, lang: str, request: gr.Request) -> tuple[str, pd.DataFrame]:
    try:
        message = f"🗑️ {delete_downloaded_action(ref, caller_of(request))}"
    except AdaptaError as error:
        message = f"⚠️ {error}"
    return message, downloaded_frame(lang, request)


def wire(tab: ModelsTab, lang: gr.State) -> None:
    def search(query: str, task: str, sort: str, language: str, token: str | None, oauth_token: gr.OAuthToken | None) -> list[Any]:
        notice, frame, rows = run_search(query, task, sort, language, token, oauth_token)
        return [notice, shown_frame(frame), rows]

    def check(ref: str, language: str, token: str | None, oauth_token: gr.OAuthToken | None) -> list[Any]:
        status, card, memory = run_check(ref, language, token, oauth_token)
        return [status, card, shown_frame(memory)]

    search_io = ([tab.query, tab.task, tab.sort, lang, tab.token], [tab.notice, tab.results, tab.result_rows])
    tab.search.click(search, *search_io, api_visibility="private")
    tab.query.submit(search, *search_io, api_visibility="private")
    tab.task.change(search, *search_io, api_visibility="private")
    check_io = ([tab.model_ref, lang, tab.token], [tab.status, tab.info, tab.memory])
    tab.results.select(pick_row, [tab.result_rows], [tab.model_ref], api_visibility="private").then(check, *check_io, api_visibility="private")
    tab.downloaded.select(pick_downloaded, None, [tab.model_ref], api_visibility="private").then(check, *check_io, api_visibility="private")
    tab.check.click(check, *check_io, api_visibility="private")
    if tab.download_row is not None:  # download / stop, and the poll of its progress, only once there is a model to download
        def named(ref: str, request: gr.Request) -> list[Any]:  # a download of this model may already run (started before a reload)
            return [gr.update(visible=bool((ref or "").strip())), polling(download_running(ref, caller_of(request)))]

        tab.model_ref.change(named, tab.model_ref, [tab.download_row, tab.download_timer], api_visibility="private", show_progress="hidden")
    tab.download.click(start_download, [tab.model_ref, tab.token], [tab.download_status, tab.download_timer], api_visibility="private")
    tab.cancel_download.click(stop_download, tab.model_ref, tab.download_status, api_visibility="private")
    tab.download_timer.tick(download_line, tab.model_ref, [tab.download_status, tab.download_timer], api_visibility="private", show_progress="hidden",
                            concurrency_limit=None)
    tab.refresh_downloaded.click(downloaded_frame, lang, tab.downloaded, api_visibility="private")
    if tab.downloaded_box is not None:
        tab.downloaded_box.expand(downloaded_frame, lang, tab.downloaded, api_visibility="private")
    tab.delete.click(delete_selected, [tab.model_ref, lang], [tab.download_status, tab.downloaded], api_visibility="private")
