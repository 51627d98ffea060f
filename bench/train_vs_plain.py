"""Part 1 of ``bench/train_overhead.py``: Adapta's ``launch.py train`` against the plain transformers + PEFT script.

Both sides train the packaged SmolLM2 with the same LoRA settings on the same generated instruction rows
(:func:`make_instruction_rows`), each in its own subprocess: :func:`run_adapta` runs the real CLI on an equivalent
spec, :func:`run_plain` runs ``bench/plain_lora.py`` (the hand-written baseline). :func:`overhead_part` alternates
them (Adapta, plain, plain, Adapta, Adapta, plain with three repeats) and returns the median examples/s and peak-RSS
ratios against the goals, and the first logged loss of every run (equal when both sides train on the same batches).

Matched settings: the spec names the LoRA target modules the plain script uses (``auto`` would follow Adapta's
default, which may change), turns ``evaluation`` off (so Adapta holds no rows out for its before/after report and
trains on exactly the rows the plain script trains on, and no report runs after training) and saves no mid-run
checkpoint (the plain script saves none).
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


def matched_spec(model_dir: str, data: Path, config: dict[str, Any], tag: str) -> dict[str, Any]:
    """The Adapta spec equivalent to the plain script's settings (see the module docstring for what "matched" means)."""
    return {
        "name": f"bench-overhead-{tag}",
        "task": "causal-lm",
        "base_model": model_dir,
        "method": "lora",
        "data": {"train": str(data), "format": "instruction", "columns": {"prompt": "question", "response": "answer"}},
        "training": {
            "epochs": config["epochs"],
            "learning_rate": config["learning_rate"],
            "batch_size": config["batch_size"],
            "max_length": config["max_length"],
            "warmup_ratio": 0.0,
            "logging_steps": 1,
            "save_steps": 1_000_000,  # no mid-run checkpoint; the plain script saves none
            "seed": config["seed"],
            "precision": "fp32",
        },
        "lora": {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": list(config["target_modules"])},
        "evaluation": {"enabled": False},  # no held-out rows: both sides train on every row
    }


def run_adapta(model_dir: str, data: Path, config: dict[str, Any], work: Path, env: dict[str, str], tag: str) -> dict[str, Any]:
    """``launch.py train`` on :func:`matched_spec`."""
    run_dir, child, logged = launch_adapta(matched_spec(model_dir, data, config, tag), work, env, tag)
    rates = measured_rates([(line["step"], line["time"]) for line in logged], child, config)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    trainer_rate = next((line["train_samples_per_second"] for line in metrics if "train_samples_per_second" in line), None)
    return {
        "side": "adapta",
        **rates,
        "examples_per_second": rates["steps_per_second"] * config["batch_size"],
        "trainer_samples_per_second": trainer_rate,
        "first_loss": logged[0]["loss"] if logged else None,
        "global_step": summary["global_step"],
        "train_examples": summary["train_examples"],
        "in_process_runtime_seconds": summary["runtime_seconds"],
        "in_process_peak_memory_bytes": summary["peak_memory_bytes"],
        **child,
    }


def run_plain(model_dir: str, data: Path, config: dict[str, Any], work: Path, env: dict[str, str], tag: str) -> dict[str, Any]:
    """``bench/plain_lora.py`` on the same rows and settings."""
    result_path = work / f"plain-{tag}.json"
    command = [
        sys.executable, str(ROOT / "bench" / "plain_lora.py"),
        "--model", model_dir,
        "--data", str(data),
        "--epochs", str(config["epochs"]),
        "--target-modules", ",".join(config["target_modules"]),
        "--batch-size", str(config["batch_size"]),
        "--max-length", str(config["max_length"]),
        "--learning-rate", str(config["learning_rate"]),
        "--seed", str(config["seed"]),
        "--output", str(work / f"plain-{tag}"),
        "--result", str(result_path),
    ]
    child = run_child(command, env, work / f"plain-{tag}.log")
    if child["returncode"] != 0:
        raise RuntimeError(f"plain run failed (exit {child['returncode']}):\n{_tail(child['log'])}")
    measured = json.loads(result_path.read_text(encoding="utf-8"))
    rates = measured_rates([tuple(pair) for pair in measured["log_times"]], child, config)
    return {
        "side": "plain",
        **rates,
        "examples_per_second": rates["steps_per_second"] * config["batch_size"],
        "trainer_samples_per_second": measured["train_samples_per_second"],
        "first_loss": measured["losses"][0] if measured["losses"] else None,
        "global_step": measured["global_step"],
        "train_examples": config["rows"],
        "in_process_runtime_seconds": measured["train_runtime"],
        "in_process_peak_memory_bytes": measured["max_rss_bytes"],
        **child,
    }


def run_order(repeats: int) -> list[str]:
    """Adapta and plain alternately, each pair mirrored (A P, P A, A P, ...), so slow drift of the machine cancels out."""
    return [side for index in range(repeats) for side in (("adapta", "plain") if index % 2 == 0 else ("plain", "adapta"))]


def overhead_part(model_dir: str, config: dict[str, Any], work: Path, env: dict[str, str]) -> dict[str, Any]:
    """Adapta and plain runs in alternating order (``repeats`` per side): each run's figures, the median ratios against
    the goals and whether both sides' first losses agree."""
    rows = make_instruction_rows(config["rows"], config["seed"])
    data = write_jsonl(work / "instructions.jsonl", rows)
    order = run_order(config["repeats"])
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
            f"    {result['examples_per_second']:.3f} examples/s ({result['steps_per_cpu_second']:.3f} steps per CPU-s), "
            f"peak RSS {result['max_rss_bytes'] / MIB:.0f} MiB, first loss {result['first_loss']:.4f}, wall {result['wall_seconds']:.1f} s",
            flush=True,
        )
        runs.append(result)

    def median(side: str, key: str) -> float:
        return statistics.median(run[key] for run in runs if run["side"] == side)

    def ratio(key: str) -> float:
        return median("adapta", key) / median("plain", key)

    adapta_runs = [run for run in runs if run["side"] == "adapta"]
    plain_runs = [run for run in runs if run["side"] == "plain"]
    pairs = [a["examples_per_second"] / p["examples_per_second"] for a, p in zip(adapta_runs, plain_runs, strict=True)]
    first_losses = {"adapta": [run["first_loss"] for run in adapta_runs], "plain": [run["first_loss"] for run in plain_runs]}
    same_first_loss = all(abs(a - p) <= 1e-4 for a in first_losses["adapta"] for p in first_losses["plain"])
    speed_ratio, rss_ratio = ratio("examples_per_second"), ratio("max_rss_bytes")
    return {
        "rows": len(rows),
        "order": order,
        "runs": runs,
        "examples_per_second_ratio": speed_ratio,
        "examples_per_second_ratio_per_pair": pairs,
        "steps_per_cpu_second_ratio": ratio("steps_per_cpu_second"),
        "trainer_samples_per_second_ratio": ratio("trainer_samples_per_second"),
        "peak_rss_ratio": rss_ratio,
        "polled_peak_rss_ratio": ratio("polled_peak_rss_bytes"),
        "first_losses": first_losses,
        "same_first_loss": same_first_loss,
        "goals": {"examples_per_second_ratio_min": 0.95, "peak_rss_ratio_max": 1.05},
        "meets_goals": {"speed": speed_ratio >= 0.95, "memory": rss_ratio <= 1.05, "same_batches": same_first_loss},
    }
