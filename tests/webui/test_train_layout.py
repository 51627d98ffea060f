"""The Train tab in real Chromium: at most 8 controls before "Advanced" for every task x method the form offers, and
recommendations that follow the data (a 40-row and a 4,000-row file get different epochs; a value the user typed stays).

Skipped, with the reason, only when /usr/bin/chromium is missing (``make test`` installs it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.webui.conftest import needs_chromium
from tests.webui.test_browser import open_tab, shot, wait_text
from webui.spec_form import methods_for_task

pytestmark = needs_chromium
TASKS = ("causal-lm", "text-classification", "text-to-image", "sentence-embedding")
MAX_CONTROLS = 8

# Every visible, enabled input, text area, select or button of the Train tab that comes before the "Advanced" accordion in the
# page, counted once per component (a radio group, a slider with its number box, a dropdown with its buttons: one control).
COUNT_CONTROLS = """() => {
  const panel = document.querySelector('#tab-train');
  const advanced = panel.querySelector('#train-advanced');
  const controls = new Map();
  for (const element of panel.querySelectorAll('input, textarea, select, button')) {
    if (!(advanced.compareDocumentPosition(element) & Node.DOCUMENT_POSITION_PRECEDING)) continue;
    if (element.type === 'hidden' || element.disabled || !element.checkVisibility()) continue;
    const block = element.closest('.block[id]') || element.closest('.block') || element;
    controls.set(block, block.id || element.getAttribute('aria-label') || element.textContent.trim());
  }
  return [...controls.values()];
}"""


def choose(on: object, elem_id: str, value: str) -> None:
    """Pick ``value`` in the dropdown ``#elem_id``, then leave it (a focused dropdown does not open again on a click)."""
    box = on.locator(f"#{elem_id} input").first
    box.click()
    on.get_by_role("option", name=value, exact=True).click()
    box.evaluate("element => element.blur()")


def test_at_most_eight_controls_before_advanced_for_every_task_and_method(page: object, app_url: str) -> None:  # noqa: F811
    page.goto(app_url)
    open_tab(page, "3 · Train")
    page.locator("#train-advanced").first.wait_for()
    counted: dict[tuple[str, str], list[str]] = {}
    for task in TASKS:
        choose(page, "field-task", task)
        for method in methods_for_task(task):
            choose(page, "field-method", method)
            page.wait_for_timeout(400)  # the task's and method's visibility updates
            counted[(task, method)] = page.evaluate(COUNT_CONTROLS)
        shot(page, f"20-train-layout-{task}")
    assert len(counted) == 11, counted  # causal-lm and text-classification: 4 methods; text-to-image: 1; sentence-embedding: 2
    too_many = {key: names for key, names in counted.items() if len(names) > MAX_CONTROLS}
    assert not too_many, too_many
    assert "field-objective" in counted[("causal-lm", "lora")] and "field-objective" not in counted[("text-to-image", "lora")]
    assert {"field-method", "field-training-epochs", "train-time-budget", "train-strength", "train-preset",
            "field-data-validation"} <= set(counted[("sentence-embedding", "full")])
    # the other settings are behind the accordion
    page.locator("#train-advanced").first.get_by_text("Advanced", exact=True).first.click()
    page.locator("#field-training-learning-rate").first.wait_for(state="visible")
    assert page.locator("#field-lora-r").first.is_visible() is False  # sentence-embedding x full: no LoRA settings


def rows_file(folder: Path, rows: int) -> Path:
    path = folder / f"facts-{rows}.jsonl"
    lines = [json.dumps({"question": f"What is fact {number}?", "answer": f"Fact {number} is about planet {number % 7}."})
             for number in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def use_data(on: object, path: Path, rows: str) -> None:
    """Upload ``path`` in the Data tab (clearing the file shown there first) and hand it to the Train tab."""
    open_tab(on, "2 · Data")
    if not on.locator("#data-upload input[type=file]").count():
        on.locator("#data-upload button[aria-label='Clear']").first.click()
    on.locator("#data-upload input[type=file]").set_input_files(str(path))
    wait_text(on, "#data-status", f"{path.name} is ready")
    on.locator("#data-use").click()
    on.get_by_role("tab", name="3 · Train", selected=True).wait_for()
    try:
        wait_text(on, "#train-why-epochs", f"{rows} rows")
    finally:
        shot(on, f"23-train-after-{path.stem}")


def epochs_in_form(on: object) -> float:
    return float(on.locator("#field-training-epochs input").first.input_value())


def test_recommended_epochs_follow_the_data_and_spare_typed_values(page: object, app_url: str, tiny_llama: Path, tmp_path: Path) -> None:  # noqa: F811
    page.goto(app_url)
    page.locator("#model-ref textarea, #model-ref input").first.fill(str(tiny_llama))
    page.locator("#model-use").click()
    page.get_by_role("tab", name="2 · Data", selected=True).wait_for()

    use_data(page, rows_file(tmp_path, 40), "40")
    small = epochs_in_form(page)
    wait_text(page, "#train-why-validation", "too few to hold any out")
    wait_text(page, "#train-chosen", "facts-40.jsonl")
    wait_text(page, "#train-summary", "result: an adapter")
    shot(page, "21-train-40-rows")

    use_data(page, rows_file(tmp_path, 4000), "4,000")
    large = epochs_in_form(page)
    wait_text(page, "#train-why-validation", "5% of 4,000 rows")
    assert (small, large) == (5.0, 2.0)
    assert float(page.locator("#field-data-validation input[type=number]").first.input_value()) == pytest.approx(0.05)
    wait_text(page, "#train-summary", "steps")
    shot(page, "22-train-4000-rows")

    epochs = page.locator("#field-training-epochs input").first
    epochs.fill("7")
    epochs.press("Tab")
    use_data(page, rows_file(tmp_path, 40), "40")  # the advice changes; the value the user typed stays
    wait_text(page, "#train-why-epochs", "5")
    assert epochs_in_form(page) == 7.0
