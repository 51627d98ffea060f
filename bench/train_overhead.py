"""Benchmark: what Adapta's training path costs over plain transformers + PEFT, and what its padding saves.

Run it with ``make bench`` (which runs ``python bench/train_overhead.py``) or directly::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/train_overhead.py            # full run, a few minutes on a laptop CPU
    HF_HUB_OFFLINE=1 .venv/bin/python bench/train_overhead.py --quick    # smoke test: a couple of steps each

It prints markdown tables (paste them into a README) and writes ``bench/results/train_overhead.json``.

Part 1, overhead. The packaged SmolLM2-135M-Instruct (its GGUF converted once to safetensors under the
bench data home), LoRA r=8 alpha=16 on q_proj/v_proj (``target_modules: auto``), the same generated
instruction rows (planets.jsonl varied), batch 4, max_length 128, seed 42, fp32 on CPU, trained for
``--warmup`` + ``--steps`` steps by

- Adapta: ``python launch.py train SPEC.yaml --output DIR``, the real CLI (job row, per-step metrics to
  metrics.jsonl and the database, progress bar, dynamic padding, length-grouped batches), and
- plain: ``bench/plain_lora.py``, a hand-written Trainer + PEFT script (DataCollatorForSeq2Seq padding to
  a multiple of 8, the same TrainingArguments including the length-grouped sampler, so both sides train on
  identical batch shapes and only the framework around the training loop differs).

Each runs as its own subprocess. Speed is steps/s over the ``--steps`` steps after the warm-up steps,
from the wall-clock time at which each step's log was written (Adapta: the ``time`` field of
metrics.jsonl; plain: a callback on the same event), so model loading and data preparation are excluded.
Peak RSS is the child's ``ru_maxrss`` from ``os.wait4`` (exact, kernel-reported), cross-checked by
polling the process tree with psutil every 0.1 s. With ``--repeats 2`` the order is Adapta, plain, plain,
Adapta so slow drift of the machine cancels out. Goals: steps/s ratio >= 0.95, RSS ratio <= 1.05.

Part 2, padding efficiency (in this process, with Adapta's building blocks: ``load_training_data``,
``make_collator``, ``apply_method`` and the trainer's TrainingArguments). Text rows of 10 to 120 tokens are
trained three ways: naive (padding to max_length, random order), Adapta's default (dynamic padding and
``group_by_length``) and Adapta with ``packing: true`` (whole examples per max_length sequence, each attending
only to itself: position ids restart per example and transformers builds a per-example causal mask). The
measure is real (non-pad) tokens per second after the warm-up steps, counted from the examples each batch
was made of, by wall-clock and by this process's CPU time (steadier on a shared machine, with one torch
thread). Goal: at least 1.5x naive; the packing speed-up is printed on its own line.

Torch runs single-threaded by default (``--threads 1``) so that both sides see the same CPU even on a
shared machine; ``--threads 0`` leaves torch's default. Converted models and runs go to ``--home``
(default ``$TMPDIR/adapta-bench``), not to your data home.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PLANETS = ROOT / "examples" / "data" / "planets.jsonl"
MIB = 1024 * 1024

PREFIXES = ["", "Quick question: ", "Please tell me: ", "I was wondering. ", "Trivia time! ", "Hello! "]
SUFFIXES = ["", " Answer briefly.", " Thanks!", " Please be precise."]


# --------------------------------------------------------------------------- setup


def configure_environment(home: Path, threads: int) -> dict[str, str]:
    """Offline, quiet, single data home; returns the environment for child processes (and sets it here)."""
    settings = {
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "ADAPTA_HOME": str(home),
        "PYTHONUNBUFFERED": "1",
    }
    if threads > 0:
        settings.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    os.environ.update(settings)
    os.environ.pop("ADAPTA_DB_URL", None)  # the bench's job rows go to the bench home's own database
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return dict(os.environ)


def prepare_model() -> str:
    """The packaged SmolLM2-135M-Instruct as a safetensors folder (converted from GGUF once, then reused)."""
    from jobs.models import packaged_model, resolve_model

    ref = packaged_model("smollm2")
    if ref is None:
        raise SystemExit("the packaged SmolLM2 model is not installed; run `make install` first")
    return str(resolve_model(ref).path)


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


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- measuring a child process


def run_child(command: list[str], env: dict[str, str], log_path: Path) -> dict[str, Any]:
    """Run ``command`` to completion; wall time, exit code, kernel peak RSS and polled peak RSS of its tree, and
    ``cpu_samples``: (wall clock, CPU seconds of the whole tree) every 0.1 s, so that :func:`cpu_step_rate` can tell how much
    CPU the measured steps took (a figure a busy machine does not distort the way it distorts wall time)."""
    import psutil

    started = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        watched = psutil.Process(process.pid)
        polled_peak = 0
        cpu_samples: list[tuple[float, float]] = []
        finished_children = 0.0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            try:
                tree = [watched, *watched.children(recursive=True)]
                polled_peak = max(polled_peak, sum(member.memory_info().rss for member in tree))
                times = watched.cpu_times()
                finished_children = max(finished_children, times.children_user + times.children_system)
                used = times.user + times.system + finished_children + sum(
                    sum(member.cpu_times()[:2]) for member in tree[1:])
                cpu_samples.append((time.time(), used))
            except psutil.Error:
                pass
            time.sleep(0.1)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting again
    max_rss = int(usage.ru_maxrss) if sys.platform == "darwin" else int(usage.ru_maxrss) * 1024
    return {
        "returncode": process.returncode,
        "wall_seconds": time.perf_counter() - started,
        "max_rss_bytes": max_rss,
        "polled_peak_rss_bytes": polled_peak,
        "cpu_samples": cpu_samples,
        "log": str(log_path),
    }


def step_rate(log_times: list[tuple[int, float]], warmup: int, steps: int) -> tuple[float, float]:
    """(steps/s, seconds) between the logs of step ``warmup`` and step ``warmup + steps``."""
    first_seen: dict[int, float] = {}
    for step, moment in log_times:
        first_seen.setdefault(int(step), float(moment))
    start, end = warmup, warmup + steps
    if start not in first_seen or end not in first_seen:
        raise RuntimeError(f"steps {start} and {end} were not both logged (logged: {sorted(first_seen)})")
    seconds = first_seen[end] - first_seen[start]
    return steps / seconds, seconds


def cpu_step_rate(log_times: list[tuple[int, float]], cpu_samples: list[tuple[float, float]], warmup: int, steps: int) -> float:
    """Steps per CPU-second between the logs of step ``warmup`` and step ``warmup + steps``: the child's CPU time at those two
    wall-clock moments, interpolated from ``cpu_samples`` (see :func:`run_child`). With one torch thread this is the speed the
    run would have on an idle core, whatever else the machine was doing."""
    first_seen: dict[int, float] = {}
    for step, moment in log_times:
        first_seen.setdefault(int(step), float(moment))

    def cpu_at(moment: float) -> float:
        before = [sample for sample in cpu_samples if sample[0] <= moment]
        after = [sample for sample in cpu_samples if sample[0] >= moment]
        if not before or not after:
            raise RuntimeError("the CPU time was not sampled around the measured steps")
        (t0, c0), (t1, c1) = before[-1], after[0]
        return c0 if t1 == t0 else c0 + (c1 - c0) * (moment - t0) / (t1 - t0)

    used = cpu_at(first_seen[warmup + steps]) - cpu_at(first_seen[warmup])
    return steps / used if used > 0 else float("nan")


def measured_rates(log_times: list[tuple[int, float]], child: dict[str, Any], config: dict[str, Any]) -> dict[str, float]:
    """Wall-clock steps/s, the measured seconds and steps per CPU-second of one run (``config``: its warmup and steps)."""
    rate, seconds = step_rate(log_times, config["warmup"], config["steps"])
    return {"steps_per_second": rate, "measured_seconds": seconds,
            "steps_per_cpu_second": cpu_step_rate(log_times, child.pop("cpu_samples", []), config["warmup"], config["steps"])}


def launch_adapta(spec: dict[str, Any], work: Path, env: dict[str, str], tag: str) -> tuple[Path, dict[str, Any], list[dict[str, Any]]]:
    """``launch.py train`` on ``spec`` (a mapping) in its own process: (run folder, the child's measurements, the metric rows
    that carry a loss). Raises with the log's tail when the run fails."""
    import yaml

    run_dir = work / f"adapta-{tag}"
    spec_path = work / f"adapta-{tag}.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    child = run_child([sys.executable, "launch.py", "train", str(spec_path), "--output", str(run_dir)], env, work / f"adapta-{tag}.log")
    if child["returncode"] != 0:
        raise RuntimeError(f"Adapta run failed (exit {child['returncode']}):\n{_tail(child['log'])}")
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    return run_dir, child, [line for line in lines if "loss" in line]


