"""Models tab: search the Hub (or the local catalog when offline), describe a model, pick it, download it ahead.

The verdict says whether Adapta can adapt the model (task and architecture supported, no remote code, no
pickle-only weights); the memory table estimates each method against the GPU found here, or the CPU's RAM.
"Download now" fetches the selected Hub model into the Hugging Face cache with live progress (a job would
otherwise download it first); "Downloaded models" lists the cache with sizes and deletes from it. The token
field holds the caller's Hugging Face token for gated or private models, in this browser session only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from jobs import hub
from jobs.errors import AdaptaError
from jobs.models.prefetch import cancel_prefetch, downloaded_models
from webui.access import caller_hub_token, caller_of
from webui.api import (
    delete_downloaded_action,
    model_info_action,
    prefetch_action,
    prefetch_status_action,
    search_models_action,
)
from webui.i18n import Registry, t

RESULT_COLUMNS = ["id", "name", "source", "task", "architecture", "size", "downloads", "likes"]
DOWNLOADED_COLUMNS = ["id", "size", "revisions", "last_used"]
DOWNLOAD_POLL_SECONDS = 1.0


@dataclass
class ModelsTab:
    notice: gr.Markdown
    query: gr.Textbox
    task: gr.Dropdown
    sort: gr.Radio
    search: gr.Button
    results: gr.Dataframe
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


def build(r: Registry) -> ModelsTab:
    r.markdown("models.intro")
    token = r.make(gr.Textbox, "models.token", info="models.token.info", type="password", elem_id="hub-token")
    notice = gr.Markdown(elem_id="hub-notice")
    with gr.Row():
        query = r.make(gr.Textbox, "models.query", scale=3)
        task = r.make(gr.Dropdown, "models.task", choices=["", *hub.TASK_FILTERS], value="", scale=1)
        sort = r.make(gr.Radio, "models.sort", choices=list(hub.SORTS), value="downloads", scale=1)
    search = r.button("models.search", variant="secondary")
    results = gr.Dataframe(headers=RESULT_COLUMNS, interactive=False, wrap=True, elem_id="model-results")
    with gr.Row():
        model_ref = r.make(gr.Textbox, "models.ref", info="models.ref.info", scale=4, elem_id="model-ref")
        check = r.button("models.check", scale=1, elem_id="model-check")
        use = r.button("models.use", variant="primary", scale=1, elem_id="model-use")
    status = gr.Markdown(elem_id="model-status")
    with gr.Row():
        download = r.button("models.download", size="sm", elem_id="model-download")
        cancel_download = r.button("models.cancel_download", size="sm", elem_id="model-download-cancel")
    download_status = gr.Markdown(elem_id="model-download-status")
    download_timer = gr.Timer(DOWNLOAD_POLL_SECONDS)
    info = gr.Markdown(elem_id="model-info")
    memory = gr.Dataframe(headers=["method", "estimate", "fits", "device"], interactive=False, elem_id="model-memory")
    with r.make(gr.Accordion, "models.downloaded", open=False):
        downloaded = gr.Dataframe(headers=DOWNLOADED_COLUMNS, interactive=False, elem_id="downloaded-models")
        with gr.Row():
            refresh_downloaded = r.button("models.refresh_downloaded", size="sm")
            delete = r.button("models.delete", size="sm", variant="stop", elem_id="model-delete")
    return ModelsTab(notice, query, task, sort, search, results, model_ref, check, use, info, memory, status, token, download, cancel_download,
                     download_status, download_timer, downloaded, refresh_downloaded, delete)


def run_search(query: str, task: str, sort: str, lang: str, token: str | None = None, oauth_token: gr.OAuthToken | None = None
               ) -> tuple[str, pd.DataFrame]:
    try:
        found = search_models_action(query, task, sort, caller_hub_token(token, oauth_token))
    except AdaptaError as error:
        return f"⚠️ {error}", pd.DataFrame(columns=RESULT_COLUMNS)
    notice = f"⚠️ **{t(lang, 'models.offline')}**" if found["offline"] else t(lang, "models.online", count=len(found["models"]))
    frame = pd.DataFrame(found["models"], columns=RESULT_COLUMNS)
    return notice, frame


def describe(info: dict[str, Any], lang: str) -> str:
    verdict = info["verdict"]
    lines = [f"### {info['id']}"]
    if info.get("card_summary"):
        lines.append(info["card_summary"])
    params = info.get("parameters")
    lines += [
        f"- {t(lang, 'models.params')}: {params / 1e6:.1f} M" if params else f"- {t(lang, 'models.params')}: ?",
        f"- {t(lang, 'models.arch')}: {info.get('architecture')} · {t(lang, 'models.task_label')}: {info.get('task') or '?'}",
        f"- {t(lang, 'models.license')}: {info.get('license') or '?'} · {t(lang, 'models.gated')}: {t(lang, 'yes' if info.get('gated') else 'no')}",
        f"- {t(lang, 'models.formats')}: {', '.join(info.get('formats') or []) or '?'}",
    ]
    if verdict["ok"]:
        lines.append(f"\n✅ **{t(lang, 'models.compatible')}**")
    else:
        lines.append(f"\n❌ **{t(lang, 'models.incompatible')}**: " + "; ".join(verdict["reasons"]))
    return "\n".join(lines)


def run_check(ref: str, lang: str, token: str | None = None, oauth_token: gr.OAuthToken | None = None) -> tuple[str, str, pd.DataFrame]:
    try:
        info = model_info_action(ref, caller_hub_token(token, oauth_token))
    except AdaptaError as error:
        return f"⚠️ {error}", "", pd.DataFrame(columns=["method", "estimate", "fits", "device"])
    rows = [[method, row["human"], "—" if row["fits"] is None else t(lang, "yes" if row["fits"] else "no"), row["device"]]
            for method, row in info["memory"].items()]
    return "", describe(info, lang), pd.DataFrame(rows, columns=["method", "estimate", "fits", "device"])


def pick_row(frame: pd.DataFrame, evt: gr.SelectData) -> str:
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    try:
        return str(frame.iloc[int(row)]["id"])
    except (IndexError, KeyError, ValueError):
        return gr.update()


def start_download(ref: str, token: str | None, request: gr.Request, oauth_token: gr.OAuthToken | None) -> str:
    try:
        return prefetch_action(ref, caller_of(request), caller_hub_token(token, oauth_token))
    except AdaptaError as error:
        return f"⚠️ {error}"


def stop_download(ref: str) -> str:
    return "⏹️ stopping…" if cancel_prefetch(ref) else gr.update()


def download_line(ref: str) -> Any:
    """The selected model's download line while one runs or just ended (unchanged otherwise, so the timer costs nothing)."""
    line = prefetch_status_action(ref) if ref else ""
    return line or gr.update()


