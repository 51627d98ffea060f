"""The Data tab's "What is trained" preview, at the handler: the first rows with the model's chat template, the trained tokens
marked, the counts and the rows max length cuts, in both languages; nothing shown without a model, data or a causal-lm task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from webui.trained_tokens_panel import PREVIEW_ROWS, show, trained_preview

ROWS = [{"question": f"What is {n} plus {n}? <b>bold</b>", "answer": f"It is {2 * n}."} for n in range(1, 6)]
MAPPING = {"prompt": "question", "response": "answer"}


@pytest.fixture(scope="module")
def tokenizer(tiny_llama: Path):  # noqa: ANN201 - a transformers tokenizer
    return AutoTokenizer.from_pretrained(str(tiny_llama))


def test_the_first_rows_show_what_the_loss_grades(tokenizer) -> None:  # noqa: ANN001 - a fixture
    preview = trained_preview(ROWS, "instruction", MAPPING, tokenizer, 512)
    assert preview is not None and len(preview.rows) == PREVIEW_ROWS and preview.template == "ChatML (Qwen, SmolLM)"
    first = preview.rows[0]
    trained = "".join(text for text, graded in first.spans if graded)
    untrained = "".join(text for text, graded in first.spans if not graded)
    assert "It is 2." in trained and "<|im_end|>" in trained and "What is 1 plus 1?" not in trained
    assert "What is 1 plus 1?" in untrained and "<|im_start|>assistant" in untrained
    assert 0 < first.trained < first.tokens and not first.cut and preview.cut == 0
    everything = trained_preview(ROWS, "instruction", MAPPING, tokenizer, 512, train_on_prompt=True)
    assert everything is not None and everything.trained > preview.trained  # the prompt is graded too
    for fmt in ("auto", "instruction"):  # a detected format, or the roles not mapped by hand: the columns are detected as training does
        detected = trained_preview(ROWS, fmt, {}, tokenizer, 512)
        assert detected is not None and detected.rows[0].spans == first.spans, fmt


def test_rows_cut_by_max_length_are_counted_and_said(tokenizer, tiny_llama: Path, tmp_path: Path) -> None:  # noqa: ANN001
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    whole = trained_preview(ROWS, "instruction", MAPPING, tokenizer, 512)
    assert whole is not None
    limit = whole.rows[0].tokens - 2  # the answer's last tokens fall past the limit
    box, summary, html = show(str(data), "instruction", MAPPING, "causal-lm", tokenizer, limit, False, "auto", "en")
    assert box["visible"] and "ChatML (Qwen, SmolLM)" in summary and f"max length {limit}" in summary and "3 of these rows" in summary
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold" not in html  # the rows' text is escaped, never rendered as HTML
    assert html.count('class="trained"') >= PREVIEW_ROWS and "Row 3" in html and "Row 4" not in html
    _, summary_pt, html_pt = show(str(data), "instruction", MAPPING, "causal-lm", tokenizer, limit, False, "auto", "pt-BR")
    assert "tokens treinados" in summary_pt and "são cortadas" in summary_pt and "Linha 1" in html_pt


def test_nothing_is_shown_without_a_model_data_or_a_causal_lm_task(tokenizer, tmp_path: Path) -> None:  # noqa: ANN001
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    for path, task, chosen in (("", "causal-lm", tokenizer), (str(data), "causal-lm", None), (str(data), "text-classification", tokenizer)):
        box, _, _ = show(path, "instruction", MAPPING, task, chosen, 512, False, "auto", "en")
        assert box == {"__type__": "update", "visible": False}
    assert trained_preview(ROWS, "classification", {"text": "question", "label": "answer"}, tokenizer, 512) is None
