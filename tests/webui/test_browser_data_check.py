"""The Data tab's "Check data" step in real Chromium, with a real worker: upload a file with planted problems, check it (the
findings with their rows), fix it (a cleaned copy becomes the data file), train on it (tiny Llama, 2 steps), and the job's
report says what the fix removed. A screenshot of the findings goes to tests/webui/artifacts/data-check.png (git-ignored).
"""

from __future__ import annotations

from pathlib import Path

from tests.doctor_rows import SECRET_ROW, write_planted
from tests.webui.conftest import needs_chromium
from tests.webui.test_browser import fill, shot, wait_text

pytestmark = needs_chromium


def test_upload_check_fix_and_train_on_the_fixed_copy(page: object, app_url: str, worker: object, tiny_llama: Path, tmp_path: Path) -> None:
    page.goto(app_url)
    fill(page, "model-ref", str(tiny_llama))
    page.locator("#model-check").click()
    wait_text(page, "#model-info", "Adapta can adapt this model")
    page.locator("#model-use").click()
    page.get_by_role("tab", name="2 · Data", selected=True).wait_for()
    page.locator("#data-upload input[type=file]").set_input_files(str(write_planted(tmp_path / "planted.jsonl")))
    wait_text(page, "#data-status", "planted.jsonl is ready")

    page.locator("#data-check-run").click()
    wait_text(page, "#data-check-status", "training on it is refused: Fix removes them", timeout_s=60)
    findings = page.locator("#data-check-findings").inner_text()
    assert "Secrets" in findings and "E-mail addresses" in findings and "Duplicates" in findings, findings
    assert str(SECRET_ROW) in findings
    wait_text(page, "#data-check-lengths", "tokens keep 95 % whole")  # the chosen model's tokenizer and the form's max length
    page.locator("#data-check").first.scroll_into_view_if_needed()
    shot(page, "data-check")

    page.locator("#data-check-fix").click()
    wait_text(page, "#data-check-fixed", "picked it as the data file", timeout_s=60)
    wait_text(page, "#data-status", "planted.fixed.jsonl is ready")  # the fixed copy is the data file now
    page.locator("#data-use").click()
    page.get_by_role("tab", name="3 · Train", selected=True).wait_for()
    page.locator("#train-advanced").first.get_by_text("Advanced", exact=True).first.click()
    fill(page, "field-training-max-steps", "2")  # LoRA on every linear layer, the defaults
    page.locator("#train-submit").click()
    page.get_by_role("tab", name="4 · Jobs", selected=True).wait_for()
    wait_text(page, "#job-detail", "succeeded", timeout_s=120)
    wait_text(page, "#job-report", "Data: trained on", timeout_s=30)
    report = page.locator("#job-report").first.inner_text()
    assert "1 duplicate was removed and 1 secret and 1 e-mail address masked" in report, report
