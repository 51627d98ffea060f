"""Data tab: upload (or reuse) a data file, see its preview, format, column mapping, statistics and problems.

Uploads are copied into ``<data home>/uploads/<sha>/`` under a safe name, refused when over the size
limit or unreadable (a .jsonl that is really binary, a CSV saved as UTF-16 ...), and registered in the
Dataset table so they can be picked again later. They are never served back by the web server.

For task text-to-image the upload is a .zip of images with captions (same size limit; the engine extracts it
safely): the tab shows a gallery of the images with their captions and the problems found, by file name.

The report ends with "What is trained" (:mod:`webui.trained_tokens_panel`: the first rows with the trained tokens coloured) and
the "Check data" step (:mod:`webui.data_check_panel`: duplicates, personal data, secrets, lengths, and "Fix").

Nothing empty is shown: the report (format, preview, statistics, token histogram, problems, "Use this data") appears once a
file is loaded, each table and the histogram only when it has rows, and the earlier-uploads picker only when there are some.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from jobs.data import build_examples, build_label_map, read_records
from jobs.data.formats import ALL_ROLES, OPTIONAL_ROLES, REQUIRED_ROLES, FormatChoice
from jobs.data.hub_datasets import PREVIEW_ROWS
from jobs.data.pairs import text_token_lengths
from jobs.errors import AdaptaError
from jobs.models import load_tokenizer, resolve_model
from jobs.spec import EMBEDDING_FORMATS, HUB_DATA_PREFIX, DataFormat, Task
from webui import data_check_panel, trained_tokens_panel
from webui.access import Caller, caller_of
from webui.api_data import (
    IMAGE_ARCHIVE,
    check_own_upload,
    inspect_action,
    inspect_images_action,
    preview_hub_action,
    previous_uploads,
    store_upload,
)
from webui.api_models import check_model_allowed
from webui.i18n import Registry, t

PROBLEM_COLUMNS = ["row", "column", "level", "message"]
IMAGE_TASK = Task.TEXT_TO_IMAGE.value
HISTOGRAM_BINS = 12
GALLERY_LIMIT = 48
THUMBNAIL_PX = 256


@dataclass
class DataTab:
    upload: gr.File
    previous: gr.Dropdown
    reuse: gr.Button
    status: gr.Markdown
    path: gr.State
    format: gr.Dropdown
    roles: dict[str, gr.Dropdown]
    preview: gr.Dataframe
    stats: gr.Markdown
    histogram: gr.BarPlot
    problems: gr.Dataframe
    use: gr.Button
    gallery: gr.Gallery
    hub_ref: gr.Textbox
    hub_config: gr.Textbox
    hub_split: gr.Textbox
    hub_load: gr.Button
    report: gr.Column | None = None
    """The report of the loaded file, "Use this data" included: hidden until a file is loaded."""
    previous_box: gr.Column | None = None
    """The earlier-uploads picker and its button: hidden while there are none."""
    check: data_check_panel.DataCheckPanel | None = None
    """The "Check data" step (:mod:`webui.data_check_panel`), inside the report."""
    trained: trained_tokens_panel.TrainedTokensPanel | None = None
    """The "What is trained" preview (:mod:`webui.trained_tokens_panel`), inside the report."""

    @property
    def role_list(self) -> list[gr.Dropdown]:
        return [self.roles[role] for role in ALL_ROLES]


def build(r: Registry) -> DataTab:
    r.markdown("data.intro")
    with gr.Row():
        upload = r.make(gr.File, "data.upload", file_types=[".csv", ".tsv", ".jsonl", ".json", ".parquet", ".txt", IMAGE_ARCHIVE], type="filepath",
                        elem_id="data-upload", scale=2)
        with gr.Column(scale=1, visible=False, elem_id="data-previous-box") as previous_box:
            previous = r.make(gr.Dropdown, "data.previous", choices=[], elem_id="data-previous")
            reuse = r.button("data.reuse")
    with gr.Row():
        hub_ref = r.make(gr.Textbox, "data.hub", placeholder="hub:OWNER/NAME", elem_id="data-hub", scale=3)
        hub_config = r.make(gr.Textbox, "data.hub_config", elem_id="data-hub-config", scale=1)
        hub_split = r.make(gr.Textbox, "data.hub_split", value="train", elem_id="data-hub-split", scale=1)
        hub_load = r.button("data.hub_load", elem_id="data-hub-load", scale=1)
    status = gr.Markdown(elem_id="data-status")
    path = gr.State("")
    with gr.Column(visible=False, elem_id="data-report") as report:
        with gr.Row():
            fmt = r.make(gr.Dropdown, "data.format", choices=[item.value for item in DataFormat], value="auto", elem_id="data-format")
            roles = {role: r.make(gr.Dropdown, f"data.role.{role}", choices=[], visible=False, allow_custom_value=False) for role in ALL_ROLES}
        gallery = r.make(gr.Gallery, "data.gallery", columns=6, height=320, visible=False, elem_id="data-gallery")
        preview = gr.Dataframe(interactive=False, wrap=True, max_height=320, visible=False, elem_id="data-preview")
        with gr.Row():
            stats = gr.Markdown(elem_id="data-stats")
            histogram = r.make(gr.BarPlot, "data.histogram", x="tokens", y="rows", elem_id="data-histogram", sort=None, visible=False)
        problems = gr.Dataframe(headers=PROBLEM_COLUMNS, interactive=False, wrap=True, visible=False, elem_id="data-problems")
        trained = trained_tokens_panel.build(r)
        check = data_check_panel.build(r)
        use = r.button("data.use", variant="primary", elem_id="data-use")
    return DataTab(upload, previous, reuse, status, path, fmt, roles, preview, stats, histogram, problems, use, gallery, hub_ref, hub_config,
                   hub_split, hub_load, report, previous_box, check, trained)


def hub_reference(text: str) -> str:
    """``hub:OWNER/NAME`` from what a person types (with or without the prefix)."""
    text = (text or "").strip()
    return text if not text or text.startswith(HUB_DATA_PREFIX) else HUB_DATA_PREFIX + text


def show_hub_report(ref: str, config: str, split: str, fmt: str, mapping: dict[str, str] | None, task: str, model_ref: str,
                    lang: str) -> list[Any]:
    """The same report as an upload, for the first rows of a Hub dataset split (streamed); the path stays the hub: reference."""
    ref = hub_reference(ref)
    try:
        preview = preview_hub_action(ref, config, split)
    except (AdaptaError, ValueError) as error:
        return [f"❌ {error}", *[gr.update()] * (8 + len(ALL_ROLES))]
    outputs = show_report(preview, fmt, mapping, task, model_ref, lang)
    outputs[1] = ref
    status = str(outputs[0]).replace(Path(preview).name, ref)  # name the dataset, not the local preview file
    if not status.startswith("❌"):
        status = f"{status} · {t(lang, 'data.hub_preview', ref=ref, split=split or 'train', rows=PREVIEW_ROWS)}"
    outputs[0] = status
    return outputs


def tokenizer_for(model_ref: str) -> Any:
    """The chosen model's tokenizer (for token lengths), or None when no usable model is chosen."""
    if not (model_ref or "").strip():
        return None
    try:
        return load_tokenizer(resolve_model(check_model_allowed(model_ref)))
    except AdaptaError:
        return None


