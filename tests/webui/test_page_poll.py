"""The Jobs timer's answers carry only what changed: a finished job's table, detail and plots are sent once, then left alone
(each value sent makes the page re-render that component; two plots redrawn every 2 s kept the browser busy), and a new
logged step, another job or another language sends again exactly what differs. The guide's poll does the same, and the
Models tab's download timer ticks only while the caller's download runs.

    pytest -q tests/webui/test_page_poll.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from jobs.hub.prefetch import cancel_prefetch, prefetch_state, start_prefetch
from storage.db import session_scope
from storage.tables import Metric
from tests.fake_hub import FakeHub, ModelRepo, use_fake_hub
from tests.hub_repos import tiny_causal_lm_repo
from tests.webui.conftest import needs_chromium, tiny_spec_yaml
from webui.app import build_app
from webui.jobs_tab import refresh
from webui.models_tab import download_line
from webui.page_poll import POLL_SECONDS, Poll, changed_only, fingerprint

UNCHANGED = {"__type__": "update"}


@pytest.fixture
def job_with_losses(tiny_llama: Path, tmp_path: Path) -> int:
    from jobs.queue import submit_job

    data = tmp_path / "d.jsonl"
    data.write_text('{"question": "q", "answer": "a"}\n', encoding="utf-8")
    job = submit_job(tiny_spec_yaml(tiny_llama, data))
    log_losses(job, range(1, 6))
    return job


def log_losses(job: int, steps: range) -> None:
    with session_scope() as session:
        session.add_all([Metric(job_id=job, attempt=0, step=step, name=name, value=step / 10) for step in steps
                         for name in ("loss", "learning_rate")])


def test_changed_only_sends_what_differs_from_the_last_answer() -> None:
    frame = pd.DataFrame({"step": [1, 2], "value": [0.5, 0.4]})
    first, sent = changed_only([frame, "line", {"__type__": "update", "visible": True}], None)
    assert first[0] is frame and first[1] == "line" and first[2]["visible"] is True  # nothing sent yet: everything goes
    again, same = changed_only([frame.copy(), "line", {"__type__": "update", "visible": True}], sent)
    assert again == [UNCHANGED] * 3 and same == sent
    moved, _ = changed_only([pd.DataFrame({"step": [1, 2], "value": [0.5, 0.3]}), "line", {"__type__": "update", "visible": False}], sent)
    assert isinstance(moved[0], pd.DataFrame) and moved[1] == UNCHANGED and moved[2] == {"__type__": "update", "visible": False}
    assert fingerprint(frame) != fingerprint(frame.rename(columns={"value": "loss"}))


def test_a_finished_jobs_poll_sends_nothing_until_a_step_is_logged(job_with_losses: int) -> None:
    first = refresh(None, "en", None, None)
    *values, sent = first
    table, picker, body, progress, detail, loss, rate = values[:7]
    assert len(table) == 1 and picker["value"] == str(job_with_losses) and loss["visible"] is True
    assert loss["value"]["step"].tolist() == [1, 2, 3, 4, 5]
    *second, sent = refresh(str(job_with_losses), "en", sent, None)
    assert second == [UNCHANGED] * len(second)  # nothing changed: the page re-renders nothing

    log_losses(job_with_losses, range(6, 7))
    *third, sent = refresh(str(job_with_losses), "en", sent, None)
    table, picker, body, progress, detail, loss, rate, log, *buttons = third
    assert loss["value"]["step"].tolist() == [1, 2, 3, 4, 5, 6] and rate["value"]["step"].max() == 6
    assert table == picker == body == progress == log == UNCHANGED and all(button == UNCHANGED for button in buttons)

    *fourth, _ = refresh(str(job_with_losses), "pt-BR", sent, None)  # another language: the detail line is worded again
    assert isinstance(fourth[4], str) and fourth[5] == UNCHANGED


def test_the_download_timer_ticks_only_while_the_callers_download_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    files = tiny_causal_lm_repo(tmp_path / "llama")
    with FakeHub(repos={"acme/poll-slow": ModelRepo(files=files, throttle_bytes_per_second=100_000)}) as hub:
        use_fake_hub(monkeypatch, hub, tmp_path / "cache")
        line, timer = download_line("acme/poll-slow", None)
        assert line == UNCHANGED and timer.active is False  # nothing to follow: the timer stops
        start_prefetch("acme/poll-slow", token=False)
        line, timer = download_line("acme/poll-slow", None)
        assert "acme/poll-slow" in line and timer.active is True
        assert cancel_prefetch("acme/poll-slow")
        deadline = time.monotonic() + 30
        while prefetch_state("acme/poll-slow").running:
            assert time.monotonic() < deadline, "the download did not stop"
            time.sleep(0.05)
        line, timer = download_line("acme/poll-slow", None)
        assert line.startswith("⏹️") and timer.active is False  # the last line stays; the polling ends


def test_each_timer_of_the_page_is_one_event() -> None:
    config = build_app().get_config_file()
    timers = [component["id"] for component in config["components"] if component["type"] == "timer"]
    ticks = {timer: [dependency for dependency in config["dependencies"] if [timer, "tick"] in [list(target) for target in dependency["targets"]]]
             for timer in timers}
    assert len(timers) == 2 and all(len(events) == 1 for events in ticks.values()), ticks  # the Jobs poll and the download poll


def test_a_failing_part_leaves_its_outputs_and_the_others_answer() -> None:
    poll = Poll()
    first, second, shared = object(), object(), object()

    def broken(value: Any, request: Any) -> list[Any]:
        raise RuntimeError("a bug in one part")

    poll.add(broken, [shared], [first])
    poll.add(lambda one, two, request: [f"{one}+{two}"], [shared, second], [second])
    assert poll.inputs == [shared, second]  # a component read by two parts is sent once
    assert poll.answer(None, ["a", "b"]) == [UNCHANGED, "a+b"]


def test_the_http_apis_components_stay_out_of_the_pages_layout() -> None:
    config = build_app().get_config_file()
    api = {component["id"] for component in config["components"] if component["type"] == "api"}

    def ids(node: dict[str, Any]) -> set[int]:
        return {node["id"], *(found for child in node.get("children", []) for found in ids(child))}

    assert len(api) >= 40  # one per parameter and result of the gr.api endpoints: still served (gradio_client reads them)
    assert not api & ids(config["layout"]) and not api & ids(config["page"][""]["layout"])
    assert all(component["props"]["visible"] is False for component in config["components"] if component["id"] in api)


@needs_chromium
def test_the_poll_runs_from_the_page_load_without_the_jobs_tab_opened(page: object, app_url: str) -> None:
    """The timer sits at the page's top level: inside the Jobs tab it ticked only once that tab had been opened, so a page
    reloaded on another tab showed no job progress in its title and no end-of-job notice."""
    joins: list[int] = []
    page.on("request", lambda request: joins.append(json.loads(request.post_data or "{}").get("fn_index"))
            if "queue/join" in request.url else None)
    page.goto(app_url)
    page.locator("#tab-models-button").wait_for()
    config = page.evaluate("window.gradio_config")
    timer = next(component["id"] for component in config["components"]
                 if component["type"] == "timer" and component["props"].get("value") == POLL_SECONDS)
    poll_event = next(dependency["id"] for dependency in config["dependencies"] if [timer, "tick"] in [list(t) for t in dependency["targets"]])
    deadline = time.monotonic() + 20
    while joins.count(poll_event) < 2:  # still on the Models tab
        assert time.monotonic() < deadline, f"no poll in 20 s on the first tab: {joins}"
        page.evaluate("1")  # headless Chromium runs an idle page's timers late; a page someone looks at is not idle
        time.sleep(0.2)