def write_results(path: Path, report: dict[str, Any]) -> None:
    """Add the load average to ``report`` and write it as JSON to ``path`` (folders created), then say where."""
    report["load_average"] = list(os.getloadavg())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"results in {path}")


def _tail(path: str, lines: int = 25) -> str:
    return "\n".join(Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


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


# --------------------------------------------------------------------------- padding efficiency (in process)


def padding_part(model_dir: str, config: dict[str, Any], work: Path) -> dict[str, Any]:
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


# --------------------------------------------------------------------------- report


def markdown(report: dict[str, Any]) -> str:
    config = report["config"]
    lines = []
    overhead = report.get("overhead")
    if overhead:
        lines += [
            "### Training overhead: `launch.py train` vs plain transformers + PEFT",
            "",
            f"SmolLM2-135M-Instruct, LoRA r=8 alpha=16 on q_proj/v_proj, {overhead['rows']} instruction rows, batch {config['batch_size']}, "
            f"max_length {config['max_length']}, fp32 CPU, {config['threads'] or 'default'} torch thread(s); steps/s over steps "
            f"{config['warmup'] + 1}-{config['warmup'] + config['steps']} (after {config['warmup']} warm-up steps).",
            "",
            "| run | side | steps/s | measured s | process wall s | peak RSS MiB | polled peak RSS MiB |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for run in overhead["runs"]:
            lines.append(
                f"| {run['run']} | {'Adapta' if run['side'] == 'adapta' else 'plain'} | {run['steps_per_second']:.3f} | {run['measured_seconds']:.1f} | "
                f"{run['wall_seconds']:.1f} | {run['max_rss_bytes'] / MIB:.0f} | {run['polled_peak_rss_bytes'] / MIB:.0f} |"
            )
        speed_ok = "meets" if overhead["meets_goals"]["speed"] else "MISSES"
        memory_ok = "meets" if overhead["meets_goals"]["memory"] else "MISSES"
        pairs = ", ".join(f"{ratio:.3f}" for ratio in overhead["steps_per_second_ratio_per_pair"])
        lines += [
            f"| **ratio** | Adapta ÷ plain | **{overhead['steps_per_second_ratio']:.3f}** | | | **{overhead['peak_rss_ratio']:.3f}** | "
            f"{overhead['polled_peak_rss_ratio']:.3f} |",
            "",
            f"steps/s ratio {overhead['steps_per_second_ratio']:.3f} ({speed_ok} goal >= 0.95; per pair: {pairs}); "
            f"peak RSS ratio {overhead['peak_rss_ratio']:.3f} ({memory_ok} goal <= 1.05).",
            "",
        ]
    padding = report.get("padding")
    if padding:
        lengths = padding["row_tokens"]
        lines += [
            "### Padding efficiency",
            "",
            f"{padding['rows']} text rows of {lengths['min']}-{lengths['max']} tokens (mean {lengths['mean']:.0f}), batch {config['batch_size']}, "
            f"max_length {config['max_length']}; real (non-pad) tokens/s over {config['pad_steps']} steps after {config['pad_warmup']} warm-up steps.",
            "",
            "| variant | real tokens/s | steps/s | real ÷ processed tokens | vs naive | real tokens per CPU s | vs naive (CPU time) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for variant in padding["variants"]:
            lines.append(
                f"| {variant['label']} | {variant['real_tokens_per_second']:.0f} | {variant['steps_per_second']:.3f} | "
                f"{variant['padding_efficiency']:.0%} | {variant['vs_naive']:.2f}x | {variant['real_tokens_per_cpu_second']:.0f} | "
                f"{variant['vs_naive_cpu']:.2f}x |"
            )
        packed = {variant["variant"]: variant for variant in padding["variants"]}
        lines += [
            "",
            f"Packing with per-example attention: {packed['adapta-packing']['vs_naive']:.2f}x naive, "
            f"{packed['adapta-packing']['real_tokens_per_second'] / packed['adapta-default']['real_tokens_per_second']:.2f}x the default "
            f"(by CPU time: {packed['adapta-packing']['vs_naive_cpu']:.2f}x naive, "
            f"{packed['adapta-packing']['real_tokens_per_cpu_second'] / packed['adapta-default']['real_tokens_per_cpu_second']:.2f}x the default).",
            f"Goal >= 1.5x naive: {'met' if padding['meets_goal'] else 'MISSED'}.",
            "",
        ]
    lines.append(
        f"Total benchmark time {report['total_seconds']:.0f} s on {report['machine']['cpus']} CPU(s) "
        f"(load average {report['machine']['load_before'][0]:.1f} before, {report['machine']['load_after'][0]:.1f} after)."
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Adapta training overhead and padding-efficiency benchmark.")
    parser.add_argument("--steps", type=int, default=20, help="measured training steps per overhead run (after --warmup)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up steps excluded from the overhead timing")
    parser.add_argument("--repeats", type=int, default=2, help="runs per side in the overhead part (order A,P,P,A)")
    parser.add_argument("--pad-steps", type=int, default=10, help="measured steps per padding variant")
    parser.add_argument("--pad-warmup", type=int, default=2, help="warm-up steps per padding variant")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "adapta-bench", help="ADAPTA_HOME for the benchmark")
    parser.add_argument("--skip-overhead", action="store_true", help="only run the padding part")
    parser.add_argument("--skip-padding", action="store_true", help="only run the overhead part")
    parser.add_argument("--keep", action="store_true", help="keep the run folders (printed at the end)")
    parser.add_argument("--output", type=Path, default=RESULTS / "train_overhead.json", help="where to write the JSON results")
    parser.add_argument("--quick", action="store_true", help="smoke test: 2 measured steps, 1 repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.repeats, args.pad_steps, args.pad_warmup = 2, 1, 1, 2, 1
    if min(args.steps, args.warmup, args.repeats, args.pad_steps, args.pad_warmup) < 1:
        parser.error("--steps, --warmup, --repeats, --pad-steps and --pad-warmup must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    load_before = os.getloadavg()
    args.home.mkdir(parents=True, exist_ok=True)
    env = configure_environment(args.home.absolute(), args.threads)
    config = {
        "steps": args.steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "pad_steps": args.pad_steps,
        "pad_warmup": args.pad_warmup,
        "threads": args.threads,
        "batch_size": 4,
        "max_length": 128,
        "learning_rate": 2.0e-4,
        "seed": 42,
        "min_tokens": 10,
        "max_tokens": 120,
        "quick": args.quick,
    }
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    print("preparing the model (the GGUF is converted once per --home) ...", flush=True)
    model_dir = prepare_model()
    work = Path(tempfile.mkdtemp(prefix="runs-", dir=args.home))
    report: dict[str, Any] = {"config": config, "model": model_dir}
    try:
        if not args.skip_overhead:
            report["overhead"] = overhead_part(model_dir, config, work, env)
        if not args.skip_padding:
            report["padding"] = padding_part(model_dir, config, work)
    finally:
        if args.keep:
            print(f"run folders kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    import torch
    import transformers

    report["machine"] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "load_before": list(load_before),
        "load_after": list(os.getloadavg()),
    }
    report["total_seconds"] = time.perf_counter() - started
    table = markdown(report)
    report["markdown"] = table
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print()
    print(table)
    print(f"\nresults written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
