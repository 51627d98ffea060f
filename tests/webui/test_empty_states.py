"""Nothing empty on show, without a browser: the Jobs tab's body, plots, log and action buttons, the Playground's and Export's
bodies, the Data tab's report, and the Jobs plots' bounded reads (jobs.metrics.metric_series with a limit). The pictures of every tab in its empty
state come from docs/empty_screenshots.py, which checks the same in Chromium.

    pytest -q tests/webui/test_empty_states.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from jobs.metrics import PLOT_POINTS, metric_series
from jobs.queue import submit_job
from storage.db import session_scope
from storage.tables import Metric
from tests.webui.conftest import tiny_spec_yaml
from webui.jobs_tab import ACTIONS, action_visibility, job_detail, refresh


@pytest.fixture
def job_id(tiny_llama: Path, tmp_path: Path) -> int:
    data = tmp_path / "d.jsonl"
    data.write_text('{"question": "q", "answer": "a"}\n', encoding="utf-8")
    return submit_job(tiny_spec_yaml(tiny_llama, data))


def _metrics(job: int, name: str, steps: range, attempt: int = 0, offset: float = 0.0) -> None:
    with session_scope() as session:
        session.add_all([Metric(job_id=job, attempt=attempt, step=step, name=name, value=step / 1000 + offset) for step in steps])


def test_an_empty_jobs_tab_shows_only_its_empty_state() -> None:
    outputs = refresh(None, "en", "", None)
    table, picker, body, progress, _detail, loss, rate, log, *buttons, _key = outputs
    assert table.empty and picker["choices"] == [] and body["visible"] is False
    assert [progress["visible"], loss["visible"], rate["visible"], log["visible"]] == [False] * 4
    assert len(buttons) == len(ACTIONS) and all(button["visible"] is False for button in buttons)


def test_a_queued_job_shows_its_buttons_but_no_empty_plot_or_log(job_id: int) -> None:
    table, picker, body, progress, detail, loss, rate, log, *buttons, key = refresh(None, "en", "", None)
    assert refresh(str(job_id), "en", key, None)[1] == {"__type__": "update"}  # the poll leaves an unchanged picker alone
    assert body["visible"] is True and picker["value"] == str(job_id) and len(table) == 1
    assert progress["visible"] is True and f"#{job_id}" in detail
    assert loss["visible"] is False and rate["visible"] is False and log["visible"] is False  # nothing logged yet
    shown = {action for action, button in zip(ACTIONS, buttons, strict=True) if button["visible"]}
    assert shown == {"cancel", "duplicate", "up", "down", "delete"}
    _metrics(job_id, "loss", range(1, 4))
    assert job_detail(str(job_id), "en", None)[2]["visible"] is True


def test_each_action_button_shows_only_where_it_applies() -> None:
    def shown(status: str | None, sweep: bool = False) -> set[str]:
        return {action for action, visible in zip(ACTIONS, action_visibility(status, sweep), strict=True) if visible}

    assert shown(None) == set()
    assert shown("running") == {"cancel", "duplicate"}
    assert shown("succeeded") == {"duplicate", "delete"}
    assert shown("failed") == shown("cancelled") == {"retry", "duplicate", "delete"}
    assert shown("running", sweep=True) == {"cancel", "duplicate", "cancel_group", "delete_group"}


def test_plot_points_stay_bounded_evenly_spaced_and_end_at_the_last_step(job_id: int) -> None:
    _metrics(job_id, "loss", range(1, 3))
    assert metric_series(job_id, "loss", PLOT_POINTS) == [(1, 0.001), (2, 0.002)]  # a short run: every step
    _metrics(job_id, "loss", range(3, 5001))
    _metrics(job_id, "loss", range(4990, 5001), attempt=1, offset=1.0)  # a retry re-logged the last steps: its values win
    points = metric_series(job_id, "loss", PLOT_POINTS)
    steps = [step for step, _ in points]
    assert len(points) <= PLOT_POINTS + 1 and steps[-1] == 5000 and points[-1][1] == pytest.approx(6.0)
    gaps = {later - earlier for earlier, later in zip(steps[:-1], steps[1:], strict=True)}
    assert len(gaps - {max(gaps)}) <= 1  # one stride, and a shorter last gap up to the last step
    assert metric_series(job_id, "eval_loss", PLOT_POINTS) == []


def test_the_data_report_hides_its_empty_tables_and_shows_once_there_is_a_file() -> None:
    from webui.data_tab import PROBLEM_COLUMNS, histogram_frame, revealed

    rows = pd.DataFrame({"text": ["a"]})
    loaded = revealed(["✅", "/u/x.jsonl", "auto", rows, "1 row", histogram_frame([]), pd.DataFrame(columns=PROBLEM_COLUMNS), "gallery"])
    assert loaded[3]["visible"] is True and loaded[5]["visible"] is False and loaded[6]["visible"] is False
    assert loaded[-1] == {"__type__": "update", "visible": True}
    refused = revealed(["❌ unreadable", "", "auto", pd.DataFrame(), "", histogram_frame([]), pd.DataFrame(), "gallery"])
    assert refused[-1]["visible"] is False
    unchanged = revealed([{"__type__": "update"}] * 8)
    assert unchanged[-1] == {"__type__": "update"}


# The Playground's and Export's bodies are built only when there is something to offer: tests/webui/test_lazy_parts.py.
