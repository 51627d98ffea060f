"""Playground tab: try a finished job (base vs adapted, side by side) or any base model alone.

Generation uses the same prompt and settings (temperature, max new tokens, top-p) for both sides;
classification shows the label probabilities of both. Models merged from a job are offered to that job's owner only.
Loaded models stay cached in ``jobs.inference.text`` (LRU), so switching between runs does not reload from disk each time.

A finished text-to-image job switches the tab to image mode: prompt, seed, LoRA scale and steps give the
base pipeline's image and the LoRA's image at the same seed, side by side (``jobs.inference.images``).

Nothing empty is shown: the tab's body stays hidden until there is something to try (a finished job or a base model on this
machine; the guide's empty state says why), and the answer boxes appear with the first answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from jobs.errors import AdaptaError
from jobs.models import local_catalog
from jobs.queue import list_jobs
from storage.tables import JobStatus
from webui import search_section
from webui.access import Caller, caller_of
from webui.api_playground import IMAGE_STEPS_DEFAULT, MAX_IMAGE_STEPS, generate_action, generate_image_action, job_task
from webui.i18n import Registry, t
from webui.spec_form import IMAGE_TASK


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
    text_group: gr.Column
    image_group: gr.Column
    image_prompt: gr.Textbox
    seed: gr.Number
    lora_scale: gr.Slider
    steps: gr.Slider
    run_image: gr.Button
    base_image: gr.Image
    lora_image: gr.Image
    image_row: gr.Row
    text_outputs: gr.Column
    body: gr.Column | None = None
    """Everything of the tab: hidden while there is nothing to try."""
    search: search_section.SearchSection | None = None


def build(r: Registry) -> PlaygroundTab:
    with gr.Column(visible=False, elem_id="play-body") as body:
        tab = _build_body(r)
    tab.body = body
    return tab


def _build_body(r: Registry) -> PlaygroundTab:
    r.markdown("play.intro")
    with gr.Row():
        source = r.make(gr.Dropdown, "play.source", choices=[], allow_custom_value=True, elem_id="play-source", scale=4)
        refresh = r.button("play.refresh", scale=1)
    with gr.Column(elem_id="play-text") as text_group:
        prompt = r.make(gr.Textbox, "play.prompt", lines=3, elem_id="play-prompt")
        with gr.Row():
            temperature = r.make(gr.Slider, "play.temperature", minimum=0.0, maximum=2.0, step=0.05, value=0.0)
            max_new_tokens = r.make(gr.Slider, "play.max_new_tokens", minimum=1, maximum=512, step=1, value=48)
            top_p = r.make(gr.Slider, "play.top_p", minimum=0.05, maximum=1.0, step=0.05, value=0.9)
        run = r.button("play.run", variant="primary", elem_id="play-run")
    with gr.Column(visible=False, elem_id="play-image") as image_group:
        image_prompt = r.make(gr.Textbox, "play.image_prompt", lines=2, elem_id="play-image-prompt")
        with gr.Row():
            seed = r.make(gr.Number, "play.seed", value=0, minimum=0, precision=0)
            lora_scale = r.make(gr.Slider, "play.lora_scale", minimum=0.0, maximum=1.5, step=0.05, value=1.0, elem_id="play-lora-scale")
            steps = r.make(gr.Slider, "play.steps", minimum=1, maximum=MAX_IMAGE_STEPS, step=1, value=IMAGE_STEPS_DEFAULT)
        run_image = r.button("play.run_image", variant="primary", elem_id="play-run-image")
    status = gr.Markdown(elem_id="play-status")
    with gr.Row(visible=False) as image_row:
        base_image = r.make(gr.Image, "play.base_image", type="pil", interactive=False, format="png", elem_id="play-base-image")
        lora_image = r.make(gr.Image, "play.lora_image", type="pil", interactive=False, format="png", elem_id="play-lora-image")
    with gr.Column() as text_outputs:
        with gr.Row():
            base_text = r.make(gr.Textbox, "play.base", lines=6, interactive=False, visible=False, elem_id="play-base")
            adapted_text = r.make(gr.Textbox, "play.adapted", lines=6, interactive=False, visible=False, elem_id="play-adapted")
        with gr.Row():
            base_labels = r.make(gr.Label, "play.base_probs", visible=False)
            adapted_labels = r.make(gr.Label, "play.adapted_probs", visible=False)
    tab = PlaygroundTab(source, refresh, prompt, temperature, max_new_tokens, top_p, run, status, base_text, adapted_text, base_labels,
                        adapted_labels, text_group, image_group, image_prompt, seed, lora_scale, steps, run_image, base_image, lora_image,
                        image_row, text_outputs)
    tab.search = search_section.build(r)  # sentence-embedding jobs: semantic search, base vs adapted
    return tab


def is_image_source(source: str | None, caller: Caller) -> bool:
    """True when ``source`` is the id of one of the caller's text-to-image jobs."""
    text = str(source or "").strip()
    if not text.isdigit():
        return False
    try:
        return job_task(int(text), caller) == IMAGE_TASK
    except AdaptaError:
        return False


