"""Each family trains through the real trainer path with its own chat template: LoRA for 2 steps on a tiny model of the
family's architecture saved with the family's real template (tests/jobs/data/chat_families.py), and full fine-tuning for
every family (QLoRA for every family: test_families_qlora.py); the adapter keeps the family's tokenizer, and the Playground answers from the
same template and thinking setting as training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer

from jobs.inference.text import GenerationSettings, generate, open_run
from jobs.queue.run import train_in_foreground
from jobs.spec import parse_spec
from tests.files import write_jsonl
from tests.jobs.data.chat_families import TEMPLATES, TRAINED_FAMILIES, family_model

CHATS = [[{"role": "system", "content": "Answer in one sentence."}, {"role": "user", "content": f"Sky colour on {name}?"},
          {"role": "assistant", "content": f"The sky on {name} is {colour}."}, {"role": "user", "content": "Sure?"},
          {"role": "assistant", "content": "Yes."}]
         for name, colour in [("Zor", "teal"), ("Quel", "amber"), ("Bran", "violet"), ("Oxy", "crimson")]]


def family_spec(tmp_path: Path, model: Path, method: str = "lora", thinking: str = "auto") -> dict:
    data = write_jsonl(tmp_path / "chat.jsonl", [{"messages": chat} for chat in CHATS])
    return {"name": f"family-{model.name}", "task": "causal-lm", "base_model": str(model), "method": method,
            "data": {"train": str(data), "thinking": thinking},
            "training": {"max_steps": 2, "learning_rate": 1e-2, "batch_size": 2, "max_length": 384, "logging_steps": 1, "seed": 1},
            "lora": {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"},
            "evaluation": {"enabled": False}}


@pytest.mark.parametrize("family", TRAINED_FAMILIES)
def test_lora_trains_each_family_with_its_own_template(tmp_path: Path, family: str) -> None:
    model = family_model(family, tmp_path / family)
    thinking = "off" if family == "qwen3" else "auto"
    _, summary = train_in_foreground(parse_spec(family_spec(tmp_path, model, thinking=thinking)), show_progress=False)
    adapter = Path(summary["output_folder"])
    assert summary["global_step"] == 2 and all(torch.isfinite(torch.tensor(loss)) for loss in _losses(adapter.parent))
    assert AutoTokenizer.from_pretrained(adapter).chat_template == (TEMPLATES / f"{family}.jinja").read_text()
    if family == "qwen3":  # the Playground answers with the tokenizer saved with the adapter and the job's thinking setting
        tokenizer = AutoTokenizer.from_pretrained(model)
        tokenizer.chat_template = "{{ messages[0]['content'] }}"  # the base folder changed after training: not what the job used
        tokenizer.save_pretrained(model)
        loaded = open_run(adapter.parent)
        assert loaded.thinking == "off" and loaded.tokenizer.chat_template == (TEMPLATES / "qwen3.jinja").read_text()
        assert isinstance(generate(loaded, CHATS[0][:2], GenerationSettings(max_new_tokens=2)), str)


@pytest.mark.parametrize("family", TRAINED_FAMILIES)
def test_full_fine_tuning_of_each_family(tmp_path: Path, family: str) -> None:
    """Every weight trains (a base weight changed, as saved) and the saved model keeps the family's template."""
    model = family_model(family, tmp_path / family)
    thinking = "off" if family == "qwen3" else "auto"
    _, summary = train_in_foreground(parse_spec(family_spec(tmp_path, model, "full", thinking=thinking)), show_progress=False)
    output = Path(summary["output_folder"])
    assert summary["global_step"] == 2 and all(torch.isfinite(torch.tensor(loss)) for loss in _losses(output.parent))
    before, after = load_file(model / "model.safetensors"), load_file(output / "model.safetensors")
    name = next(key for key in before if key.endswith(("q_proj.weight", "qkv_proj.weight")))  # Phi-3 fuses q, k and v
    assert not torch.equal(before[name], after[name]), f"{name} did not change in full fine-tuning"
    assert AutoTokenizer.from_pretrained(output).chat_template == (TEMPLATES / f"{family}.jinja").read_text()


def _losses(run_dir: Path) -> list[float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [row["loss"] for row in rows if "loss" in row]
