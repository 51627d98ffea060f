"""The playground's engine: base vs adapted output from one loaded model, classification, merge, cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from jobs.errors import AdaptaError
from jobs.export.merge import merge_run
from jobs.inference import text as inference
from jobs.inference.text import GenerationSettings, classify, compare_generate, load_run
from jobs.queue.run import train_in_foreground
from jobs.spec import parse_spec


def train_tiny(tmp_path: Path, model: Path, task: str, method: str = "lora") -> Path:
    if task == "causal-lm":
        rows = [{"question": f"What colour is planet {name}?", "answer": f"Planet {name} is {colour}."}
                for name, colour in [("Zor", "teal"), ("Quel", "amber"), ("Bran", "violet"), ("Oxy", "crimson")]]
    else:
        rows = [{"text": t, "label": label} for t, label in [("good great", "yes"), ("bad awful", "no")] * 4]
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    spec = parse_spec({"task": task, "base_model": str(model), "method": method, "data": {"train": str(data)},
                       "training": {"max_steps": 15, "learning_rate": 2e-2, "batch_size": 4, "warmup_ratio": 0.0},
                       "lora": {"target_modules": "all-linear"}})
    _, summary = train_in_foreground(spec, show_progress=False)
    return Path(summary["output_folder"]).parent


def test_base_and_adapted_answers_differ_and_models_are_cached(tmp_path: Path, tiny_llama: Path) -> None:
    inference.clear_cache()
    run_dir = train_tiny(tmp_path, tiny_llama, "causal-lm")
    loaded = load_run(run_dir)
    assert load_run(run_dir) is loaded, "a second load must come from the cache"
    base, adapted = compare_generate(loaded, "What colour is planet Zor?", GenerationSettings(max_new_tokens=12))
    assert base != adapted
    again_base, _ = compare_generate(loaded, "What colour is planet Zor?", GenerationSettings(max_new_tokens=12))
    assert again_base == base, "greedy decoding is deterministic and the adapter is re-enabled after the base answer"
    with pytest.raises(AdaptaError, match="generates text; use generate"):
        classify(loaded, "text")


def test_classification_probabilities_use_the_label_names(tmp_path: Path, tiny_bert: Path) -> None:
    run_dir = train_tiny(tmp_path, tiny_bert, "text-classification")
    loaded = load_run(run_dir)
    adapted = classify(loaded, "good great")
    base = classify(loaded, "good great", adapter=False)
    assert set(adapted) == {"yes", "no"} and abs(sum(adapted.values()) - 1) < 1e-5
    assert adapted != base


def test_merged_model_gives_the_adapted_output(tmp_path: Path, tiny_llama: Path) -> None:
    run_dir = train_tiny(tmp_path, tiny_llama, "causal-lm")
    merged_dir = merge_run(run_dir, tmp_path / "merged")
    assert (merged_dir / "model.safetensors").is_file() and (merged_dir / "tokenizer.json").is_file()
    loaded = load_run(run_dir)
    ids = loaded.tokenizer("What colour is planet Zor?", return_tensors="pt")["input_ids"]
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, loaded.model(ids).logits, atol=1e-4)


def test_unfinished_or_foreign_folders_are_explained(tmp_path: Path) -> None:
    with pytest.raises(AdaptaError, match="not a finished Adapta run"):
        load_run(tmp_path)
