"""The GPU suite: Adapta's training path against a plain transformers + peft script with identical settings, on one GPU.

Models shaped like Qwen2.5-0.5B and Llama-3.2-1B (configs written below, random weights, nothing downloaded), sequences up
to 1024 tokens of varied length, bf16. Per model: LoRA, QLoRA and full fine-tuning, each on both sides with identical settings
(no packing, no Liger, no length grouping, the same attention implementation, fused AdamW, the same rows in the same order),
then Adapta with its own defaults (packing and Liger kernels where they apply), and Liger and packing one at a time.
Each run is a fresh subprocess; it measures tokens/s (non-padding tokens between the end of the warm-up steps and the last
step, CUDA synchronised), MFU (6 · parameters · tokens/s ÷ the GPU's dense bf16 peak: 989 TFLOP/s on H100 and H200),
``torch.cuda.max_memory_allocated`` and Adapta's memory estimate beside it (:func:`jobs.trainers.accelerators.memory_needed_for`).
It also runs ``bench/gpu_images.py`` (an SD-1.5-shaped UNet LoRA at 512 px) when that script exists. Everything lands in one
JSON file under ``docs/measurements/`` named after the device; ``--table`` prints the README/benchmarks table from those files.

    python bench/gpu_suite.py                    # the whole suite on CUDA: fits 8 minutes on one H100 (a budget skips the rest)
    python bench/gpu_suite.py --dry-run          # no GPU needed: the plan, each config built on the meta device, the estimates
    python bench/gpu_suite.py --smoke            # no GPU needed: tiny shapes on the CPU in fp32 through the same code (no QLoRA/Liger)
    python bench/gpu_suite.py --table            # markdown table of every docs/measurements/gpu_suite_*.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MEASUREMENTS = ROOT / "docs" / "measurements"
IMAGES_SCRIPT = ROOT / "bench" / "gpu_images.py"
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "B200": 2250e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12, "L4": 121e12}
"""Dense bf16 tensor-core peak per device family (vendor data sheets, no sparsity)."""

SHAPES: dict[str, dict[str, Any]] = {
    "qwen2.5-0.5b": {"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "hidden_size": 896, "num_hidden_layers": 24,
                     "intermediate_size": 4864, "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151_936,
                     "tie_word_embeddings": True, "max_position_embeddings": 32_768, "rope_theta": 1_000_000.0, "rms_norm_eps": 1e-6,
                     "hidden_act": "silu"},
    "llama-3.2-1b": {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 2048, "num_hidden_layers": 16,
                     "intermediate_size": 8192, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128_256,
                     "tie_word_embeddings": True, "max_position_embeddings": 131_072, "rope_theta": 500_000.0, "rms_norm_eps": 1e-5,
                     "hidden_act": "silu", "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                                            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}},
}
TINY = {"hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 16, "vocab_size": 2_048}
"""--smoke: each shape shrunk to this (the family stays, so Qwen2 and Llama code paths both run)."""
TOKENIZER_VOCAB = 2_000
LORA = {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"}


@dataclass(frozen=True)
class Run:
    """One measured training: a side (adapta or plain), a method and the two switches (Liger, packing)."""

    model: str
    side: str
    method: str
    liger: str = "off"
    packing: bool = False
    label: str = "matched"

    @property
    def name(self) -> str:
        return f"{self.model} {self.method} {self.side} {self.label}"


def plan_runs(models: list[str], cuda: bool) -> list[Run]:
    """The runs in priority order (a budget that runs out skips the last ones): per model, matched pairs first."""
    runs: list[Run] = []
    for model in models:
        methods = ["lora", "qlora", "full"] if cuda else ["lora", "full"]  # QLoRA on the CPU: tests/jobs/trainers/test_families_qlora.py
        for method in methods:
            runs += [Run(model, "plain", method), Run(model, "adapta", method)]
        runs.append(Run(model, "adapta", "lora", "auto", True, "defaults (packing + Liger auto)"))
        if cuda:
            runs += [Run(model, "adapta", "lora", "on", False, "Liger on"), Run(model, "adapta", "lora", "off", True, "packing on"),
                     Run(model, "adapta", "full", "auto", True, "defaults (packing + Liger auto)")]
    return runs


def model_config(name: str, smoke: bool) -> Any:
    """The transformers config of a shape (tiny with ``smoke``)."""
    from transformers import AutoConfig

    shape = {**SHAPES[name], **(TINY if smoke else {})}
    return AutoConfig.for_model(shape.pop("model_type"), **shape)


def count_parameters(config: Any) -> int:
    """Parameters of a config, counted on the meta device (nothing allocated)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(parameter.numel() for parameter in model.parameters())


