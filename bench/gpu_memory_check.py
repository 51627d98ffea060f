"""GPU check of ``jobs.models.memory``: estimate ÷ measured peak for a 0.5B-shaped Llama trained with LoRA in bf16.

Run it on a CUDA machine with torch, transformers and peft (no internet, no other Adapta dependency: this
script loads ``jobs/models/memory.py`` by path, so neither pydantic nor gradio is needed)::

    python bench/gpu_memory_check.py                 # LoRA: seq 512 and 1024 × checkpointing off/on; ~80 s on an H200
    python bench/gpu_memory_check.py --full          # + full fine-tuning (fp32 weights, bf16 autocast) at seq 512; ~2 min
    python bench/gpu_memory_check.py --dry-run       # no CUDA needed: print the estimates only
    python bench/gpu_memory_check.py --smoke         # no CUDA needed: run the code path on CPU with a tiny model

The model is built from a ``LlamaConfig`` shaped like Qwen2.5-0.5B (hidden 896, 24 layers, MLP 4864, 14 heads,
2 key/value heads, vocabulary 151,936, tied embeddings) with random weights (nothing is downloaded), loaded in
bf16 on ``cuda``; LoRA r=8 (alpha 16, dropout 0.05) on q_proj/v_proj with peft. Each configuration runs
``--steps`` AdamW steps on batches of random token ids under ``torch.autocast(bfloat16)``, the way
transformers' Trainer runs a ``bf16=True`` job (the model outputs are dropped before ``backward`` as the
Trainer drops them). Full fine-tuning loads fp32 weights and autocasts, as Adapta does.

Each configuration runs in a fresh subprocess. Measured: ``torch.cuda.max_memory_allocated()`` minus the
allocation before the model was built (the peak is reset once the weights are in place, so building them in
fp32 and casting does not count; cuBLAS's workspaces, allocated on first use, do). Also reported: the bytes
autograd saved for the backward pass in the first forward (unique storages, parameters excluded; the
log-softmax output apart), to check the activation term on its own. The optimizer is fused AdamW, the
Trainer's default. Output: one JSON line per configuration, then a markdown table; ``--output`` writes the
rows as JSON.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MB = 1_000_000

QWEN05_SHAPE: dict[str, Any] = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 896,
    "num_hidden_layers": 24,
    "intermediate_size": 4864,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "head_dim": 64,
    "vocab_size": 151_936,
    "tie_word_embeddings": True,
    "max_position_embeddings": 32_768,
    "rms_norm_eps": 1e-6,
}
TINY_SHAPE: dict[str, Any] = {
    **QWEN05_SHAPE,
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "vocab_size": 1000,
}


def load_memory_module() -> ModuleType:
    """``jobs/models/memory.py`` (and ``memory_layers.py``, which it imports) without the ``jobs.models`` package's ``__init__``,
    which would pull in pydantic and more: bare ``jobs`` and ``jobs.models`` packages pointing at the folders stand in for them."""
    folder = ROOT / "jobs" / "models"
    if not (folder / "memory.py").is_file():
        raise SystemExit(f"cannot load {folder / 'memory.py'}: run this script from an Adapta checkout")
    for name, path in (("jobs", folder.parent), ("jobs.models", folder)):
        if name not in sys.modules:
            package = ModuleType(name)
            package.__path__ = [str(path)]
            sys.modules[name] = package
    return importlib.import_module("jobs.models.memory")


def parameter_count(shape: dict[str, Any]) -> int:
    """Parameters of the Llama built from ``shape`` (no biases; one embedding matrix when tied)."""
    h, i, layers, vocab = shape["hidden_size"], shape["intermediate_size"], shape["num_hidden_layers"], shape["vocab_size"]
    q = shape["num_attention_heads"] * shape["head_dim"]
    kv = shape["num_key_value_heads"] * shape["head_dim"]
    per_layer = h * q + 2 * h * kv + q * h + 3 * h * i + 2 * h
    return layers * per_layer + vocab * h * (1 if shape["tie_word_embeddings"] else 2) + h


def configurations(args: argparse.Namespace) -> list[tuple[str, int, bool]]:
    configs = [("lora", seq, checkpointing) for seq in args.seq_lens for checkpointing in (False, True)]
    if args.full:
        configs += [("full", args.seq_lens[0], False), ("full", args.seq_lens[0], True)]
    return configs


def estimate(memory: ModuleType, shape: dict[str, Any], method: str, seq_len: int, checkpointing: bool, batch_size: int,
             precision_bytes: int, device: str) -> Any:
    return memory.estimate_for_config(shape, parameter_count(shape), method, batch_size=batch_size, seq_len=seq_len,
                                      precision_bytes=precision_bytes, gradient_checkpointing=checkpointing, device=device,
                                      lora_targets=["q_proj", "v_proj"])


def run_config(shape: dict[str, Any], method: str, seq_len: int, checkpointing: bool, args: argparse.Namespace, device: str) -> dict[str, Any]:
    """Build the model, train ``args.steps`` steps, and return the measured peak (CUDA) or the saved bytes (CPU smoke)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    cuda = device == "cuda"
    if cuda:
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
    torch.manual_seed(0)
    config = LlamaConfig(**{key: value for key, value in shape.items() if key not in ("model_type", "architectures")})
    config._attn_implementation = "sdpa"
    load_dtype = torch.float32 if method == "full" or not cuda else torch.bfloat16
    with torch.device(device):
        model = LlamaForCausalLM(config).to(load_dtype)
    base_params = sum(parameter.numel() for parameter in model.parameters())
    if method == "lora":
        lora = LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "v_proj"])
        model = get_peft_model(model, lora)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if method == "lora":
            model.enable_input_require_grads()
    model.config.use_cache = False
    model.train()
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-5, weight_decay=0.0, fused=True)  # the Trainer's default optim (adamw_torch_fused)
    parameter_storages = {parameter.untyped_storage().data_ptr() for parameter in model.parameters()}
    if cuda:  # the peak counts from here: the weights are allocated, building them (fp32, then cast) is not training
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    saved: dict[int, int] = {}
    logits_bytes = 2 * args.batch_size * seq_len * shape["vocab_size"]

    def pack(tensor: Any) -> Any:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameter_storages:
            saved[storage.data_ptr()] = max(saved.get(storage.data_ptr(), 0), storage.nbytes())
        return tensor

    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=cuda)
    started = time.perf_counter()
    losses = []
    for step in range(args.steps):
        ids = torch.randint(10, shape["vocab_size"], (args.batch_size, seq_len), device=device)
        hooks = torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor) if step == 0 else None
        with autocast:
            if hooks is not None:
                with hooks:
                    loss = model(input_ids=ids, labels=ids).loss  # the outputs (logits) are dropped here, as in the Trainer
            else:
                loss = model(input_ids=ids, labels=ids).loss
        if cuda:
            after_forward = torch.cuda.memory_allocated() - before
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    row: dict[str, Any] = {
        "method": method, "seq_len": seq_len, "batch_size": args.batch_size, "gradient_checkpointing": checkpointing,
        "base_params": base_params, "trainable_params": sum(parameter.numel() for parameter in trainable),
        # saved for backward in the first forward: the activations, and the (tokens × vocab) log-softmax output apart
        "saved_for_backward": sum(size for size in saved.values() if size < logits_bytes),
        "saved_logits": sum(size for size in saved.values() if size >= logits_bytes), "losses": losses,
    }
    if cuda:
        torch.cuda.synchronize()
        row["measured"] = int(torch.cuda.max_memory_allocated() - before)
        row["allocated_after_forward"] = int(after_forward)
        row["device_name"] = torch.cuda.get_device_name()
    row["seconds"] = round(time.perf_counter() - started, 2)
    del model, optimizer, trainable, loss
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return row


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| configuration | estimate MB | measured MB | estimate ÷ measured | activations est. MB | saved activations MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        measured = f"{row['measured'] / MB:.0f}" if "measured" in row else "-"
        ratio = f"{row['ratio']:.3f}" if "ratio" in row else "-"
        saved = f"{row['saved_for_backward'] / MB:.0f}" if "saved_for_backward" in row else "-"
        activations = row["estimate_parts"]["activations"] / MB
        lines.append(f"| {row['label']} | {row['estimate'] / MB:.0f} | {measured} | {ratio} | {activations:.0f} | {saved} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the estimates only (no torch, no CUDA)")
    parser.add_argument("--smoke", action="store_true", help="run the code path on CPU with a tiny model (no memory measured)")
    parser.add_argument("--full", action="store_true", help="also full fine-tuning at the first sequence length")
    parser.add_argument("--seq-lens", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--output", type=Path, default=None, help="write the rows as JSON here")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per configuration")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--method", default="lora", help=argparse.SUPPRESS)
    parser.add_argument("--seq-len", type=int, default=512, help=argparse.SUPPRESS)
    parser.add_argument("--gradient-checkpointing", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_child(args: argparse.Namespace) -> int:
    """One configuration in this (fresh) process; the result goes to ``--result`` as JSON."""
    shape = TINY_SHAPE if args.smoke else QWEN05_SHAPE
    row = run_config(shape, args.method, args.seq_len, args.gradient_checkpointing, args, "cpu" if args.smoke else "cuda")
    Path(args.result).write_text(json.dumps(row))
    return 0


def measure(method: str, seq_len: int, checkpointing: bool, args: argparse.Namespace) -> dict[str, Any]:
    """Run one configuration in a fresh subprocess (so first-use workspaces count and peaks do not mix)."""
    with tempfile.TemporaryDirectory() as work:
        result = Path(work) / "row.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--child", "--method", method, "--seq-len", str(seq_len),
                   "--batch-size", str(args.batch_size), "--steps", str(args.steps), "--result", str(result)]
        command += ["--gradient-checkpointing"] if checkpointing else []
        command += ["--smoke"] if args.smoke else []
        try:
            completed = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {args.timeout:.0f} s"}
        if completed.returncode != 0 or not result.is_file():
            tail = " | ".join((completed.stdout + completed.stderr).strip().splitlines()[-6:])
            hint = " (the GPU ran out of memory: lower --batch-size or --seq-lens)" if "out of memory" in tail.lower() else ""
            return {"error": f"exit {completed.returncode}{hint}: {tail}"}
        return json.loads(result.read_text())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return run_child(args)
    memory = load_memory_module()
    shape = TINY_SHAPE if args.smoke else QWEN05_SHAPE
    device = "cpu" if args.smoke else "cuda"
    if args.smoke:
        args.seq_lens = [32, 64]
    if not args.dry_run:
        try:
            import peft  # noqa: F401
            import torch
            import transformers  # noqa: F401
        except ImportError as error:
            print(f"error: {error.name} is not installed; this check needs torch, transformers and peft", file=sys.stderr)
            return 2
        if not args.smoke and not torch.cuda.is_available():
            print("error: no CUDA device visible (torch.cuda.is_available() is False); use --dry-run for the estimates "
                  "or --smoke to run the code path on CPU", file=sys.stderr)
            return 2
        if not args.smoke and not torch.cuda.is_bf16_supported():
            print("error: this GPU does not support bf16, which the check trains in", file=sys.stderr)
            return 2
        print(json.dumps({"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
                          "device": torch.cuda.get_device_name() if device == "cuda" else "cpu"}), flush=True)
    rows = []
    for method, seq_len, checkpointing in configurations(args):
        label = f"{method} b{args.batch_size}×s{seq_len} gc={'on' if checkpointing else 'off'}"
        predicted = estimate(memory, shape, method, seq_len, checkpointing, args.batch_size, 2, "cuda")
        row: dict[str, Any] = {"label": label}
        if not args.dry_run:
            row.update(measure(method, seq_len, checkpointing, args))
        row["estimate"] = predicted.total
        row["estimate_parts"] = {key: getattr(predicted, key) for key in ("weights", "gradients", "optimizer", "activations", "logits", "overhead")}
        if row.get("measured"):
            row["ratio"] = predicted.total / row["measured"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print(markdown(rows))
    failed = [row for row in rows if "error" in row]
    ratios = [row["ratio"] for row in rows if "ratio" in row]
    if ratios:
        verdict = "all within 0.8-1.2" if all(0.8 <= ratio <= 1.2 for ratio in ratios) else "OUTSIDE 0.8-1.2"
        print(f"\nestimate ÷ measured {min(ratios):.3f}-{max(ratios):.3f}: {verdict}")
    for row in failed:
        print(f"error in {row['label']}: {row['error']}", file=sys.stderr)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(rows, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
