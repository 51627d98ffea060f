"""Sweeps: grid expansion and its one-sentence refusals, the group in the queue, the best child, group cancel / delete,
Optuna's next trials (surviving a restart), the CLI and the API, and a real 3-learning-rate sweep on the tiny Llama."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col

from jobs.data.split import DataFile, RecordedSplit, read_split, write_split
from jobs.errors import AdaptaError, SpecError
from jobs.evaluation.report import EvalReport, MetricRow, read_report, write_report
from jobs.metrics import MetricsSink, metric_series
from jobs.queue import InvalidTransition, JobNotFound, get_job, list_jobs
from jobs.queue.sweep import STOPPED_FILE, _seen, advance_sweeps, cancel_group, delete_group, group_of, submit_sweep
from jobs.queue.sweep_plan import MAX_CHILDREN, read_sweep
from jobs.queue.sweep_ranking import group_labels, rank_group, sweeps_root
from storage.db import session_scope
from storage.tables import Job, JobStatus
from tests.finished_jobs import FinishedJobs

LEARNING_RATES = [1.0e-4, 3.0e-3, 3.0e-2]


@pytest.fixture
def qa(tmp_path: Path) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps({"question": f"What is item {i}?", "answer": f"Item {i} is number {i}."}) + "\n" for i in range(16)))
    return path


def base(model: Path | str, data: Path, **training: object) -> dict:
    return {"base_model": str(model), "data": {"train": str(data)}, "training": {"max_steps": 2, "batch_size": 2, **training}}


def set_status(job_id: int, status: JobStatus) -> None:
    with session_scope() as session:
        session.exec(update(Job).where(col(Job.id) == job_id).values(status=status))


def finish_with_report(job_id: int, value: float, higher_is_better: bool = True, name: str = "exact_match") -> None:
    run_dir = Path(get_job(job_id).run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_report(EvalReport(task="causal-lm", main_metric=name, metrics=[
        MetricRow("chrf", "chrF", 10.0, 20.0, True), MetricRow(name, name.replace("_", " "), 0.0, value, higher_is_better)],
        split={"file": "split.json", "rows_fingerprint": "same-rows"}), run_dir)
    set_status(job_id, JobStatus.SUCCEEDED)


def record_split(job_id: int) -> None:
    """The split.json of a child that has an eval loss but no report (the same rows for every child)."""
    write_split(Path(get_job(job_id).run_dir), RecordedSplit(unit="row", files=[DataFile("train", "qa.jsonl", "0" * 64)], rule="test",
                                                             share=0.2, seed=0, automatic=False, train=[1, 2, 3], held=[4], held_file="train"))


# ---- grid expansion and its refusals --------------------------------------------------------------------------

def test_grid_expands_every_combination_as_a_valid_named_child(qa: Path, tiny_llama: Path) -> None:
    plan = read_sweep({**base(tiny_llama, qa, learning_rate=[1.0e-4, 3.0e-4, 1.0e-3]), "name": "planets", "lora": {"r": [8, 16]}})
    assert plan.kind == "grid" and plan.name == "planets sweep"
    assert len(plan.children) == 6
    assert [(spec.training.learning_rate, spec.lora.r) for _, spec in plan.children] == [
        (1.0e-4, 8), (1.0e-4, 16), (3.0e-4, 8), (3.0e-4, 16), (1.0e-3, 8), (1.0e-3, 16)]
    assert plan.children[3][1].name == "planets sweep [learning_rate=0.0003, r=16]"
    assert all(spec.training.max_steps == 2 for _, spec in plan.children)  # the rest of the spec is shared
    assert read_sweep(base(tiny_llama, qa)) is None  # a spec of one job
    assert read_sweep({**base(tiny_llama, qa), "lora": {"target_modules": ["q_proj", "v_proj"]}}) is None  # a list-valued field is no sweep


@pytest.mark.parametrize(("change", "expected"), [
    ({"data": {"train": ["a.jsonl", "b.jsonl"]}}, "data.train cannot be swept"),
    ({"method": ["lora", "full"]}, "method cannot be swept"),
    ({"training": {"learning_rate": [0.1, 2.0]}}, "the sweep's setting learning_rate=2 gives an invalid job: training.learning_rate must be at most 1"),
    ({"training": {"learning_rate": [1e-4, 2e-4, 3e-4, 4e-4, 5e-4, 6e-4], "batch_size": [1, 2, 3, 4, 5, 6]}},
     f"this sweep makes 36 combinations (6 × 6); a sweep may queue at most {MAX_CHILDREN} jobs"),
    ({"lora": {"r": []}}, "lora.r lists no values"),
    ({"lora": {"r": [8, 8]}}, "lora.r lists the same value twice"),
    ({"sweep": {"trials": 3, "search": {"data.train": ["a", "b"]}}}, "sweep.search names 'data.train', which cannot be swept"),
    ({"sweep": {"trials": 100, "search": {"lora.r": [4, 8]}}}, f"sweep.trials must be at most {MAX_CHILDREN}"),
    ({"sweep": {"trials": 3, "search": {"training.learning_rate": {"low": 0.1, "high": 0.01}}}}, "needs low below high"),
    ({"sweep": {"trials": 3, "search": {"training.scheduler": {"low": 0.1, "high": 0.2}}}}, "gives a range for training.scheduler"),
    ({"sweep": {"trials": 3, "search": {"lora.r": [4, 5000]}}}, "the sweep's setting r=5000 gives an invalid job: lora.r must be at most 1024"),
    ({"lora": {"r": [4, 8]}, "sweep": {"trials": 3, "search": {"lora.alpha": [8, 16]}}}, "put the choices in sweep.search"),
])
def test_each_sweep_problem_is_one_sentence(qa: Path, change: dict, expected: str) -> None:
    spec = {**base("org/model", qa), **{key: value for key, value in change.items() if key != "training"}}
    spec["training"].update(change.get("training", {}))
    with pytest.raises(SpecError) as raised:
        read_sweep(spec)
    assert len(raised.value.problems) == 1
    assert expected in str(raised.value)


def test_a_problem_outside_the_swept_settings_is_reported_as_it_is(qa: Path) -> None:
    with pytest.raises(SpecError, match="^training.batch_size must be at least 1"):
        read_sweep({**base("org/model", qa, batch_size=0), "lora": {"r": [4, 8]}})


# ---- the group in the queue -----------------------------------------------------------------------------------

def test_grid_children_form_one_group_and_the_best_follows_the_main_metric(qa: Path, tiny_llama: Path) -> None:
    ids = submit_sweep(read_sweep(base(tiny_llama, qa, learning_rate=LEARNING_RATES)), owner="alice")
    jobs = [get_job(job_id) for job_id in ids]
    assert len({job.group_id for job in jobs}) == 1 and jobs[0].group_id.startswith("sweep-")
    assert {job.owner for job in jobs} == {"alice"} and [json.loads(job.spec_json)["training"]["learning_rate"] for job in jobs] == LEARNING_RATES
    assert set(group_labels(list_jobs())) == set(ids) and len(set(group_labels(list_jobs()).values())) == 1
    assert rank_group(jobs).best is None  # nothing finished yet
    for job_id, value in zip(ids, [0.25, 0.75, 0.5], strict=True):
        finish_with_report(job_id, value)
    ranking = rank_group([get_job(job_id) for job_id in ids])
    assert ranking.best == ids[1] and ranking.metric == "exact_match"
    labels = group_labels(list_jobs())
    assert labels[ids[1]].startswith("★ ") and not labels[ids[0]].startswith("★") and not labels[ids[2]].startswith("★")
    assert "best: #" + str(ids[1]) in ranking.summary() and "3 succeeded" in ranking.summary()


def test_lower_is_better_and_eval_loss_fallback_pick_the_lowest(qa: Path, tiny_llama: Path) -> None:
    ids = submit_sweep(read_sweep(base(tiny_llama, qa, learning_rate=LEARNING_RATES)))
    for job_id, value in zip(ids, [1.5, 0.9, 1.2], strict=True):
        finish_with_report(job_id, value, higher_is_better=False, name="answer_loss")
    assert rank_group([get_job(job_id) for job_id in ids]).best == ids[1]
    again = submit_sweep(read_sweep(base(tiny_llama, qa, learning_rate=LEARNING_RATES)))
    for job_id, value in zip(again, [0.7, 0.8, 0.6], strict=True):  # no reports: the last eval loss ranks them
        MetricsSink(Path(get_job(job_id).run_dir) / "metrics.jsonl", job_id).record(2, {"eval_loss": value})
        record_split(job_id)
        set_status(job_id, JobStatus.SUCCEEDED)
    ranking = rank_group([get_job(job_id) for job_id in again])
    assert ranking.best == again[2] and ranking.metric == "eval_loss"


def test_cancel_and_delete_act_on_the_whole_group_of_the_owner_only(qa: Path, tiny_llama: Path) -> None:
    ids = submit_sweep(read_sweep(base(tiny_llama, qa, learning_rate=LEARNING_RATES)), owner="alice")
    loner = submit_sweep(read_sweep(base(tiny_llama, qa, learning_rate=[1e-4, 2e-4])), owner="alice")
    group = group_of(ids[0], "alice")
    with pytest.raises(JobNotFound):
        group_of(ids[0], "bob")
    with pytest.raises(AdaptaError, match="there is no sweep"):
        cancel_group(group, "bob")
    set_status(ids[0], JobStatus.RUNNING)
    assert cancel_group(group, "alice") == ids
    statuses = [get_job(job_id) for job_id in ids]
    assert [job.status for job in statuses[1:]] == [JobStatus.CANCELLED, JobStatus.CANCELLED]
    assert statuses[0].status is JobStatus.RUNNING and statuses[0].cancel_requested  # its worker stops it
    assert {get_job(job_id).status for job_id in loner} == {JobStatus.QUEUED}  # another group is untouched
    with pytest.raises(InvalidTransition, match=f"jobs {ids[0]} of this sweep are running; cancel the group first"):
        delete_group(group, "alice")
    assert len(list_jobs()) == 5  # nothing deleted
    set_status(ids[0], JobStatus.CANCELLED)
    assert delete_group(group, "alice") == ids
    assert [job.id for job in list_jobs()] == sorted(loner, reverse=True)


def test_the_jobs_tab_shows_the_group_and_its_actions_act_on_all_of_it(qa: Path, tiny_llama: Path) -> None:
    from webui.access import LOCAL_CALLER
    from webui.jobs_tab import act, jobs_table

    ids = submit_sweep(read_sweep({**base(tiny_llama, qa, learning_rate=LEARNING_RATES), "name": "planets"}))
    finish_with_report(ids[2], 0.5)
    frame, _ = jobs_table(LOCAL_CALLER)
    assert dict(zip(frame["id"], frame["group"], strict=True)) == {ids[0]: "planets sweep", ids[1]: "planets sweep", ids[2]: "★ planets sweep"}
    assert act("cancel_group", str(ids[1]), "en", LOCAL_CALLER) == f"✅ Cancel requested for the 2 unfinished jobs of the sweep of job {ids[1]}"
    assert [get_job(job_id).status for job_id in ids] == [JobStatus.CANCELLED, JobStatus.CANCELLED, JobStatus.SUCCEEDED]
    assert act("delete_group", str(ids[0]), "pt-BR", LOCAL_CALLER) == f"✅ As 3 tarefas da varredura da tarefa {ids[0]} foram excluídas"
    assert list_jobs() == []


def test_a_job_of_its_own_has_no_group_actions(qa: Path, tiny_llama: Path) -> None:
    from jobs.queue import submit_job

    job_id = submit_job(base(tiny_llama, qa))
    with pytest.raises(AdaptaError, match=f"job {job_id} is not part of a sweep"):
        group_of(job_id)


def test_an_older_database_gets_the_group_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from storage.db import get_engine, reset_engines

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE job (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, owner VARCHAR NOT NULL DEFAULT 'local', "
                           "status VARCHAR NOT NULL, task VARCHAR NOT NULL, method VARCHAR NOT NULL, base_model VARCHAR NOT NULL, "
                           "spec_json VARCHAR NOT NULL, priority INTEGER NOT NULL DEFAULT 0)")
        connection.execute("INSERT INTO job (name, status, task, method, base_model, spec_json) VALUES ('old', 'SUCCEEDED', 'causal-lm', "
                           "'lora', 'm', '{}')")
    monkeypatch.setenv("ADAPTA_DB_URL", f"sqlite:///{path}")
    reset_engines()
    get_engine()
    with sqlite3.connect(path) as connection:
        columns = {row[1] for row in connection.execute("PRAGMA table_info(job)")}
        indexes = {row[1] for row in connection.execute("PRAGMA index_list(job)")}
        assert connection.execute("SELECT name, group_id, group_name FROM job").fetchall() == [("old", None, None)]
    assert {"group_id", "group_name"} <= columns and "ix_job_group_id" in indexes


# ---- Optuna -----------------------------------------------------------------------------------------------------

def test_optuna_asks_the_next_trials_when_earlier_ones_finish_and_survives_a_restart(qa: Path, tiny_llama: Path) -> None:
    import optuna

    spec = {**base(tiny_llama, qa), "sweep": {"trials": 4, "parallel": 2, "seed": 3, "search": {
        "training.learning_rate": {"low": 1.0e-5, "high": 1.0e-3, "log": True}, "lora.r": [4, 8, 16]}}}
    first = submit_sweep(read_sweep(spec), owner="alice")
    assert len(first) == 2
    group = get_job(first[0]).group_id
    assert advance_sweeps() == []  # nothing finished: nothing to ask
    finish_with_report(first[0], 0.4)
    _seen.clear()  # a restart forgets what it saw; the study on disk remembers what it asked
    second = advance_sweeps()
    assert len(second) == 1 and advance_sweeps() == []
    set_status(first[1], JobStatus.FAILED)
    third = advance_sweeps()
    assert len(third) == 1
    children = [get_job(job_id) for job_id in [*first, *second, *third]]
    assert {job.group_id for job in children} == {group} and {job.owner for job in children} == {"alice"}
    for job in children:
        settings = json.loads(job.spec_json)
        assert 1.0e-5 <= settings["training"]["learning_rate"] <= 1.0e-3 and settings["lora"]["r"] in (4, 8, 16)
        assert settings["training"]["max_steps"] == 2
    finish_with_report(second[0], 0.9)
    finish_with_report(third[0], 0.1)
    assert advance_sweeps() == []  # four trials asked: no fifth
    study = optuna.load_study(study_name=group, storage=f"sqlite:///{sweeps_root() / group / 'study.db'}")
    assert sorted(trial.state.name for trial in study.trials) == ["COMPLETE", "COMPLETE", "COMPLETE", "FAIL"]
    assert study.best_trial.user_attrs["job_id"] == second[0] and study.best_value == pytest.approx(-0.9)  # exact match: higher is better
    assert (sweeps_root() / group / STOPPED_FILE).exists()
    assert rank_group([get_job(int(job.id)) for job in children]).best == second[0]


def test_the_worker_advances_sweeps_between_jobs(qa: Path, tiny_llama: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jobs.queue.worker import Worker, WorkerConfig

    first = submit_sweep(read_sweep({**base(tiny_llama, qa), "sweep": {"trials": 2, "parallel": 1, "search": {"lora.r": [4, 8]}}}))
    set_status(first[0], JobStatus.CANCELLED)
    claimed: list[int] = []
    monkeypatch.setattr(Worker, "_run", lambda self, job, leased_at: claimed.append(job.id))
    assert Worker(WorkerConfig(gpus=None)).run_once() is True  # it asked Optuna for the second trial before it claimed
    assert len(claimed) == 1 and get_job(claimed[0]).group_id == get_job(first[0]).group_id and claimed[0] != first[0]


def test_cancelling_an_optuna_group_queues_no_more_trials(qa: Path, tiny_llama: Path) -> None:
    first = submit_sweep(read_sweep({**base(tiny_llama, qa), "sweep": {"trials": 6, "parallel": 1, "search": {"lora.r": [4, 8]}}}))
    assert cancel_group(get_job(first[0]).group_id) == first
    assert advance_sweeps() == [] and len(list_jobs()) == 1


# ---- entry points -----------------------------------------------------------------------------------------------

def test_launch_submit_queues_a_sweep_and_prints_the_child_ids(qa: Path, tiny_llama: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import launch

    path = tmp_path / "sweep.yaml"
    path.write_text(f"base_model: {tiny_llama}\ndata: {{train: {qa}}}\ntraining: {{max_steps: 2, learning_rate: [1.0e-4, 3.0e-4, 1.0e-3]}}\n")
    assert launch.main(["submit", str(path)]) == 0
    captured = capsys.readouterr()
    ids = [int(line) for line in captured.out.split()]
    assert len(ids) == 3 and "grid sweep" in captured.err and len({get_job(job_id).group_id for job_id in ids}) == 1
    path.write_text(f"base_model: {tiny_llama}\ndata: {{train: {qa}}}\ntraining: {{learning_rate: [1.0e-4, 5.0]}}\n")
    assert launch.main(["submit", str(path)]) == 2
    assert "error: the sweep's setting learning_rate=5 gives an invalid job" in capsys.readouterr().err


def test_the_api_queues_a_sweep_for_its_caller_and_returns_the_first_child(qa: Path, tiny_llama: Path) -> None:
    from webui.access import ANONYMOUS, Caller, NotAllowed
    from webui.api import list_jobs_action, submit_action
    from webui.api_data import store_upload

    carol = Caller(name="carol", can_write=True)
    text = f"base_model: {tiny_llama}\ndata: {{train: {qa}}}\ntraining: {{max_steps: 2}}\nlora: {{r: [4, 8]}}\n"
    with pytest.raises(AdaptaError, match="is not one of your uploads"):  # every child passes the caller's checks
        submit_action(text, carol)
    assert list_jobs() == []
    first = submit_action(text.replace(str(qa), str(store_upload(str(qa), carol))), carol)
    rows = list_jobs_action(Caller(name="carol", can_write=True))
    assert [row["id"] for row in rows] == [first + 1, first]
    assert {row["group_id"] for row in rows} == {get_job(first).group_id} and rows[0]["group_name"] == rows[1]["group_name"]
    assert rows[0]["group_name"].endswith(" sweep") and {get_job(row["id"]).owner for row in rows} == {"carol"}
    assert list_jobs_action(Caller(name="dave", can_write=True)) == []
    with pytest.raises(NotAllowed):
        submit_action(text, ANONYMOUS)


# ---- a real sweep ------------------------------------------------------------------------------------------------

def test_a_real_sweep_of_three_learning_rates_runs_and_marks_the_best(finished_sweep: FinishedJobs, monkeypatch: pytest.MonkeyPatch) -> None:
    finished_sweep.enter(monkeypatch)  # run by the real worker once per session (tests/finished_jobs.py); the compare view's test reads it too
    jobs = [get_job(job_id) for job_id in finished_sweep.ids]
    assert [json.loads(job.spec_json)["training"]["learning_rate"] for job in jobs] == LEARNING_RATES
    assert [job.status for job in jobs] == [JobStatus.SUCCEEDED] * 3, [job.error for job in jobs]
    values = {}
    for job in jobs:
        report = read_report(job.run_dir)
        row = report.main() if report is not None and not report.skipped else None
        values[job.id] = (row.adapted, row.higher_is_better) if row is not None else (metric_series(int(job.id), "eval_loss")[-1][1], False)
    higher = next(iter(values.values()))[1]
    expected = (max if higher else min)(values, key=lambda job_id: values[job_id][0])
    assert rank_group(jobs).best == expected
    assert group_labels(jobs)[expected].startswith("★ ")
    splits = [read_split(job.run_dir) for job in jobs]  # every child recorded its split: the same held-out rows for all three
    assert all(split is not None for split in splits) and len({split.fingerprint for split in splits}) == 1
    assert {read_report(job.run_dir).split["rows_fingerprint"] for job in jobs} != {None} and not rank_group(jobs).unranked
