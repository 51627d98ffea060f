"""Playground tab: try a finished job (base vs adapted, side by side) or any base model alone.

Generation uses the same prompt and settings (temperature, max new tokens, top-p) for both sides;
classification shows the label probabilities of both. Loaded models stay cached in ``jobs.inference``
(LRU), so switching between runs does not reload from disk each time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from jobs.errors import AdaptaError
from jobs.models import local_catalog
from jobs.queue import list_jobs
from storage.tables import JobStatus
from webui.api import generate_action
from webui.i18n import Registry, t


@dataclass
class PlaygroundTab:
    source: gr.Dropdown
    refresh: gr.Button
    prompt: gr.Textbox
    temperature: gr.Slider
    max_new_tokens: gr.Slider
    top_p: gr.Slider
    run: gr.Button
    status: gr.Markdown
    base_text: gr.Textbox
    adapted_text: gr.Textbox
    base_labels: gr.Label
    adapted_labels: gr.Label


def build(r: Registry) -> PlaygroundTab:
    r.markdown("play.intro")
    with gr.Row():
        source = r.make(gr.Dropdown, "play.source", choices=[], allow_custom_value=True, elem_id="play-source", scale=4)
        refresh = r.button("play.refresh", scale=1)
    prompt = r.make(gr.Textbox, "play.prompt", lines=3, elem_id="play-prompt")
    with gr.Row():
        temperature = r.make(gr.Slider, "play.temperature", minimum=0.0, maximum=2.0, step=0.05, value=0.0)
        max_new_tokens = r.make(gr.Slider, "play.max_new_tokens", minimum=1, maximum=512, step=1, value=48)
        top_p = r.make(gr.Slider, "play.top_p", minimum=0.05, maximum=1.0, step=0.05, value=0.9)
    run = r.button("play.run", variant="primary", elem_id="play-run")
    status = gr.Markdown(elem_id="play-status")
    with gr.Row():
        base_text = r.make(gr.Textbox, "play.base", lines=6, interactive=False, elem_id="play-base")
        adapted_text = r.make(gr.Textbox, "play.adapted", lines=6, interactive=False, elem_id="play-adapted")
    with gr.Row():
        base_labels = r.make(gr.Label, "play.base_probs", visible=False)
        adapted_labels = r.make(gr.Label, "play.adapted_probs", visible=False)
    return PlaygroundTab(source, refresh, prompt, temperature, max_new_tokens, top_p, run, status, base_text, adapted_text, base_labels, adapted_labels)


def source_choices(selected: str | None = None) -> Any:
    """Succeeded jobs first (value: the job id), then the local base models (value: their reference)."""
    choices = [(f"#{job.id} · {job.name}", str(job.id)) for job in list_jobs(status=JobStatus.SUCCEEDED, limit=100)]
    choices += [(f"base · {entry.name}", entry.ref) for entry in local_catalog()]
    if selected is None and choices:
        selected = choices[0][1]
    return gr.update(choices=choices, value=selected)


def run_generate(source: str, prompt: str, temperature: float, max_new_tokens: int, top_p: float, lang: str) -> list[Any]:
    """Outputs: status, base text, adapted text, base labels, adapted labels."""
    try:
        result = generate_action(source, prompt, int(max_new_tokens), float(temperature), float(top_p))
    except AdaptaError as error:
        return [f"⚠️ {error}", gr.update(), gr.update(), gr.update(), gr.update()]
    if result["task"] == "text-classification":
        return [t(lang, "play.done"), gr.update(visible=False), gr.update(visible=False),
                gr.update(value=result["base"], visible=True), gr.update(value=result["adapted"], visible=True)]
    return [t(lang, "play.done"), gr.update(value=result["base"], visible=True), gr.update(value=result["adapted"], visible=True),
            gr.update(visible=False), gr.update(visible=False)]


def wire(tab: PlaygroundTab, lang: gr.State) -> None:
    tab.refresh.click(lambda: source_choices(), None, tab.source, api_visibility="private")
    tab.run.click(run_generate, [tab.source, tab.prompt, tab.temperature, tab.max_new_tokens, tab.top_p, lang],
                  [tab.status, tab.base_text, tab.adapted_text, tab.base_labels, tab.adapted_labels], api_visibility="private",
                  concurrency_limit=1, concurrency_id="inference")