def downloaded_frame() -> pd.DataFrame:
    return pd.DataFrame(downloaded_models(), columns=DOWNLOADED_COLUMNS)


def delete_selected(ref: str, request: gr.Request) -> tuple[str, pd.DataFrame]:
    try:
        message = f"🗑️ {delete_downloaded_action(ref, caller_of(request))}"
    except AdaptaError as error:
        message = f"⚠️ {error}"
    return message, downloaded_frame()


def wire(tab: ModelsTab, lang: gr.State) -> None:
    search_io = ([tab.query, tab.task, tab.sort, lang, tab.token], [tab.notice, tab.results])
    tab.search.click(run_search, *search_io, api_visibility="private")
    tab.query.submit(run_search, *search_io, api_visibility="private")
    check_io = ([tab.model_ref, lang, tab.token], [tab.status, tab.info, tab.memory])
    tab.results.select(pick_row, [tab.results], [tab.model_ref], api_visibility="private").then(run_check, *check_io, api_visibility="private")
    tab.check.click(run_check, *check_io, api_visibility="private")
    tab.download.click(start_download, [tab.model_ref, tab.token], tab.download_status, api_visibility="private")
    tab.cancel_download.click(stop_download, tab.model_ref, tab.download_status, api_visibility="private")
    tab.download_timer.tick(download_line, tab.model_ref, tab.download_status, api_visibility="private", show_progress="hidden",
                            concurrency_limit=None)
    tab.refresh_downloaded.click(downloaded_frame, None, tab.downloaded, api_visibility="private")
    tab.delete.click(delete_selected, [tab.model_ref], [tab.download_status, tab.downloaded], api_visibility="private")
