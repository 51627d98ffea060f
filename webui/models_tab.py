"""Models tab: search the Hub (or the local catalog when offline), describe a model, pick it for training.

The verdict says whether Adapta can adapt the model (task and architecture supported, no remote code, no
pickle-only weights); the memory table estimates each method against the GPU found here, or the CPU's RAM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from jobs import hub
from jobs.errors import AdaptaError
from webui.api import model_info_action, search_models_action
from webui.i18n import Registry, t

RESULT_COLUMNS = ["id", "name", "source", "task", "architecture", "size", "downloads", "likes"]


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


def build(r: Registry) -> ModelsTab:
    r.markdown("models.intro")
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
    info = gr.Markdown(elem_id="model-info")
    memory = gr.Dataframe(headers=["method", "estimate", "fits", "device"], interactive=False, elem_id="model-memory")
    return ModelsTab(notice, query, task, sort, search, results, model_ref, check, use, info, memory, status)


def run_search(query: str, task: str, sort: str, lang: str) -> tuple[str, pd.DataFrame]:
    try:
        found = search_models_action(query, task, sort)
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


def run_check(ref: str, lang: str) -> tuple[str, str, pd.DataFrame]:
    try:
        info = model_info_action(ref)
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


def wire(tab: ModelsTab, lang: gr.State) -> None:
    tab.search.click(run_search, [tab.query, tab.task, tab.sort, lang], [tab.notice, tab.results], api_visibility="private")
    tab.query.submit(run_search, [tab.query, tab.task, tab.sort, lang], [tab.notice, tab.results], api_visibility="private")
    tab.results.select(pick_row, [tab.results], [tab.model_ref], api_visibility="private").then(
        run_check, [tab.model_ref, lang], [tab.status, tab.info, tab.memory], api_visibility="private")
    tab.check.click(run_check, [tab.model_ref, lang], [tab.status, tab.info, tab.memory], api_visibility="private")
