"""The Data tab re-reads an upload when the person picks another format or another column for a role: one event serves the
format and every role picker (webui/data_tab.py), so each of them must still reach it."""

from __future__ import annotations

from pathlib import Path

from tests.webui.conftest import needs_chromium
from tests.webui.test_browser import wait_text


def pick(page: object, field: object, option: str) -> None:
    field.click()
    page.get_by_role("option", name=option, exact=True).click()


@needs_chromium
def test_the_format_and_a_column_role_each_re_read_the_upload(page: object, app_url: str, qa_jsonl: Path) -> None:
    page.goto(app_url)
    page.get_by_role("tab", name="2 · Data").click()
    page.locator("#data-upload input[type=file]").set_input_files(str(qa_jsonl))
    wait_text(page, "#data-report", "format instruction (prompt ← question, response ← answer)")
    pick(page, page.locator("#data-format input").first, "text")
    wait_text(page, "#data-status", "has no text column for the text format", timeout_s=30)
    pick(page, page.locator("#data-format input").first, "instruction")
    wait_text(page, "#data-report", "format instruction (prompt ← question, response ← answer)", timeout_s=30)
    pick(page, page.get_by_label("Response column"), "question")
    wait_text(page, "#data-report", "response ← question", timeout_s=30)