# --------------------------------------------------------------------------- data and model folders


def make_rows(count: int, seed: int, max_words: int) -> list[str]:
    """Rows of made-up words, of lengths spread from a tenth of ``max_words`` to all of it (so padding and packing matter)."""
    generator = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ner", "to", "su", "van", "el", "ri", "op", "des", "qua", "zen", "bo", "fi", "ght", "ion", "str"]
    words = ["".join(generator.choices(syllables, k=generator.randint(1, 3))) for _ in range(400)]
    return [" ".join(generator.choices(words, k=generator.randint(max_words // 10, max_words))) for _ in range(count)]


def build_tokenizer(rows: list[str], folder: Path) -> Any:
    """A byte-level BPE trained on the rows, with its own pad token (so non-padding tokens count right)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=TOKENIZER_VOCAB, special_tokens=["<pad>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(rows, trainer)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    wrapped.save_pretrained(folder)
    return wrapped


def build_model_folder(name: str, smoke: bool, folder: Path, rows: list[str]) -> Path:
    """A safetensors folder of a random-weight model of shape ``name`` plus the tokenizer (reused when already there)."""
    import torch
    from transformers import AutoModelForCausalLM

    if (folder / "config.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    build_tokenizer(rows, folder)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(model_config(name, smoke), dtype=torch.float32 if smoke else torch.bfloat16)
    model.save_pretrained(folder)
    return folder


# --------------------------------------------------------------------------- one run (in its own process)


def adapta_spec(run: Run, folder: Path, data: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """Adapta's spec for ``run``; the matched runs turn off everything the plain script does not do."""
    return {
        "name": f"gpu-suite-{run.model}-{run.method}", "task": "causal-lm", "base_model": str(folder), "method": run.method,
        "data": {"train": str(data), "format": "text"},
        "training": {"max_steps": settings["steps"], "batch_size": settings["batch_size"], "max_length": settings["max_length"],
                     "learning_rate": 2e-5 if run.method == "full" else 1e-4, "warmup_ratio": 0.0, "logging_steps": 1,
                     "save_steps": 1_000_000, "checkpoint_minutes": None, "seed": 7, "precision": settings["precision"],
                     "packing": run.packing, "group_by_length": run.label != "matched", "liger_kernel": run.liger},
        "lora": LORA,
        "evaluation": {"enabled": False},
    }


def step_timer(warmup: int) -> Any:
    """A TrainerCallback timing the steps after ``warmup`` (CUDA synchronised) and counting their non-padding tokens."""
    import torch
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.start: tuple[float, int] | None = None
            self.end: tuple[float, int] | None = None
            self.losses: list[float] = []

        def _now(self) -> float:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            return time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step == warmup:
                self.start = (self._now(), state.num_input_tokens_seen)
            elif state.global_step > warmup:
                self.end = (self._now(), state.num_input_tokens_seen)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))

    return StepTimer()


def plain_trainer(run: Run, folder: Path, rows: list[str], settings: dict[str, Any], attention: str | None) -> Any:
    """What a person writes by hand with transformers + peft, with the matched settings."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig, DataCollatorForLanguageModeling, Trainer, TrainingArguments

    tokenizer = AutoTokenizer.from_pretrained(folder)
    bf16 = settings["precision"] == "bf16"
    kwargs: dict[str, Any] = {"dtype": torch.bfloat16 if bf16 and run.method != "full" else torch.float32}
    if attention and attention != "sdpa":
        kwargs["attn_implementation"] = attention
    if run.method == "qlora":
        kwargs.update(quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                                             bnb_4bit_compute_dtype=torch.bfloat16), device_map={"": 0})
    model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    if run.method == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    if run.method in ("lora", "qlora"):
        model = get_peft_model(model, LoraConfig(task_type=TaskType.CAUSAL_LM, r=LORA["r"], lora_alpha=LORA["alpha"],
                                                 lora_dropout=LORA["dropout"], target_modules="all-linear"))
    # as Adapta's text format: the row's tokens, the end-of-sequence token, then truncation to max_length
    features = [{"input_ids": (ids + [tokenizer.eos_token_id])[: settings["max_length"]]} for ids in tokenizer(rows)["input_ids"]]
    arguments = TrainingArguments(
        output_dir=str(settings["work"] / "plain"), max_steps=settings["steps"], per_device_train_batch_size=settings["batch_size"],
        learning_rate=2e-5 if run.method == "full" else 1e-4, lr_scheduler_type="cosine", warmup_steps=0.0, weight_decay=0.0,
        max_grad_norm=1.0, logging_steps=1, save_strategy="no", report_to="none", seed=7, data_seed=7, bf16=bf16,
        use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0, disable_tqdm=True, include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False, **({"optim": "adamw_torch_fused"} if torch.cuda.is_available() else {}))
    return Trainer(model=model, args=arguments, train_dataset=features, processing_class=tokenizer,
                   data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False, pad_to_multiple_of=8))


def measure(run: Run, folder: Path, data: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """Train ``run`` and measure it (called in a fresh process: the peak memory is this run's alone)."""
    import torch

    from jobs.metrics import MetricsSink
    from jobs.spec import parse_spec
    from jobs.trainers.accelerators import memory_needed_for, settings_for_model
    from jobs.trainers.text import build_text_trainer

    spec = parse_spec(adapta_spec(run, folder, data, settings))
    chosen = settings_for_model(spec, folder)
    if run.side == "adapta":
        work = settings["work"] / f"adapta-{os.getpid()}"
        trainer = build_text_trainer(spec, work, MetricsSink(work / "metrics.jsonl")).trainer
    else:
        rows = [json.loads(line)["text"] for line in data.read_text(encoding="utf-8").splitlines()]
        trainer = plain_trainer(run, folder, rows, settings, chosen.attention)
    timer = step_timer(settings["warmup"])
    trainer.add_callback(timer)
    trainer.train()
    if timer.start is None or timer.end is None:
        raise RuntimeError(f"{run.name}: fewer than {settings['warmup'] + 1} steps ran")
    seconds = timer.end[0] - timer.start[0]
    tokens = timer.end[1] - timer.start[1]
    parameters = count_parameters(model_config(run.model, settings["smoke"]))  # the base model's (MFU's N), adapters aside
    estimate = memory_needed_for(spec, folder)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    peak = next((value for family, value in PEAK_BF16_FLOPS.items() if family in device), None)
    tokens_per_second = tokens / seconds if seconds > 0 else None
    return {
        **asdict(run), "device": device, "parameters": parameters, "timed_steps": settings["steps"] - settings["warmup"],
        "tokens": tokens, "seconds": round(seconds, 4), "tokens_per_second": tokens_per_second,
        "mfu": 6 * parameters * tokens_per_second / peak if peak and tokens_per_second else None,
        "max_memory_allocated": torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None,
        "memory_estimate": estimate(chosen.gradient_checkpointing) if estimate else None,
        "first_loss": timer.losses[0] if timer.losses else None, "last_loss": timer.losses[-1] if timer.losses else None,
        "attention": chosen.attention, "liger_kernel": chosen.liger_kernel if run.side == "adapta" else False,
        "padding_free": chosen.padding_free if run.side == "adapta" else False, "reasons": list(chosen.reasons) if run.side == "adapta" else [],
    }


# --------------------------------------------------------------------------- the suite


def ratios(results: list[dict[str, Any]]) -> dict[str, float]:
    """Adapta ÷ plain tokens/s per model and method: matched settings, and Adapta's own defaults against the same plain run."""
    found: dict[str, float] = {}
    by_key = {(row["model"], row["method"], row["side"], row["label"]): row for row in results if row.get("tokens_per_second")}
    for (model, method, side, label), row in by_key.items():
        plain = by_key.get((model, method, "plain", "matched"))
        if side == "adapta" and plain:
            found[f"{model} {method} {label}"] = round(row["tokens_per_second"] / plain["tokens_per_second"], 3)
    return found


def run_images(timeout_s: float) -> dict[str, Any] | None:
    """``bench/gpu_images.py`` (an SD-1.5-shaped UNet LoRA at 512 px), when it exists: its exit status and last lines."""
    if not IMAGES_SCRIPT.is_file():
        return None
    command = [sys.executable, str(IMAGES_SCRIPT)]
    try:
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"command": "bench/gpu_images.py", "error": f"timed out after {timeout_s:.0f} s"}
    return {"command": "bench/gpu_images.py", "returncode": result.returncode, "tail": (result.stdout + result.stderr)[-2000:]}


def device_slug(name: str) -> str:
    return "".join(character if character.isalnum() else "-" for character in name.lower()).strip("-") or "cpu"


def versions() -> dict[str, str | None]:
    import importlib.metadata

    found: dict[str, str | None] = {}
    for package in ("torch", "transformers", "peft", "accelerate", "bitsandbytes", "liger-kernel", "flash-attn"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def dry_run(args: argparse.Namespace) -> int:
    """The plan, each config built on the meta device, and the memory estimate of each run (no GPU, no weights)."""
    from jobs.models.memory import estimate_for_config
    from jobs.models.memory_job import workload_for
    from jobs.spec import parse_spec

    runs = plan_runs(args.models, cuda=True)
    print(f"gpu suite: {len(runs)} runs, batch {args.batch_size} × up to {args.max_length} tokens, {args.steps} steps "
          f"({args.warmup} warm-up), budget {args.budget_s:.0f} s")
    for name in args.models:
        config = model_config(name, args.smoke)
        parameters = count_parameters(config)
        print(f"{name}: {config.model_type}, {parameters / 1e6:.1f} M parameters, vocabulary {config.vocab_size}")
        for run in (run for run in runs if run.model == name):
            spec = parse_spec(adapta_spec(run, Path("model"), Path("rows.jsonl"), {**vars(args), "precision": "bf16"}))
            estimate = estimate_for_config(config.to_dict(), parameters, run.method, batch_size=args.batch_size, seq_len=args.max_length,
                                           precision_bytes=2, lora_r=LORA["r"], lora_targets=LORA["target_modules"], device="cuda",
                                           workload=workload_for(spec))
            print(f"  {run.name:<58} estimate {estimate.total / 2**30:6.2f} GiB")
    print(f"images: {'bench/gpu_images.py' if IMAGES_SCRIPT.is_file() else 'bench/gpu_images.py not present: skipped'}")
    return 0


def run_suite(args: argparse.Namespace) -> int:
    import torch

    from jobs.models.hardware import detect_hardware, doctor_json

    cuda = torch.cuda.is_available()
    if not cuda and not args.smoke:
        print("no CUDA GPU: run with --dry-run or --smoke here, or on a GPU machine", file=sys.stderr)
        return 2
    started = time.monotonic()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="adapta-gpu-suite-"))
    rows = make_rows(args.rows, seed=7, max_words=args.max_length)
    data = work / "rows.jsonl"
    work.mkdir(parents=True, exist_ok=True)
    data.write_text("".join(json.dumps({"text": row}) + "\n" for row in rows), encoding="utf-8")
    settings = {"steps": args.steps, "warmup": args.warmup, "batch_size": args.batch_size, "max_length": args.max_length,
                "precision": "bf16" if cuda else "fp32", "smoke": args.smoke}
    results: list[dict[str, Any]] = []
    for run in plan_runs(args.models, cuda=cuda):
        left = args.budget_s - (time.monotonic() - started)
        if left < args.run_timeout_s / 3:
            results.append({**asdict(run), "skipped": f"budget: {left:.0f} s left"})
            continue
        folder = build_model_folder(run.model, args.smoke, work / run.model, rows)
        command = [sys.executable, __file__, "--one", json.dumps(asdict(run)), "--folder", str(folder), "--data", str(data),
                   "--settings", json.dumps(settings), "--workdir", str(work)]
        try:
            child = subprocess.run(command, capture_output=True, text=True, timeout=min(args.run_timeout_s, left), check=False)
            lines = [line for line in child.stdout.splitlines() if line.startswith('{"')]
            row = json.loads(lines[-1]) if child.returncode == 0 and lines else {**asdict(run), "error": (child.stdout + child.stderr)[-1500:]}
        except subprocess.TimeoutExpired:
            row = {**asdict(run), "error": f"timed out after {min(args.run_timeout_s, left):.0f} s"}
        results.append(row)
        shown = f"{row['tokens_per_second']:,.0f} tok/s" if row.get("tokens_per_second") else row.get("error", "")[-300:]
        print(f"{run.name:<58} {shown}", flush=True)
    device = next((row["device"] for row in results if row.get("device")), "cpu")
    report = {"suite": "gpu_suite", "device": device, "smoke": args.smoke, "finished": datetime.now(UTC).isoformat(timespec="seconds"),
              "seconds": round(time.monotonic() - started, 1), "versions": versions(), "doctor": doctor_json(detect_hardware()),
              "settings": {key: value for key, value in settings.items() if key != "smoke"}, "runs": results, "ratios": ratios(results),
              "images": run_images(max(60.0, args.total_s - (time.monotonic() - started))) if cuda else None}
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    path = output / f"gpu_suite_{device_slug(device)}{'_smoke' if args.smoke else ''}_{stamp}.json"
    path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report["ratios"], indent=1))
    print(f"wrote {path}")
    return 0


