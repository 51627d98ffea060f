"""The Data tab's "What is trained" preview: the first rows of the loaded file as training sees them, trained tokens coloured.

For a text-generation (causal-lm) job, the first :data:`PREVIEW_ROWS` rows are rendered with the chosen model's tokenizer and
chat template and the Train tab's max length, train-on-prompt and thinking settings (:func:`jobs.data.examples.trained_token_spans`,
the same code training runs), and shown as text with the tokens the loss grades highlighted, beside the counts (trained
tokens of all tokens, rows cut by the max length) and the chat template's name. Only the tokenizer is loaded, never the
model, so it stays cheap; nothing is shown until both a model and a data file are chosen, nor for other tasks.

    preview = trained_preview(records, "instruction", {"prompt": "question", "response": "answer"}, tokenizer, 512)
    preview.rows[0].spans   # [("<|im_start|>user\\nWhat is 2+2?<|im_end|>\\n<|im_start|>assistant\\n", False), ("4<|im_end|>", True), ...]
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from jobs.data import read_records
from jobs.data.examples import build_examples, trained_token_spans
from jobs.data.formats import FormatChoice, resolve_format
from jobs.data.rows import RowError, row_fields
from jobs.errors import AdaptaError
from jobs.spec import HUB_DATA_PREFIX, DataFormat, Task
from webui.i18n import Registry, t

PREVIEW_ROWS = 3
"""How many rows the preview tokenizes: it must stay cheap whatever the file's size."""
PREVIEWED_FORMATS = (DataFormat.TEXT, DataFormat.INSTRUCTION, DataFormat.CHAT)
NO_LIMIT = 10**9
TEMPLATE_MARKERS: tuple[tuple[str, str], ...] = (
    ("<|start_header_id|>", "Llama 3"),
    ("<|im_sep|>", "Phi-4"),
    ("<|im_start|>", "ChatML (Qwen, SmolLM)"),
    ("<start_of_turn>", "Gemma"),
    ("<|user|>", "Phi-3"),
    ("[INST]", "Mistral / Llama 2"),
)
"""A chat template's name, known by the text that opens its turns (checked in this order)."""
TRAINED_STYLE = "background:#bbf7d0;color:#14532d;border-radius:3px"
UNTRAINED_STYLE = "color:#6b7280"


@dataclass
class TrainedRow:
    """One row as training sees it."""

    row: int
    spans: list[tuple[str, bool]] = field(default_factory=list)
    """The row's text in runs, True where the loss grades those tokens (after the cut to max length)."""
    trained: int = 0
    tokens: int = 0
    """Tokens kept after the cut to max length."""
    cut: bool = False
    """Whether max length cut the row."""
    error: str | None = None
    """Why training skips the row (then ``spans`` is empty)."""


@dataclass
class TrainedPreview:
    template: str
    rows: list[TrainedRow]

    @property
    def trained(self) -> int:
        return sum(row.trained for row in self.rows)

    @property
    def tokens(self) -> int:
        return sum(row.tokens for row in self.rows)

    @property
    def cut(self) -> int:
        return sum(row.cut for row in self.rows)


def template_name(tokenizer: Any, fmt: DataFormat, thinking: str = "auto") -> str:
    """The name of the layout rows are rendered in: the chat template's family, "plain text" or Adapta's plain layout."""
    if fmt is DataFormat.TEXT:
        return "plain text (no chat template)"
    template = str(getattr(tokenizer, "chat_template", None) or "")
    if not template:
        return "Adapta's plain layout (### User / ### Assistant), the model has no chat template"
    name = next((label for marker, label in TEMPLATE_MARKERS if marker in template), "the model's own chat template")
    if "enable_thinking" in template:
        name += f", thinking {thinking}"
    return name


def _row(record: dict[str, Any], number: int, choice: FormatChoice, tokenizer: Any, max_length: int, train_on_prompt: bool,
         thinking: str) -> TrainedRow:
    row = TrainedRow(number)
    try:
        fields = row_fields(record, choice)
        row.spans = trained_token_spans(fields, choice.format, tokenizer, max_length, train_on_prompt, thinking)
    except (RowError, AdaptaError) as error:
        row.error = str(error)
        return row
    whole = build_examples([record], choice, tokenizer, Task.CAUSAL_LM, NO_LIMIT, train_on_prompt, thinking=thinking)
    if whole.examples:
        labels = whole.examples[0]["labels"]
        row.cut = len(labels) > max_length
        row.tokens = min(len(labels), max_length)
        row.trained = sum(label != -100 for label in labels[:max_length])
    return row