def mode_updates(source: str | None, request: gr.Request) -> list[Any]:
    """Outputs: text group, text outputs, image group, image row: the image controls for an image job, else the text ones."""
    image = is_image_source(source, caller_of(request))
    return [gr.update(visible=not image), gr.update(visible=not image), gr.update(visible=image), gr.update(visible=image)]


def run_images(source: str, prompt: str, seed: float, lora_scale: float, steps: float, lang: str, request: gr.Request) -> list[Any]:
    """Outputs: status, base image, LoRA image."""
    try:
        base, lora = generate_image_action(source, prompt, caller_of(request), int(seed or 0), float(lora_scale), int(steps))
    except AdaptaError as error:
        return [f"⚠️ {error}", gr.update(), gr.update()]
    return [t(lang, "play.done"), base, lora]


def source_choices(request: gr.Request, selected: str | None = None) -> Any:
    """The caller's succeeded jobs first (value: the job id), then the local base models (value: their reference); a model merged
    from another user's job is not offered."""
    owner = caller_of(request).owner_filter
    choices = [(f"#{job.id} · {job.name}", str(job.id)) for job in list_jobs(owner=owner, status=JobStatus.SUCCEEDED, limit=100)]
    choices += [(f"base · {entry.name}", entry.ref) for entry in local_catalog(owner=owner)]
    if selected is None and choices:
        selected = choices[0][1]
    return gr.update(choices=choices, value=selected)


def with_body(choices: Any) -> list[Any]:
    """Outputs: source, body: the picker's ``choices`` update, and the tab's body shown only when it offers something."""
    return [choices, gr.update(visible=bool(choices.get("choices")))]


def run_generate(source: str, prompt: str, temperature: float, max_new_tokens: int, top_p: float, lang: str, request: gr.Request) -> list[Any]:
    """Outputs: status, base text, adapted text, base labels, adapted labels."""
    try:
        result = generate_action(source, prompt, caller_of(request), int(max_new_tokens), float(temperature), float(top_p))
    except AdaptaError as error:
        return [f"⚠️ {error}", gr.update(), gr.update(), gr.update(), gr.update()]
    if result["task"] == "text-classification":
        return [t(lang, "play.done"), gr.update(visible=False), gr.update(visible=False),
                gr.update(value=result["base"], visible=True), gr.update(value=result["adapted"], visible=True)]
    return [t(lang, "play.done"), gr.update(value=result["base"], visible=True), gr.update(value=result["adapted"], visible=True),
            gr.update(visible=False), gr.update(visible=False)]


def wire(tab: PlaygroundTab, lang: gr.State) -> None:
    if tab.search is not None:
        search_section.wire(tab.search, tab.source, lang)
    def refreshed(request: gr.Request) -> list[Any]:
        return with_body(source_choices(request))

    tab.refresh.click(refreshed, None, [tab.source, tab.body], api_visibility="private")
    mode_outputs = [tab.text_group, tab.text_outputs, tab.image_group, tab.image_row]
    tab.source.change(mode_updates, tab.source, mode_outputs, api_visibility="private", show_progress="hidden")
    tab.run_image.click(run_images, [tab.source, tab.image_prompt, tab.seed, tab.lora_scale, tab.steps, lang],
                        [tab.status, tab.base_image, tab.lora_image], api_visibility="private", concurrency_limit=1, concurrency_id="inference")
    tab.run.click(run_generate, [tab.source, tab.prompt, tab.temperature, tab.max_new_tokens, tab.top_p, lang],
                  [tab.status, tab.base_text, tab.adapted_text, tab.base_labels, tab.adapted_labels], api_visibility="private",
                  concurrency_limit=1, concurrency_id="inference")
