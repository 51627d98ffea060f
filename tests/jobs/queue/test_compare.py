"""Run comparison: flattened specs, the differing settings flagged, the before → after metrics, one CSV row per job,
the best of a sweep starred, and every read scoped to the caller's owner (function level and through the Jobs tab's view)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import update
from sqlmodel import col

from jobs.evaluation.report import EvalReport, MetricRow, write_report
from jobs.metrics import MetricsSink
from jobs.queue import JobNotFound, get_job, submit_job
from jobs.queue.compare import DIFFERS, Comparison, differing_keys, flatten_spec, load_runs, setting_text
from jobs.queue.sweep import submit_sweep
from jobs.queue.sweep_plan import read_sweep
from storage.db import session_scope
from storage.tables import Job, JobStatus


@pytest.fixture
def qa(tmp_path: Path) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps({"question": f"Q{i}?", "answer": f"A{i}."}) + "\n" for i in range(8)))
    return path


def finish(job_id: int, exact_match: float, losses: list[float], rows: str | None = "0123456789abcdef") -> None:
    """A succeeded job with a report (answer loss and exact match, measured on the held-out rows ``rows``) and a loss curve."""
    run_dir = Path(get_job(job_id).run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_report(EvalReport(task="causal-lm", main_metric="exact_match", measured_on="4 held-out rows", metrics=[
        MetricRow("answer_loss", "Answer loss", 2.5, losses[-1], False), MetricRow("exact_match", "Exact match", 0.0, exact_match, True)],
        split={"file": "split.json", "rows_fingerprint": rows} if rows else {}), run_dir)
    sink = MetricsSink(run_dir / "metrics.jsonl", job_id)
    for step, loss in enumerate(losses, start=1):
        sink.record(step, {"loss": loss})
    with session_scope() as session:
        session.exec(update(Job).where(col(Job.id) == job_id).values(status=JobStatus.SUCCEEDED))


@pytest.fixture
def three_runs(qa: Path, tiny_llama: Path) -> list[int]:
    """A sweep of two learning rates (alice's) and one job of its own with another rank; all finished."""
    spec = {"base_model": str(tiny_llama), "data": {"train": str(qa)}, "training": {"max_steps": 3, "learning_rate": [1.0e-4, 3.0e-3]}}
    ids = submit_sweep(read_sweep(spec), owner="alice")
    ids.append(submit_job({**spec, "training": {"max_steps": 3, "learning_rate": 1.0e-4}, "lora": {"r": 16}}, owner="alice"))
    for job_id, exact, losses in zip(ids, [0.25, 0.5, 0.75], [[2.0, 1.5, 1.2], [2.0, 1.0, 0.8], [2.1, 1.9, 1.7]], strict=True):
        finish(job_id, exact, losses)
    return ids


def test_flatten_and_differing_keys() -> None:
    flat = flatten_spec({"name": "x", "training": {"learning_rate": 3e-4, "seed": 1}, "lora": {"target_modules": ["q_proj", "v_proj"]},
                         "data": {"columns": {"prompt": "question"}, "validation": None}})
    assert flat == {"training.learning_rate": 3e-4, "training.seed": 1, "lora.target_modules": ["q_proj", "v_proj"],
                    "data.columns.prompt": "question", "data.validation": None}
    assert setting_text(3e-4) == "0.0003" and setting_text(["q_proj", "v_proj"]) == "q_proj, v_proj" and setting_text(None) == ""
    assert differing_keys([{"a": 1, "b": 2.0, "c": True}, {"a": 1, "b": 3.0, "c": True}, {"a": 1, "b": 2.0}]) == ["b", "c"]
    assert differing_keys([{"a": 1}, {"a": 1.0}]) == []  # the same number written two ways


def test_table_flags_the_differing_settings_and_shows_before_and_after(three_runs: list[int]) -> None:
    comparison = Comparison(load_runs(three_runs, owner="alice"))
    assert comparison.differing == ["training.learning_rate", "lora.r"]
    header, rows = comparison.table()
    assert header[0] == "setting" and header[2].startswith(f"★ #{three_runs[1]} ")  # the better child of the sweep
    assert not header[1].startswith("★") and not header[3].startswith("★")  # a job of its own is never "best in group"
    by_name = {row[0]: row[1:] for row in rows}
    assert by_name[f"{DIFFERS}training.learning_rate"] == ["0.0001", "0.003", "0.0001"]
    assert by_name[f"{DIFFERS}lora.r"] == ["8", "8", "16"]
    assert by_name["Exact match (before → after)"] == ["0.0% → 25.0%", "0.0% → 50.0%", "0.0% → 75.0%"]
    assert by_name["Answer loss (before → after)"] == ["2.500 → 1.200", "2.500 → 0.800", "2.500 → 1.700"]
    assert by_name["last loss"] == ["1.2000", "0.8000", "1.7000"]
    assert not any(row[0] == "training.max_steps" for row in rows)  # shared settings only on request
    _, everything = comparison.table(only_differing=False)
    shared = {row[0]: row[1:] for row in everything}
    assert shared["training.max_steps"] == ["3", "3", "3"] and "name" not in shared
    assert sum(row[0].startswith(DIFFERS) for row in everything) == 2


def test_csv_has_one_row_per_job_with_settings_and_metrics(three_runs: list[int]) -> None:
    rows = list(csv.DictReader(io.StringIO(Comparison(load_runs(three_runs, owner="alice")).csv())))
    assert [int(row["job_id"]) for row in rows] == three_runs
    assert [float(row["training.learning_rate"]) for row in rows] == [1.0e-4, 3.0e-3, 1.0e-4]
    assert [row["lora.r"] for row in rows] == ["8", "8", "16"]
    assert [float(row["exact_match.after"]) for row in rows] == [0.25, 0.5, 0.75]
    assert [float(row["exact_match.change"]) for row in rows] == [0.25, 0.5, 0.75]
    assert [float(row["last_loss"]) for row in rows] == [1.2, 0.8, 1.7] and {row["last_eval_loss"] for row in rows} == {""}
    assert [row["best_in_group"] for row in rows] == ["", "yes", ""]
    assert rows[0]["group"] == rows[1]["group"] != "" and rows[2]["group"] == ""


def test_reports_on_other_held_out_rows_are_flagged_and_never_marked_best(three_runs: list[int]) -> None:
    from jobs.queue.sweep_ranking import rank_group

    same = Comparison(load_runs(three_runs, owner="alice"))
    assert same.rows_note() == "All 3 reports were measured on the same held-out rows (split.json fingerprint 0123456789)."
    finish(three_runs[1], 0.5, [2.0, 1.0, 0.8], rows="fedcba9876543210")  # the sweep's better child, scored on other rows
    finish(three_runs[2], 0.75, [2.1, 1.9, 1.7], rows=None)  # a report from before split.json
    comparison = Comparison(load_runs(three_runs, owner="alice"))
    note = comparison.rows_note()
    assert note.startswith("⚠️ These reports were not all measured on the same held-out rows") and "not comparable" in note
    assert f"#{three_runs[1]}: fedcba9876" in note and f"#{three_runs[2]}: not recorded" in note
    _, rows = comparison.table()
    assert [f"{DIFFERS}held-out rows (split.json)", "0123456789", "fedcba9876", "not recorded"] in rows
    ranking = rank_group([get_job(job_id) for job_id in three_runs[:2]])
    assert ranking.best == three_runs[0] and ranking.unranked == [three_runs[1]]
    assert f"not ranked: #{three_runs[1]} (measured on other held-out rows" in ranking.summary()


def test_another_owner_cannot_compare_these_jobs(three_runs: list[int]) -> None:
    with pytest.raises(JobNotFound):
        load_runs(three_runs, owner="mallory")
    assert len(load_runs(three_runs, owner=None)) == 3  # a single-user server sees every job


def test_the_compare_view_for_a_signed_in_caller(three_runs: list[int]) -> None:
    from webui import compare_view
    from webui.access import AccessMode, set_access_mode

    set_access_mode(AccessMode.ACCOUNTS)
    try:
        alice, mallory = SimpleNamespace(username="alice", headers={}), SimpleNamespace(username="mallory", headers={})
        summary, plot, styled, download = compare_view.compare([str(job_id) for job_id in three_runs], True, "loss", "en", alice)
        assert "**2** settings differ" in summary and "`training.learning_rate`" in summary
        assert "2 jobs (2 succeeded); best: #" + str(three_runs[1]) in summary
        assert sorted(set(plot["series"])) == sorted(f"{'★ ' if job_id == three_runs[1] else ''}#{job_id}" for job_id in three_runs)
        assert len(plot) == 9
        style = styled.to_html().split("</style>")[0]
        assert "background-color: #fef3c7" in style
        assert sorted(re.findall(r"_row(\d+)_col(\d+)", style)) == [(row, col) for row in "01" for col in "0123"]  # the 2 differing rows
        lines = Path(download["value"]).read_text(encoding="utf-8").splitlines()
        assert len(lines) == 4 and lines[0].startswith("job_id,name,status,group")
        assert str(Path(get_job(three_runs[0]).run_dir).parents[1]) not in Path(download["value"]).read_text()  # no server paths shown
        jobs, groups = compare_view.choices(compare_view.caller_of(alice))
        assert len(jobs) == 3 and len(groups) == 1 and groups[0][0].endswith("(2)")
        assert compare_view.pick_group(groups[0][1], alice)["value"] == [str(job_id) for job_id in three_runs[:2]]
        assert compare_view.pick_group(groups[0][1], mallory)["value"] == []
        assert compare_view.choices(compare_view.caller_of(mallory)) == ([], [])
        refused = compare_view.compare([str(job_id) for job_id in three_runs], True, "loss", "en", mallory)
        assert refused[0].startswith("⚠️ there is no job")
        assert compare_view.compare([str(three_runs[0])], True, "loss", "pt-BR", alice)[0] == "⚠️ Escolha duas ou mais tarefas para comparar."
    finally:
        set_access_mode(AccessMode.OPEN)
