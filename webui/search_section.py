"""The Playground's semantic-search section: a finished sentence-embedding job's base and adapted rankings, side by side.

Shown when the Playground's source is one of the caller's sentence-embedding jobs. Paste passages (one per line) or
leave the box empty to search the job's own corpus, type a query, and each model's top results appear with their
similarity scores. The search itself is :func:`jobs.inference.embedding_search.compare_search`; this module only wires widgets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from jobs.errors import AdaptaError
from jobs.inference.embedding_search import compare_search, load_embedding_run, run_passages
from jobs.spec import Task
from webui.access import Caller, caller_of
from webui.api_files import succeeded_run
from webui.api_playground import job_task
from webui.i18n import Registry, t

COLUMNS = ["rank", "score", "passage"]


@dataclass
class SearchSection:
    group: gr.Column
    corpus: gr.Textbox
    query: gr.Textbox
    top_k: gr.Slider
    run: gr.Button
    status: gr.Markdown
    base: gr.Dataframe
    adapted: gr.Dataframe


def build(r: Registry) -> SearchSection:
    with gr.Column(visible=False, elem_id="play-search") as group:
        r.markdown("search.intro")
        corpus = r.make(gr.Textbox, "search.corpus", lines=6, elem_id="search-corpus")
        with gr.Row():
            query = r.make(gr.Textbox, "search.query", elem_id="search-query", scale=4)
            top_k = r.make(gr.Slider, "search.top_k", minimum=1, maximum=20, step=1, value=5, scale=1)
        run = r.button("search.run", variant="primary", elem_id="search-run")
        status = gr.Markdown(elem_id="search-status")
        with gr.Row():
            base = r.make(gr.Dataframe, "search.base", headers=COLUMNS, interactive=False, wrap=True, elem_id="search-base")
            adapted = r.make(gr.Dataframe, "search.adapted", headers=COLUMNS, interactive=False, wrap=True, elem_id="search-adapted")
    return SearchSection(group, corpus, query, top_k, run, status, base, adapted)


def search_action(source: str, query: str, corpus_text: str, top_k: int, caller: Caller) -> dict[str, list[list[Any]]]:
    """{base, adapted}: [rank, score, passage] rows of one of the caller's succeeded sentence-embedding jobs."""
    _, run_dir = succeeded_run(source, caller)
    run = load_embedding_run(run_dir)
    passages = [line for line in (corpus_text or "").splitlines() if line.strip()] or run_passages(run_dir)
    hits = compare_search(run, query, passages, top_k=int(top_k))
    return {side: [[hit.rank, round(hit.score, 4), hit.passage] for hit in found] for side, found in hits.items()}


def is_search_source(source: str | None, caller: Caller) -> bool:
    """True when ``source`` is the id of one of the caller's sentence-embedding jobs."""
    text = str(source or "").strip()
    if not text.isdigit():
        return False
    try:
        return job_task(int(text), caller) == Task.SENTENCE_EMBEDDING.value
    except AdaptaError:
        return False


def run_search(source: str, query: str, corpus_text: str, top_k: float, lang: str, request: gr.Request) -> list[Any]:
    """Outputs: status, base results, adapted results."""
    try:
        result = search_action(source, query, corpus_text, int(top_k), caller_of(request))
    except AdaptaError as error:
        return [f"⚠️ {error}", gr.update(), gr.update()]
    return [t(lang, "play.done"), result["base"], result["adapted"]]


def search_visibility(source: str | None, request: gr.Request) -> Any:
    """Show the section for the caller's sentence-embedding jobs only."""
    return gr.update(visible=is_search_source(source, caller_of(request)))


def wire(section: SearchSection, source: gr.Dropdown, lang: gr.State) -> None:
    source.change(search_visibility, source, section.group, api_visibility="private", show_progress="hidden")
    section.run.click(run_search, [source, section.query, section.corpus, section.top_k, lang],
                      [section.status, section.base, section.adapted], api_visibility="private", concurrency_limit=1,
                      concurrency_id="inference")
