"""Benchmark: Adapta's DPO against a plain TRL ``DPOTrainer`` script with the same settings, in one run.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/dpo_overhead.py            # a few minutes on a laptop CPU
    HF_HUB_OFFLINE=1 .venv/bin/python bench/dpo_overhead.py --quick    # smoke test

The packaged SmolLM2-135M-Instruct (converted from its GGUF once under ``--home``), LoRA r=8 alpha=16 dropout 0.05 on
q_proj/v_proj, beta 0.1, sigmoid loss, batch 4, max_length 128, fp32 on CPU, one torch thread, the same preference pairs
(the planets questions; chosen answers cite "Our records show:", rejected ones hedge "But I might be wrong."), trained for ``--warmup`` + ``--steps``
steps by

- Adapta: ``python launch.py train SPEC.yaml --output DIR`` (job row, metric rows, progress bar, checkpoint timer), and
- plain: this file with ``--plain``: ``DPOTrainer(model, args=DPOConfig(...), peft_config=LoraConfig(...))`` on the same
  conversational rows, nothing of Adapta.

Each side runs in its own subprocess; speed is steps/s between the logs of step ``--warmup`` and the last step, so loading
is excluded. With ``--repeats 2`` the order is Adapta, plain, plain, Adapta. Goal: steps/s ratio >= 0.95.

Part 2 (``--demo``, or ``--demo-only``), what DPO buys: the same house-style pairs of examples/data/planets.jsonl trained
through Adapta (``--demo-steps`` steps, lr 1e-3), and the before/after report's preference accuracy on the held-out pairs
built from examples/data/planets-validation.jsonl (questions asked in words training never saw). Results go to
``bench/results/dpo_overhead.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    RESULTS,
    ROOT,
    _tail,
    configure_environment,
    launch_adapta,
    measured_rates,
    prepare_model,
    run_child,
    write_results,
)

PLANETS = ROOT / "examples" / "data" / "planets.jsonl"


def house_style(question: str, answer: str) -> dict[str, str]:
    """One pair in the house style: the chosen answer cites the records, the rejected one hedges (about as many tokens each)."""
    return {"prompt": question, "chosen": f"Our records show: {answer}", "rejected": f"{answer} But I might be wrong."}


def house_style_pairs(count: int) -> list[dict[str, str]]:
    """``count`` house-style preference pairs from the planets questions, asked with varied openings."""
    base = [json.loads(line) for line in PLANETS.read_text(encoding="utf-8").splitlines() if line.strip()]
    prefixes = ["", "Quick question: ", "Please tell me: ", "Trivia time! "]
    return [house_style(f"{prefixes[(index // len(base)) % len(prefixes)]}{base[index % len(base)]['question']}", base[index % len(base)]["answer"])
            for index in range(count)]


def run_adapta(model_dir: str, data: Path, config: dict[str, Any], work: Path, env: dict[str, str], tag: str) -> dict[str, Any]:
    """``launch.py train`` on the spec equivalent to the plain script."""
    spec = {
        "name": f"bench-dpo-{tag}", "task": "causal-lm", "base_model": model_dir, "method": "lora", "objective": "dpo",
        "data": {"train": str(data), "format": "preference"},
        "training": {"epochs": 1, "max_steps": config["warmup"] + config["steps"], "learning_rate": config["learning_rate"],
                     "batch_size": config["batch_size"], "max_length": config["max_length"], "warmup_ratio": 0.0, "scheduler": "linear",
                     "logging_steps": 1, "save_steps": 1_000_000, "seed": config["seed"], "precision": "fp32"},
        "lora": {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": ["q_proj", "v_proj"]},  # the plain script's
        "preference": {"beta": 0.1, "loss_type": "sigmoid"},
        "evaluation": {"enabled": False},
    }
    _, child, logged = launch_adapta(spec, work, env, tag)
    return {"side": "adapta", **measured_rates([(line["step"], line["time"]) for line in logged], child, config),
            "first_loss": logged[0]["loss"], "last_loss": logged[-1]["loss"], **child}


def run_plain(model_dir: str, data: Path, config: dict[str, Any], work: Path, env: dict[str, str], tag: str) -> dict[str, Any]:
    """This file with ``--plain`` on the same rows and settings."""
    result = work / f"plain-{tag}.json"
    command = [sys.executable, __file__, "--plain", "--model", model_dir, "--data", str(data), "--result", str(result),
               "--config", json.dumps(config), "--output-dir", str(work / f"plain-{tag}")]
    child = run_child(command, env, work / f"plain-{tag}.log")
    if child["returncode"] != 0:
        raise RuntimeError(f"plain run failed (exit {child['returncode']}):\n{_tail(child['log'])}")
    measured = json.loads(result.read_text(encoding="utf-8"))
    return {"side": "plain", **measured_rates(measured["log_times"], child, config), "first_loss": measured["losses"][0],
            "last_loss": measured["losses"][-1], **child}


def plain_dpo(model_dir: str, data: Path, config: dict[str, Any], result: Path, output_dir: Path) -> None:
    """What a person writes with TRL alone: conversational rows, DPOConfig, a LoRA peft_config, a timing callback."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    torch.set_num_threads(config["threads"])
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": row["prompt"]}],
                                  "chosen": [{"role": "assistant", "content": row["chosen"]}],
                                  "rejected": [{"role": "assistant", "content": row["rejected"]}]} for row in rows])
    log_times: list[tuple[int, float]] = []
    losses: list[float] = []

    class Timing(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
            if logs and "loss" in logs:
                log_times.append((state.global_step, time.time()))
                losses.append(float(logs["loss"]))

    args = DPOConfig(output_dir=str(output_dir), max_steps=config["warmup"] + config["steps"], learning_rate=config["learning_rate"],
                     per_device_train_batch_size=config["batch_size"], max_length=config["max_length"], lr_scheduler_type="linear",
                     logging_steps=1, save_strategy="no", seed=config["seed"], beta=0.1, loss_type=["sigmoid"], bf16=False, fp16=False,
                     gradient_checkpointing=False, use_cpu=True, report_to="none", disable_tqdm=True, dataloader_num_workers=0)
    peft_config = LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "v_proj"])
    trainer = DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=peft_config,
                         callbacks=[Timing()])
    trainer.train()
    result.write_text(json.dumps({"log_times": log_times, "losses": losses}), encoding="utf-8")


