"""Demonstration: a cold start plus GRPO through Adapta teaches the packaged SmolLM2-135M-Instruct to wrap its answer in
``<answer>`` tags, and the before/after report shows the held-out mean reward rising over the warm-started model's.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/grpo_demo.py                          # ~12 min on a busy 2-core CPU
    HF_HUB_OFFLINE=1 .venv/bin/python bench/grpo_demo.py --warm-only --sft-steps 4  # calibrate the warm start only
    HF_HUB_OFFLINE=1 .venv/bin/python bench/grpo_demo.py --reuse DIR --lr 5e-4      # GRPO again from DIR's warm start
    HF_HUB_OFFLINE=1 .venv/bin/python bench/grpo_demo.py --steps 2 --sft-steps 2    # smoke test

Why a cold start: SmolLM2-135M-Instruct almost never writes the tags, whatever the prompt (measured 2026-12-01: at best 1
in 30 sampled completions; 0 of the 96 completions sampled in 12 GRPO steps), so every group of sampled completions scores
0, GRPO has no gradient, and the held-out reward stays 0 -> 0. So, all through Adapta's own jobs:

1. Warm start: an sft LoRA job (:func:`jobs.queue.run.execute_run`, objective sft) on examples/data/planets-answer-tags.jsonl,
   the planets questions with their answers written as ``<answer>...</answer>``; few steps at a small learning rate
   (``--sft-steps``, ``--sft-lr``), so that the model writes the tags only SOME of the time. The tag rate (share of
   completions sampled as GRPO samples them, on the held-out GRPO prompts, with both tags) is measured for the packaged
   model and for the warm-started one, and the adapter is merged into a full model folder with :func:`jobs.export.merge.merge_run`.
2. GRPO: ``examples/smollm2-grpo.yaml`` with the merged folder as ``base_model`` (``--steps``, ``--generations``, ``--lr``
   override its settings). Its reward gives partial credit per tag (``contains`` ``<answer>`` x 0.25, ``</answer>`` x 0.25,
   ``format`` x 0.5). The job's report (:mod:`jobs.evaluation.preference`, read with :func:`jobs.evaluation.read_report`)
   answers the held-out prompts of examples/data/planets-grpo-validation.jsonl greedily with the base (the warm-started
   model, GRPO adapter off) and the adapted model, and gives the mean reward per term and overall.

Measured on the shared 2-core machine (2026-12-01, load ~7-10, ``--threads 1``; 2 threads made an sft step ~6x slower there):

- warm start, 3 sft steps at lr 1e-3 (loss 2.83 -> 1.17): both tags in 0 of 16 sampled completions of the packaged model,
  4 of 16 (25%) of the warm-started one (4 steps: 50%, and its greedy answers already carried ``<answer>`` on every held-out
  prompt, the closing tag on half); 210 s with the tag rates and the merge;
- GRPO, the example as shipped (12 steps, 8 generations, lr 1e-3): held-out mean reward 0.146 -> 1.000 (contains
  ``<answer>`` 0.583 -> 1.0, ``</answer>`` 0 -> 1.0, format 0 -> 1.0), greedy answers with both tags 0% -> 100%; training
  reward 0.56, 0.75, 0.91 in the first steps, 1.0 in the last three; 510 s (20-70 s a step under load), 746 s in all. The
  format reward does not check the answer: the adapted model often puts a short made-up word between the tags.
- At lr 1e-2 (the old example) the model fell apart in 2 steps: gibberish, training reward 0.81 -> 0.

Prints the tag rates, the held-out mean reward (overall and per term, base vs adapted), the training reward of the first
and last steps, a few sampled completions from the job's log (``train.log``), the settings and the time, and writes
``bench/results/grpo_demo.json``. The converted model and the runs go to ``--home`` (default ``$TMPDIR/adapta-bench``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import RESULTS, ROOT, configure_environment, prepare_model, write_results  # noqa: E402

EXAMPLE = ROOT / "examples" / "smollm2-grpo.yaml"
WARM_START_DATA = ROOT / "examples" / "data" / "planets-answer-tags.jsonl"
WARM_START_RESULTS = "warm-start.json"
"""The warm start's measurements and merged folder, in the work folder: ``--reuse`` reads them back."""


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSON-lines file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run_logged(spec: Any, run_dir: Path) -> dict[str, Any]:
    """Train ``spec`` through Adapta into ``run_dir`` with stdout going to ``run_dir/train.log``, as the worker runs a job."""
    from jobs.queue.run import execute_run

    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "train.log").open("w", encoding="utf-8") as log:
        stdout = os.dup(1)
        os.dup2(log.fileno(), 1)  # GRPO prints its sampled completions to the job's log
        try:
            return execute_run(spec, run_dir)
        finally:
            sys.stdout.flush()
            os.dup2(stdout, 1)
            os.close(stdout)