def table(folder: Path) -> str:
    """The markdown table of every ``gpu_suite_*.json`` in ``folder`` (smoke runs left out)."""
    lines = ["| device | model | method | side | settings | tokens/s | × plain | MFU | peak memory | estimate | estimate ÷ peak |",
             "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for path in sorted(folder.glob("gpu_suite_*.json")):
        report = json.loads(path.read_text(encoding="utf-8"))
        if report.get("smoke"):
            continue
        found = report.get("ratios", {})
        for row in report["runs"]:
            if not row.get("tokens_per_second"):
                continue
            ratio = found.get(f"{row['model']} {row['method']} {row['label']}") if row["side"] == "adapta" else None
            peak, estimate, mfu = row.get("max_memory_allocated"), row.get("memory_estimate"), row.get("mfu")
            cells = [report["device"], row["model"], row["method"], row["side"], row["label"], f"{row['tokens_per_second']:,.0f}",
                     f"{ratio:.2f}×" if ratio else "", f"{mfu * 100:.1f} %" if mfu else "", f"{peak / 2**30:.1f} GiB" if peak else "",
                     f"{estimate / 2**30:.1f} GiB" if estimate else "", f"{estimate / peak:.2f}" if peak and estimate else ""]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) if len(lines) > 2 else "No GPU suite measurements yet: run `python bench/gpu_suite.py` on a CUDA machine."


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the plan and the estimates; no GPU, no weights")
    parser.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU in fp32 through the same code")
    parser.add_argument("--table", action="store_true", help="print the markdown table of docs/measurements/gpu_suite_*.json")
    parser.add_argument("--models", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--budget-s", type=float, default=420.0, help="stop starting runs after this many seconds (the rest are skipped)")
    parser.add_argument("--run-timeout-s", type=float, default=120.0)
    parser.add_argument("--total-s", type=float, default=470.0, help="the whole suite, images included, ends by about this time")
    parser.add_argument("--output-dir", default=str(MEASUREMENTS))
    parser.add_argument("--workdir", help="model folders and rows (default: a new temporary folder)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.warmup, args.max_length, args.rows = min(args.steps, 8), min(args.warmup, 3), min(args.max_length, 64), min(args.rows, 48)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.one:
        settings = {**json.loads(args.settings), "work": Path(args.workdir)}
        print(json.dumps(measure(Run(**json.loads(args.one)), Path(args.folder), Path(args.data), settings)), flush=True)
        return 0
    if args.table:
        print(table(Path(args.output_dir)))
        return 0
    return dry_run(args) if args.dry_run else run_suite(args)


if __name__ == "__main__":
    sys.exit(main())