def measure(model_dir: str, config: dict[str, Any], work: Path, env: dict[str, str]) -> dict[str, Any]:
    data = work / "pairs.jsonl"
    rows = house_style_pairs(config["batch_size"] * (config["warmup"] + config["steps"]))
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    order = (["adapta", "plain", "plain", "adapta"] * config["repeats"])[: 2 * config["repeats"]]
    runs: list[dict[str, Any]] = []
    for number, side in enumerate(order, start=1):
        print(f"  {side} run {number} ...", flush=True)
        result = (run_adapta if side == "adapta" else run_plain)(model_dir, data, config, work, env, str(number))
        print(f"    {result['steps_per_second']:.3f} steps/s, {result['steps_per_cpu_second']:.3f} steps per CPU-second, "
              f"loss {result['first_loss']:.3f} -> {result['last_loss']:.3f}", flush=True)
        runs.append(result)

    def mean(side: str, key: str = "steps_per_second") -> float:
        return statistics.fmean(run[key] for run in runs if run["side"] == side)

    ratio = mean("adapta") / mean("plain")
    cpu_ratio = mean("adapta", "steps_per_cpu_second") / mean("plain", "steps_per_cpu_second")
    return {"order": order, "runs": runs, "adapta_steps_per_second": mean("adapta"), "plain_steps_per_second": mean("plain"),
            "steps_per_second_ratio": ratio, "adapta_steps_per_cpu_second": mean("adapta", "steps_per_cpu_second"),
            "plain_steps_per_cpu_second": mean("plain", "steps_per_cpu_second"), "steps_per_cpu_second_ratio": cpu_ratio,
            "goal": 0.95, "meets_goal": ratio >= 0.95, "meets_goal_in_cpu_time": cpu_ratio >= 0.95}


