"""The evaluation step at the end of every job: the base model and the adapted model scored on the same held-out rows.

``evaluate_run(spec, run_dir, outcome, sink)`` picks the task's evaluator (:func:`get_evaluator`), records the job's
``evaluating`` phase, and writes ``runs/<job>/eval_report.json`` (see :mod:`jobs.evaluation.report`). Its cost is bounded
by ``spec.evaluation`` (a row cap, a token cap). An evaluator that cannot measure anything returns a report whose
``skipped`` says why; an error inside an evaluator never fails a job that trained well: the report says what went wrong
instead. Every evaluator scores only the held-out rows the run recorded in ``runs/<job>/split.json``
(:func:`jobs.data.split.split_for_report`); a run without it ("split not recorded") or whose data changed since is not scored,
and the report says so. Heavy: it imports every evaluator (so torch); only the training process imports it, through :mod:`jobs.queue.run`.

    report = evaluate_run(spec, run_dir, outcome, sink)
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobs.data.doctor_notes import data_check_line, read_data_check
from jobs.data.split import SplitUnusable
from jobs.evaluation.images import evaluate_text_to_image
from jobs.evaluation.preference import evaluate_objective_job
from jobs.evaluation.report import EvalReport, write_report
from jobs.evaluation.retrieval import evaluate_retrieval_job
from jobs.evaluation.text import evaluate_text_job
from jobs.spec import JobSpec, Objective, Task

Evaluator = Callable[..., EvalReport]


def get_evaluator(task: Task, objective: Objective = Objective.SFT) -> Evaluator | None:
    """The evaluator of a task and objective, or None."""
    if task is Task.CAUSAL_LM and objective is not Objective.SFT:
        return evaluate_objective_job
    if task in (Task.CAUSAL_LM, Task.TEXT_CLASSIFICATION):
        return evaluate_text_job
    if task is Task.TEXT_TO_IMAGE:
        return evaluate_text_to_image
    if task is Task.SENTENCE_EMBEDDING:
        return evaluate_retrieval_job
    return None


def evaluate_run(spec: JobSpec, run_dir: Path, outcome: Any, sink: Any) -> EvalReport:
    """Score base and adapted model for ``spec`` (trained into ``outcome.output_folder``) and write the report."""
    started = time.perf_counter()
    if not spec.evaluation.enabled:
        report = EvalReport(task=spec.task.value, skipped="evaluation.enabled is off in the spec.")
    elif getattr(outcome, "stopped_early", False):
        report = EvalReport(task=spec.task.value, skipped="the job was stopped before it finished training.")
    else:
        evaluator = get_evaluator(spec.task, spec.objective)
        if evaluator is None:
            report = EvalReport(task=spec.task.value, skipped=f"there is no evaluator for task {spec.task.value} yet.")
        else:
            sink.record_phase("evaluating")
            try:
                report = evaluator(spec, run_dir, outcome, sink)
            except SplitUnusable as error:  # no split.json, or the data changed since training: say so instead of scoring
                report = EvalReport(task=spec.task.value, skipped=str(error))
            except Exception as error:  # noqa: BLE001 - the model trained; the report says what went wrong instead
                (Path(run_dir) / "eval_error.txt").write_text(traceback.format_exc(), encoding="utf-8")
                report = EvalReport(task=spec.task.value, skipped=f"the evaluation failed ({type(error).__name__}: {error}); "
                                                                  f"details in eval_error.txt of the run folder.")
    report.seconds = report.seconds or time.perf_counter() - started
    report.data_check = data_check_line(read_data_check(run_dir))  # what the data check before training found and fixed
    write_report(report, run_dir)
    return report
