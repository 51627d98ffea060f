"""Benchmark: the memory estimate of each task and objective against the peak of real Adapta training on this machine.

Run it offline (a few minutes on a quiet 2-core CPU)::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/memory_calibration.py              # every configuration below
    HF_HUB_OFFLINE=1 .venv/bin/python bench/memory_calibration.py --only minilm-embedding-lora minilm-classification-lora

Each configuration is the real Adapta training of a small model on this machine (the packaged SmolLM2-135M-Instruct
and all-MiniLM-L6-v2): :func:`jobs.queue.run.train_in_foreground`, the code ``launch.py train`` runs (trainer registry,
data loading, the trainer of the task and objective, metrics, checkpoint and adapter saving), for ``--steps`` optimizer
steps, the before/after report off, on generated rows long enough that every sequence is cut at ``training.max_length``
(the worst case the estimate is for). Each runs in a fresh child process of this file (``--child``), which first imports
everything the training imports (torch, transformers, peft, trl, sentence-transformers, datasets and Adapta's trainers),
takes its resident memory then as the idle baseline, resets the kernel's high-water mark (``/proc/self/clear_refs``) and
trains; the measured figure is the peak resident memory (``VmHWM``, cross-checked by polling RSS every 5 ms) minus the
baseline, so it holds the model, the data and training, not the ~0.6 GB Python runtime the estimate leaves out.

The estimate is the one the Train tab's pre-flight computes for the same spec (:func:`jobs.hub.search.memory_table` with
the workload of :func:`jobs.models.memory_job.workload_for`), on CPU. The script prints a markdown table (configuration,
estimate, measured, estimate ÷ measured) and the rows of :data:`jobs.models.memory_calibration.CALIBRATION` as Python, and
writes ``bench/results/memory_calibration.json`` (``--estimate-from`` recomputes the estimates of such a file without training).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import RESULTS, ROOT, configure_environment, write_jsonl  # noqa: E402

MB = 1_000_000
WORDS = ("river stone garden light window paper engine market silver winter orange planet harbor forest candle doctor "
         "letter mirror island valley thunder pencil bridge circle kitchen signal button blanket rocket meadow castle "
         "ladder violin shadow basket anchor feather compass lantern marble tunnel velvet wagon").split()


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def _rows(kind: str, count: int, words: int) -> list[dict[str, Any]]:
    """``count`` rows of ``kind`` whose texts have ``words`` words (each word is one or two tokens in both tokenizers)."""
    rng = random.Random(0)
    if kind == "text":
        return [{"text": _text(rng, words)} for _ in range(count)]
    if kind == "classification":
        return [{"text": _text(rng, words), "label": "yes" if index % 2 else "no"} for index in range(count)]
    if kind == "pairs":
        return [{"query": _text(rng, words), "passage": _text(rng, words)} for _ in range(count)]
    if kind == "preference":
        return [{"prompt": _text(rng, 8), "chosen": _text(rng, words), "rejected": _text(rng, words)} for _ in range(count)]
    if kind == "prompts":
        return [{"prompt": _text(rng, words)} for _ in range(count)]
    raise ValueError(kind)


def _training(batch_size: int, max_length: int, steps: int) -> dict[str, Any]:
    return {"max_steps": steps, "epochs": 1, "batch_size": batch_size, "max_length": max_length, "precision": "fp32", "warmup_ratio": 0.0,
            "logging_steps": 1, "save_steps": 1_000_000, "checkpoint_minutes": None, "seed": 0}


ALL_LINEAR = {"target_modules": "all-linear"}
QUERY_VALUE = {"minilm": {"target_modules": ["query", "value"]}, "smollm2": {"target_modules": ["q_proj", "v_proj"]}}
PAIRS = {"format": "pairs", "columns": {"anchor": "query", "positive": "passage"}}
CONFIGS: dict[str, dict[str, Any]] = {
    # name: model, data kind, words per text, batch, length, spec (without base_model, data.train and training); LoRA r8
    "minilm-embedding-lora": {"model": "minilm", "kind": "pairs", "words": 300, "batch_size": 16, "max_length": 256,  # ~11 GB at 32
                              "spec": {"task": "sentence-embedding", "method": "lora", "data": PAIRS, "lora": ALL_LINEAR}},
    "minilm-embedding-lora-qv": {"model": "minilm", "kind": "pairs", "words": 300, "batch_size": 32, "max_length": 256,
                                 "spec": {"task": "sentence-embedding", "method": "lora", "data": PAIRS, "lora": QUERY_VALUE["minilm"]}},
    "minilm-classification-lora": {"model": "minilm", "kind": "classification", "words": 300, "batch_size": 32, "max_length": 256,
                                   "spec": {"task": "text-classification", "method": "lora", "data": {"format": "classification"},
                                            "lora": ALL_LINEAR}},
    "minilm-classification-lora-qv": {"model": "minilm", "kind": "classification", "words": 300, "batch_size": 32, "max_length": 256,
                                      "spec": {"task": "text-classification", "method": "lora", "data": {"format": "classification"},
                                               "lora": QUERY_VALUE["minilm"]}},
    "smollm2-sft-lora": {"model": "smollm2", "kind": "text", "words": 300, "batch_size": 4, "max_length": 256,
                         "spec": {"task": "causal-lm", "method": "lora", "data": {"format": "text"}, "lora": ALL_LINEAR}},
    "smollm2-sft-lora-qv": {"model": "smollm2", "kind": "text", "words": 300, "batch_size": 4, "max_length": 256,
                            "spec": {"task": "causal-lm", "method": "lora", "data": {"format": "text"}, "lora": QUERY_VALUE["smollm2"]}},
    "smollm2-dpo-lora-qv": {"model": "smollm2", "kind": "preference", "words": 300, "batch_size": 4, "max_length": 256,
                            "spec": {"task": "causal-lm", "method": "lora", "objective": "dpo", "data": {"format": "preference"},
                                     "lora": QUERY_VALUE["smollm2"]}},
    "smollm2-dpo-full": {"model": "smollm2", "kind": "preference", "words": 300, "batch_size": 2, "max_length": 256,
                         "spec": {"task": "causal-lm", "method": "full", "objective": "dpo", "data": {"format": "preference"}}},
    "smollm2-grpo-lora-qv": {"model": "smollm2", "kind": "prompts", "words": 60, "batch_size": 4, "max_length": 128,
                             "spec": {"task": "causal-lm", "method": "lora", "objective": "grpo", "data": {"format": "prompts"},
                                      "lora": QUERY_VALUE["smollm2"],
                                      "grpo": {"num_generations": 4, "max_completion_length": 32,
                                               "rewards": [{"kind": "length", "target_length": 80}]}}},
}
"""The calibrated configurations: each task, and each objective that changes what a step holds, on the small models here; LoRA
on every linear layer (the default) and on the query/value projections (PEFT's old default), so both LoRA terms are measured."""


def build_spec(name: str, model_dir: str, work: Path, steps: int) -> dict[str, Any]:
    """The job spec of configuration ``name`` with its data written under ``work``."""
    config = CONFIGS[name]
    data = write_jsonl(work / f"{name}.jsonl", _rows(config["kind"], max(64, config["batch_size"] * (steps + 1)), config["words"]))
    spec = json.loads(json.dumps(config["spec"]))
    spec.update(name=f"calibration-{name}", base_model=model_dir, evaluation={"enabled": False})
    spec["data"] = {**spec["data"], "train": str(data)}
    spec["training"] = _training(config["batch_size"], config["max_length"], steps)
    return spec


# --------------------------------------------------------------------------- child: one configuration


def _status_bytes(field_name: str) -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field_name} not in /proc/self/status (Linux only)")


