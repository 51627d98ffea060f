"""Playground tab: try a finished job (base vs adapted, side by side) or any base model alone.

Generation uses the same prompt and settings (temperature, max new tokens, top-p) for both sides;
classification shows the label probabilities of both. Models merged from a job are offered to that job's owner only.
Loaded models stay cached in ``jobs.inference.text`` (LRU), so switching between runs does not reload from disk each time.

A finished text-to-image job switches the tab to image mode: prompt, seed, LoRA scale and steps give the
base pipeline's image and the LoRA's image at the same seed, side by side (``jobs.inference.images``).

Nothing empty is shown: the tab has no body until there is something to try (a finished job or a base model on this machine;
the guide's empty state says why), and the answer boxes appear with the first answer. The body is built when the tab opens
(``gr.render``), not with the page: the page loads ~50 components and their events fewer. Opening the tab asks whether there is
something to try (:attr:`PlaygroundTab.offered`); the body is built when that answer changes (and again, in the new language, on
a language switch), and each opening lists the sources afresh. Its settings and answers carry keys, so they survive a
re-render; the picked source lives in :attr:`PlaygroundTab.wanted`
(the guide's "Try it" sets it before it opens the tab), the last adapted answer in :attr:`PlaygroundTab.answer` (the guide
reads it) and which answer boxes are shown in :attr:`PlaygroundTab.shown`.
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
from webui.api_playground import IMAGE_STEPS_DEFAULT, MAX_IMAGE_STEPS, generate_action, generate_image_action, image_placement_reason, job_task
from webui.guide import keep_selection
from webui.i18n import Registry, keyed, t
from webui.spec_form import IMAGE_TASK


@dataclass
class PlaygroundTab:
    """What the page has from the start: the source the body shows first and the last adapted answer (the body is built when
    the tab opens)."""

    wanted: gr.State
    offered: gr.State
    answer: gr.State
    shown: gr.State
    """Which answer boxes a re-render shows: "" (none yet), "text" (generated answers) or "labels" (label probabilities)."""


@dataclass
class PlaygroundBody:
    """The tab's widgets, built by :func:`build`'s render each time the tab opens."""

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
    search: search_section.SearchSection


def build(lang: gr.State, opened: gr.Tab) -> PlaygroundTab:
    """The tab: the remembered source and answer now; the body once ``opened`` is selected with something to try, in ``lang``.

    A body that is never opened costs the page nothing. Its events are private (the HTTP API's ``generate`` endpoints are
    registered by :mod:`webui.api` at startup)."""
    tab = PlaygroundTab(wanted=gr.State(None), offered=gr.State(False), answer=gr.State(""), shown=gr.State(""))

    def offering(request: gr.Request) -> bool:
        return bool(source_choices(request).get("choices"))

    opened.select(offering, None, tab.offered, api_visibility="private", show_progress="hidden")

    @gr.render(inputs=[tab.offered, lang, tab.wanted, tab.shown], triggers=[tab.offered.change, lang.change], show_progress="hidden",
               concurrency_limit=None)
    def body(offered: bool, language: str, source: str | None, shown: str, request: gr.Request) -> None:
        choices = source_choices(request, source)
        if not offered or not choices.get("choices"):
            return  # not opened yet, or nothing to try: the guide's empty state says why
        with gr.Column(elem_id="play-body"):
            parts = _build_body(Registry(language), choices, caller_of(request), shown)
        wire(parts, lang, tab, opened)

    return tab


def _build_body(r: Registry, choices: dict[str, Any], caller: Caller, shown: str) -> PlaygroundBody:
    """The widgets, ``choices`` in the picker (no key, so that the source the guide asks for wins), the controls of its kind
    shown (text, image or search) and the answer boxes of the ``shown`` kind. Every control says ``interactive=True``: Gradio's
    page decides a widget's interactivity from the events it had at load, which do not include a later render's."""
    image = is_image_source(choices.get("value"), caller)
    r.markdown("play.intro")
    with gr.Row():
        source = r.make(gr.Dropdown, "play.source", choices=choices["choices"], value=choices.get("value"), allow_custom_value=True,
                        elem_id="play-source", scale=4, interactive=True)
        refresh = r.button("play.refresh", scale=1)
    with gr.Column(elem_id="play-text", visible=not image) as text_group:
        prompt = r.make(keyed(gr.Textbox, "play-prompt"), "play.prompt", lines=3, elem_id="play-prompt", interactive=True)
        with gr.Row():
            temperature = r.make(keyed(gr.Slider, "play-temperature"), "play.temperature", minimum=0.0, maximum=2.0, step=0.05, value=0.0,
                                  interactive=True)
            max_new_tokens = r.make(keyed(gr.Slider, "play-max-new-tokens"), "play.max_new_tokens", minimum=1, maximum=512, step=1,
                                     value=48, interactive=True)
            top_p = r.make(keyed(gr.Slider, "play-top-p"), "play.top_p", minimum=0.05, maximum=1.0, step=0.05, value=0.9,
                            interactive=True)
        run = r.button("play.run", variant="primary", elem_id="play-run")
    with gr.Column(visible=image, elem_id="play-image") as image_group:
        image_prompt = r.make(keyed(gr.Textbox, "play-image-prompt"), "play.image_prompt", lines=2, elem_id="play-image-prompt",
                              interactive=True)
        with gr.Row():
            seed = r.make(keyed(gr.Number, "play-seed"), "play.seed", value=0, minimum=0, precision=0, interactive=True)
            lora_scale = r.make(keyed(gr.Slider, "play-lora-scale"), "play.lora_scale", minimum=0.0, maximum=1.5, step=0.05, value=1.0,
                                elem_id="play-lora-scale", interactive=True)
            steps = r.make(keyed(gr.Slider, "play-steps"), "play.steps", minimum=1, maximum=MAX_IMAGE_STEPS, step=1, value=IMAGE_STEPS_DEFAULT,
                            interactive=True)
        run_image = r.button("play.run_image", variant="primary", elem_id="play-run-image")
    status = gr.Markdown(elem_id="play-status", key="play-status")
    with gr.Row(visible=image) as image_row:
        base_image = r.make(keyed(gr.Image, "play-base-image"), "play.base_image", type="pil", interactive=False, format="png",
                            elem_id="play-base-image")
        lora_image = r.make(keyed(gr.Image, "play-lora-image"), "play.lora_image", type="pil", interactive=False, format="png",
                            elem_id="play-lora-image")
    with gr.Column(visible=not image) as text_outputs:
        with gr.Row():
            texts, labels = shown == "text", shown == "labels"
            base_text = r.make(keyed(gr.Textbox, "play-base", visible=texts), "play.base", lines=6, interactive=False, elem_id="play-base")
            adapted_text = r.make(keyed(gr.Textbox, "play-adapted", visible=texts), "play.adapted", lines=6, interactive=False,
                                  elem_id="play-adapted")
        with gr.Row():
            base_labels = r.make(keyed(gr.Label, "play-base-probs", visible=labels), "play.base_probs")
            adapted_labels = r.make(keyed(gr.Label, "play-adapted-probs", visible=labels), "play.adapted_probs")
    search = search_section.build(r)  # sentence-embedding jobs: semantic search, base vs adapted
    search.group.visible = search_section.is_search_source(choices.get("value"), caller)
    for control in (search.corpus, search.query, search.top_k):
        control.interactive = True  # Gradio's page decides interactivity from the events it had at load, not a later render's
    return PlaygroundBody(source, refresh, prompt, temperature, max_new_tokens, top_p, run, status, base_text, adapted_text, base_labels,
                          adapted_labels, text_group, image_group, image_prompt, seed, lora_scale, steps, run_image, base_image, lora_image,
                          image_row, text_outputs, search)


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
        placement = image_placement_reason(source, caller_of(request), lang)
    except AdaptaError as error:
        return [f"⚠️ {error}", gr.update(), gr.update()]
    return [f"{t(lang, 'play.done')} · {placement}" if placement else t(lang, "play.done"), base, lora]


def source_choices(request: gr.Request, selected: str | None = None) -> Any:
    """The caller's succeeded jobs first (value: the job id), then the local base models (value: their reference); a model merged
    from another user's job is not offered."""
    owner = caller_of(request).owner_filter
    choices = [(f"#{job.id} · {job.name}", str(job.id)) for job in list_jobs(owner=owner, status=JobStatus.SUCCEEDED, limit=100)]
    choices += [(f"base · {entry.name}", entry.ref) for entry in local_catalog(owner=owner)]
    if selected is None and choices:
        selected = choices[0][1]
    return gr.update(choices=choices, value=selected)


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


