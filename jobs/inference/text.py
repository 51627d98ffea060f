"""Inference for the playground: load a base model plus a trained adapter once, then generate or classify.

The base and the adapted outputs come from one model in memory: PEFT's ``disable_adapter()`` gives
the base model's answer with the same weights, so a side-by-side comparison costs no second copy.
Loaded models are kept in a small LRU cache keyed by run folder (or base model), so switching
between runs in the UI does not reload from disk each time.

Prompts are built as training built them: with the tokenizer saved beside the adapter (the base model's when a run has
none), its chat template's generation prompt and the job's ``data.thinking`` setting (:func:`jobs.data.chat.generation_prompt`).

    from jobs.inference.text import load_run, generate, compare_generate
    loaded = load_run("data/runs/3")
    print(compare_generate(loaded, "What colour is the sky on Zorvath?"))
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs.data.chat import generation_prompt
from jobs.errors import AdaptaError
from jobs.models import load_base_model, load_tokenizer, resolve_model
from jobs.spec import JobSpec, Method, Task, load_spec

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

CACHE_SIZE = 2


@dataclass
class LoadedModel:
    """A model ready for inference, with what is needed to use it."""

    model: PreTrainedModel
    tokenizer: Any
    task: Task
    label_names: list[str] | None
    is_adapter: bool
    source: str
    thinking: str = "auto"
    """The job's ``data.thinking``: prompts use the same thinking setting as training."""


@dataclass(frozen=True)
class GenerationSettings:
    """Sampling settings shared by the base and the adapted model in a comparison."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 0.9
    seed: int = 0


_cache: OrderedDict[str, LoadedModel] = OrderedDict()
_lock = threading.Lock()


def _label_names_from_config(config: Any) -> list[str] | None:
    id2label = getattr(config, "id2label", None) or {}
    names = [id2label[key] for key in sorted(id2label, key=int)] if id2label else None
    if names and all(name.startswith("LABEL_") for name in names):
        return None
    return names


def _load_run(run_dir: Path) -> LoadedModel:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    spec_path = run_dir / "spec.yaml"
    if not spec_path.is_file():
        raise AdaptaError(f"{run_dir} is not a finished Adapta run (no spec.yaml); pick a run folder from the Jobs list")
    spec: JobSpec = load_spec(spec_path)
    if spec.method is Method.FULL:
        folder = run_dir / "model"
        if not (folder / "config.json").is_file():
            raise AdaptaError(f"{run_dir} has no trained model yet (model/ is missing); wait for the job to finish")
        cls = AutoModelForCausalLM if spec.task is Task.CAUSAL_LM else AutoModelForSequenceClassification
        model = cls.from_pretrained(folder, use_safetensors=True, trust_remote_code=False)
        tokenizer = load_tokenizer(resolve_model(str(folder)))
        return LoadedModel(model.eval(), tokenizer, spec.task, _label_names_from_config(model.config), False, str(folder),
                           spec.data.thinking)
    folder = run_dir / "adapter"
    if not (folder / "adapter_config.json").is_file():
        raise AdaptaError(f"{run_dir} has no trained adapter yet (adapter/ is missing); wait for the job to finish")
    label_names = _label_names_from_config(_Config(folder)) if (folder / "config.json").is_file() else None
    resolved = resolve_model(spec.base_model)
    saved = (folder / "tokenizer_config.json").is_file()  # the tokenizer (and chat template) training used, saved with the adapter
    tokenizer = load_tokenizer(replace(resolved, path=folder) if saved else resolved)
    base = load_base_model(resolved, spec.task, label_names=label_names, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, folder, is_trainable=False)
    return LoadedModel(model.eval(), tokenizer, spec.task, label_names, True, str(folder), spec.data.thinking)


class _Config:
    """The ``id2label`` of a saved config.json, as a tiny attribute object."""

    def __init__(self, folder: Path):
        raw = json.loads((folder / "config.json").read_text())
        self.id2label = raw.get("id2label") or {}


def leave_a_core_free() -> None:
    """Generate with one core fewer than this process may use (never more threads than torch already has): the cached models
    answer in the web server's process (the Playground), whose event loop must keep a core for other users."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, min(torch.get_num_threads(), cores - 1)))


def _cached(key: str, loader: Callable[[], LoadedModel]) -> LoadedModel:
    """The cached model under ``key``, loading it (and evicting the least recently used) when absent. Cached models serve the web
    server, so loading one leaves a core free for generating (:func:`leave_a_core_free`; torch's thread count is per process)."""
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        leave_a_core_free()
        loaded = loader()
        _cache[key] = loaded
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
        return loaded


