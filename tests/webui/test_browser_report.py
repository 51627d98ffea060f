"""The Jobs tab's before/after report in real Chromium, for a real (tiny) finished job and for one without held-out rows.

A screenshot goes to tests/webui/artifacts/report-panel.png (git-ignored); docs/screenshot-report.png is the same view
of the SmolLM2 planets example (``bench/eval_cost.py --screenshot``).
"""

from __future__ import annotations

from pathlib import Path

from jobs.queue.run import train_in_foreground
from jobs.spec import parse_spec
from tests.jobs.evaluation.test_eval_report import PARAPHRASES
from tests.jobs.trainers.test_train_text import make_spec, write_jsonl
from tests.webui.conftest import needs_chromium
from tests.webui.test_browser import choose_language, choose_option, open_tab, shot, wait_text

pytestmark = needs_chromium


def test_report_panel_shows_metrics_and_flips_of_the_selected_job(page: object, app_url: str, tmp_path: Path,
                                                                   tiny_llama: Path) -> None:
    small = make_spec(tmp_path, tiny_llama, "causal-lm", "lora", max_steps=2)
    small_id, _ = train_in_foreground(parse_spec({**small, "name": "no-holdout"}), show_progress=False)
    raw = make_spec(tmp_path, tiny_llama, "causal-lm", "lora", max_steps=30)
    raw["data"]["validation"] = str(write_jsonl(tmp_path / "validation.jsonl", PARAPHRASES))  # training rows would not be scored
    raw["evaluation"] = {"max_new_tokens": 8}
    job_id, _ = train_in_foreground(parse_spec({**raw, "name": "with-report"}), show_progress=False)

    page.goto(app_url)
    open_tab(page, "4 · Jobs")
    wait_text(page, "#job-detail", f"#{job_id}")  # the newest job is selected
    wait_text(page, "#job-report", "Before → after, on held-out rows", timeout_s=30)
    wait_text(page, "#job-report", "Measured on 6 held-out rows of validation.jsonl, recorded in split.json")
    metrics = page.locator("#job-report-metrics").inner_text()
    for label in ("Answer loss", "Answer perplexity", "Exact match", "ROUGE-L F1", "chrF"):
        assert label in metrics, metrics
    assert "✓" in metrics  # the answer loss fell on rows the adapter was trained on
    assert "Per example" in page.locator("#job-report-headline").inner_text()
    page.locator("#job-report").first.scroll_into_view_if_needed()
    shot(page, "report-panel")

    choose_option(page, "jobs-selected", f"#{small_id} · no-holdout · succeeded")
    wait_text(page, "#job-report", "No before/after report", timeout_s=30)
    wait_text(page, "#job-report", "fewer than the 50 needed to hold some out automatically")
    choose_language(page, "Português")
    wait_text(page, "#job-report", "Sem relatório antes/depois", timeout_s=30)
    wait_text(page, "#job-report", "Dados: treinado com")  # the data check's line, worded in Portuguese from data_check.json
