"""Benchmark: the SmolLM2 planets LoRA exported to GGUF and run in llama.cpp itself, answer for answer beside the merged model.

Run it offline (needs Node.js 20+ and ``make install-llamacpp``; training the example takes minutes on a 2-core CPU)::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/gguf_llamacpp.py                       # q8_0, every held-out question, 48 tokens
    HF_HUB_OFFLINE=1 .venv/bin/python bench/gguf_llamacpp.py --types q8_0,f16 --max-steps 40

It trains ``examples/smollm2-lora.yaml`` (the packaged SmolLM2-135M-Instruct taught facts about imaginary planets; ``--max-steps``
shortens it), exports each type with :func:`jobs.export.export_gguf` (verified in llama.cpp), then asks llama.cpp
(:mod:`jobs.export.gguf_llamacpp`) for its greedy answers to every held-out question of ``examples/data/planets-validation.jsonl``
and prints them beside the merged model's (transformers, float32): how many are identical, the teacher-forced top-1 agreement
along the merged model's answers, and the answers themselves. Writes ``bench/results/gguf_llamacpp.json`` (``--output``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from jobs.export import export_gguf, llamacpp_status, quant_type  # noqa: E402
from jobs.export.gguf_llamacpp import run_llamacpp  # noqa: E402
from jobs.export.gguf_verify import Reference, judge_llamacpp, llamacpp_request  # noqa: E402
from jobs.queue.run import train_in_foreground  # noqa: E402
from jobs.spec import load_spec  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--types", default="q8_0", help="comma-separated GGUF types")
    parser.add_argument("--max-steps", type=int, default=0, help="stop training after this many steps (0: the example's 8 epochs)")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="length of each greedy answer")
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "adapta-bench-gguf-llamacpp")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "gguf_llamacpp.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    status = llamacpp_status()
    if not status.installed:
        print(f"error: {status.reason}", file=sys.stderr)
        return 2
    os.environ["ADAPTA_HOME"] = str(args.home)
    os.chdir(ROOT)
    spec = load_spec(ROOT / "examples" / "smollm2-lora.yaml")
    spec.evaluation.enabled = False
    if args.max_steps:
        spec.training.max_steps = args.max_steps
    started = time.perf_counter()
    _, summary = train_in_foreground(spec, show_progress=False)
    train_seconds = time.perf_counter() - started
    run_dir = Path(summary["output_folder"]).parent
    merged = args.home / "merged"
    started = time.perf_counter()
    export = export_gguf(run_dir, [name for name in args.types.split(",") if name], merged_dir=merged)
    export_seconds = time.perf_counter() - started

    reference = Reference.load(merged, run_dir, max_prompts=1000, max_new_tokens=args.max_new_tokens)
    answers = run_llamacpp([llamacpp_request(reference, file.path) for file in export.files])
    results = {"load": os.getloadavg(), "machine": f"{os.cpu_count()} CPUs", "llama.cpp": status.reason, "prompts": reference.source,
               "train_seconds": round(train_seconds, 1), "export_seconds": round(export_seconds, 1), "export_passed": export.passed,
               "files": []}
    for file, answer in zip(export.files, answers, strict=True):
        check = judge_llamacpp(reference, file.path, quant_type(file.type), answer)
        results["files"].append(check)
        print(f"\n## {file.path.name} ({file.size_bytes / 1e6:.1f} MB): {check.get('greedy_identical')}/{check.get('greedy_prompts')} "
              f"answers identical to the merged model's, top-1 agreement {check.get('top1_agreement')}, {reference.source}\n")
        print("| question | merged model | llama.cpp | same |\n|---|---|---|---|")
        for row in check.get("answers", []):
            question = row["prompt"].rsplit("user\n", 1)[-1].split("\n", 1)[0]
            print(f"| {question} | {row['merged'].strip()} | {row['gguf'].strip()} | {'yes' if row['identical'] else 'no'} |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nload average {results['load'][0]:.1f}; train {results['train_seconds']} s, export {results['export_seconds']} s; "
          f"written to {args.output}")
    return 0 if export.passed else 1


if __name__ == "__main__":
    sys.exit(main())