def warm_start_spec(model_dir: str, steps: int, learning_rate: float) -> Any:
    """The cold-start sft LoRA job: planets questions answered inside ``<answer>`` tags, no report (it is measured here)."""
    from jobs.spec import JobSpec

    return JobSpec.model_validate({
        "name": "planets-answer-tags-warm-start", "task": "causal-lm", "base_model": model_dir, "method": "lora", "objective": "sft",
        "data": {"train": str(WARM_START_DATA), "format": "instruction", "columns": {"prompt": "question", "response": "answer"}},
        "training": {"max_steps": steps, "learning_rate": learning_rate, "batch_size": 4, "max_length": 128, "warmup_ratio": 0.0,
                     "scheduler": "constant", "logging_steps": 1, "seed": 1},
        "lora": {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"},
        "evaluation": {"enabled": False},
    })


def tag_rates(run_dir: Path, prompts: list[str], samples: int, max_new_tokens: int, temperature: float) -> dict[str, float]:
    """Share of sampled completions (as GRPO samples: ``temperature``, top_p 1) that carry both tags, for the run's base
    model (adapter off) and the adapted one; ``samples`` completions each, cycling over ``prompts``."""
    from jobs.inference.text import GenerationSettings, generate, load_run
    from jobs.trainers.rewards import extract_tagged

    loaded = load_run(run_dir)
    rates = {}
    for name, adapter in (("base", False), ("adapted", True)):
        outputs = [generate(loaded, prompts[index % len(prompts)],
                            GenerationSettings(max_new_tokens=max_new_tokens, temperature=temperature, top_p=1.0, seed=index), adapter=adapter)
                   for index in range(samples)]
        rates[name] = sum(1 for text in outputs if extract_tagged(text, "answer")) / samples
        rates[f"{name}_example"] = outputs[0]
    return rates


def grpo_spec(model_dir: str, steps: int | None, generations: int | None, learning_rate: float | None) -> Any:
    """The shipped GRPO example, pointed at ``model_dir`` (the merged warm start), with optional overrides."""
    from jobs.spec import load_spec

    spec = load_spec(EXAMPLE)
    spec.base_model = model_dir
    spec.data.train = str(ROOT / spec.data.train)
    spec.data.validation = str(ROOT / spec.data.validation)
    if steps is not None:
        spec.training.max_steps = steps
    if generations is not None:
        spec.grpo.num_generations = generations
        spec.training.batch_size = generations  # one prompt per step
    if learning_rate is not None:
        spec.training.learning_rate = learning_rate
    return type(spec).model_validate(spec.model_dump())


def sampled_lines(log_path: Path, count: int) -> list[str]:
    """The first and last ``count`` sampled completions GRPO printed to the job's log."""
    if not log_path.is_file():
        return []
    lines = [line for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines() if line.startswith("[grpo sample] completion:")]
    return lines[:count] + lines[-count:] if len(lines) > 2 * count else lines


def warm_start(model_dir: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Run the sft warm start, measure the tag rates, and (unless ``--warm-only``) merge it into ``work/warm-start-merged``."""
    from jobs.export.merge import merge_run

    started = time.perf_counter()
    spec = warm_start_spec(model_dir, args.sft_steps, args.sft_lr)
    run_dir = work / "warm-start"
    summary = run_logged(spec, run_dir)
    example = grpo_spec(model_dir, None, None, None)
    prompts = [row["prompt"] for row in read_jsonl(Path(example.data.validation))]
    rates = tag_rates(run_dir, prompts, args.tag_samples, example.grpo.max_completion_length, example.grpo.temperature)
    merged = None if args.warm_only else str(merge_run(run_dir, work / "warm-start-merged"))
    losses = [row["loss"] for row in read_jsonl(run_dir / "metrics.jsonl") if "loss" in row]
    found = {"steps": summary["global_step"], "learning_rate": args.sft_lr, "data": str(WARM_START_DATA.relative_to(ROOT)),
            "loss_first": losses[:1], "loss_last": losses[-1:], "tag_samples": args.tag_samples,
            "packaged_tag_rate": rates["base"], "warm_start_tag_rate": rates["adapted"],
            "packaged_sample": rates["base_example"], "warm_start_sample": rates["adapted_example"],
            "merged_model": merged, "seconds": time.perf_counter() - started}
    (work / WARM_START_RESULTS).write_text(json.dumps(found, indent=2), encoding="utf-8")
    return found


def grpo(merged_dir: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """GRPO through Adapta from the warm-started model; the report's held-out mean reward per term, base vs adapted."""
    from jobs.evaluation import read_report
    from jobs.trainers.rewards import extract_tagged

    started = time.perf_counter()
    spec = grpo_spec(merged_dir, args.steps, args.generations, args.lr)
    run_dir = work / "grpo"
    summary = run_logged(spec, run_dir)
    report = read_report(run_dir)
    if report.skipped:
        raise RuntimeError(f"the report was skipped: {report.skipped}")
    terms = {row.name: {"base": row.base, "adapted": row.adapted} for row in report.metrics}

    def tagged_share(outputs: list[str]) -> float:
        return sum(1 for text in outputs if extract_tagged(text, "answer")) / max(1, len(outputs))

    metrics = [row for row in read_jsonl(run_dir / "metrics.jsonl") if "reward" in row]
    return {
        "steps": summary["global_step"], "train_examples": summary["train_examples"], "measured_on": report.measured_on,
        "settings": spec.model_dump(mode="json", include={"training", "grpo", "lora"}),
        "base_mean_reward": terms["reward"]["base"], "adapted_mean_reward": terms["reward"]["adapted"], "terms": terms,
        "base_tagged_share": tagged_share([example.base_output for example in report.examples]),
        "adapted_tagged_share": tagged_share([example.adapted_output for example in report.examples]),
        "train_reward_first": [row["reward"] for row in metrics[:3]], "train_reward_last": [row["reward"] for row in metrics[-3:]],
        "examples": [{"prompt": example.input, "base": example.base_output, "adapted": example.adapted_output} for example in report.examples[:3]],
        "log_samples": sampled_lines(run_dir / "train.log", 2), "train_log": str(run_dir / "train.log"),
        "seconds": time.perf_counter() - started,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Cold start + GRPO with a format reward on SmolLM2: held-out mean reward, base vs adapted.")
    parser.add_argument("--sft-steps", type=int, default=3, help="warm-start sft steps (batch 4)")
    parser.add_argument("--sft-lr", type=float, default=1e-3, help="warm-start sft learning rate")
    parser.add_argument("--tag-samples", type=int, default=16, help="sampled completions per model for the tag rates")
    parser.add_argument("--warm-only", action="store_true", help="stop after the warm start and its tag rates (calibration)")
    parser.add_argument("--reuse", type=Path, default=None, help="a previous work folder: reuse its merged warm start, run only GRPO")
    parser.add_argument("--steps", type=int, default=None, help="GRPO steps (default: the example's max_steps)")
    parser.add_argument("--generations", type=int, default=None, help="GRPO completions per prompt (default: the example's)")
    parser.add_argument("--lr", type=float, default=None, help="GRPO learning rate (default: the example's)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default; 1 was ~6x faster than 2 on a busy 2-core machine)")
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "adapta-bench", help="ADAPTA_HOME for the demo")
    parser.add_argument("--output", type=Path, default=RESULTS / "grpo_demo.json", help="where to write the JSON results")
    return parser.parse_args(argv)


def print_results(warm: dict[str, Any], found: dict[str, Any]) -> None:
    """The tag rates and the report's held-out table, as Markdown."""
    print(f"\nwarm start: {warm['steps']} sft steps at lr {warm['learning_rate']:g}, loss {warm['loss_first']} -> {warm['loss_last']}; "
          f"sampled completions with both tags: packaged {warm['packaged_tag_rate']:.0%}, warm-started {warm['warm_start_tag_rate']:.0%} "
          f"({warm['tag_samples']} each, {warm['seconds']:.0f} s)")
    if not found:
        return
    print(f"\n| held-out ({found['measured_on']}) | base (warm start) | adapted (+GRPO) |\n|---|---|---|")
    for name, values in found["terms"].items():
        print(f"| mean {name} | {values['base']:.3f} | {values['adapted']:.3f} |")
    print(f"| greedy answers with both tags | {found['base_tagged_share']:.0%} | {found['adapted_tagged_share']:.0%} |")
    print(f"\nGRPO training reward: first steps {found['train_reward_first']}, last steps {found['train_reward_last']} "
          f"({found['steps']} steps, {found['seconds']:.0f} s)")
    for line in found["log_samples"]:
        print(f"  {line[:160]}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    args.home.mkdir(parents=True, exist_ok=True)
    configure_environment(args.home.absolute(), args.threads)
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    print("preparing the model (the GGUF is converted once per --home) ...", flush=True)
    model_dir = prepare_model()
    work = Path(tempfile.mkdtemp(prefix="grpo-", dir=args.home))
    if args.reuse is not None:
        warm = json.loads((args.reuse / WARM_START_RESULTS).read_text(encoding="utf-8"))
        print(f"reusing the warm start of {args.reuse}; GRPO runs in {work} ...", flush=True)
    else:
        print(f"warm start (sft on {WARM_START_DATA.relative_to(ROOT)}), runs in {work} ...", flush=True)
        warm = warm_start(model_dir, args, work)
    found: dict[str, Any] = {}
    if not args.warm_only:
        print(f"GRPO ({EXAMPLE.relative_to(ROOT)}) from {warm['merged_model']} ...", flush=True)
        found = grpo(warm["merged_model"], args, work)
    print_results(warm, found)
    if args.warm_only:
        return 0
    write_results(args.output, {"model": model_dir, "warm_start": warm, "demo": found, "threads": args.threads,
                                "total_seconds": time.perf_counter() - started})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