def load_run(run_dir: str | Path) -> LoadedModel:
    """The model of a finished run (base + adapter, or the fully fine-tuned model), cached."""
    return _cached(str(Path(run_dir).resolve()), lambda: _load_run(Path(run_dir)))


def _load_base(base_model: str, task: Task) -> LoadedModel:
    import torch

    resolved = resolve_model(base_model, task=task)
    model = load_base_model(resolved, task, dtype=torch.float32)
    return LoadedModel(model.eval(), load_tokenizer(resolved), task, _label_names_from_config(model.config), False, base_model)


def open_run(run_dir: str | Path) -> LoadedModel:
    """The model of a finished run loaded fresh, not cached: for one-off work in a job's own process (its evaluation)."""
    return _load_run(Path(run_dir))


def load_base_model_only(base_model: str, task: Task) -> LoadedModel:
    """A base model loaded fresh, not cached (the "before" of a full fine-tune's evaluation)."""
    return _load_base(base_model, task)


def load_base(base_model: str, task: Task = Task.CAUSAL_LM) -> LoadedModel:
    """A base model alone (no adapter), cached like runs."""
    return _cached(f"base::{task.value}::{base_model}", lambda: _load_base(base_model, task))


def clear_cache() -> None:
    """Forget every loaded model (frees memory)."""
    with _lock:
        _cache.clear()


@contextlib.contextmanager
def _adapter_state(loaded: LoadedModel, enabled: bool) -> Iterator[None]:
    if loaded.is_adapter and not enabled:
        with loaded.model.disable_adapter():
            yield
    else:
        yield


def _prompt_ids(loaded: LoadedModel, prompt: str | list[dict[str, str]]) -> torch.Tensor:
    tokenizer = loaded.tokenizer
    messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
    if getattr(tokenizer, "chat_template", None):
        text = generation_prompt(tokenizer, messages, loaded.thinking)
    else:
        text = "\n".join(message["content"] for message in messages)
    return tokenizer(text, return_tensors="pt", add_special_tokens=not getattr(tokenizer, "chat_template", None))["input_ids"]


def generate(loaded: LoadedModel, prompt: str | list[dict[str, str]], settings: GenerationSettings | None = None, *, adapter: bool = True) -> str:
    """Continue a prompt (chat-template aware); ``adapter=False`` answers as the base model."""
    import torch

    if loaded.task is not Task.CAUSAL_LM:
        raise AdaptaError("this model classifies text; use classify() instead of generate()")
    settings = settings or GenerationSettings()
    input_ids = _prompt_ids(loaded, prompt).to(loaded.model.device)
    torch.manual_seed(settings.seed)
    sampling = settings.temperature > 0
    kwargs: dict[str, Any] = {"do_sample": sampling, "max_new_tokens": settings.max_new_tokens, "pad_token_id": loaded.tokenizer.pad_token_id}
    if sampling:
        kwargs.update(temperature=settings.temperature, top_p=settings.top_p)
    with torch.inference_mode(), _adapter_state(loaded, adapter):
        output = loaded.model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **kwargs)
    return loaded.tokenizer.decode(output[0, input_ids.shape[1]:], skip_special_tokens=True).strip()


def compare_generate(loaded: LoadedModel, prompt: str | list[dict[str, str]], settings: GenerationSettings | None = None) -> tuple[str, str]:
    """(base answer, adapted answer) for the same prompt and settings."""
    return generate(loaded, prompt, settings, adapter=False), generate(loaded, prompt, settings, adapter=True)


def classify(loaded: LoadedModel, text: str, *, adapter: bool = True) -> dict[str, float]:
    """Label probabilities for one text, highest first."""
    import torch

    if loaded.task is not Task.TEXT_CLASSIFICATION:
        raise AdaptaError("this model generates text; use generate() instead of classify()")
    encoded = loaded.tokenizer(text, return_tensors="pt", truncation=True)
    with torch.inference_mode(), _adapter_state(loaded, adapter):
        logits = loaded.model(**encoded.to(loaded.model.device)).logits[0]
        probabilities = torch.softmax(logits.float(), dim=-1).tolist()
    names = loaded.label_names or [f"LABEL_{index}" for index in range(len(probabilities))]
    return dict(sorted(zip(names, probabilities, strict=True), key=lambda item: -item[1]))

