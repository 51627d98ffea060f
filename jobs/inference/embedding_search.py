"""Semantic search with a finished sentence-embedding run: the base and the adapted model ranking the same passages.

The Playground and the before/after report load a run through :func:`open_embedding_run` (or the cached
:func:`load_embedding_run`): a LoRA run is the base model with the adapter loaded by sentence-transformers'
``load_adapter`` (the base is the same model with the adapter disabled, so one copy sits in memory); a full fine-tune is
its ``model/`` folder next to a separately loaded base. (Folding a LoRA adapter into a complete sentence-transformers folder
is an export: :func:`jobs.export.merge.merge_embedding_run`.)

    run = load_embedding_run(run_dir)
    hits = compare_search(run, "how do I reset my zorblat?", passages, top_k=5)
    hits["base"][0].passage, hits["adapted"][0].score
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs.data.pairs import load_embedding_data
from jobs.errors import AdaptaError
from jobs.models import resolve_model
from jobs.models.loading import load_sentence_transformer
from jobs.spec import JobSpec, Method, Task, load_spec

MAX_PASSAGES = 2000
"""The Playground searches at most this many passages (each query embeds them all with both models)."""
CACHE_SIZE = 2

_cache: OrderedDict[str, EmbeddingRun] = OrderedDict()
_lock = threading.Lock()


@dataclass
class EmbeddingRun:
    """A finished sentence-embedding run, loaded: the adapted model and how to get the base one."""

    spec: JobSpec
    adapted: Any
    """A ``SentenceTransformer``: base + adapter (LoRA) or the fine-tuned model (full)."""
    base: Any | None
    """The base ``SentenceTransformer`` of a full fine-tune; None for LoRA (the adapter is disabled instead)."""
    run_dir: Path
    lock: threading.Lock

    @property
    def is_adapter(self) -> bool:
        return self.base is None


@dataclass(frozen=True)
class Hit:
    """One search result."""

    rank: int
    passage: str
    score: float


def open_embedding_run(run_dir: str | Path) -> EmbeddingRun:
    """Load a finished sentence-embedding run fresh (not cached); raises :class:`AdaptaError` when it is not one."""
    run_dir = Path(run_dir)
    if not (run_dir / "spec.yaml").is_file():
        raise AdaptaError(f"{run_dir} is not a finished Adapta run (no spec.yaml); pick a run from the Jobs list")
    spec = load_spec(run_dir / "spec.yaml")
    if spec.task is not Task.SENTENCE_EMBEDDING:
        raise AdaptaError(f"job {run_dir.name} is a {spec.task.value} job; semantic search needs a sentence-embedding job")
    base_path = resolve_model(spec.base_model, task=spec.task, revision=spec.base_model_revision).path
    if spec.method is Method.FULL:
        folder = run_dir / "model"
        if not (folder / "config.json").is_file():
            raise AdaptaError(f"{run_dir} has no trained model yet (model/ is missing); wait for the job to finish")
        return EmbeddingRun(spec, load_sentence_transformer(folder).eval(), load_sentence_transformer(base_path).eval(), run_dir,
                            threading.Lock())
    folder = run_dir / "adapter"
    if not (folder / "adapter_config.json").is_file():
        raise AdaptaError(f"{run_dir} has no trained adapter yet (adapter/ is missing); wait for the job to finish")
    model = load_sentence_transformer(base_path)
    model.load_adapter(str(folder))
    return EmbeddingRun(spec, model.eval(), None, run_dir, threading.Lock())


def load_embedding_run(run_dir: str | Path) -> EmbeddingRun:
    """:func:`open_embedding_run`, cached (the least recently used run is dropped beyond :data:`CACHE_SIZE`)."""
    key = str(Path(run_dir).resolve())
    with _lock:
        if key not in _cache:
            _cache[key] = open_embedding_run(run_dir)
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
        _cache.move_to_end(key)
        return _cache[key]


@contextlib.contextmanager
def model_for(run: EmbeddingRun, adapted: bool) -> Iterator[Any]:
    """The adapted or the base model of ``run``, held alone while in use (a LoRA run toggles its adapter)."""
    with run.lock:
        if adapted or run.base is not None:
            yield run.adapted if adapted else run.base
            return
        run.adapted.disable_adapters()
        try:
            yield run.adapted
        finally:
            run.adapted.enable_adapters()


def encode(run: EmbeddingRun, texts: list[str], *, adapted: bool = True, batch_size: int = 32) -> Any:
    """Embeddings of ``texts`` (a float tensor, one row per text) from the adapted or the base model."""
    with model_for(run, adapted) as model:
        return model.encode(texts, batch_size=batch_size, convert_to_tensor=True, show_progress_bar=False)


def search(run: EmbeddingRun, query: str, passages: list[str], *, adapted: bool = True, top_k: int = 5) -> list[Hit]:
    """The ``top_k`` passages most similar to ``query`` (the model's own similarity, cosine for most), best first."""
    import torch

    with model_for(run, adapted) as model:
        vectors = model.encode([query, *passages], convert_to_tensor=True, show_progress_bar=False)
        scores = model.similarity(vectors[:1], vectors[1:])[0]
    top = torch.topk(scores, k=min(top_k, len(passages)))
    return [Hit(rank + 1, passages[int(index)], float(score)) for rank, (score, index) in enumerate(zip(top.values, top.indices, strict=True))]


def compare_search(run: EmbeddingRun, query: str, passages: list[str], top_k: int = 5) -> dict[str, list[Hit]]:
    """The base and the adapted ranking of ``passages`` for ``query``; raises :class:`AdaptaError` on empty input."""
    passages = list(dict.fromkeys(text.strip() for text in passages if text and text.strip()))
    if not query or not query.strip():
        raise AdaptaError("type a query to search for")
    if not passages:
        raise AdaptaError("the corpus is empty; paste passages, one per line, or use the job's corpus")
    if len(passages) > MAX_PASSAGES:
        raise AdaptaError(f"the corpus has {len(passages)} passages; the Playground searches at most {MAX_PASSAGES}, so paste fewer")
    return {"base": search(run, query, passages, adapted=False, top_k=top_k), "adapted": search(run, query, passages, top_k=top_k)}


def run_passages(run_dir: str | Path) -> list[str]:
    """The job's own corpus: every passage of its data and its ``embedding.corpus`` file."""
    return load_embedding_data(load_spec(Path(run_dir) / "spec.yaml")).passages()

