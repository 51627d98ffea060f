"""What a page load sends, without a browser: the Jobs table is filled but its plots are left for the moment the tab opens
(drawing them is the costliest part of opening the tab), and the guide renders once per load, on the first tab's select (no
load event of its own). bench/page_load.py measures what this buys in Chromium.

    pytest -q tests/webui/test_first_load.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.db import session_scope
from storage.tables import Metric
from tests.webui.conftest import tiny_spec_yaml
from webui.access import Caller
from webui.app import build_app
from webui.jobs_tab import ACTIONS, first_view, job_detail, plot_view


@pytest.fixture
def job_with_losses(tiny_llama: Path, tmp_path: Path) -> int:
    from jobs.queue import submit_job

    data = tmp_path / "d.jsonl"
    data.write_text('{"question": "q", "answer": "a"}\n', encoding="utf-8")
    job = submit_job(tiny_spec_yaml(tiny_llama, data))
    with session_scope() as session:
        session.add_all([Metric(job_id=job, attempt=0, step=step, name=name, value=step / 10) for step in range(1, 6)
                         for name in ("loss", "learning_rate")])
    return job


def test_the_page_load_fills_the_table_and_leaves_the_plots_for_the_tab_opening(job_with_losses: int) -> None:
    table, picker, body, progress, detail, log, *buttons, sent = first_view("en", None)  # no plots among them: hidden until the tab opens
    assert len(table) == 1 and picker["value"] == str(job_with_losses) and body["visible"] is True
    assert progress["visible"] is True and f"#{job_with_losses}" in detail and log["visible"] is False
    assert len(buttons) == len(ACTIONS) and all(isinstance(button, dict) for button in buttons)
    assert "5" not in sent and "6" not in sent  # what was sent, but the plots: the first poll sends those
    loss, rate = plot_view(str(job_with_losses), None)
    assert loss["visible"] is True and rate["visible"] is True and loss["value"]["step"].tolist() == [1, 2, 3, 4, 5]
    assert job_detail(str(job_with_losses), "en", None)[2]["visible"] is True  # a picked job still gets its plots at once


def test_the_plots_of_another_callers_job_stay_hidden(job_with_losses: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("webui.jobs_tab.caller_of", lambda request: Caller(name="mallory", can_write=True))
    assert [update["visible"] for update in plot_view(str(job_with_losses), None)] == [False, False]
    assert [update["visible"] for update in plot_view(None, None)] == [False, False]


def test_the_page_load_leaves_the_jobs_plots_to_that_tab_and_the_guide_to_the_first_tabs_select() -> None:
    config = build_app().get_config_file()
    ids = {component["props"].get("elem_id"): component["id"] for component in config["components"]}

    def outputs_of(target: int | None, event: str) -> list[set[int]]:
        return [set(dependency["outputs"]) for dependency in config["dependencies"]
                if any(event == on and (target is None or target == where) for where, on in dependency["targets"])]

    plots, loads = {ids["job-loss-plot"], ids["job-lr-plot"]}, outputs_of(None, "load")
    assert loads and not any(plots & outputs for outputs in loads)  # the page load leaves the plots alone
    assert plots in outputs_of(ids["tab-jobs"], "select")  # the tab's opening draws them
    # the guide renders once per page load: on the first tab's select, which Gradio fires as that tab mounts (no load event)
    assert not any(ids["guide-line"] in outputs for outputs in loads)
    assert any(ids["guide-line"] in outputs for outputs in outputs_of(ids["tab-models"], "select"))
