"""The guided path's pure rules (webui.guide): which steps are done, what is next, the line and labels in both languages,
the browser tab's title, which jobs just ended, and the Jobs table's order (real SQLite rows through jobs.queue).

    pytest -q tests/webui/test_guide.py
"""

from __future__ import annotations

import pytest

from webui.guide import (
    STEPS,
    GuideFacts,
    JobFacts,
    empty_target,
    empty_visible,
    ended_jobs,
    gather_facts,
    guide_line,
    hint_step,
    keep_selection,
    next_step,
    step_label,
    step_marks,
    tab_title,
)
from webui.i18n import STRINGS

RUNNING = JobFacts(3, "planets-lora", "running", step=21, total_steps=50)
SUCCEEDED = JobFacts(3, "planets-lora", "succeeded", step=50, total_steps=50)
FAILED = JobFacts(3, "planets-lora", "failed", step=7, total_steps=50)


def test_a_fresh_session_starts_at_the_model_and_says_so() -> None:
    facts = GuideFacts()
    assert step_marks(facts) == {"models": "next", "data": "todo", "train": "todo", "jobs": "todo", "playground": "todo", "export": "todo"}
    assert guide_line(facts, "en") == "**Next: pick a model and press “Use this model”**"
    assert guide_line(facts, "pt-BR").startswith("**Próximo passo: escolha um modelo")


def test_each_choice_moves_the_next_step_along() -> None:
    model = "/models/HuggingFaceTB/SmolLM2-135M-Instruct"
    assert next_step(GuideFacts(model=model)) == "data"
    line = guide_line(GuideFacts(model=model), "en")
    assert line.startswith("✓ Model: SmolLM2-135M-Instruct · ") and "Next: upload your data" in line
    with_data = GuideFacts(model=model, data="/home/u/uploads/ab12/planets.jsonl")
    assert next_step(with_data) == "train"
    assert "✓ Data: planets.jsonl" in guide_line(with_data, "en")
    assert "✓ Dados: planets.jsonl" in guide_line(with_data, "pt-BR")


def test_a_running_job_shows_its_progress_and_asks_to_wait() -> None:
    facts = GuideFacts(model="m", data="d.jsonl", job=RUNNING, has_jobs=True)
    assert step_marks(facts)["train"] == "done" and next_step(facts) == "jobs"
    line = guide_line(facts, "en")
    assert "⏳ Job #3 · planets-lora: running 42%" in line
    assert "Next: wait for job #3 to finish (42%)" in line
    assert "em execução 42%" in guide_line(facts, "pt-BR")


def test_a_finished_job_leads_to_try_then_share() -> None:
    facts = GuideFacts(job=SUCCEEDED, has_jobs=True, has_finished=True, current="jobs")
    assert next_step(facts) == "playground"
    assert "Next: try job #3 in the Playground" in guide_line(facts, "en")
    tried = GuideFacts(job=SUCCEEDED, has_jobs=True, has_finished=True, tried=True, current="playground")
    assert step_marks(tried) == {"models": "todo", "data": "todo", "train": "done", "jobs": "done", "playground": "done", "export": "next"}
    assert "✓ Tried in the Playground" in guide_line(tried, "en") and "Next: share job #3" in guide_line(tried, "en")


def test_a_failed_job_says_where_to_read_why() -> None:
    facts = GuideFacts(job=FAILED, has_jobs=True, current="jobs")
    assert next_step(facts) == "jobs"
    line = guide_line(facts, "en")
    assert "⚠️ Job #3 · planets-lora: failed" in line and "read why in Jobs, then retry" in line
    assert "a tarefa #3 falhou" in guide_line(facts, "pt-BR")


def test_the_next_line_is_about_the_tab_that_is_open() -> None:
    finished = {"job": SUCCEEDED, "has_jobs": True, "has_finished": True}
    # A tab with work of its own to do says what to do there, wherever the path as a whole stands.
    assert hint_step(GuideFacts(current="data", **finished)) == "data"
    assert "Next: upload your data" in guide_line(GuideFacts(current="data", **finished), "en")
    assert "Next: share job #3" in guide_line(GuideFacts(current="export", **finished), "en")
    assert "Next: try job #3 in the Playground" in guide_line(GuideFacts(current="playground", **finished), "en")
    # The selected job is running but an older one finished: the Playground and Export speak of picking a finished job.
    other = GuideFacts(job=RUNNING, has_jobs=True, has_finished=True, current="export")
    assert "Next: pick a finished job, then download it" in guide_line(other, "en")
    assert "escolha uma tarefa concluída, escreva um prompt" in guide_line(GuideFacts(job=RUNNING, has_jobs=True, has_finished=True,
                                                                                      current="playground"), "pt-BR")
    # A tab that is done, or has nothing to work on yet, points at the step that comes next.
    assert hint_step(GuideFacts(model="m", current="models")) == "data"
    assert hint_step(GuideFacts(current="jobs")) == "models"
    assert hint_step(GuideFacts(model="m", data="d", job=RUNNING, has_jobs=True, current="export")) == "jobs"
    assert "Next: wait for job #3 to finish (42%)" in guide_line(GuideFacts(model="m", data="d", job=RUNNING, has_jobs=True,
                                                                            current="playground"), "en")


