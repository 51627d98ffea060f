"""Merge a finished LoRA run into one complete model folder that loads without PEFT (the Export tab's Merge, the merged Hub
push and the GGUF export start from it).

A text run becomes a transformers folder (safetensors weights and the tokenizer); a sentence-embedding run becomes a complete
sentence-transformers folder (pooling modules included). A QLoRA adapter, trained on 4-bit NF4 weights, folds into the base
model loaded unquantized in fp32 (:func:`jobs.inference.text.open_run`), never into the 4-bit weights: the merged weights are
the original ones plus the adapter's update, with no 4-bit rounding in them.

A merge is written into a temporary sibling (``<folder>.partial-<pid>``), finished with a completion marker
(:data:`MERGE_COMPLETE`, written last) and only then renamed into place, so a crash or a kill during the merge never leaves
a folder that looks finished. :func:`merged_folder_ready` is the one test of "already merged" (a ``config.json`` alone proves
nothing); :func:`ensure_merged` merges only when it fails.

    from jobs.export.merge import ensure_merged
    merged = ensure_merged("data/runs/7", data_home().merged_model_dir(7))
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from jobs.errors import AdaptaError
from jobs.inference.embedding_search import open_embedding_run
from jobs.inference.text import open_run
from jobs.models import resolve_model
from jobs.models.loading import load_sentence_transformer
from jobs.models.tokenizer_files import save_tokenizer
from jobs.spec import Method, Task, load_spec

MERGE_COMPLETE = "merge_complete.json"
"""Written last into a merged folder (before it is renamed into place): its presence is what "merged" means."""


def merge_run(run_dir: str | Path, output_dir: str | Path) -> Path:
    """Merge a run's LoRA adapter into its base model and save the result as safetensors with the tokenizer (a
    sentence-embedding run: a complete sentence-transformers folder)."""
    if load_spec(Path(run_dir) / "spec.yaml").task is Task.SENTENCE_EMBEDDING:
        return merge_embedding_run(run_dir, output_dir)
    loaded = open_run(run_dir)
    if not loaded.is_adapter:
        raise AdaptaError(f"{run_dir} is a full fine-tune; its model/ folder is already a complete model")
    spec = load_spec(Path(run_dir) / "spec.yaml")
    if spec.method not in (Method.LORA, Method.QLORA):
        raise AdaptaError(f"only LoRA adapters can be merged into the base model; this run used {spec.method.value}")
    merged = loaded.model.merge_and_unload()

    def save(folder: Path) -> None:
        merged.save_pretrained(folder)
        save_tokenizer(loaded.tokenizer, folder)

    return _write_merged(run_dir, output_dir, save)


def merge_embedding_run(run_dir: str | Path, output_dir: str | Path) -> Path:
    """Fold a LoRA run's adapter into its base and save a complete sentence-transformers folder (no PEFT needed to load it)."""
    from peft import PeftModel

    run = open_embedding_run(run_dir)
    if not run.is_adapter:
        raise AdaptaError(f"{run_dir} is a full fine-tune; its model/ folder is already a complete sentence-transformers model")
    model = load_sentence_transformer(resolve_model(run.spec.base_model, task=run.spec.task).path)
    transformer = model[0]
    transformer.model = PeftModel.from_pretrained(transformer.model, str(run.run_dir / "adapter")).merge_and_unload()
    return _write_merged(run_dir, output_dir, lambda folder: model.save_pretrained(str(folder)))


def merged_folder_ready(folder: str | Path) -> bool:
    """True when ``folder`` holds a finished merge (its completion marker was written last, then the folder renamed into place)."""
    return (Path(folder) / MERGE_COMPLETE).is_file()


def ensure_merged(run_dir: str | Path, output_dir: str | Path) -> Path:
    """The run's merged model in ``output_dir``: merged now unless a finished merge is already there."""
    output = Path(output_dir)
    return output if merged_folder_ready(output) else merge_run(run_dir, output)


def _write_merged(run_dir: str | Path, output_dir: str | Path, save: Callable[[Path], None]) -> Path:
    """Run ``save`` into a temporary sibling of ``output_dir``, write the completion marker, then rename it into place
    (replacing an older or unfinished folder). The sibling is removed whatever happens."""
    output = Path(output_dir)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f"{output.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    started = time.perf_counter()
    try:
        partial.mkdir()
        save(partial)
        marker = {"run": Path(run_dir).name, "seconds": round(time.perf_counter() - started, 1)}
        (partial / MERGE_COMPLETE).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        shutil.rmtree(output, ignore_errors=True)
        partial.rename(output)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return output
