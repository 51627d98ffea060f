"""QLoRA against LoRA on the CPU: seconds per training step and peak memory of one process per method, on the same model.

Both sides are plain transformers + PEFT with Adapta's CPU settings: fp32 weights (LoRA) or NF4 4-bit linear weights with
double quantisation computing in fp32 (QLoRA, through ``prepare_model_for_kbit_training``), LoRA r=8 on every linear layer
but the head, AdamW, random token batches. Each method runs in its own process (peak RSS is per process), the methods
interleaved ``--rounds`` times so that load on a shared machine hits both alike; the ratio is what to read. Memory: the peak
RSS of the process (loading included) and the RSS once the model is ready to train (what the weights hold while it trains).

    python bench/qlora_cpu.py                         # a SmolLM2-135M-shaped Llama (random weights, 30 layers, hidden 576)
    python bench/qlora_cpu.py --shape qwen2.5-0.5b --batch-size 1 --seq-len 64 --steps 2 --rounds 1   # 494 M: weights dominate
    python bench/qlora_cpu.py --shape small           # hidden 512, 8 layers, vocabulary 8192 (28 M parameters)
    python bench/qlora_cpu.py --shape tiny            # hidden 64, 2 layers: what the tests train
    python bench/qlora_cpu.py --output bench/results/qlora_cpu.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

SHAPES = {
    "smollm2-135m": {"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
                     "num_key_value_heads": 3, "vocab_size": 49152},
    "qwen2.5-0.5b": {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
                     "num_key_value_heads": 2, "vocab_size": 151936},
    "small": {"hidden_size": 512, "intermediate_size": 1408, "num_hidden_layers": 8, "num_attention_heads": 8, "num_key_value_heads": 4,
              "vocab_size": 8192},
    "tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "vocab_size": 512},
}


def build(shape: str, folder: Path) -> None:
    """A random-weight Llama of ``shape`` saved to ``folder``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(**SHAPES[shape], tie_word_embeddings=True)).save_pretrained(folder)


def train(folder: Path, method: str, steps: int, batch_size: int, seq_len: int) -> dict[str, float]:
    """``steps`` optimizer steps of ``method`` on the model in ``folder``: the median step time after the first, peak RSS."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    kwargs: dict = {"dtype": torch.float32}
    if method == "qlora":
        kwargs.update(device_map={"": "cpu"}, quantization_config=BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.float32))
    model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    if method == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    gc.collect()
    loaded_rss = psutil.Process().memory_info().rss  # the model as it trains (the load's own peak is in peak_rss_bytes)
    optimizer = torch.optim.AdamW([parameter for parameter in model.parameters() if parameter.requires_grad], lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps):
        ids = torch.randint(0, model.config.vocab_size, (batch_size, seq_len), generator=generator)
        started = time.perf_counter()
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - started)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"seconds_per_step": statistics.median(times[1:] or times), "peak_rss_bytes": rss, "loaded_rss_bytes": loaded_rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="smollm2-135m")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(train(Path(args.child[0]), args.child[1], args.steps, args.batch_size, args.seq_len)))
        return
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / args.shape
        build(args.shape, folder)
        results: dict[str, list[dict[str, float]]] = {"lora": [], "qlora": []}
        for _ in range(args.rounds):
            for method in results:
                command = [sys.executable, __file__, "--child", str(folder), method, "--steps", str(args.steps),
                           "--batch-size", str(args.batch_size), "--seq-len", str(args.seq_len)]
                output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
                results[method].append(json.loads(output.strip().splitlines()[-1]))
    summary = {method: {"seconds_per_step": statistics.median(row["seconds_per_step"] for row in rows),
                        "peak_rss_bytes": max(row["peak_rss_bytes"] for row in rows),
                        "loaded_rss_bytes": max(row["loaded_rss_bytes"] for row in rows)} for method, rows in results.items()}
    report = {"shape": args.shape, "batch_size": args.batch_size, "seq_len": args.seq_len, "steps": args.steps, "rounds": args.rounds,
              **summary, "qlora_slowdown": summary["qlora"]["seconds_per_step"] / summary["lora"]["seconds_per_step"],
              "qlora_peak_memory_ratio": summary["qlora"]["peak_rss_bytes"] / summary["lora"]["peak_rss_bytes"],
              "qlora_loaded_memory_ratio": summary["qlora"]["loaded_rss_bytes"] / summary["lora"]["loaded_rss_bytes"],
              "load_average": os.getloadavg()[0]}
    print(json.dumps(report, indent=2))
    if args.output:
        args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
