"""The Jobs tab's "Compare runs" in real Chromium, for a real sweep of three learning rates run by the real worker (the
session's ``finished_sweep`` of tests/finished_jobs.py, which tests/jobs/queue/test_sweep.py reads too).

Checks the group column (★ on the best job), picks the sweep in the compare view, and waits for the overlaid loss curves,
the table with the differing setting highlighted and the CSV download. The view's screenshot is written to
tests/webui/artifacts/screenshot-compare.png (git-ignored: a test run never changes the working tree); copy it to docs/ when the
view changes (docs/report.md shows it). Skipped, with the reason, only when /usr/bin/chromium is missing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from jobs.queue import get_job
from storage.tables import JobStatus
from tests.finished_jobs import FinishedJobs
from tests.webui.conftest import ARTIFACTS, needs_chromium
from tests.webui.test_browser import open_tab, shot, wait_text

pytestmark = needs_chromium



def test_compare_view_renders_a_real_sweep(page: object, app_url: str, finished_sweep: FinishedJobs, monkeypatch: pytest.MonkeyPatch) -> None:
    finished_sweep.enter(monkeypatch)
    ids = finished_sweep.ids
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
    page.locator("#compare-runs").screenshot(path=str(ARTIFACTS / "screenshot-compare.png"))  # shot() made the folder
    with page.expect_download() as download:
        page.locator("#compare-download").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4 and lines[0].startswith("job_id,name,status,group,best_in_group")
