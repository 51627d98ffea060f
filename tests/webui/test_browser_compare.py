"""The Jobs tab's "Compare runs" in real Chromium, for a real sweep of three learning rates run by the real worker.

Checks the group column (★ on the best job), picks the sweep in the compare view, and waits for the overlaid loss curves,
the table with the differing setting highlighted and the CSV download. The view's screenshot is written to
docs/screenshot-compare.png (the README shows it). Skipped, with the reason, only when /usr/bin/chromium is missing.
"""

from __future__ import annotations

import time
from pathlib import Path

from jobs.queue import get_job
from jobs.queue.sweep import submit_sweep
from jobs.queue.sweep_plan import read_sweep_yaml
from storage.tables import JobStatus
from tests.webui.conftest import needs_chromium
from tests.webui.test_browser import open_tab, shot, wait_text

pytestmark = needs_chromium

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_compare_view_renders_a_real_sweep(page: object, app_url: str, worker: object, tiny_llama: Path, qa_jsonl: Path) -> None:
    text = (f"task: causal-lm\nbase_model: {tiny_llama}\nmethod: lora\nname: planets\ndata:\n  train: {qa_jsonl}\n  validation: 0.34\n"
            "training: {max_steps: 6, batch_size: 2, learning_rate: [1.0e-4, 3.0e-3, 3.0e-2], warmup_ratio: 0.0, max_length: 64}\n"
            "lora: {target_modules: all-linear}\nevaluation: {max_rows: 4, max_new_tokens: 8}\n")
    ids = submit_sweep(read_sweep_yaml(text))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not all(get_job(job_id).status.finished for job_id in ids):
        time.sleep(1.0)
    assert [get_job(job_id).status for job_id in ids] == [JobStatus.SUCCEEDED] * 3, [get_job(job_id).error for job_id in ids]

    page.goto(app_url)
    open_tab(page, "4 · Jobs")
    wait_text(page, "#jobs-table", "★ planets sweep")
    page.locator("#compare-runs").get_by_text("Compare runs").first.click()
    page.locator("#compare-group input").first.click()
    page.get_by_role("option", name="planets sweep (3)").click()
    wait_text(page, "#compare-summary", "settings differ")
    wait_text(page, "#compare-summary", "planets sweep: 3 jobs (3 succeeded); best: #")
    wait_text(page, "#compare-table", "≠ training.learning_rate")
    wait_text(page, "#compare-table", "0.03")
    page.locator("#compare-plot canvas, #compare-plot svg").first.wait_for()
    page.locator("#compare-download").wait_for(state="visible")
    time.sleep(1.0)  # let the plot finish drawing
    shot(page, "08-compare")
    DOCS.mkdir(exist_ok=True)
    page.locator("#compare-runs").screenshot(path=str(DOCS / "screenshot-compare.png"))
    with page.expect_download() as download:
        page.locator("#compare-download").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4 and lines[0].startswith("job_id,name,status,group,best_in_group")