def test_a_playground_answer_without_a_finished_job_is_not_a_tried_job() -> None:
    assert step_marks(GuideFacts(job=RUNNING, tried=True))["playground"] == "todo"


def test_step_labels_carry_the_mark_and_the_translated_tab_name() -> None:
    assert step_label("models", "done", "en") == "✓ 1 · Model"
    assert step_label("data", "next", "pt-BR") == "→ 2 · Dados"
    assert step_label("export", "todo", "en") == "6 · Export"


def test_empty_states_explain_and_point_at_the_step_that_fills_them() -> None:
    fresh = GuideFacts()
    assert all(empty_visible(fresh, tab) for tab in ("data", "jobs", "playground", "export"))
    assert empty_target(fresh, "jobs") == "models"
    assert empty_target(fresh, "data") == "models"
    ready = GuideFacts(model="m", data="d.jsonl")
    assert not empty_visible(ready, "data")
    assert empty_target(ready, "jobs") == "train"
    waiting = GuideFacts(model="m", data="d.jsonl", job=RUNNING, has_jobs=True)
    assert not empty_visible(waiting, "jobs") and empty_visible(waiting, "playground")
    assert empty_target(waiting, "playground") == "jobs"
    assert empty_target(waiting, "jobs") is None  # it is this very tab: no button
    assert not empty_visible(GuideFacts(has_jobs=True, has_finished=True), "export")


def test_the_tab_title_shows_the_running_job_and_goes_back_when_idle() -> None:
    assert tab_title([SUCCEEDED, JobFacts(4, "other", "queued")]) == "Adapta"
    assert tab_title([JobFacts(4, "other", "queued"), RUNNING]) == "42% · planets-lora · Adapta"
    assert tab_title([JobFacts(5, "loading", "running")]) == "0% · loading · Adapta"


def test_only_jobs_seen_active_that_finished_count_as_ended() -> None:
    now = [SUCCEEDED, JobFacts(4, "b", "failed"), JobFacts(5, "c", "running"), JobFacts(6, "d", "cancelled")]
    seen = {"3": "running", "4": "queued", "5": "queued"}  # job 6 was never seen active: it ended before this page looked
    assert [job.id for job in ended_jobs(seen, now)] == [3, 4]
    assert ended_jobs({}, now) == []


def test_facts_come_from_the_widgets_and_the_jobs() -> None:
    jobs = [RUNNING, JobFacts(2, "old", "succeeded")]
    facts = gather_facts("data", " m ", "", "/u/x.csv", "3", "", jobs)
    assert facts == GuideFacts(model="m", data="", data_loaded=True, job=RUNNING, tried=False, has_jobs=True, has_finished=True,
                               current="data")
    assert next_step(facts) == "jobs"
    assert next_step(gather_facts("data", "m", "", "/u/x.csv", None, "", [])) == "data"  # uploaded, not yet used for training
    assert not empty_visible(facts, "data")
    assert gather_facts("", "", "", "", None, "hi", []).job is None


def test_keep_selection_keeps_a_value_that_is_still_offered() -> None:
    update = {"__type__": "update", "choices": [("#3 · a", "3"), ("#2 · b", "2")], "value": "3"}
    assert keep_selection(dict(update), "2")["value"] == "2"
    assert keep_selection(dict(update), "9")["value"] == "3"
    assert keep_selection(dict(update), None)["value"] == "3"


@pytest.mark.parametrize("lang", ["en", "pt-BR"])
def test_every_guide_key_is_translated(lang: str) -> None:
    keys = [key for key in STRINGS["en"] if key.startswith("guide.")]
    assert len(keys) > 20
    assert all(STRINGS[lang].get(key) for key in keys)
    assert all(f"tab.{step}" in STRINGS[lang] for step in STEPS)


def test_the_jobs_table_lists_running_then_queued_in_run_order_then_finished_newest_first(tiny_llama, tmp_path) -> None:
    from jobs.queue import list_jobs, move_job, submit_job
    from storage.db import session_scope
    from storage.tables import Job, JobStatus
    from tests.webui.conftest import tiny_spec_yaml
    from webui.access import Caller
    from webui.jobs_tab import jobs_table

    data = tmp_path / "d.jsonl"
    data.write_text('{"question": "q", "answer": "a"}\n', encoding="utf-8")
    ids = [submit_job(tiny_spec_yaml(tiny_llama, data).replace("task:", f"name: job{n}\ntask:")) for n in range(6)]
    statuses = {ids[0]: JobStatus.SUCCEEDED, ids[1]: JobStatus.FAILED, ids[3]: JobStatus.RUNNING}
    with session_scope() as session:
        for job_id, status in statuses.items():
            job = session.get(Job, job_id)
            job.status = status
            session.add(job)
    move_job(ids[5], "up")  # one place: the queue now runs job 2, then 5, then 4
    assert len(list_jobs()) == 6
    frame, choices = jobs_table(Caller(name=None, can_write=True, sees_everyone=True))
    expected = [ids[3], ids[2], ids[5], ids[4], ids[1], ids[0]]
    assert [int(value) for value in frame["id"]] == expected
    assert [int(value) for _, value in choices] == expected
