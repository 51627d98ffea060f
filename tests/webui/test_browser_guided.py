"""The guided path in real Chromium, in English and in Brazilian Portuguese: from a fresh data home to a finished job and a
Playground answer, moving between tabs with the guide's own buttons, and with a tab header where the path goes back to a step
(the headers are the path's steps: the guide marks them ✓ done and → next).

The app is served in this process (tests/webui/conftest.py) with a real worker, a tiny Llama and a six-row data file; each test has
its own data home, so it starts with no jobs. Screenshots go to tests/webui/artifacts/ (git-ignored).

    pytest -q tests/webui/test_browser_guided.py
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.webui.conftest import needs_chromium
from tests.webui.test_browser import fill, shot, wait_text
from webui.i18n import LANGUAGES, t

pytestmark = needs_chromium


def visible(page: object, elem_id: str) -> object:
    """The first element with ``elem_id`` once it is visible (groups may render twice)."""
    element = page.locator(f"#{elem_id}").first
    element.wait_for(state="visible")
    return element


def press(page: object, elem_id: str) -> None:
    """Click the first visible element with ``elem_id``; a tab switch is no navigation, so do not wait for one."""
    visible(page, elem_id).click(no_wait_after=True)


def wait_finished(page: object, timeout_s: float) -> set[str]:
    """Wait for the "Try it" banner, collecting the browser tab's titles seen meanwhile."""
    titles, deadline = set(), time.monotonic() + timeout_s
    try_button = page.locator("#guide-try")
    while not try_button.is_visible():
        titles.add(page.title())
        assert time.monotonic() < deadline, f"the job did not finish in {timeout_s:.0f} s; titles seen: {titles}"
        time.sleep(0.25)
    return titles


@pytest.mark.timeout(1500)  # ~2 minutes per language on a quiet machine; far more when several test runs share 2 cores
@pytest.mark.parametrize("language", list(LANGUAGES))
def test_guided_path_from_a_fresh_home_to_a_playground_answer(page: object, app_url: str, worker: object, tiny_llama: Path,
                                                              qa_jsonl: Path, language: str) -> None:
    lang = LANGUAGES[language]
    name = lang.lower()
    page.set_default_timeout(90_000)  # a shared 2-core machine under load: clicks and screenshots can wait on a busy page
    page.goto(app_url)
    if lang != "en":
        page.locator("#language label").filter(has_text=language).click()
    wait_text(page, "#guide-line", t(lang, "guide.hint.models"))

    # Jobs, before anything exists: it says why it is empty and leads to the first step of the path.
    press(page, "tab-jobs-button")
    wait_text(page, "#guide-empty-jobs", t(lang, "guide.empty.jobs"))
    assert not page.locator("#jobs-table").first.is_visible() and not page.locator("#job-cancel").first.is_visible()  # nothing empty
    go = visible(page, "guide-empty-jobs-go")
    assert go.inner_text().strip() == t(lang, "guide.go", step=t(lang, "tab.models"))
    go.click(no_wait_after=True)

    # Model → Data: "Use this model" moves on, and the strip says what is done and what is next.
    fill(page, "model-ref", str(tiny_llama))
    press(page, "model-use")
    wait_text(page, "#guide-line", "✓ " + t(lang, "guide.done.models", value=tiny_llama.name))
    wait_text(page, "#guide-line", t(lang, "guide.hint.data"))
    assert page.locator("#tab-models-button").inner_text().strip().startswith("✓")
    assert page.locator("#tab-data-button").inner_text().strip().startswith("→")
    wait_text(page, "#guide-empty-data", t(lang, "guide.empty.data"))
    page.locator("#data-upload input[type=file]").set_input_files(str(qa_jsonl))
    wait_text(page, "#data-status", "✅")

    # Data → Train, then Back and Next again.
    press(page, "data-use")
    wait_text(page, "#guide-line", "✓ " + t(lang, "guide.done.data", value=qa_jsonl.name))
    press(page, "guide-back-train")
    press(page, "guide-next-data")
    visible(page, "train-submit")

    # Submit → Jobs: the tab title follows the running job; when it ends, a toast says so and the banner offers Try / Share.
    press(page, "train-submit")
    wait_text(page, "#guide-line", t(lang, "guide.done.train", id=1, name="", status="").split("·")[0].strip())
    titles = wait_finished(page, timeout_s=240)
    assert any(title.endswith("· Adapta") and "%" in title for title in titles), titles
    wait_text(page, ".toast-body", t(lang, "guide.ended.succeeded", id=1, name="").split("·")[0].strip())
    wait_text(page, "#guide-finished", t(lang, "guide.try"))
    wait_text(page, "#jobs-table", "succeeded", timeout_s=30)  # the table follows on the same poll as the notice, not before it
    assert page.locator("#jobs-table").filter(has_text="succeeded").count() == 1
    shot(page, f"guided-{name}-04-finished")

    # Try it → the Playground with this job picked; it answers.
    press(page, "guide-try")
    prompt = visible(page, "play-prompt").locator("textarea").first
    assert page.locator("#play-source input").first.input_value().startswith("#1 ·")
    prompt.fill("What colour is planet Zor?")
    press(page, "play-run")
    wait_text(page, "#play-status", t(lang, "play.done"), timeout_s=120)
    assert page.locator("#play-adapted textarea").input_value().strip()
    wait_text(page, "#guide-line", t(lang, "guide.done.playground"))
    wait_text(page, "#guide-line", t(lang, "guide.hint.export", id=1))
    assert page.title() == "Adapta"
    shot(page, f"guided-{name}-05-answer")

    # Share it: the Export tab opens with the job picked.
    press(page, "tab-jobs-button")
    press(page, "guide-share")
    visible(page, "export-zip")
    assert page.locator("#export-job input").first.input_value().startswith("#1 ·")
