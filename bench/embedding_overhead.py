"""Benchmark: what Adapta's sentence-embedding trainer costs over a plain ``SentenceTransformerTrainer`` script.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/embedding_overhead.py            # 4 runs, a few minutes on a laptop CPU
    HF_HUB_OFFLINE=1 .venv/bin/python bench/embedding_overhead.py --quick    # smoke test: a couple of steps each

The packaged all-MiniLM-L6-v2, LoRA r=8 alpha=16 dropout 0.05 on query/value (named in the spec, as the plain script names them), the
code-word query/passage pairs of ``tests/embedding_data.py``, MultipleNegativesRankingLoss with the no-duplicates batch
sampler, batch 16, max_length 32, seed 42, fp32 on CPU, for ``--warmup`` + ``--steps`` steps, trained by

- Adapta: ``python launch.py train SPEC.yaml --output DIR``, the real CLI (job row, metrics to metrics.jsonl and the
  database, checkpoint timer, the trainer of :mod:`jobs.trainers.embedding`), evaluation off so both sides stop after
  saving the adapter; and
- plain: this file with ``--plain-child``: the same model, adapter, loss, sampler and arguments written the way the
  sentence-transformers documentation does it, with one callback that notes when each step is logged.

Each run is its own subprocess, in the order Adapta, plain, plain, Adapta (``--repeats 2``) so drift of a shared machine
cancels out. Speed is samples/s (steps/s x batch) between the logs of step ``warmup`` and ``warmup + steps``, so loading
and data preparation are excluded; peak memory is the child's kernel-reported ``ru_maxrss``. Goals: samples/s ratio
>= 0.95, peak-memory ratio <= 1.05. Writes ``bench/results/embedding_overhead.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import RESULTS, ROOT, _tail, configure_environment, launch_adapta, measured_rates, run_child  # noqa: E402


def write_rows(work: Path) -> Path:
    """The training pairs (query, passage) as JSONL."""
    sys.path.insert(0, str(ROOT))
    from tests.embedding_data import codeword_retrieval_rows

    train, _, _ = codeword_retrieval_rows()
    path = work / "pairs.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in train), encoding="utf-8")
    return path


def run_adapta(model_dir: str, data: Path, config: dict[str, Any], work: Path, env: dict[str, str], tag: str) -> dict[str, Any]:
    """``launch.py train`` on the spec equivalent to the plain script."""
    spec = {
        "name": f"bench-embedding-{tag}", "task": "sentence-embedding", "base_model": model_dir, "method": "lora",
        "data": {"train": str(data), "format": "pairs", "columns": {"anchor": "query", "positive": "passage"}},
        "training": {"epochs": 1, "max_steps": config["warmup"] + config["steps"], "learning_rate": config["learning_rate"],
                     "batch_size": config["batch_size"], "max_length": config["max_length"], "warmup_ratio": 0.0, "logging_steps": 1,
                     "save_steps": 1_000_000, "checkpoint_minutes": None, "seed": config["seed"], "precision": "fp32"},
        "lora": {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": ["query", "value"]},  # the plain script's
        "embedding": {"loss": "mnrl", "no_duplicates": True},
        "evaluation": {"enabled": False},
    }
    _, child, logged = launch_adapta(spec, work, env, tag)
    rates = measured_rates([(line["step"], line["time"]) for line in logged], child, config)
    return {"side": "adapta", "samples_per_second": rates["steps_per_second"] * config["batch_size"], **rates, **child}


def run_plain(model_dir: str, data: Path, config: dict[str, Any], work: Path, env: dict[str, str], tag: str) -> dict[str, Any]:
    """This file with ``--plain-child`` on the same rows and settings."""
    times_path = work / f"plain-{tag}-times.json"
    config_path = work / f"plain-{tag}.json"
    config_path.write_text(json.dumps({**config, "model": model_dir, "data": str(data), "output": str(work / f"plain-{tag}"),
                                       "times": str(times_path)}), encoding="utf-8")
    child = run_child([sys.executable, __file__, "--plain-child", str(config_path)], env, work / f"plain-{tag}.log")
    if child["returncode"] != 0:
        raise RuntimeError(f"plain run failed (exit {child['returncode']}):\n{_tail(child['log'])}")
    rates = measured_rates(json.loads(times_path.read_text(encoding="utf-8")), child, config)
    return {"side": "plain", "samples_per_second": rates["steps_per_second"] * config["batch_size"], **rates, **child}


def plain_child(config_path: str) -> None:
    """The plain script: sentence-transformers + PEFT as their documentation writes it, nothing of Adapta."""
    from datasets import load_dataset
    from peft import LoraConfig, TaskType
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import TrainerCallback

    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    times: list[tuple[int, float]] = []

    class LogTimes(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if logs and "loss" in logs:
                times.append((state.global_step, time.time()))

    model = SentenceTransformer(config["model"], device="cpu")
    model.max_seq_length = config["max_length"]
    model.add_adapter(LoraConfig(task_type=TaskType.FEATURE_EXTRACTION, r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["query", "value"]))
    dataset = load_dataset("json", data_files=config["data"], split="train").select_columns(["query", "passage"])
    args = SentenceTransformerTrainingArguments(
        output_dir=config["output"], max_steps=config["warmup"] + config["steps"], learning_rate=config["learning_rate"],
        per_device_train_batch_size=config["batch_size"], warmup_steps=0, lr_scheduler_type="cosine", logging_steps=1, logging_first_step=True,
        save_strategy="no", seed=config["seed"], data_seed=config["seed"], batch_sampler=BatchSamplers.NO_DUPLICATES, use_cpu=True,
        dataloader_num_workers=0, disable_tqdm=True, report_to="none",
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=MultipleNegativesRankingLoss(model),
                                         callbacks=[LogTimes()])
    trainer.train()
    model.save_pretrained(config["output"] + "/adapter")
    Path(config["times"]).write_text(json.dumps(times), encoding="utf-8")


def markdown(report: dict[str, Any]) -> str:
    runs = report["runs"]
    lines = ["| run | samples/s | peak RSS (MiB) |", "|---|---:|---:|"]
    lines += [f"| {run['side']} | {run['samples_per_second']:.2f} | {run['max_rss_bytes'] / 2**20:.0f} |" for run in runs]
    lines += ["", f"samples/s ratio (Adapta / plain): **{report['samples_ratio']:.3f}** (goal >= 0.95); "
                  f"peak RSS ratio: **{report['memory_ratio']:.3f}** (goal <= 1.05)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="measured steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="steps before the measurement starts")
    parser.add_argument("--repeats", type=int, default=2, help="pairs of runs (order A, P, P, A, ...)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (0: torch's default)")
    parser.add_argument("--quick", action="store_true", help="2 + 2 steps, one pair: a smoke test")
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "adapta-bench-embedding")
    parser.add_argument("--plain-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plain_child:
        plain_child(args.plain_child)
        return 0
    if args.quick:
        args.steps, args.warmup, args.repeats = 2, 2, 1
    args.home.mkdir(parents=True, exist_ok=True)
    env = configure_environment(args.home, args.threads)
    from jobs.models import packaged_model

    model_dir = packaged_model("minilm")
    if model_dir is None:
        raise SystemExit("the packaged all-MiniLM-L6-v2 is not installed; run `make install` first")
    config = {"steps": args.steps, "warmup": args.warmup, "batch_size": 16, "max_length": 32, "learning_rate": 2e-4, "seed": 42}
    work = Path(tempfile.mkdtemp(prefix="run-", dir=args.home))
    data = write_rows(work)
    runs: list[dict[str, Any]] = []
    for repeat in range(args.repeats):
        for side in ("adapta", "plain") if repeat % 2 == 0 else ("plain", "adapta"):
            runner = run_adapta if side == "adapta" else run_plain
            runs.append(runner(model_dir, data, config, work, env, f"{side}-{repeat}"))
            print(f"{side}: {runs[-1]['samples_per_second']:.2f} samples/s, peak RSS {runs[-1]['max_rss_bytes'] / 2**20:.0f} MiB", flush=True)

    def mean(side: str, key: str) -> float:
        return statistics.mean(run[key] for run in runs if run["side"] == side)

    report = {"config": config, "threads": args.threads, "runs": runs,
              "samples_ratio": mean("adapta", "samples_per_second") / mean("plain", "samples_per_second"),
              "memory_ratio": mean("adapta", "max_rss_bytes") / mean("plain", "max_rss_bytes")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "embedding_overhead.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
