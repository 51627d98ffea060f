"""Part 2 of ``bench/train_overhead.py``: padding efficiency, in this process, with Adapta's building blocks.

Text rows of ``min_tokens`` to ``max_tokens`` tokens (:func:`make_variable_rows`) are trained three ways by
:func:`padding_part`: naive (padding to max_length, random order), Adapta's default (dynamic padding and
``group_by_length``) and Adapta with ``packing: true``. Real (non-pad) tokens per second after the warm-up steps,
counted from the examples each batch was made of, by wall-clock and by this process's CPU time.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

from harness import PLANETS, write_jsonl


def make_variable_rows(tokenizer: Any, count: int, low: int, high: int, seed: int) -> list[dict[str, str]]:
    """``count`` text rows whose token lengths (with the EOS Adapta appends) spread evenly over [low, high]."""
    base = [json.loads(line) for line in PLANETS.read_text(encoding="utf-8").splitlines() if line.strip()]
    sentences = [row["answer"] for row in base] + [row["question"] for row in base]
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        target = low + round(index * (high - low) / max(1, count - 1)) - 1  # one token is left for EOS
        text = ""
        while len(tokenizer(text, add_special_tokens=False)["input_ids"]) < target:
            text = f"{text} {rng.choice(sentences)}".strip()
        ids = tokenizer(text, add_special_tokens=False)["input_ids"][:target]
        rows.append({"text": tokenizer.decode(ids)})
    rng.shuffle(rows)
    return rows


def padding_part(model_dir: str, config: dict[str, Any], work: Path) -> dict[str, Any]:
    """Train the three variants for ``pad_warmup`` + ``pad_steps`` steps each; their token rates, against naive and the goal."""
    import gc

    import torch
    from transformers import DataCollatorForSeq2Seq, PrinterCallback, Trainer, set_seed

    from jobs.data import load_training_data
    from jobs.models import load_base_model, load_tokenizer, resolve_model, resolve_precision
    from jobs.spec import parse_spec
    from jobs.trainers.collate import make_collator
    from jobs.trainers.methods import apply_method
    from jobs.trainers.text import _training_arguments

    resolved = resolve_model(model_dir)
    tokenizer = load_tokenizer(resolved)
    warmup, steps, batch, max_length = config["pad_warmup"], config["pad_steps"], config["batch_size"], config["max_length"]
    rows = make_variable_rows(tokenizer, batch * (warmup + steps), config["min_tokens"], config["max_tokens"], config["seed"])
    data_path = write_jsonl(work / "variable.jsonl", rows)

    class CountingCollator:
        """Wraps a collator; counts real tokens (the features' own) and processed tokens (the padded batch's)."""

        def __init__(self, inner: Any):
            self.inner = inner
            self.real_tokens = 0
            self.processed_tokens = 0

        def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
            batch = self.inner(features)
            self.real_tokens += sum(len(feature["input_ids"]) for feature in features)
            self.processed_tokens += int(batch["input_ids"].numel())
            return batch

    class CountingTrainer(Trainer):
        """Notes the collator's token counts at each loss log."""

        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.step_log: list[tuple[int, float, float, int, int]] = []

        def log(self, logs, *args, **kwargs):
            if "loss" in logs:
                counts = self.data_collator
                moment = (self.state.global_step, time.perf_counter(), time.process_time())
                self.step_log.append((*moment, counts.real_tokens, counts.processed_tokens))
            return super().log(logs, *args, **kwargs)

    variants = [
        ("naive", "pad to max_length, random order", {"group_by_length": False}, "max_length"),
        ("adapta-default", "Adapta default: dynamic padding + group_by_length", {}, "dynamic"),
        ("adapta-packing", "Adapta packing: true", {"packing": True}, "dynamic"),
    ]
    results = []
    for key, label, overrides, padding in variants:
        print(f"  padding: {label} ...", flush=True)
        spec = parse_spec(
            {
                "name": f"bench-padding-{key}",
                "base_model": model_dir,
                "method": "lora",
                "data": {"train": str(data_path), "format": "text"},
                "training": {
                    "max_steps": warmup + steps,
                    "learning_rate": config["learning_rate"],
                    "batch_size": batch,
                    "max_length": max_length,
                    "warmup_ratio": 0.0,
                    "logging_steps": 1,
                    "save_steps": 1_000_000,
                    "seed": config["seed"],
                    "precision": "fp32",
                    **overrides,
                },
                "lora": {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": "auto"},
            }
        )
        set_seed(spec.training.seed)
        dtype, precision_flags = resolve_precision(spec.training.precision)
        data = load_training_data(spec, tokenizer)
        model = apply_method(load_base_model(resolved, spec.task, dtype=dtype), spec, resolved.path)
        if padding == "max_length":
            collator: Any = DataCollatorForSeq2Seq(tokenizer, padding="max_length", max_length=max_length, label_pad_token_id=-100)
        else:
            collator = make_collator(tokenizer, spec.task, spec.training.packing)
        trainer = CountingTrainer(
            model=model,
            args=_training_arguments(spec, work / f"padding-{key}", False, precision_flags),
            train_dataset=data.train,
            data_collator=CountingCollator(collator),
            processing_class=tokenizer,
        )
        trainer.remove_callback(PrinterCallback)
        trainer.train()
        by_step = {step: rest for step, *rest in reversed(trainer.step_log)}
        (t0, cpu0, real0, slots0), (t1, cpu1, real1, slots1) = by_step[warmup], by_step[warmup + steps]
        seconds, cpu_seconds = t1 - t0, cpu1 - cpu0
        results.append(
            {
                "variant": key,
                "label": label,
                "train_features": len(data.train),
                "measured_seconds": seconds,
                "steps_per_second": steps / seconds,
                "real_tokens": real1 - real0,
                "processed_tokens": slots1 - slots0,
                "real_tokens_per_second": (real1 - real0) / seconds,
                "cpu_seconds": cpu_seconds,
                "real_tokens_per_cpu_second": (real1 - real0) / cpu_seconds,
                "padding_efficiency": (real1 - real0) / (slots1 - slots0),
            }
        )
        print(
            f"    {results[-1]['real_tokens_per_second']:.0f} real tokens/s ({results[-1]['real_tokens_per_cpu_second']:.0f} per CPU second), "
            f"{results[-1]['padding_efficiency']:.0%} of processed tokens real",
            flush=True,
        )
        del trainer, model, data
        gc.collect()
    naive, naive_cpu = results[0]["real_tokens_per_second"], results[0]["real_tokens_per_cpu_second"]
    for result in results:
        result["vs_naive"] = result["real_tokens_per_second"] / naive
        result["vs_naive_cpu"] = result["real_tokens_per_cpu_second"] / naive_cpu
    lengths = [len(tokenizer(row["text"], add_special_tokens=False)["input_ids"]) + 1 for row in rows]
    return {
        "rows": len(rows),
        "row_tokens": {"min": min(lengths), "mean": statistics.fmean(lengths), "max": max(lengths)},
        "variants": results,
        "goal_vs_naive_min": 1.5,
        "meets_goal": all(result["vs_naive"] >= 1.5 for result in results[1:]),
        "torch_threads": torch.get_num_threads(),
    }
