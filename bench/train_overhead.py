"""Benchmark: what Adapta's training path costs over plain transformers + PEFT, and what its padding saves.

Run it with ``make bench`` (which runs ``python bench/train_overhead.py``) or directly::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/train_overhead.py            # full run, a few minutes on a laptop CPU
    HF_HUB_OFFLINE=1 .venv/bin/python bench/train_overhead.py --quick    # smoke test: a couple of steps each

It prints markdown tables (paste them into a README) and writes ``bench/results/train_overhead.json``.

Part 1, overhead. The packaged SmolLM2-135M-Instruct (its GGUF converted once to safetensors under the
bench data home), LoRA r=8 alpha=16 on q/k/v/o_proj, ``--rows`` generated instruction rows (planets.jsonl varied,
default 40) for ``--epochs`` epochs (default 4), batch 4, max_length 128, seed 42, fp32 on CPU, trained by

- Adapta: ``python launch.py train SPEC.yaml --output DIR``, the real CLI (job row, lease heartbeat, per-step metrics
  to metrics.jsonl and the database, progress bar, dynamic padding, length-grouped batches), on a spec that names the
  same target modules, turns evaluation off (no rows held out, no report after training) and saves no mid-run
  checkpoint, and
- plain: ``bench/plain_lora.py``, a hand-written Trainer + PEFT script (DataCollatorForSeq2Seq padding to
  a multiple of 8, the same TrainingArguments including the length-grouped sampler).

Both sides train on the same rows in the same batches with the same labels: the first logged loss of every run is
printed, and ``tests/jobs/trainers/test_text_batches.py`` checks that the first batches are equal. Each runs as its own
subprocess. Speed is examples/s over the steps after the ``--warmup`` steps, from the wall-clock time at which each
step's log was written (Adapta: the ``time`` field of metrics.jsonl; plain: a callback on the same event), so model
loading and data preparation are excluded; steps per CPU-second (steadier on a shared machine) and the Trainer's own
``train_samples_per_second`` are reported beside it. Peak RSS is the child's ``ru_maxrss`` from ``os.wait4`` (exact,
kernel-reported), cross-checked by polling the process tree with psutil every 0.1 s. The runs alternate, each pair
mirrored (Adapta, plain, plain, Adapta, Adapta, plain with ``--repeats 3``) so slow drift of the machine cancels out;
ratios are of the medians. Goals: examples/s ratio >= 0.95, peak RSS ratio <= 1.05, equal first losses.

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

This file is the runner and the report (command line, the two parts in turn, markdown tables, JSON). The parts live
in ``bench/train_vs_plain.py`` (part 1) and ``bench/padding_efficiency.py`` (part 2); the child-process measurement
they share with the other training benchmarks in ``bench/harness.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import MIB, RESULTS, configure_environment, prepare_model
from padding_efficiency import padding_part
from train_vs_plain import overhead_part

BATCH_SIZE = 4

# --------------------------------------------------------------------------- report


def markdown(report: dict[str, Any]) -> str:
    config = report["config"]
    lines = []
    overhead = report.get("overhead")
    if overhead:
        lines += [
            "### Training overhead: `launch.py train` vs plain transformers + PEFT",
            "",
            f"SmolLM2-135M-Instruct, LoRA r=8 alpha=16 on {'/'.join(config['target_modules'])}, {overhead['rows']} instruction rows x "
            f"{config['epochs']:g} epochs, batch {config['batch_size']}, max_length {config['max_length']}, fp32 CPU, "
            f"{config['threads'] or 'default'} torch thread(s), evaluation off on both sides; examples/s over steps "
            f"{config['warmup'] + 1}-{config['warmup'] + config['steps']} (after {config['warmup']} warm-up steps).",
            "",
            "| run | side | examples/s | steps per CPU-s | Trainer samples/s | first loss | process wall s | peak RSS MiB | polled peak RSS MiB |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for run in overhead["runs"]:
            lines.append(
                f"| {run['run']} | {'Adapta' if run['side'] == 'adapta' else 'plain'} | {run['examples_per_second']:.3f} | "
                f"{run['steps_per_cpu_second']:.3f} | {run['trainer_samples_per_second']:.3f} | {run['first_loss']:.4f} | "
                f"{run['wall_seconds']:.1f} | {run['max_rss_bytes'] / MIB:.0f} | {run['polled_peak_rss_bytes'] / MIB:.0f} |"
            )
        goals = overhead["meets_goals"]
        pairs = ", ".join(f"{ratio:.3f}" for ratio in overhead["examples_per_second_ratio_per_pair"])
        lines += [
            f"| **ratio of medians** | Adapta ÷ plain | **{overhead['examples_per_second_ratio']:.3f}** | {overhead['steps_per_cpu_second_ratio']:.3f} | "
            f"{overhead['trainer_samples_per_second_ratio']:.3f} | | | **{overhead['peak_rss_ratio']:.3f}** | {overhead['polled_peak_rss_ratio']:.3f} |",
            "",
            f"examples/s ratio {overhead['examples_per_second_ratio']:.3f} ({'meets' if goals['speed'] else 'MISSES'} goal >= 0.95; "
            f"per pair: {pairs}); peak RSS ratio {overhead['peak_rss_ratio']:.3f} ({'meets' if goals['memory'] else 'MISSES'} goal <= 1.05); "
            f"first losses {'equal' if goals['same_batches'] else 'DIFFER'} "
            f"(Adapta {', '.join(f'{loss:.4f}' for loss in overhead['first_losses']['adapta'])}; "
            f"plain {', '.join(f'{loss:.4f}' for loss in overhead['first_losses']['plain'])}).",
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
    parser.add_argument("--rows", type=int, default=40, help="instruction rows trained in the overhead part")
    parser.add_argument("--epochs", type=int, default=4, help="epochs over the rows in the overhead part")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up steps excluded from the overhead timing")
    parser.add_argument("--repeats", type=int, default=3, help="runs per side in the overhead part (order A,P,P,A,A,P, ...)")
    parser.add_argument("--pad-steps", type=int, default=10, help="measured steps per padding variant")
    parser.add_argument("--pad-warmup", type=int, default=2, help="warm-up steps per padding variant")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "adapta-bench", help="ADAPTA_HOME for the benchmark")
    parser.add_argument("--skip-overhead", action="store_true", help="only run the padding part")
    parser.add_argument("--skip-padding", action="store_true", help="only run the overhead part")
    parser.add_argument("--keep", action="store_true", help="keep the run folders (printed at the end)")
    parser.add_argument("--output", type=Path, default=RESULTS / "train_overhead.json", help="where to write the JSON results")
    parser.add_argument("--quick", action="store_true", help="smoke test: 12 rows x 1 epoch, 1 repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.epochs, args.warmup, args.repeats, args.pad_steps, args.pad_warmup = 12, 1, 1, 1, 2, 1
    if min(args.rows, args.epochs, args.warmup, args.repeats, args.pad_steps, args.pad_warmup) < 1:
        parser.error("--rows, --epochs, --warmup, --repeats, --pad-steps and --pad-warmup must be at least 1")
    args.steps = -(-args.rows // BATCH_SIZE) * args.epochs - args.warmup
    if args.steps < 1:
        parser.error(f"--rows x --epochs must give more than --warmup ({args.warmup}) steps of batch {BATCH_SIZE}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    load_before = os.getloadavg()
    args.home.mkdir(parents=True, exist_ok=True)
    env = configure_environment(args.home.absolute(), args.threads)
    config = {
        "rows": args.rows,
        "epochs": args.epochs,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
        "steps": args.steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "pad_steps": args.pad_steps,
        "pad_warmup": args.pad_warmup,
        "threads": args.threads,
        "batch_size": BATCH_SIZE,
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
