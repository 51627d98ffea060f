"""Every method × task trains on tiny models: loss falls, the exact artifacts exist, the adapter reloads
with plain PEFT and changes the model's output; resume continues from the checkpoint's step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from jobs.metrics import metric_series, read_metrics_jsonl
from jobs.queue.run import execute_run, train_in_foreground
from jobs.spec import parse_spec
from tests.files import write_jsonl

INSTRUCTIONS = [
    {"question": f"What colour is the sky on planet {name}?", "answer": f"The sky on {name} is {colour}."}
    for name, colour in [("Zor", "teal"), ("Quel", "amber"), ("Bran", "violet"), ("Oxy", "crimson"), ("Tam", "silver"), ("Vesh", "indigo")]
]
CLASSIFICATION = [{"text": text, "label": label} for text, label in [
    ("good great wonderful", "positive"), ("bad awful terrible", "negative"), ("great good love", "positive"),
    ("terrible bad hate", "negative"), ("wonderful love great", "positive"), ("awful hate bad", "negative"),
    ("love wonderful good", "positive"), ("hate terrible awful", "negative"),
]]

PEFT_FILES = {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"}
FULL_FILES = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"}
RUN_FILES = {"spec.yaml", "metrics.jsonl", "summary.json", "README.md", "split.json"}


def make_spec(tmp_path: Path, model: Path, task: str, method: str, **training) -> dict:
    rows = INSTRUCTIONS if task == "causal-lm" else CLASSIFICATION
    data = write_jsonl(tmp_path / "train.jsonl", rows)
    settings = {"max_steps": 24, "learning_rate": 5e-2 if method != "full" else 3e-3, "batch_size": 4, "max_length": 64,
                "warmup_ratio": 0.0, "scheduler": "constant", "logging_steps": 1, "seed": 1}
    settings.update(training)
    return {
        "name": f"tiny-{task}-{method}", "task": task, "base_model": str(model), "method": method,
        "data": {"train": str(data)}, "training": settings,
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"},
        "prompt_tuning": {"num_virtual_tokens": 4, "init_text": "question answer" if method == "prompt-tuning" else None},
    }


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


@pytest.mark.parametrize("task", ["causal-lm", "text-classification"])
@pytest.mark.parametrize("method", ["lora", "prompt-tuning", "full"])
def test_method_trains_saves_and_reloads(tmp_path: Path, tiny_llama: Path, tiny_bert: Path, task: str, method: str) -> None:
    model_dir = tiny_llama if task == "causal-lm" else tiny_bert
    extra: dict = {"max_steps": 40, "learning_rate": 1e-1 if task == "causal-lm" else 3e-2} if method == "prompt-tuning" else {}
    if method == "lora" and task == "text-classification":
        extra = {"learning_rate": 1e-2}
    spec = parse_spec(make_spec(tmp_path, model_dir, task, method, **extra))
    job_id, summary = train_in_foreground(spec, show_progress=False)
    run_dir = Path(summary["output_folder"]).parent

    losses = [row["loss"] for row in read_metrics_jsonl(run_dir / "metrics.jsonl") if "loss" in row]
    assert len(losses) >= 20
    # Prompt tuning moves only a few virtual-token vectors of a tiny model: it learns, but slowly.
    required_drop = 0.96 if method == "prompt-tuning" else 0.85
    assert median(losses[-5:]) < required_drop * median(losses[:5]), f"loss did not fall: {losses}"
    assert [step for step, _ in metric_series(job_id, "loss")][-1] == summary["global_step"]

    out_name = "model" if method == "full" else "adapter"
    assert RUN_FILES | {out_name} <= {p.name for p in run_dir.iterdir()}
    produced = {p.name for p in (run_dir / out_name).iterdir()}
    assert (FULL_FILES if method == "full" else PEFT_FILES) <= produced
    assert not [p for p in run_dir.rglob("*") if p.suffix in (".bin", ".pt", ".pkl") and "checkpoints" not in p.parts]
    card = (run_dir / "README.md").read_text()
    front = card.split("---")[1]
    # a local folder is no Hub model id: the card names it in its text, not as base_model metadata (the Hub would reject it)
    assert "base_model:" not in front and str(model_dir) in card and ("library_name: peft" in front) == (method != "full")

    tokenizer = AutoTokenizer.from_pretrained(run_dir / out_name)
    cls = AutoModelForCausalLM if task == "causal-lm" else AutoModelForSequenceClassification
    sample = tokenizer(["What colour is the sky on planet Zor?" if task == "causal-lm" else "good great wonderful"], return_tensors="pt")
    kwargs = {"num_labels": 2} if task != "causal-lm" else {}
    base = cls.from_pretrained(model_dir, **kwargs).eval()
    with torch.no_grad():
        base_logits = base(**sample).logits
    if method == "full":
        adapted = cls.from_pretrained(run_dir / "model").eval()
        if task != "causal-lm":
            assert adapted.config.id2label == {0: "negative", 1: "positive"}
    else:
        adapted = PeftModel.from_pretrained(cls.from_pretrained(model_dir, **kwargs), run_dir / "adapter").eval()
    with torch.no_grad():
        adapted_logits = adapted(**sample).logits
    if method == "prompt-tuning" and task == "causal-lm":
        adapted_logits = adapted_logits[:, -sample["input_ids"].shape[1]:]
    assert not torch.allclose(base_logits, adapted_logits, atol=1e-4), "the trained weights do not change the output"
    assert summary["trainable_params"] > 0 and summary["trainable_params"] <= summary["total_params"]


def test_classification_reports_accuracy_and_keeps_label_names(tmp_path: Path, tiny_bert: Path) -> None:
    raw = make_spec(tmp_path, tiny_bert, "text-classification", "lora", max_steps=30, learning_rate=1e-2)
    held = [{"text": text, "label": label} for text, label in [("good great", "positive"), ("bad awful", "negative"),
                                                               ("love wonderful", "positive"), ("hate terrible", "negative")]]
    raw["data"]["validation"] = write_jsonl(tmp_path / "val.jsonl", held).as_posix()  # training rows would not be scored
    _, summary = train_in_foreground(parse_spec(raw), show_progress=False)
    assert summary["label_names"] == ["negative", "positive"]
    assert summary["eval_metrics"]["eval_accuracy"] == 1.0
    assert "eval_macro_f1" in summary["eval_metrics"]
    adapter_config = json.loads((Path(summary["output_folder"]) / "config.json").read_text())
    assert adapter_config["id2label"] == {"0": "negative", "1": "positive"}


def test_resume_continues_from_the_checkpoint_step(tmp_path: Path, tiny_llama: Path) -> None:
    raw = make_spec(tmp_path, tiny_llama, "causal-lm", "lora", max_steps=12, save_steps=4)
    spec = parse_spec(raw)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "STOP").touch()  # stop cleanly after the first step boundary: a checkpoint is saved there
    first = execute_run(spec, run_dir)
    assert first["stopped_early"] and first["global_step"] < 12
    stopped_at = first["global_step"]
    assert (run_dir / "checkpoints" / f"checkpoint-{stopped_at}").is_dir()
    (run_dir / "STOP").unlink()
    second = execute_run(spec, run_dir)
    assert second["resumed_from_step"] == stopped_at
    assert second["global_step"] == 12 and not second["stopped_early"]
    steps = [row["step"] for row in read_metrics_jsonl(run_dir / "metrics.jsonl") if "loss" in row]
    resumed_steps = steps[steps.index(stopped_at) + 1:]
    assert resumed_steps and min(resumed_steps) > stopped_at, "training restarted from step 0 instead of the checkpoint"


def test_a_half_written_checkpoint_is_skipped_on_resume(tmp_path: Path, tiny_llama: Path) -> None:
    spec = parse_spec(make_spec(tmp_path, tiny_llama, "causal-lm", "lora", max_steps=8, save_steps=4))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "STOP").touch()
    first = execute_run(spec, run_dir)
    (run_dir / "STOP").unlink()
    broken = run_dir / "checkpoints" / "checkpoint-6"  # a crash during the save of step 6: folder, no state
    broken.mkdir()
    (broken / "adapter_config.json").write_text("{}")
    second = execute_run(spec, run_dir)
    assert second["resumed_from_step"] == first["global_step"]
    assert second["global_step"] == 8


def test_dora_packing_all_linear_and_checkpointing_train(tmp_path: Path, tiny_llama: Path) -> None:
    raw = make_spec(tmp_path, tiny_llama, "causal-lm", "lora", max_steps=6, packing=True, max_length=96, gradient_checkpointing=True)
    raw["lora"].update(use_dora=True, target_modules="all-linear")
    _, summary = train_in_foreground(parse_spec(raw), show_progress=False)
    config = json.loads((Path(summary["output_folder"]) / "adapter_config.json").read_text())
    assert config["use_dora"] is True
    targeted = {name.rsplit(".", 1)[-1] for name in config["target_modules"]}
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"} <= targeted