def trained_preview(records: list[dict[str, Any]], fmt: str, mapping: dict[str, str], tokenizer: Any, max_length: int,
                    train_on_prompt: bool = False, thinking: str = "auto") -> TrainedPreview | None:
    """The first :data:`PREVIEW_ROWS` rows of ``records`` as training renders and masks them; None for a format that is not
    text, instruction or chat."""
    try:
        choice = resolve_format(records, DataFormat(fmt), mapping or None, Task.CAUSAL_LM)  # detected roles fill what is not mapped
    except (ValueError, AdaptaError):
        return None
    if choice.format not in PREVIEWED_FORMATS:
        return None
    chosen = choice.format
    rows = [_row(record, number, choice, tokenizer, max_length, train_on_prompt, thinking)
            for number, record in enumerate(records[:PREVIEW_ROWS], start=1)]
    return TrainedPreview(template_name(tokenizer, chosen, thinking), rows)


def preview_html(preview: TrainedPreview, lang: str) -> str:
    """The rows as escaped text, trained runs highlighted, one block per row."""
    blocks = []
    for row in preview.rows:
        title = html.escape(t(lang, "trained.row", row=row.row))
        if row.error:
            body = f"<em>{html.escape(t(lang, 'trained.skipped', reason=row.error))}</em>"
        else:
            body = "".join(f'<span class="{"trained" if trained else "untrained"}" style="{TRAINED_STYLE if trained else UNTRAINED_STYLE}">'
                           f"{html.escape(text)}</span>" for text, trained in row.spans)
        blocks.append(f'<div class="trained-row"><strong>{title}</strong>'
                      f'<div style="white-space:pre-wrap;font-family:monospace;font-size:0.85em">{body}</div></div>')
    return "\n".join(blocks)


def preview_summary(preview: TrainedPreview, max_length: int, lang: str) -> str:
    share = round(100 * preview.trained / preview.tokens) if preview.tokens else 0
    lines = [t(lang, "trained.summary", template=preview.template, trained=preview.trained, tokens=preview.tokens, share=share,
               rows=len(preview.rows))]
    if preview.cut:
        lines.append(t(lang, "trained.cut", count=preview.cut, max_length=max_length))
    return "\n\n".join(lines)


@dataclass
class TrainedTokensPanel:
    box: gr.Group
    summary: gr.Markdown
    rows: gr.HTML

    @property
    def outputs(self) -> list[Any]:
        return [self.box, self.summary, self.rows]


def build(r: Registry) -> TrainedTokensPanel:
    with gr.Group(visible=False, elem_id="data-trained") as box:
        r.markdown("trained.intro")
        summary = gr.Markdown(elem_id="data-trained-summary")
        rows = gr.HTML(elem_id="data-trained-rows")
    return TrainedTokensPanel(box, summary, rows)


def show(path: str, fmt: str, mapping: dict[str, str], task: str, tokenizer: Any, max_length: Any, train_on_prompt: Any, thinking: Any,
         lang: str) -> list[Any]:
    """Outputs: box, summary, rows. Hidden when no model or data is chosen, the task is not causal-lm, or the file has no rows
    to show."""
    hidden = [gr.update(visible=False), gr.update(), gr.update()]
    if not path or tokenizer is None or (task or Task.CAUSAL_LM.value) != Task.CAUSAL_LM.value:
        return hidden
    if path.startswith(HUB_DATA_PREFIX) or not Path(path).is_file():
        return hidden
    limit = int(max_length) if max_length else NO_LIMIT
    try:
        preview = trained_preview(read_records(path), fmt, mapping, tokenizer, limit, bool(train_on_prompt), thinking or "auto")
    except AdaptaError:
        return hidden  # the file's own report already says what is wrong with it
    if preview is None or not preview.rows:
        return hidden
    return [gr.update(visible=True), preview_summary(preview, limit, lang), preview_html(preview, lang)]


def wire(panel: TrainedTokensPanel, lang: gr.State, path: gr.State, fmt: gr.Component, roles: list[gr.Component], task: gr.Component,
         model_ref: gr.Component, shown: gr.Component, tokenizer_of: Callable[[str], Any], mapping_of: Callable[..., dict[str, str]], *,
         max_length: gr.Component | None = None, train_on_prompt: gr.Component | None = None, thinking: gr.Component | None = None) -> None:
    """Refresh the preview whenever ``shown`` (the file's report) changes, and when the model or one of the Train tab's settings
    (``max_length``, ``train_on_prompt``, ``thinking``: None where the form has none) changes."""
    settings = [max_length, train_on_prompt, thinking]
    present = [component for component in settings if component is not None]

    def refresh(path_value: str, fmt_value: str, task_value: str, ref: str, language: str, *rest: Any) -> list[Any]:
        given = iter(rest[: len(present)])
        values = [next(given) if component is not None else None for component in settings]
        mapping = mapping_of(fmt_value, *rest[len(present):]) if fmt_value and fmt_value != "auto" else {}
        return show(path_value, fmt_value, mapping, task_value, tokenizer_of(ref) if path_value else None, *values, language)

    inputs = [path, fmt, task, model_ref, lang, *present, *roles]
    for trigger in [shown, model_ref, *present]:
        trigger.change(refresh, inputs, panel.outputs, api_visibility="private")
