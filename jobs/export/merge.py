"""Merge a finished LoRA run into one complete model folder that loads without PEFT (the Export tab's Merge, the merged Hub
push and the GGUF export start from it).

A text run becomes a transformers folder (safetensors weights and the tokenizer); a sentence-embedding run becomes a complete
sentence-transformers folder (pooling modules included).

    from jobs.export.merge import merge_run
    merged = merge_run("data/runs/7", data_home().merged_model_dir(7))
"""

from __future__ import annotations

import shutil
from pathlib import Path

from jobs.errors import AdaptaError
from jobs.inference.embedding_search import open_embedding_run
from jobs.inference.text import open_run
from jobs.models import resolve_model
from jobs.models.loading import load_sentence_transformer
from jobs.spec import Method, Task, load_spec


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
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(output)
    loaded.tokenizer.save_pretrained(output)
    return output


def merge_embedding_run(run_dir: str | Path, output_dir: str | Path) -> Path:
    """Fold a LoRA run's adapter into its base and save a complete sentence-transformers folder (no PEFT needed to load it)."""
    from peft import PeftModel

    run = open_embedding_run(run_dir)
    if not run.is_adapter:
        raise AdaptaError(f"{run_dir} is a full fine-tune; its model/ folder is already a complete sentence-transformers model")
    model = load_sentence_transformer(resolve_model(run.spec.base_model, task=run.spec.task).path)
    transformer = model[0]
    transformer.model = PeftModel.from_pretrained(transformer.model, str(run.run_dir / "adapter")).merge_and_unload()
    output = Path(output_dir)
    partial = output.with_name(output.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(str(partial))
    shutil.rmtree(output, ignore_errors=True)
    partial.rename(output)
    return output
