"""Benchmark: LoRA's default target modules, old (PEFT's per-architecture mapping: query/value only) against new (every
linear layer but the heads, Adapta's ``auto`` since issue 23), measured on held-out data for each task.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/default_targets.py                       # 3 tasks x 2 settings x 2 targets
    HF_HUB_OFFLINE=1 .venv/bin/python bench/default_targets.py --tasks retrieval --settings issue
    .venv/bin/python bench/default_targets.py --write-data     # rebuild examples/data/ui-strings-pt-en*.jsonl

Every run goes through Adapta's own path, ``launch.py train SPEC.yaml`` (spec, trainer, before/after report), in its own
process with one torch thread, and reads the report Adapta wrote (the held-out rows are never trained on):

- **sft**: the packaged SmolLM2-135M-Instruct on ``examples/data/planets.jsonl`` (24 rows), scored on
  ``planets-validation.jsonl`` (the same 24 facts asked in words training never saw): answer loss and exact match.
- **retrieval**: the packaged all-MiniLM-L6-v2 on Portuguese → English pairs, ``examples/data/ui-strings-pt-en.jsonl``
  (344 rows), scored on ``ui-strings-pt-en-validation.jsonl`` (80 unseen Portuguese questions, each searched among all 424
  English passages): Recall@1 and Recall@10. The pairs are Adapta's own web UI strings in English and their Brazilian
  Portuguese translations (``webui/strings``; written once by ``--write-data``, so the set stays fixed as the UI changes):
  real sentences and real translations. Held out: 80 sentences of six words or more without placeholders or markup.
- **classification**: the packaged all-MiniLM-L6-v2 on the sentiment sentences of ``tests/sentiment_data.py`` (200 training
  rows, 100 held-out rows whose sentiment words never occur in training): accuracy.

Two settings each: ``recommended`` (what the Train tab fills in for LoRA: :func:`jobs.trainers.recommend.recommend` for the
data and the model's size, batch 8) and ``issue`` (the shipped example's settings for sft and classification; for retrieval
the settings issue 23 measured: r 16, 4 epochs, batch 32, lr 1e-3). Old targets are the names PEFT's mapping gives the
model (``TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING``), which is also what a plain PEFT or sentence-transformers
script gets when it leaves ``target_modules`` out. Speed is training examples per CPU-second between the first and last
logged steps (one thread: the speed on an idle core, whatever the load), beside wall-clock seconds of the whole run.
Results: ``bench/results/default_targets.json`` and a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import RESULTS, ROOT, configure_environment, launch_adapta, measured_rates, prepare_model, write_results  # noqa: E402

PAIRS = ROOT / "examples" / "data" / "ui-strings-pt-en.jsonl"
PAIRS_HELD_OUT = ROOT / "examples" / "data" / "ui-strings-pt-en-validation.jsonl"
HELD_OUT_PAIRS = 80
HELD_OUT_MIN_WORDS = 6
MARKUP = re.compile(r"[{}*#`|]")
TASKS = ("sft", "retrieval", "classification")
SETTINGS = ("recommended", "issue")
EXAMPLE_SETTINGS: dict[str, dict[str, Any]] = {
    "sft": {"training": {"epochs": 8, "learning_rate": 2e-3, "batch_size": 4, "max_length": 128, "warmup_ratio": 0.0},
            "lora": {"r": 16, "alpha": 32, "dropout": 0.0}},                      # examples/smollm2-lora.yaml
    "retrieval": {"training": {"epochs": 4, "learning_rate": 1e-3, "batch_size": 32, "max_length": 64, "warmup_ratio": 0.0},
                  "lora": {"r": 16, "alpha": 32, "dropout": 0.0}},                # issue 23's measurement
    "classification": {"training": {"epochs": 3, "learning_rate": 3e-3, "batch_size": 8, "max_length": 64},
                       "lora": {"r": 8, "alpha": 16, "dropout": 0.0}},            # examples/minilm-sentiment.yaml
}
MAIN_METRICS = {"sft": ("answer_loss", "exact_match"), "retrieval": ("recall@1", "recall@10"), "classification": ("accuracy", "macro_f1")}


def _words(text: str) -> int:
    return len(re.findall(r"\w+", text))


def _normal(text: str) -> str:
    return " ".join(re.findall(r"\w+", unicodedata.normalize("NFKC", text).lower()))


def ui_string_pairs() -> list[dict[str, str]]:
    """(Portuguese query, English passage) for every web UI string and JobSpec help text translated into Portuguese, in key
    order; strings left untranslated, one-word labels and repeats (either side, case and punctuation ignored) are left out."""
    from webui.i18n import STRINGS

    english, portuguese = STRINGS["en"], STRINGS["pt-BR"]
    pairs, seen = [], set()
    for key, passage in english.items():
        passage, query = passage.strip(), portuguese.get(key, "").strip()
        if not query or _normal(query) == _normal(passage) or _words(passage) < 2 or {_normal(query), _normal(passage)} & seen:
            continue
        seen |= {_normal(query), _normal(passage)}
        pairs.append({"query": query, "passage": passage})
    return pairs


def write_pair_files(seed: int = 0) -> tuple[Path, Path]:
    """Write :data:`PAIRS` and :data:`PAIRS_HELD_OUT`: :data:`HELD_OUT_PAIRS` sentences (six words or more, no placeholders
    or markup) chosen by ``seed`` are held out, every other pair trains."""
    pairs = ui_string_pairs()
    sentences = [pair for pair in pairs if _words(pair["passage"]) >= HELD_OUT_MIN_WORDS and not MARKUP.search(pair["query"] + pair["passage"])]
    random.Random(seed).shuffle(sentences)
    held = sentences[:HELD_OUT_PAIRS]
    train = [pair for pair in pairs if pair not in held]
    for path, rows in ((PAIRS, train), (PAIRS_HELD_OUT, held)):
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    print(f"{len(train)} training pairs in {PAIRS}, {len(held)} held-out pairs in {PAIRS_HELD_OUT}")
    return PAIRS, PAIRS_HELD_OUT


def _sentiment_files(work: Path) -> tuple[Path, Path]:
    sys.path.insert(0, str(ROOT))
    from tests.sentiment_data import sentiment_splits

    paths = work / "sentiment-train.csv", work / "sentiment-heldout.csv"
    for path, rows in zip(paths, sentiment_splits(train_size=200, test_size=100, seed=0), strict=True):
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["text", "label"], extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    return paths


def _parameters(folder: str) -> int:
    from jobs.models.catalog import safetensors_params

    return safetensors_params(sorted(Path(folder).glob("*.safetensors"))) or 0


def task_spec(task: str, work: Path) -> tuple[dict[str, Any], int, str]:
    """(the spec's task, model and data sections; the model's parameter count; its model_type) for ``task``."""
    from jobs.models import packaged_model

    if task == "sft":
        data, model = ROOT / "examples" / "data", prepare_model()
        return ({"task": "causal-lm", "base_model": model,
                 "data": {"train": str(data / "planets.jsonl"), "validation": str(data / "planets-validation.jsonl"), "format": "instruction",
                          "columns": {"prompt": "question", "response": "answer"}}}, _parameters(model), "llama")
    minilm = packaged_model("minilm")
    if minilm is None:
        raise SystemExit("the packaged all-MiniLM-L6-v2 is not installed; run `make install` first")
    if task == "retrieval":
        return ({"task": "sentence-embedding", "base_model": minilm, "data": {"train": str(PAIRS), "validation": str(PAIRS_HELD_OUT)}},
                _parameters(minilm), "bert")
    train, held_out = _sentiment_files(work)
    return ({"task": "text-classification", "base_model": minilm, "data": {"train": str(train), "validation": str(held_out)}},
            _parameters(minilm), "bert")


def recommended_settings(task_section: dict[str, Any], parameters: int) -> dict[str, Any]:
    """What the Train tab fills in for LoRA on this data and model (on a CPU), as spec sections."""
    from jobs.trainers.recommend import profile_data, recommend

    task, data = task_section["task"], task_section["data"]
    objective = "sft" if task == "causal-lm" else None
    profile = profile_data(data["train"], task, data.get("format", "auto"), data.get("columns"))
    values = recommend(task, "lora", objective, profile, parameters=parameters, on_gpu=False).field_values("lora", task, objective)
    sections: dict[str, dict[str, Any]] = {"training": {"batch_size": 8}, "lora": {}}  # the form's batch size
    for dotted, value in values.items():
        section, name = dotted.split(".")
        if section in sections:
            sections[section][name] = value
    return sections


def run_one(task: str, setting: str, targets: str, work: Path, env: dict[str, str]) -> dict[str, Any]:
    """One training through ``launch.py train`` and its report: held-out metrics, speed and trainable parameters."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

    from jobs.evaluation import read_report

    section, parameters, model_type = task_spec(task, work)
    settings = recommended_settings(section, parameters) if setting == "recommended" else EXAMPLE_SETTINGS[task]
    old = list(TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING[model_type])
    spec = {**section, "name": f"targets-{task}-{setting}-{targets}", "method": "lora",
            "training": {**settings["training"], "logging_steps": 1, "save_steps": 1_000_000, "checkpoint_minutes": None, "seed": 42,
                         "precision": "fp32"},
            "lora": {**settings["lora"], "target_modules": old if targets == "old" else "auto"},
            "evaluation": {"max_rows": 100}}
    tag = f"{task}-{setting}-{targets}"
    started = time.perf_counter()
    run_dir, child, logged = launch_adapta(spec, work, env, tag)
    steps = [(row["step"], row["time"]) for row in logged]
    rates = measured_rates(steps, child, {"warmup": steps[0][0], "steps": steps[-1][0] - steps[0][0]})
    report = read_report(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8")) if (run_dir / "summary.json").is_file() else {}
    return {
        "task": task, "setting": setting, "targets": targets, "target_modules": spec["lora"]["target_modules"],
        "training": spec["training"], "lora": spec["lora"], "measured_on": report.measured_on,
        "metrics": {row.name: {"base": row.base, "adapted": row.adapted} for row in report.metrics},
        "examples_per_cpu_second": rates["steps_per_cpu_second"] * spec["training"]["batch_size"],
        "wall_seconds": time.perf_counter() - started, "max_rss_bytes": child["max_rss_bytes"],
        "trainable_params": summary.get("trainable_params"), "first_loss": logged[0]["loss"], "last_loss": logged[-1]["loss"],
    }


def markdown(runs: list[dict[str, Any]]) -> str:
    """One table row per run: held-out metrics (base → adapted), speed and size of the adapter."""
    lines = ["| task | settings | targets | held-out metrics (base → adapted) | examples per CPU-s | run wall s | trainable params |",
             "|---|---|---|---|---:|---:|---:|"]
    for run in runs:
        shown = ", ".join(f"{name} {run['metrics'][name]['base']:.3f} → **{run['metrics'][name]['adapted']:.3f}**"
                          for name in MAIN_METRICS[run["task"]] if name in run["metrics"])
        targets = "auto (all linear)" if run["targets"] == "new" else "/".join(run["target_modules"])
        params = f"{run['trainable_params']:,}" if run["trainable_params"] else "?"
        lines.append(f"| {run['task']} | {run['setting']} | {targets} | {shown} | {run['examples_per_cpu_second']:.1f} | "
                     f"{run['wall_seconds']:.0f} | {params} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, from {', '.join(TASKS)}")
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"comma-separated, from {', '.join(SETTINGS)}")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (0: torch's default)")
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "adapta-bench-targets")
    parser.add_argument("--write-data", action="store_true", help="rebuild the Portuguese → English pair files and stop")
    args = parser.parse_args(argv)
    if args.write_data:
        sys.path.insert(0, str(ROOT))
        write_pair_files()
        return 0
    args.home.mkdir(parents=True, exist_ok=True)
    env = configure_environment(args.home, args.threads)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=args.home))
    runs = []
    for task in args.tasks.split(","):
        for setting in args.settings.split(","):
            for targets in ("old", "new"):
                runs.append(run_one(task, setting, targets, work, env))
                print(markdown(runs[-1:]).splitlines()[-1], flush=True)
    write_results(RESULTS / "default_targets.json", {"threads": args.threads, "runs": runs})
    print(markdown(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
