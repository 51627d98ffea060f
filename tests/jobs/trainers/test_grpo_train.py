"""GRPO trains a tiny Llama end to end through ``execute_run`` with a reward built in the form: the reward rises, each term
becomes a metric row, sampled completions reach the job's log, the adapter loads with plain PEFT, and the before/after
report gives the mean reward per term on held-out prompts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from peft import PeftModel
from transformers import AutoModelForCausalLM

from jobs.errors import AdaptaError
from jobs.evaluation import read_report
from jobs.metrics import read_metrics_jsonl
from jobs.queue.run import execute_run
from jobs.spec import parse_spec

PLANETS = [("Zor", "teal"), ("Quel", "amber"), ("Bran", "violet"), ("Oxy", "crimson"), ("Tam", "silver"), ("Vesh", "indigo"),
           ("Mir", "olive"), ("Lo", "coral"), ("Kess", "golden"), ("Pava", "scarlet")]


def test_grpo_reward_rises_and_is_reported_per_term(tmp_path: Path, tiny_llama: Path, capfd: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"Say the colour of planet {name}.", "answer": colour}) + "\n" for name, colour in PLANETS))
    spec = parse_spec({
        "base_model": str(tiny_llama), "method": "lora", "objective": "grpo",
        "data": {"train": str(data), "validation": 0.2},
        "training": {"max_steps": 12, "learning_rate": 3e-2, "batch_size": 8, "max_length": 64, "warmup_ratio": 0.0,
                     "scheduler": "constant", "logging_steps": 1, "seed": 1},
        "grpo": {"num_generations": 8, "max_completion_length": 8,
                 "rewards": [{"kind": "contains", "pattern": "."}, {"kind": "exact_match", "weight": 0.5}]},
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"},
    })
    run_dir = tmp_path / "run"
    summary = execute_run(spec, run_dir)
    assert summary["global_step"] == 12 and summary["data"]["format"] == "prompts" and summary["train_examples"] == 8

    rows = [row for row in read_metrics_jsonl(run_dir / "metrics.jsonl") if "reward" in row]
    assert len(rows) == 12
    assert {"rewards/contains/mean", "rewards/exact_match/mean", "reward_std", "completions/mean_length"} <= set(rows[0])
    rewards = [row["reward"] for row in rows]
    assert sum(rewards[-4:]) / 4 > sum(rewards[:4]) / 4, f"the reward did not rise: {rewards}"
    assert "[grpo sample] completion:" in capfd.readouterr().out

    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama), run_dir / "adapter")
    report = read_report(run_dir)
    assert report.skipped is None, report.skipped
    assert report.main_metric == "reward" and len(report.examples) == 2
    assert [row.name for row in report.metrics] == ["reward", "reward/contains", "reward/exact_match"]
    assert all(row.base is not None and row.adapted is not None for row in report.metrics)
    assert report.examples[0].reference in dict(PLANETS).values()


def test_reward_preview_scores_the_base_models_answers(tmp_path: Path, tiny_llama: Path) -> None:
    from jobs.evaluation.reward_preview import preview_in_worker, preview_rewards

    data = tmp_path / "prompts.jsonl"
    rows = [{"prompt": "", "answer": "x"}] + [{"prompt": f"Say the colour of planet {name}.", "answer": colour} for name, colour in PLANETS]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    spec = parse_spec({"base_model": str(tiny_llama), "objective": "grpo", "data": {"train": str(data)}, "training": {"batch_size": 4},
                       "grpo": {"max_completion_length": 6, "rewards": [{"kind": "length", "target_length": 10},
                                                                         {"kind": "exact_match", "weight": 2}]}})
    preview = preview_rewards(spec)
    assert preview_in_worker(spec) == preview  # the web server's way: the same preview, from a process of its own
    assert [item.row for item in preview] == [2, 3, 4, 5, 6]  # row 1 has an empty prompt
    assert [item.answer for item in preview] == [colour for _, colour in PLANETS[:5]]
    for item in preview:
        assert set(item.scores) == {"length", "exact_match", "reward"}
        assert item.scores["length"] == max(0.0, 1 - abs(len(item.completion.strip()) - 10) / 10)
        assert item.scores["reward"] == item.scores["length"] + 2 * item.scores["exact_match"]
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"prompt": "", "answer": "x"}) + "\n")
    with pytest.raises(AdaptaError, match="prompt"):  # an error the user can fix comes back as its sentence
        preview_in_worker(spec.model_copy(update={"data": spec.data.model_copy(update={"train": str(empty)})}))


def test_grpo_sampled_completions_reach_the_jobs_log_through_the_worker(tmp_path: Path, tiny_llama: Path) -> None:
    """The job runs as the app runs it (queue, worker, child process): the Jobs tab's log panel (train.log) shows what the
    model wrote and how each term scored it."""
    from jobs.queue import get_job, submit_job
    from jobs.queue.worker import Worker, WorkerConfig
    from storage.tables import JobStatus

    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"Say the colour of planet {name}.", "answer": colour}) + "\n" for name, colour in PLANETS))
    job_id = submit_job({"base_model": str(tiny_llama), "objective": "grpo", "data": {"train": str(data)},
                         "training": {"max_steps": 2, "batch_size": 4, "max_length": 64, "logging_steps": 1},
                         "grpo": {"num_generations": 4, "max_completion_length": 6, "rewards": [{"kind": "format", "tag": "answer"},
                                                                                               {"kind": "length", "target_length": 5}]},
                         "evaluation": {"enabled": False}})
    assert Worker(WorkerConfig(worker_id="grpo-log", heartbeat_seconds=1, lease_seconds=60, poll_seconds=0.1)).run_once()
    job = get_job(job_id)
    log = (Path(job.run_dir) / "train.log").read_text()
    assert job.status is JobStatus.SUCCEEDED, f"{job.error}\n{log[-3000:]}"
    samples = [line for line in log.splitlines() if line.startswith("[grpo sample]")]
    assert any(line.startswith("[grpo sample] prompt: 'Say the colour of planet") for line in samples), log[-3000:]
    assert any(line.startswith("[grpo sample] completion: ") for line in samples), log[-3000:]
    scores = [line for line in samples if line.startswith("[grpo sample] format ")]
    assert len(scores) >= 2 and all(", length " in line and ", reward " in line for line in scores), samples  # both logged steps