def run_child(spec_path: Path, run_dir: Path, result_path: Path) -> int:
    """Import what training imports, take the idle baseline, train the spec, write the peak above the baseline."""
    import psutil
    import torch

    from jobs.queue.run import train_in_foreground
    from jobs.spec import load_spec

    spec = load_spec(spec_path)
    gc.collect()
    baseline = _status_bytes("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := the current RSS
    process = psutil.Process()
    polled = {"peak": baseline, "stop": False}

    def poll() -> None:
        while not polled["stop"]:
            polled["peak"] = max(polled["peak"], process.memory_info().rss)
            time.sleep(0.005)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    started = time.perf_counter()
    _, summary = train_in_foreground(spec, run_dir, show_progress=False)
    seconds = time.perf_counter() - started
    polled["stop"] = True
    poller.join()
    kernel_peak = _status_bytes("VmHWM")
    result = {"baseline_rss": baseline, "kernel_peak_rss": kernel_peak, "polled_peak_rss": polled["peak"],
              "measured": max(kernel_peak, polled["peak"]) - baseline, "seconds": round(seconds, 1), "steps": summary.get("global_step"),
              "torch": torch.__version__, "threads": torch.get_num_threads()}
    result_path.write_text(json.dumps(result), encoding="utf-8")
    return 0


# --------------------------------------------------------------------------- parent


def model_dirs() -> dict[str, str]:
    from jobs.models import packaged_model, resolve_model

    found = {}
    for name in ("smollm2", "minilm"):
        ref = packaged_model(name)
        if ref is None:
            raise SystemExit(f"the packaged {name} model is not installed; run `make install` first")
        found[name] = str(resolve_model(ref).path)
    return found


def measure(name: str, spec: dict[str, Any], work: Path, env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Train ``spec`` in a fresh child process and return what it measured."""
    import yaml

    spec_path, result_path = work / f"{name}.yaml", work / f"{name}.result.json"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(spec_path), str(work / f"run-{name}"), str(result_path)]
    completed = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if completed.returncode != 0 or not result_path.is_file():
        tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-30:])
        raise SystemExit(f"configuration {name} failed (exit {completed.returncode}):\n{tail}")
    return json.loads(result_path.read_text(encoding="utf-8"))


def estimate(spec_fields: dict[str, Any]) -> Any:
    """The estimate the Train tab's pre-flight computes for this spec (:func:`jobs.hub.search.memory_table`), on CPU."""
    from jobs.hub.search import model_info
    from jobs.models.memory import estimate_for_config
    from jobs.models.memory_job import workload_for
    from jobs.spec import parse_spec

    spec = parse_spec(spec_fields)
    info = model_info(spec.base_model)
    training = spec.training
    return estimate_for_config(info["shape"], int(info["parameters"]), spec.method, batch_size=training.batch_size, seq_len=training.max_length,
                               precision_bytes=4, gradient_checkpointing=training.gradient_checkpointing, lora_r=spec.lora.r,
                               lora_targets=spec.lora.target_modules, device="cpu", workload=workload_for(spec))


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| configuration | batch × length | estimate MB | measured MB | estimate ÷ measured | s |", "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {row['name']} | {row['batch_size']} × {row['max_length']} | {row['estimate'] / MB:,.0f} | {row['measured'] / MB:,.0f} | "
              f"{row['ratio']:.2f} | {row['seconds']:.0f} |" for row in rows]
    return "\n".join(lines)


def calibration_rows(rows: list[dict[str, Any]], day: str) -> str:
    """The rows as :class:`jobs.models.memory_calibration.CalibrationRow` literals, to paste into that module."""
    return "\n".join(
        f'    CalibrationRow("cpu", "{row["task"]}", "{row["objective"]}", "{row["method"]}", "{_targets(row["spec"])}", "{row["model"]}", '
        f'{row["batch_size"]}, {row["max_length"]}, estimate_mb={row["estimate"] / MB:.0f}, measured_mb={row["measured"] / MB:.0f}, '
        f'date="{day}"),' for row in rows)


def _targets(spec: dict[str, Any]) -> str:
    """The LoRA targets of a spec as one word: all-linear, or the module names joined by "+" ("-" without LoRA)."""
    if spec["method"] not in ("lora", "qlora"):
        return "-"
    targets = spec.get("lora", {}).get("target_modules", "auto")
    return targets if isinstance(targets, str) else "+".join(targets)


def with_estimate(row: dict[str, Any], models: dict[str, str]) -> dict[str, Any]:
    """``row`` (a measurement and its spec) with today's estimate of its spec (its model found again in ``models``) and the ratio."""
    predicted = estimate({**row["spec"], "base_model": models[row["model"]]})
    return {**row, "estimate": predicted.total, "ratio": predicted.total / row["measured"], "estimate_human": predicted.human()}


def measure_all(names: list[str], report: dict[str, Any], output: Path, timeout: float) -> None:
    """Train every configuration of ``names`` in its own child process, adding one row per configuration (with its spec) to
    ``report["rows"]`` and writing ``report`` to ``output`` after each, so that an interrupted run keeps what it measured."""
    steps, threads, rows = report["steps"], report["threads"], report["rows"]
    with tempfile.TemporaryDirectory(prefix="adapta-memory-calibration-") as folder:
        work = Path(folder)
        env = configure_environment(work / "home", threads)
        env.pop("MALLOC_MMAP_THRESHOLD_", None)
        models = model_dirs()
        for name in names:
            config = CONFIGS[name]
            spec = build_spec(name, models[config["model"]], work, steps)
            print(f"  {name} ...", flush=True)
            measured = measure(name, spec, work, env, timeout)
            rows.append({"name": name, "model": config["model"], "task": spec["task"], "objective": spec.get("objective", "sft"),
                         "method": spec["method"], "batch_size": config["batch_size"], "max_length": config["max_length"], "spec": spec,
                         **measured})
            print(f"    measured {measured['measured'] / MB:,.0f} MB above the baseline in {measured['seconds']:.0f} s", flush=True)
            report["load_average"] = list(os.getloadavg())
            output.write_text(json.dumps(report, indent=2), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(CONFIGS), help="run only these configurations")
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per configuration (>= 2: AdamW's state exists from step 2)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads in the children")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per configuration")
    parser.add_argument("--output", type=Path, default=RESULTS / "memory_calibration.json")
    parser.add_argument("--estimate-from", type=Path, help="recompute the estimates of a results file's measurements (no training)")
    parser.add_argument("--child", nargs=3, type=Path, metavar=("SPEC", "RUN_DIR", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if args.child:
        return run_child(*args.child)
    if args.steps < 2:
        raise SystemExit("--steps must be at least 2 (the optimizer state exists from the second step on)")
    if args.estimate_from:
        report = json.loads(args.estimate_from.read_text(encoding="utf-8"))
    else:
        report = {"date": datetime.date.today().isoformat(), "steps": args.steps, "threads": args.threads, "rows": [],
                  "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()}}
        args.output.parent.mkdir(parents=True, exist_ok=True)
        measure_all(args.only or list(CONFIGS), report, args.output, args.timeout)
    with tempfile.TemporaryDirectory(prefix="adapta-memory-estimate-") as folder:  # the measured run's converted model is gone
        configure_environment(Path(folder) / "home", args.threads)
        models = model_dirs()
        report["rows"] = [with_estimate(row, models) for row in report["rows"]]
    print()
    print(markdown(report["rows"]))
    print()
    print(calibration_rows(report["rows"], report["date"]))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
