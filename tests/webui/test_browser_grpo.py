"""GRPO in real Chromium with a real worker and the tiny Llama: build the reward in the form (no YAML typed), preview it on
the base model's answers, submit, watch the reward curves in the Jobs tab, and see the terms read back by "Duplicate and edit".

Screenshots go to tests/webui/artifacts/ (git-ignored): grpo-preview.png (the builder and the preview), grpo-curves.png.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.jobs.trainers.test_grpo_train import PLANETS
from tests.webui.conftest import needs_chromium
from tests.webui.test_browser import fill, open_tab, shot, wait_text

pytestmark = needs_chromium


def choose(on: object, elem_id: str, option: str) -> None:
    """Pick ``option`` in the dropdown ``#elem_id`` of the page ``on``."""
    on.locator(f"#{elem_id} input").first.click()
    on.get_by_role("option", name=option, exact=True).click()
    on.locator(f"#{elem_id} input").first.press("Escape")


def test_grpo_reward_built_in_the_form_previewed_submitted_and_watched(page: object, app_url: str, worker: object, tiny_llama: Path,
                                                                       tmp_path: Path) -> None:
    data = tmp_path / "planet-prompts.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"Say the colour of planet {name}.", "answer": colour}) + "\n" for name, colour in PLANETS))
    builder = page.locator("#reward-builder").first

    page.goto(app_url)
    open_tab(page, "3 · Train")
    page.locator("#train-advanced").first.get_by_text("Advanced", exact=True).first.click()  # the model and data fields live there
    fill(page, "train-base-model", str(tiny_llama))
    assert not builder.is_visible()  # objective sft: no rewards to build
    choose(page, "field-objective", "grpo")
    builder.wait_for(state="visible")

    page.locator("#reward-preview").click()  # no data chosen yet: one sentence saying what to do
    wait_text(page, "#reward-preview-status", "No data chosen")
    fill(page, "train-data-file", str(data))

    page.locator("#reward-add").click()  # the default term: format, tag answer
    wait_text(page, "#reward-terms", "tag: answer")
    choose(page, "reward-kind", "regex")
    page.locator("#reward-pattern").first.wait_for(state="visible")
    assert not page.locator("#reward-target-length").first.is_visible()  # a length setting means nothing to a regex
    page.locator("#reward-add").click()  # a regex without its pattern is refused with the reason
    wait_text(page, "#reward-message", "kind regex needs a pattern")
    choose(page, "reward-kind", "contains")
    fill(page, "reward-pattern", ".")
    fill(page, "reward-weight", "0.5")
    page.locator("#reward-add").click()
    wait_text(page, "#reward-terms", "pattern: .")
    choose(page, "reward-kind", "length")
    fill(page, "reward-target-length", "12")
    page.locator("#reward-add").click()
    wait_text(page, "#reward-terms", "target_length: 12")
    choose(page, "reward-remove-choice", "1 · format × 1")  # remove the first term again
    page.locator("#reward-remove").click()
    page.locator("#reward-terms").filter(has_text="tag: answer").first.wait_for(state="detached")
    rewards_yaml = page.locator("#field-grpo-rewards textarea").first.input_value()  # the builder wrote the form's own field
    assert "kind: contains" in rewards_yaml and "weight: 0.5" in rewards_yaml and "target_length: 12" in rewards_yaml
    assert "format" not in rewards_yaml

    fill(page, "field-grpo-max-completion-length", "12")  # short answers keep the preview and the job fast on a CPU
    fill(page, "field-training-max-steps", "3")
    fill(page, "field-training-batch-size", "4")  # 1 prompt x 4 completions per step
    page.locator("#reward-preview").click()
    wait_text(page, "#reward-preview-status", "The base model answered 5 rows", timeout_s=120)
    preview = page.locator("#reward-preview-table").first
    for header in ("prompt", "reference answer", "base completion", "contains", "length", "total"):
        assert header in preview.inner_text(), header
    assert "Say the colour of planet Zor." in preview.inner_text() and "teal" in preview.inner_text()
    preview.scroll_into_view_if_needed()
    shot(page, "grpo-preview")

    page.locator("#train-submit").click()
    page.get_by_role("tab", name="4 · Jobs", selected=True).wait_for()
    wait_text(page, "#job-detail", "succeeded", timeout_s=240)
    plot = page.locator("#job-objective-plot").first
    plot.wait_for(state="visible")
    plot.locator("canvas, svg").first.wait_for()
    assert "Rewards, KL and preference" in plot.inner_text()
    for series in ("reward (weighted mean)", "reward · contains", "reward · length"):  # the legend names every curve
        wait_text(page, "#job-objective-plot", series, timeout_s=30)
    strokes = plot.locator("g.mark-line path").evaluate_all("paths => paths.map(path => path.getAttribute('stroke'))")
    assert len(strokes) == 3 and all(strokes), strokes  # each curve is drawn, in a colour of its own
    assert len(set(strokes)) == 3, strokes
    log = page.locator("#job-log textarea").first  # completions sampled during training, in the log panel
    deadline = time.monotonic() + 30
    while "[grpo sample] completion:" not in log.input_value() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "[grpo sample] completion:" in log.input_value(), log.input_value()
    shot(page, "grpo-curves")

    page.reload()  # a fresh form; "Duplicate and edit" loads the job's spec, and the builder reads its terms back
    open_tab(page, "4 · Jobs")
    wait_text(page, "#job-detail", "succeeded")
    page.get_by_role("button", name="Duplicate and edit").click()
    page.get_by_role("tab", name="3 · Train", selected=True).wait_for()
    builder.wait_for(state="visible", timeout=120_000)  # the filled form's change events run one after another: slow on a busy CPU
    wait_text(page, "#reward-terms", "target_length: 12")
    assert "pattern: ." in page.locator("#reward-terms").first.inner_text()