def demo(model_dir: str, steps: int, work: Path) -> dict[str, Any]:
    """House-style DPO on SmolLM2 through Adapta; the report's held-out preference accuracy, base vs adapted."""
    from jobs.evaluation import read_report
    from jobs.queue.run import execute_run
    from jobs.spec import parse_spec

    def pairs(name: str) -> Path:
        rows = [json.loads(line) for line in (ROOT / "examples" / "data" / name).read_text(encoding="utf-8").splitlines() if line.strip()]
        path = work / name
        path.write_text("".join(json.dumps(house_style(row["question"], row["answer"])) + "\n" for row in rows), encoding="utf-8")
        return path

    spec = parse_spec({
        "name": "bench-dpo-demo", "base_model": model_dir, "method": "lora", "objective": "dpo",
        "data": {"train": str(pairs("planets.jsonl")), "validation": str(pairs("planets-validation.jsonl"))},
        "training": {"max_steps": steps, "learning_rate": 1e-3, "batch_size": 4, "max_length": 96, "warmup_ratio": 0.0,
                     "logging_steps": 1, "save_steps": 1_000_000, "precision": "fp32"},
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "auto"},
    })
    started = time.perf_counter()
    summary = execute_run(spec, work / "demo")
    report = read_report(work / "demo")
    accuracy, margin, per_token = (report.metric(name) for name in ("preference_accuracy", "preference_margin", "preference_accuracy_per_token"))
    return {"steps": steps, "first_loss": summary["first_loss"], "last_loss": summary["last_loss"], "measured_on": report.measured_on,
            "base_accuracy": accuracy.base, "adapted_accuracy": accuracy.adapted, "base_margin": margin.base,
            "adapted_margin": margin.adapted, "base_accuracy_per_token": per_token.base, "adapted_accuracy_per_token": per_token.adapted,
            "flips": report.flips, "seconds": time.perf_counter() - started}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Adapta DPO vs a plain TRL DPOTrainer script.")
    parser.add_argument("--steps", type=int, default=20, help="measured steps per run (after --warmup)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up steps excluded from the timing")
    parser.add_argument("--repeats", type=int, default=2, help="runs per side (order A,P,P,A)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "adapta-bench", help="ADAPTA_HOME for the benchmark")
    parser.add_argument("--output", type=Path, default=RESULTS / "dpo_overhead.json", help="where to write the JSON results")
    parser.add_argument("--quick", action="store_true", help="smoke test: 3 measured steps, 1 repeat")
    parser.add_argument("--demo", action="store_true", help="also train the house-style DPO demo and report held-out preference accuracy")
    parser.add_argument("--demo-only", action="store_true", help="only the demo (no speed comparison)")
    parser.add_argument("--demo-steps", type=int, default=12, help="training steps of the demo")
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--output-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.repeats = 3, 1, 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.plain:
        plain_dpo(args.model, args.data, json.loads(args.config), args.result, args.output_dir)
        return 0
    started = time.perf_counter()
    args.home.mkdir(parents=True, exist_ok=True)
    env = configure_environment(args.home.absolute(), args.threads)
    config = {"steps": args.steps, "warmup": args.warmup, "repeats": args.repeats, "threads": max(1, args.threads), "batch_size": 4,
              "max_length": 128, "learning_rate": 5e-5, "seed": 42}
    print("preparing the model (the GGUF is converted once per --home) ...", flush=True)
    model_dir = prepare_model()
    work = Path(tempfile.mkdtemp(prefix="dpo-", dir=args.home))
    report: dict[str, Any] = {"config": config, "model": model_dir}
    if not args.demo_only:
        report.update(measure(model_dir, config, work, env))
        print(f"\n| side | steps/s (wall) | steps per CPU-second |\n|---|---|---|\n"
              f"| Adapta DPO | {report['adapta_steps_per_second']:.3f} | {report['adapta_steps_per_cpu_second']:.3f} |\n"
              f"| plain TRL DPOTrainer | {report['plain_steps_per_second']:.3f} | {report['plain_steps_per_cpu_second']:.3f} |\n\n"
              f"ratio {report['steps_per_second_ratio']:.3f} wall, {report['steps_per_cpu_second_ratio']:.3f} CPU time "
              f"(goal >= 0.95: {'met' if report['meets_goal'] else 'NOT met'} on the wall clock, "
              f"{'met' if report['meets_goal_in_cpu_time'] else 'NOT met'} in CPU time; load average {os.getloadavg()[0]:.1f})")
    if args.demo or args.demo_only:
        print("  demo: house-style DPO ...", flush=True)
        report["demo"] = found = demo(model_dir, args.demo_steps, work)
        print(f"\nheld-out preference accuracy: base {found['base_accuracy']:.0%} -> adapted {found['adapted_accuracy']:.0%} "
              f"({found['measured_on']}; loss {found['first_loss']:.3f} -> {found['last_loss']:.3f})")
    report["total_seconds"] = time.perf_counter() - started
    write_results(args.output, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
