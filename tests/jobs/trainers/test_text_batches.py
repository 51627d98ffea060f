"""Adapta's text trainer trains on the batches a plain transformers + PEFT script builds for the same rows.

The plain recipe is the benchmark's own (``bench/plain_lora.py``: chat template, prompt masked, ``DataCollatorForSeq2Seq``,
the length-grouped sampler), so ``bench/train_overhead.py`` compares like with like: the same rows, in the same order,
padded the same way, with the same labels, and therefore the same first loss.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from jobs.metrics import MetricsSink
from jobs.spec import parse_spec
from jobs.trainers.text import build_text_trainer

ROOT = Path(__file__).resolve().parents[3]
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]
ROWS = [
    {"question": f"{prefix}What colour is the sky on planet {name}?", "answer": f"The sky on {name} is {colour}{suffix}."}
    for (name, colour), (prefix, suffix) in zip(
        [("Zor", "teal"), ("Quel", "amber"), ("Bran", "violet"), ("Oxy", "crimson"), ("Tam", "silver"), ("Vesh", "indigo"),
         ("Ul", "grey"), ("Pim", "gold"), ("Ro", "green"), ("Sa", "white"), ("Ki", "black"), ("Mo", "blue")],
        [("", ""), ("Please tell me: ", ", as always"), ("Hello! ", ""), ("", " at noon and at dusk")] * 3,
        strict=True,
    )
]


def plain_recipe() -> Any:
    """``bench/plain_lora.py`` as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("plain_lora", ROOT / "bench" / "plain_lora.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def adapta_trainer(tmp_path: Path, model: Path, max_steps: int | None = None) -> Any:
    """Adapta's Trainer for the benchmark's matched spec (evaluation off: every row is trained on, as in the plain script)."""
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    spec = parse_spec({
        "name": "batches", "task": "causal-lm", "base_model": str(model), "method": "lora",
        "data": {"train": str(data), "format": "instruction", "columns": {"prompt": "question", "response": "answer"}},
        "training": {"epochs": 2, "max_steps": max_steps, "batch_size": 4, "max_length": 256, "warmup_ratio": 0.0,
                     "logging_steps": 1, "save_steps": 1_000_000, "seed": 42, "precision": "fp32"},
        "lora": {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": TARGETS},
        "evaluation": {"enabled": False},
    })
    run_dir = tmp_path / "adapta"
    return build_text_trainer(spec, run_dir, MetricsSink(run_dir / "metrics.jsonl")).trainer


def plain_trainer(tmp_path: Path, model: Path, max_steps: int = -1) -> Any:
    return plain_recipe().plain_trainer(str(model), ROWS, tmp_path / "plain", target_modules=TARGETS, epochs=2, max_steps=max_steps,
                                        batch_size=4, max_length=256, seed=42)


def batches(trainer: Any) -> list[dict[str, torch.Tensor]]:
    return [{key: value for key, value in batch.items() if isinstance(value, torch.Tensor)} for batch in trainer.get_train_dataloader()]


def test_every_batch_of_an_epoch_equals_the_plain_scripts(tmp_path: Path, tiny_llama: Path) -> None:
    ours, plain = batches(adapta_trainer(tmp_path, tiny_llama)), batches(plain_trainer(tmp_path, tiny_llama))
    assert len(ours) == len(plain) == 3
    lengths = {batch["input_ids"].shape[1] for batch in ours}
    assert len(lengths) > 1  # rows of different lengths: the order and the padding are really compared
    for mine, theirs in zip(ours, plain, strict=True):
        assert mine.keys() == theirs.keys() == {"input_ids", "attention_mask", "labels"}
        for key in mine:
            assert torch.equal(mine[key], theirs[key]), key
    graded = ours[0]["labels"][0][ours[0]["labels"][0] != -100]
    assert 0 < len(graded) < int(ours[0]["attention_mask"][0].sum())  # the prompt is masked, the answer graded


def test_the_first_training_step_has_the_plain_scripts_loss(tmp_path: Path, tiny_llama: Path) -> None:
    losses = []
    for build in (adapta_trainer, plain_trainer):  # each trained right after it is built, as in its own process
        trainer = build(tmp_path, tiny_llama, max_steps=1)
        trainer.train()
        losses.append(next(entry["loss"] for entry in trainer.state.log_history if "loss" in entry))
    assert losses[0] == losses[1]


def test_the_training_process_loads_no_library_that_only_other_tasks_use() -> None:
    """Every library loaded is resident memory for the whole run: sentence-transformers (with scikit-learn and scipy's
    extras, ~50 MiB), TRL and diffusers load only when an embedding, preference or text-to-image job trains."""
    probe = ("import sys, jobs.queue.run; print(','.join(sorted(m for m in ('sentence_transformers', 'sklearn', 'trl', 'diffusers') "
             "if m in sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
    assert loaded.stdout.strip() == ""
