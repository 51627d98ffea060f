"""The before/after report of every job: tiny models trained for real, scored base vs adapted on held-out rows."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from jobs.evaluation.report import REPORT_FILE, EvalReport, ExampleScore, MetricRow, change_of, read_report, report_markdown, write_report
from jobs.evaluation.text import normalize_answer, split_prompt_and_answer, text_similarity
from jobs.queue.run import execute_run
from jobs.spec import parse_spec
from tests.jobs.trainers.test_train_text import INSTRUCTIONS, make_spec, write_jsonl

PARAPHRASES = [{"question": row["question"].replace("What colour is the sky on planet", "Tell me the colour of the sky of"),
                "answer": row["answer"]} for row in INSTRUCTIONS]
"""The training facts asked in other words: held-out rows that are not copies of training rows."""


class RecordingSink:
    """Collects the phases a run reports (stands in for MetricsSink where only the phase matters)."""

    def __init__(self) -> None:
        self.phases: list[tuple[str, int | None, int | None]] = []

    def record_phase(self, phase: str, done: int | None = None, total: int | None = None, rate: float | None = None) -> None:
        self.phases.append((phase, done, total))


def test_report_round_trips_and_ranks_wins_and_losses(tmp_path: Path) -> None:
    examples = [ExampleScore(row=i, input=f"q{i}", reference="r", base_output="b", adapted_output="a", base_score=0.5,
                             adapted_score=0.5 + delta, change=change_of(0.5, 0.5 + delta)) for i, delta in enumerate([0.4, -0.2, 0.0, 0.1, -0.3])]
    report = EvalReport(task="causal-lm", measured_on="5 rows", main_metric="rouge_l", examples=examples,
                        metrics=[MetricRow("answer_loss", "Answer loss", 2.0, 1.0, False), MetricRow("rouge_l", "ROUGE-L F1", 0.2, float("nan"), True)])
    write_report(report, tmp_path)
    json.loads((tmp_path / REPORT_FILE).read_text())  # strict JSON: NaN became null
    loaded = read_report(tmp_path)
    assert loaded is not None and loaded.metric("rouge_l").adapted is None
    assert loaded.flips == {"better": 2, "worse": 2, "same": 1}
    wins, losses = loaded.biggest_changes(1)
    assert [e.row for e in wins] == [0] and [e.row for e in losses] == [4]
    assert loaded.metric("answer_loss").improved is True and loaded.main().name == "rouge_l"
    text = report_markdown(loaded)
    assert "| Answer loss | 2.000 | 1.000 | -1.000 ✓ |" in text and "Biggest losses" in text
    assert read_report(tmp_path / "missing") is None


def test_answer_metrics_compare_with_the_reference() -> None:
    assert normalize_answer("The sky is  Teal!") == "the sky is teal"
    exact, rouge, chrf = text_similarity(["the sky is teal", "no idea"], ["The sky is teal.", "The sky is amber."])
    assert exact == [1.0, 0.0] and rouge[0] == pytest.approx(1.0) and rouge[1] < 0.3 and 0 < chrf < 100
    assert split_prompt_and_answer({"input_ids": [1, 2, 3, 4, 5, 6], "labels": [-100, -100, 3, 4, -100, 6]}) == ([1, 2], [3, 4])


def test_causal_lm_job_writes_a_report_where_the_adapter_beats_the_base(tmp_path: Path, tiny_llama: Path) -> None:
    raw = make_spec(tmp_path, tiny_llama, "causal-lm", "lora", max_steps=40)
    # three training rows (removed from scoring: the report never scores what was trained on) and the facts asked in other words
    raw["data"]["validation"] = str(write_jsonl(tmp_path / "validation.jsonl", INSTRUCTIONS[:3] + PARAPHRASES[:4]))
    raw["evaluation"] = {"max_rows": 3, "max_new_tokens": 12}
    summary = execute_run(parse_spec(raw), tmp_path / "run")
    report = read_report(tmp_path / "run")
    assert report is not None and report.skipped is None, report
    assert report.measured_on.startswith("4 held-out rows of validation.jsonl, recorded in split.json (the validation file")
    assert "; the first 3 of 4 scored (evaluation.max_rows); rows 4, 5, 6; 3 validation rows also appear in training" in report.measured_on
    assert {row.name for row in report.metrics} == {"answer_loss", "perplexity", "exact_match", "rouge_l", "chrf"}
    loss = report.metric("answer_loss")
    assert loss.adapted < 0.8 * loss.base and loss.improved, loss  # answer quality is the real-model tests' job (tests/jobs/trainers/test_real_models.py)
    assert report.metric("perplexity").adapted == pytest.approx(math.exp(loss.adapted), rel=1e-6)
    assert len(report.examples) == 3 and [e.row for e in report.examples] == [4, 5, 6]
    assert report.examples[0].reference == "The sky on Zor is teal."
    assert report.examples[0].input == PARAPHRASES[0]["question"]  # the row's prompt, not the chat template around it
    assert summary["report"]["metric"] == "rouge_l" and summary["report"]["adapted"] == report.metric("rouge_l").adapted
    card = (tmp_path / "run" / "adapter" / "README.md").read_text()
    assert "### Before and after adaptation" in card and "| Answer loss |" in card


def test_classification_report_uses_the_majority_baseline(tmp_path: Path, tiny_bert: Path) -> None:
    raw = make_spec(tmp_path, tiny_bert, "text-classification", "lora", max_steps=30)
    held = [{"text": text, "label": label} for text, label in [  # the training words in new rows (a training row would not be scored)
        ("good wonderful", "positive"), ("love great", "positive"), ("wonderful love", "positive"), ("great good", "positive"),
        ("awful terrible", "negative"), ("hate bad", "negative")]]
    raw["data"]["validation"] = str(write_jsonl(tmp_path / "validation.jsonl", held))
    execute_run(parse_spec(raw), tmp_path / "run")
    report = read_report(tmp_path / "run")
    assert report.base_label == "majority-class baseline" and report.main_metric == "macro_f1"
    accuracy = report.metric("accuracy")
    assert accuracy.base == pytest.approx(4 / 6) or accuracy.base == pytest.approx(2 / 6)  # always one class: its share
    assert accuracy.adapted in {k / 6 for k in range(7)}
    assert [e.reference for e in report.examples] == [row["label"] for row in held]
    assert all(e.base_output == report.extra["majority_label"] for e in report.examples)
    matrix = report.extra["confusion_matrix"]
    assert report.extra["labels"] == ["negative", "positive"]
    assert sum(map(sum, matrix["adapted"])) == 6 and min(map(sum, zip(*matrix["base"], strict=True))) == 0


def test_without_validation_a_large_set_is_held_out_and_a_small_one_explained(tmp_path: Path, tiny_llama: Path) -> None:
    names = [f"P{number}" for number in range(60)]
    rows = [{"question": f"What colour is the sky on {name}?", "answer": f"The sky on {name} is teal."} for name in names]
    raw = make_spec(tmp_path, tiny_llama, "causal-lm", "lora", max_steps=2)
    raw["data"]["train"] = str(write_jsonl(tmp_path / "big.jsonl", rows))
    raw["evaluation"] = {"holdout": 0.1, "max_rows": 2, "max_new_tokens": 4}
    summary = execute_run(parse_spec(raw), tmp_path / "big")
    assert summary["train_examples"] == 54 and summary["eval_examples"] == 6
    report = read_report(tmp_path / "big")
    assert report.measured_on.startswith("6 held-out rows of big.jsonl, recorded in split.json (evaluation.holdout 0.1 (data.validation "
                                          "is empty): 6 of the 60 groups of identical rows of the training file picked by data.split_seed 0)")
    assert any("held out automatically" in warning for warning in summary["warnings"])

    small = make_spec(tmp_path, tiny_llama, "causal-lm", "lora", max_steps=2)
    execute_run(parse_spec(small), tmp_path / "small")
    skipped = read_report(tmp_path / "small").skipped
    assert "6 usable rows are fewer than the 50" in skipped and "data.validation" in skipped

    off = make_spec(tmp_path, tiny_llama, "causal-lm", "lora", max_steps=2)
    off["data"]["train"] = raw["data"]["train"]
    off["evaluation"] = {"enabled": False}
    summary = execute_run(parse_spec(off), tmp_path / "off")
    assert summary["train_examples"] == 60 and read_report(tmp_path / "off").skipped.startswith("evaluation.enabled is off")


def test_evaluation_phase_is_recorded_and_bounded(tmp_path: Path, tiny_llama: Path) -> None:
    from jobs.evaluation.registry import evaluate_run
    from jobs.inference.text import open_run  # noqa: F401 - the evaluator's loader must exist

    raw = make_spec(tmp_path, tiny_llama, "causal-lm", "lora", max_steps=2)
    raw["data"]["validation"] = str(write_jsonl(tmp_path / "validation.jsonl", PARAPHRASES))
    raw["evaluation"] = {"max_rows": 2, "max_new_tokens": 3}
    spec = parse_spec(raw)
    summary = execute_run(spec, tmp_path / "run")
    sink = RecordingSink()

    class Outcome:
        stopped_early = False

    report = evaluate_run(spec, tmp_path / "run", Outcome(), sink)
    assert len(report.examples) == 2 and summary["report"]["metric"] == "rouge_l"
    phases = [phase for phase in sink.phases if phase[0] == "evaluating"]
    assert phases[-1][1] == phases[-1][2] == 8  # 2 rows: 2 losses + 2 answers, for both models
    assert "cut at 3 tokens" in " ".join(report.notes)


def test_the_evaluating_phase_reads_as_progress() -> None:
    from jobs.queue import phase_text
    from storage.tables import Job, JobStatus

    job = Job(name="x", task="causal-lm", method="lora", base_model="m", spec_json="{}", status=JobStatus.RUNNING,
              phase="evaluating", phase_done=12, phase_total=48)
    assert phase_text(job) == "evaluating the base and the adapted model on held-out rows: 12 of 48 scored (25%)"
    job.status = JobStatus.SUCCEEDED
    assert phase_text(job) == ""
