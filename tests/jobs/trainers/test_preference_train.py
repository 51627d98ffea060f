"""dpo, orpo and kto train a tiny Llama end to end through ``execute_run``: the loss falls, the objective's metrics become
metric rows, the adapter loads with plain PEFT and changes the output, the card names the objective, and the before/after
report measures preference accuracy on held-out pairs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from jobs.evaluation import read_report
from jobs.metrics import read_metrics_jsonl
from jobs.queue.run import execute_run
from jobs.spec import parse_spec
from tests.files import write_jsonl

PLANETS = [("Zor", "teal"), ("Quel", "amber"), ("Bran", "violet"), ("Oxy", "crimson"), ("Tam", "silver"), ("Vesh", "indigo"),
           ("Mir", "olive"), ("Lo", "coral"), ("Kess", "golden"), ("Pava", "scarlet"), ("Uno", "ivory"), ("Rill", "azure")]
PAIRS = [{"prompt": f"What colour is planet {name}?", "chosen": f"Planet {name} is {colour}.", "rejected": f"I cannot say anything about {name}."}
         for name, colour in PLANETS]
OBJECTIVE_METRICS = {
    "dpo": {"rewards/accuracies", "rewards/margins", "rewards/chosen", "rewards/rejected"},
    "orpo": {"rewards/accuracies", "rewards/margins", "log_odds_ratio"},
    "kto": {"kl", "rewards/chosen", "rewards/rejected"},
}


def preference_spec(tmp_path: Path, model: Path, objective: str, **training) -> dict:
    settings = {"max_steps": 10, "learning_rate": 5e-3, "batch_size": 4, "max_length": 64, "warmup_ratio": 0.0, "scheduler": "constant",
                "logging_steps": 1, "seed": 1, **training}
    return {"name": f"tiny-{objective}", "base_model": str(model), "method": "lora", "objective": objective,
            "data": {"train": str(write_jsonl(tmp_path / "pairs.jsonl", PAIRS)), "validation": 0.25}, "training": settings,
            "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"}}


@pytest.mark.parametrize("objective", ["dpo", "orpo", "kto"])
def test_preference_objective_trains_reports_and_reloads(tmp_path: Path, tiny_llama: Path, objective: str) -> None:
    spec = parse_spec(preference_spec(tmp_path, tiny_llama, objective))
    run_dir = tmp_path / "run"
    summary = execute_run(spec, run_dir)

    rows = read_metrics_jsonl(run_dir / "metrics.jsonl")
    losses = [row["loss"] for row in rows if "loss" in row]
    assert len(losses) == 10 and summary["global_step"] == 10
    assert losses[-1] < 0.7 * losses[0], f"the {objective} loss did not fall: {losses}"
    assert OBJECTIVE_METRICS[objective] <= {key for row in rows for key in row}
    assert summary["data"]["format"] == "preference" and summary["train_examples"] == (18 if objective == "kto" else 9)

    produced = {path.name for path in (run_dir / "adapter").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "README.md"} <= produced
    card = (run_dir / "README.md").read_text()
    assert f"- {objective}" in card.split("---")[1] and f"| objective | {objective} |" in card

    tokenizer = AutoTokenizer.from_pretrained(run_dir / "adapter")
    sample = tokenizer(["What colour is planet Zor?"], return_tensors="pt")
    base = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    with torch.no_grad():
        base_logits = base(**sample).logits
        adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama), run_dir / "adapter").eval()
        assert not torch.allclose(base_logits, adapted(**sample).logits, atol=1e-4)

    report = read_report(run_dir)
    assert report.skipped is None, report.skipped
    assert report.main_metric == "preference_accuracy" and len(report.examples) == 3
    margin = report.metric("preference_margin")
    assert margin.adapted > margin.base, "the adapted model does not prefer the chosen answers more than the base does"
    if objective == "dpo":
        accuracy = report.metric("preference_accuracy")
        assert accuracy.adapted == 1.0 and accuracy.adapted >= accuracy.base


def test_kto_feedback_rows_and_dpo_full_with_precomputed_reference(tmp_path: Path, tiny_llama: Path) -> None:
    feedback = [{"prompt": pair["prompt"], "completion": pair[key], "label": key == "chosen"} for pair in PAIRS[:8] for key in ("chosen", "rejected")]
    raw = preference_spec(tmp_path, tiny_llama, "kto", max_steps=4)
    raw["data"] = {"train": str(write_jsonl(tmp_path / "feedback.jsonl", feedback)), "validation": 0.25}
    summary = execute_run(parse_spec(raw), tmp_path / "kto")
    assert summary["data"]["format"] == "feedback" and summary["train_examples"] == 12
    report = read_report(tmp_path / "kto")
    assert report.main_metric == "feedback_margin" and report.metric("feedback_margin").adapted is not None

    full = preference_spec(tmp_path, tiny_llama, "dpo", max_steps=4, learning_rate=1e-3)
    full.update(method="full", preference={"reference": "precomputed"}, evaluation={"enabled": False})
    summary = execute_run(parse_spec(full), tmp_path / "full")
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {path.name for path in (tmp_path / "full" / "model").iterdir()}
    assert summary["last_loss"] < summary["first_loss"]


def test_dpo_resumes_from_its_last_complete_checkpoint(tmp_path: Path, tiny_llama: Path) -> None:
    import shutil

    raw = preference_spec(tmp_path, tiny_llama, "dpo", max_steps=6, save_steps=3, checkpoint_minutes=None)
    raw["evaluation"] = {"enabled": False}
    run_dir = tmp_path / "run"
    first = execute_run(parse_spec(raw), run_dir)
    assert first["resumed_from_step"] is None and first["global_step"] == 6
    shutil.rmtree(run_dir / "checkpoints" / "checkpoint-6")  # as if the job died after step 3's checkpoint
    again = execute_run(parse_spec(raw), run_dir)
    assert again["resumed_from_step"] == 3 and again["global_step"] == 6