def answered(outputs: list[Any]) -> list[Any]:
    """``run_generate``'s outputs and, last, :attr:`PlaygroundTab.answer` (the adapted answer, empty for a classification) and
    :attr:`PlaygroundTab.shown`; both unchanged after a refusal."""
    if str(outputs[0]).startswith("⚠️"):
        return [*outputs, gr.update(), gr.update()]
    labels = outputs[3].get("visible", False)
    return [*outputs, "" if labels else str(outputs[2].get("value") or ""), "labels" if labels else "text"]


def wire(tab: PlaygroundBody, lang: gr.State, kept: PlaygroundTab, opened: gr.Tab) -> None:
    """The body's events (all private); what a re-render needs is kept in ``kept``'s states. The picker lists the sources afresh
    each time ``opened`` is selected and shows the source the guide asks for (``kept.wanted``)."""
    search_section.wire(tab.search, tab.source, lang)

    def refreshed(current: str | None, request: gr.Request) -> Any:
        return keep_selection(source_choices(request), current)

    def asked(source: str | None, request: gr.Request) -> Any:
        return source_choices(request, source)  # "Try it": the job, even before it is listed

    def generate(source: str, prompt: str, temperature: float, max_new_tokens: int, top_p: float, language: str,
                 request: gr.Request) -> list[Any]:
        return answered(run_generate(source, prompt, temperature, max_new_tokens, top_p, language, request))

    quiet: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
    tab.refresh.click(refreshed, tab.source, tab.source, **quiet)
    opened.select(refreshed, tab.source, tab.source, **quiet)
    kept.wanted.change(asked, kept.wanted, tab.source, **quiet)
    tab.source.change(lambda source: source, tab.source, kept.wanted, **quiet)
    mode_outputs = [tab.text_group, tab.text_outputs, tab.image_group, tab.image_row]
    tab.source.change(mode_updates, tab.source, mode_outputs, api_visibility="private", show_progress="hidden")
    tab.run_image.click(run_images, [tab.source, tab.image_prompt, tab.seed, tab.lora_scale, tab.steps, lang],
                        [tab.status, tab.base_image, tab.lora_image], api_visibility="private", concurrency_limit=1, concurrency_id="inference")
    tab.run.click(generate, [tab.source, tab.prompt, tab.temperature, tab.max_new_tokens, tab.top_p, lang],
                  [tab.status, tab.base_text, tab.adapted_text, tab.base_labels, tab.adapted_labels, kept.answer, kept.shown],
                  api_visibility="private",
                  concurrency_limit=1, concurrency_id="inference")
