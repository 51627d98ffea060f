"""Part 1 of ``bench/train_overhead.py``: Adapta's ``launch.py train`` against the plain transformers + PEFT script.

Both sides train the packaged SmolLM2 with the same LoRA settings on the same generated instruction rows
(:func:`make_instruction_rows`), each in its own subprocess: :func:`run_adapta` runs the real CLI on an equivalent
spec, :func:`run_plain` runs ``bench/plain_lora.py`` (the hand-written baseline). :func:`overhead_part` alternates
them (Adapta, plain, plain, Adapta with two repeats) and returns the steps/s and peak-RSS ratios against the goals.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
from pathlib import Path
from typing import Any

from harness import MIB, PLANETS, ROOT, _tail, launch_adapta, measured_rates, run_child, write_jsonl

PREFIXES = ["", "Quick question: ", "Please tell me: ", "I was wondering. ", "Trivia time! ", "Hello! "]
SUFFIXES = ["", " Answer briefly.", " Thanks!", " Please be precise."]


def make_instruction_rows(count: int, seed: int) -> list[dict[str, str]]:
    """``count`` question/answer rows: the planets examples with varied phrasing, in a seeded order."""
    base = [json.loads(line) for line in PLANETS.read_text(encoding="utf-8").splitlines() if line.strip()]
    variants = [(prefix, suffix) for suffix in SUFFIXES for prefix in PREFIXES]
    rows = []
    for index in range(count):
        row = base[index % len(base)]
        prefix, suffix = variants[(index // len(base)) % len(variants)]
        rows.append({"question": f"{prefix}{row['question']}{suffix}", "answer": row["answer"]})
    random.Random(seed).shuffle(rows)
    return rows


def run_adapta(model_dir: str, data: Path, config: dict[str, Any], work: Path, env: dict[str, str], tag: str) -> dict[str, Any]:
    """``launch.py train`` on a spec equivalent to the plain script's settings."""
    spec = {
        "name": f"bench-overhead-{tag}",
        "task": "causal-lm",
        "base_model": model_dir,
        "method": "lora",
        "data": {"train": str(data), "format": "instruction", "columns": {"prompt": "question", "response": "answer"}},
        "training": {
            "epochs": 1,
            "max_steps": config["warmup"] + config["steps"],
            "learning_rate": config["learning_rate"],
            "batch_size": config["batch_size"],
            "max_length": config["max_length"],
            "warmup_ratio": 0.0,
            "logging_steps": 1,
            "save_steps": 1_000_000,  # no mid-run checkpoint; the plain script does the same
            "seed": config["seed"],
            "precision": "fp32",
        },
        "lora": {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": "auto"},
    }
    run_dir, child, logged = launch_adapta(spec, work, env, tag)
    rates = measured_rates([(line["step"], line["time"]) for line in logged], child, config)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    return {
        "side": "adapta",
        **rates,
        "first_loss": logged[0]["loss"] if logged else None,
        "global_step": summary["global_step"],
        "in_process_runtime_seconds": summary["runtime_seconds"],
        "in_process_peak_memory_bytes": summary["peak_memory_bytes"],
        **child,
    }


def run_plain(model_dir: str, data: Path, config: dict[str, Any], work: Path, env: dict[str, str], tag: str) -> dict[str, Any]:
    """``bench/plain_lora.py`` on the same rows and settings."""
    result_path = work / f"plain-{tag}.json"
    command = [
        sys.executable,
        str(ROOT / "bench" / "plain_lora.py"),
        "--model",
        model_dir,
        "--data",
        str(data),
        "--steps",
        str(config["warmup"] + config["steps"]),
        "--batch-size",
        str(config["batch_size"]),
        "--max-length",
        str(config["max_length"]),
        "--learning-rate",
        str(config["learning_rate"]),
        "--seed",
        str(config["seed"]),
        "--output",
        str(work / f"plain-{tag}"),
        "--result",
        str(result_path),
    ]
    child = run_child(command, env, work / f"plain-{tag}.log")
    if child["returncode"] != 0:
        raise RuntimeError(f"plain run failed (exit {child['returncode']}):\n{_tail(child['log'])}")
    measured = json.loads(result_path.read_text(encoding="utf-8"))
    return {
        "side": "plain",
        **measured_rates([tuple(pair) for pair in measured["log_times"]], child, config),
        "first_loss": measured["losses"][0] if measured["losses"] else None,
        "global_step": measured["global_step"],
        "in_process_runtime_seconds": measured["train_runtime"],
        "in_process_peak_memory_bytes": measured["max_rss_bytes"],
        **child,
    }


def overhead_part(model_dir: str, config: dict[str, Any], work: Path, env: dict[str, str]) -> dict[str, Any]:
    """Adapta and plain runs in alternating order (``repeats`` per side): each run's figures and the ratios against the goals."""
    rows = make_instruction_rows(config["batch_size"] * (config["warmup"] + config["steps"]), config["seed"])
    data = write_jsonl(work / "instructions.jsonl", rows)
    order = ["adapta", "plain", "plain", "adapta"] if config["repeats"] >= 2 else ["adapta", "plain"]
    order = (order * ((config["repeats"] + 1) // 2))[: 2 * config["repeats"]]
    runs = []
    counts = {"adapta": 0, "plain": 0}
    for side in order:
        counts[side] += 1
        tag = str(counts[side])
        print(f"  overhead: {side} run {tag} ...", flush=True)
        runner = run_adapta if side == "adapta" else run_plain
        result = runner(model_dir, data, config, work, env, tag)
        result["run"] = counts[side]
        print(
            f"    {result['steps_per_second']:.3f} steps/s, peak RSS {result['max_rss_bytes'] / MIB:.0f} MiB, wall {result['wall_seconds']:.1f} s",
            flush=True,
        )
        runs.append(result)

    def mean(side: str, key: str) -> float:
        return statistics.fmean(run[key] for run in runs if run["side"] == side)

    speed_ratio = mean("adapta", "steps_per_second") / mean("plain", "steps_per_second")
    rss_ratio = mean("adapta", "max_rss_bytes") / mean("plain", "max_rss_bytes")
    polled_ratio = mean("adapta", "polled_peak_rss_bytes") / mean("plain", "polled_peak_rss_bytes")
    pairs = [
        a["steps_per_second"] / p["steps_per_second"]
        for a, p in zip([r for r in runs if r["side"] == "adapta"], [r for r in runs if r["side"] == "plain"], strict=True)
    ]
    return {
        "rows": len(rows),
        "order": order,
        "runs": runs,
        "steps_per_second_ratio": speed_ratio,
        "steps_per_second_ratio_per_pair": pairs,
        "peak_rss_ratio": rss_ratio,
        "polled_peak_rss_ratio": polled_ratio,
        "goals": {"steps_per_second_ratio_min": 0.95, "peak_rss_ratio_max": 1.05},
        "meets_goals": {"speed": speed_ratio >= 0.95, "memory": rss_ratio <= 1.05},
    }