def _token_lengths(path: str, report: dict[str, Any], task: str, tokenizer: Any) -> list[int]:
    records = read_records(path)[:5000]
    choice = FormatChoice(DataFormat(report["format"]), report["mapping"])
    if choice.format in EMBEDDING_FORMATS:
        return text_token_lengths(records, choice, tokenizer)
    labels = build_label_map(records, choice.mapping) if Task(task) is Task.TEXT_CLASSIFICATION else None
    built = build_examples(records, choice, tokenizer, Task(task), max_length=10**9, label_names=labels)
    return [len(example["input_ids"]) for example in built.examples]


def histogram_frame(lengths: list[int]) -> pd.DataFrame:
    if not lengths:
        return pd.DataFrame({"tokens": [], "rows": []})
    low, high = min(lengths), max(lengths)
    width = max(1, -(-(high - low + 1) // HISTOGRAM_BINS))
    counts: dict[int, int] = {}
    for length in lengths:
        start = low + (length - low) // width * width
        counts[start] = counts.get(start, 0) + 1
    return pd.DataFrame({"tokens": [f"{start}-{start + width - 1}" for start in sorted(counts)], "rows": [counts[s] for s in sorted(counts)]})


def _role_updates(report: dict[str, Any] | None) -> list[Any]:
    if report is None:
        return [gr.update(visible=False) for _ in ALL_ROLES]
    fmt = DataFormat(report["format"])
    shown = set(REQUIRED_ROLES[fmt] + OPTIONAL_ROLES[fmt])
    columns = ["", *report["columns"]]
    return [gr.update(visible=role in shown, choices=columns, value=report["mapping"].get(role, "")) for role in ALL_ROLES]


def _thumbnails(folder: str, items: list[dict[str, Any]]) -> list[tuple[Any, str]]:
    """(small PIL image, caption) for the first images: handed to gradio as images, so no data folder is ever served."""
    from PIL import Image

    shown = []
    for item in items[:GALLERY_LIMIT]:
        try:
            with Image.open(Path(folder) / item["file"]) as image:
                thumb = image.convert("RGB")
                thumb.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
        except OSError:
            continue
        shown.append((thumb, f"{item['file']}: {item['caption']}"))
    return shown


def show_image_report(path: str, lang: str) -> list[Any]:
    """An image .zip. Outputs: status, path, format, preview, stats, histogram, problems, *roles, gallery."""
    try:
        report = inspect_images_action(path)
    except AdaptaError as error:
        return [f"❌ {error}", path, gr.update(value="auto"), pd.DataFrame(), "", histogram_frame([]), pd.DataFrame(columns=PROBLEM_COLUMNS),
                *_role_updates(None), gr.update(value=None, visible=False)]
    items = report["items"]
    sizes = [min(item["width"], item["height"]) for item in items]
    stats = t(lang, "data.image_stats", images=report["images"], source=report["caption_source"],
              min=min(sizes) if sizes else 0, max=max(sizes) if sizes else 0)
    if len(items) > GALLERY_LIMIT:
        stats += "\n\n" + t(lang, "data.gallery_more", shown=GALLERY_LIMIT, total=len(items))
    level = "error" if not items else "warning"
    problems = pd.DataFrame([{"row": "", "column": "", "level": level, "message": sentence} for sentence in report["problems"]],
                            columns=PROBLEM_COLUMNS)
    if not items:
        status = f"❌ {t(lang, 'data.no_images', name=Path(path).name)}"
    elif report["problems"]:
        status = f"⚠️ {t(lang, 'data.image_problems', name=Path(path).name, count=len(report['problems']))}"
    else:
        status = f"✅ {t(lang, 'data.ok', name=Path(path).name)}"
    return [status, path, gr.update(value="auto"), pd.DataFrame(), stats, histogram_frame([]), problems, *_role_updates(None),
            gr.update(value=_thumbnails(report["folder"], items), visible=True)]


def show_report(path: str, fmt: str, mapping: dict[str, str] | None, task: str, model_ref: str, lang: str) -> list[Any]:
    """Outputs: status, path, format, preview, stats, histogram, problems, *roles, gallery."""
    if Path(path).suffix.lower() == IMAGE_ARCHIVE:
        return show_image_report(path, lang)
    return [*_text_report(path, fmt, mapping, task, model_ref, lang), gr.update(value=None, visible=False)]


def _text_report(path: str, fmt: str, mapping: dict[str, str] | None, task: str, model_ref: str, lang: str) -> list[Any]:
    empty = [pd.DataFrame(), "", histogram_frame([]), pd.DataFrame(columns=PROBLEM_COLUMNS)]
    try:
        report = inspect_action(path, fmt or "auto", task or "causal-lm", mapping or None)
    except AdaptaError as error:
        return [f"❌ {error}", path, gr.update(), *empty, *_role_updates(None)]
    tokenizer = tokenizer_for(model_ref)
    lengths = _token_lengths(path, report, task or "causal-lm", tokenizer) if tokenizer is not None else []
    stats = [t(lang, "data.stats", rows=report["rows"], usable=report["usable_rows"], format=report["format"],
               mapping=", ".join(f"{role} ← {column}" for role, column in report["mapping"].items()))]
    if lengths:
        ordered = sorted(lengths)
        p95 = ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]
        stats.append(t(lang, "data.tokens", min=ordered[0], p50=ordered[len(ordered) // 2], p95=p95, max=ordered[-1]))
    else:
        stats.append(t(lang, "data.no_tokenizer"))
    if report.get("duplicate_rows"):
        stats.append(t(lang, "data.duplicates", count=report["duplicate_rows"]))
    if report["label_counts"]:
        stats.append(t(lang, "data.labels") + " " + ", ".join(f"{name}: {count}" for name, count in report["label_counts"].items()))
    problems = pd.DataFrame(report["problems"], columns=PROBLEM_COLUMNS)
    errors = sum(1 for problem in report["problems"] if problem["level"] == "error")
    status = f"✅ {t(lang, 'data.ok', name=Path(path).name)}" if not errors else f"⚠️ {t(lang, 'data.has_problems', count=errors)}"
    preview = pd.DataFrame([{key: _cell(value) for key, value in row.items()} for row in report["preview"]])
    return [status, path, gr.update(value=report["format"]), preview, "\n\n".join(stats), histogram_frame(lengths), problems, *_role_updates(report)]


def _cell(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def on_upload(file: str | None, task: str, model_ref: str, lang: str, request: gr.Request) -> list[Any]:
    caller = caller_of(request)
    if not file:
        return [gr.update()] * (8 + len(ALL_ROLES)) + [gr.update()]
    try:
        if Path(file).suffix.lower() == IMAGE_ARCHIVE and (task or "") != IMAGE_TASK:
            raise AdaptaError(t(lang, "data.zip_needs_image_task"))
        stored = store_upload(file, caller)
    except AdaptaError as error:
        gr.Warning(str(error))
        return [f"❌ {t(lang, 'data.rejected')}: {error}", "", gr.update(), pd.DataFrame(), "", histogram_frame([]),
                pd.DataFrame(columns=PROBLEM_COLUMNS), *_role_updates(None), gr.update(value=None, visible=False),
                previous_choices(caller)]
    return [*show_report(str(stored), "auto", None, task, model_ref, lang), previous_choices(caller, str(stored))]


def previous_choices(caller: Caller, selected: str | None = None) -> Any:
    return gr.update(choices=previous_uploads(caller), value=selected)


def refresh_previous(request: gr.Request) -> Any:
    """The picker of the caller's earlier uploads."""
    return previous_choices(caller_of(request))


def previous_with_box(request: gr.Request) -> list[Any]:
    """Outputs: previous, previous box: the earlier uploads, and their picker shown only when there are some."""
    update = refresh_previous(request)
    return [update, gr.update(visible=bool(update.get("choices")))]


REPORT_TABLES = (3, 5, 6)
"""Where the preview, the histogram and the problems are among a report's outputs."""


def revealed(outputs: list[Any]) -> list[Any]:
    """A report's outputs (status, path, format, preview, stats, histogram, problems, *roles, gallery[, previous]) with each empty
    table or plot hidden, then the report's column: shown when there is a file, unchanged when the handler changed nothing."""
    outputs = list(outputs)
    if isinstance(outputs[1], dict):  # gr.update(): the report stays as it was
        return [*outputs, gr.update()]
    for index in REPORT_TABLES:
        if isinstance(outputs[index], pd.DataFrame):
            outputs[index] = gr.update(value=outputs[index], visible=not outputs[index].empty)
    return [*outputs, gr.update(visible=bool(outputs[1]))]


def current_mapping(fmt: str, *role_values: str) -> dict[str, str]:
    """The role -> column mapping chosen in the dropdowns (roles of other formats ignored)."""
    if not fmt or fmt == "auto":
        return {}
    shown = set(REQUIRED_ROLES[DataFormat(fmt)] + OPTIONAL_ROLES[DataFormat(fmt)])
    return {role: value for role, value in zip(ALL_ROLES, role_values, strict=True) if value and role in shown}


def wire(tab: DataTab, lang: gr.State, task: gr.Component, model_ref: gr.Component, max_length: gr.Component | None = None,
         train_on_prompt: gr.Component | None = None, thinking: gr.Component | None = None) -> None:
    report_outputs = [tab.status, tab.path, tab.format, tab.preview, tab.stats, tab.histogram, tab.problems, *tab.role_list, tab.gallery]
    shown_outputs = [*report_outputs, tab.report]  # every handler below goes through revealed(): empty parts hidden

    def uploaded(file: str | None, task_value: str, ref: str, language: str, request: gr.Request) -> list[Any]:
        *report, previous = on_upload(file, task_value, ref, language, request)
        box = gr.update(visible=bool(previous.get("choices"))) if isinstance(previous, dict) and "choices" in previous else gr.update()
        return [*revealed(report), previous, box]

    tab.upload.upload(uploaded, [tab.upload, task, model_ref, lang], [*shown_outputs, tab.previous, tab.previous_box], api_visibility="private")

    def own_report(path: str, fmt: str, mapping: dict[str, str] | None, task_value: str, ref: str, language: str,
                   request: gr.Request) -> list[Any]:
        """The report of one of the caller's uploads; any other path gets a one-line refusal."""
        try:
            check_own_upload(path, caller_of(request))
        except AdaptaError as error:
            return [f"⚠️ {error}", *[gr.update()] * (len(report_outputs) - 1)]
        return show_report(path, fmt, mapping, task_value, ref, language)

    def reuse(path: str, task_value: str, ref: str, language: str, request: gr.Request) -> list[Any]:
        if not path:
            return [gr.update()] * len(shown_outputs)
        return revealed(own_report(path, "auto", None, task_value, ref, language, request))

    tab.reuse.click(reuse, [tab.previous, task, model_ref, lang], shown_outputs, api_visibility="private")
    if tab.trained is not None:  # follows the report, the model and the Train tab's settings
        trained_tokens_panel.wire(tab.trained, lang, tab.path, tab.format, tab.role_list, task, model_ref, tab.stats, tokenizer_for,
                                  current_mapping, max_length=max_length, train_on_prompt=train_on_prompt, thinking=thinking)
    if tab.check is not None:  # after "Fix", the fixed copy is the data file: its report is shown, and it is among the earlier uploads
        fixed = data_check_panel.wire(tab.check, lang, tab.path, tab.format, tab.role_list, task, model_ref, max_length, tab.previous,
                                      current_mapping)

        def show_fixed(checked: dict[str, Any], task_value: str, ref: str, language: str, request: gr.Request) -> list[Any]:
            fixed_path = (checked or {}).get("fixed_path")
            box = gr.update(visible=True) if fixed_path else gr.update()
            return [*reuse(fixed_path or "", task_value, ref, language, request), box]

        fixed.then(show_fixed, [tab.check.result, task, model_ref, lang], [*shown_outputs, tab.previous_box], api_visibility="private")

    def remap(path: str, fmt: str, task_value: str, ref: str, language: str, config: str, split: str, request: gr.Request,
              *roles: str) -> list[Any]:
        if not path or Path(path).suffix.lower() == IMAGE_ARCHIVE:
            return [gr.update()] * len(shown_outputs)
        mapping = current_mapping(fmt, *roles) if fmt != "auto" else None
        if path.startswith(HUB_DATA_PREFIX):
            return revealed(show_hub_report(path, config, split, fmt, mapping, task_value, ref, language))
        return revealed(own_report(path, fmt, mapping, task_value, ref, language, request))

    remap_inputs = [tab.path, tab.format, task, model_ref, lang, tab.hub_config, tab.hub_split, *tab.role_list]
    # one event for the format and every column role (one per dropdown would cost the page's start-up a scan each)
    gr.on([tab.format.input, *(dropdown.input for dropdown in tab.role_list)], remap, remap_inputs, shown_outputs, api_visibility="private")

    def load_hub(ref_text: str, config: str, split: str, task_value: str, ref: str, language: str) -> list[Any]:
        return revealed(show_hub_report(ref_text, config, split, "auto", None, task_value, ref, language))

    tab.hub_load.click(load_hub, [tab.hub_ref, tab.hub_config, tab.hub_split, task, model_ref, lang], shown_outputs, api_visibility="private")
    tab.hub_ref.submit(load_hub, [tab.hub_ref, tab.hub_config, tab.hub_split, task, model_ref, lang], shown_outputs, api_visibility="private")
