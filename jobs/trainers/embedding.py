"""The embedding trainer (task sentence-embedding): sentence-transformers' own ``SentenceTransformerTrainer`` with LoRA or full.

``train_embedding_model(spec, run_dir, sink)`` resolves and loads the base model safely
(:func:`jobs.models.loading.load_sentence_transformer`), reads the pairs, triplets or scored pairs
(:mod:`jobs.data.pairs`; held-out queries are never trained on), optionally mines hard negatives with the base model,
builds the loss (MultipleNegativesRankingLoss, its cached variant, or CoSENT; Matryoshka on top when
``embedding.matryoshka_dims`` is set), trains with the no-duplicates batch sampler for in-batch negatives, records
metrics through :class:`jobs.trainers.progress.ProgressCallback`, checkpoints into ``run_dir/checkpoints`` and resumes from
the last complete checkpoint found there. LoRA saves ``adapter/`` (a PEFT adapter plus the sentence-transformers module
files: ``SentenceTransformer(base).load_adapter("adapter")`` or ``SentenceTransformer("adapter")``); full saves ``model/``,
a complete sentence-transformers folder (both through the shared training tail, :mod:`jobs.trainers.tail`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peft import LoraConfig, TaskType
from transformers import TrainerCallback, set_seed

from jobs.data.pairs import EmbeddingData, load_embedding_data, mine_negatives
from jobs.errors import SpecError
from jobs.metrics import MetricsSink
from jobs.models import resolve_model, resolve_precision
from jobs.models.loading import load_sentence_transformer
from jobs.spec import EmbeddingLoss, JobSpec, Method, Task
from jobs.trainers.arguments import shared_arguments
from jobs.trainers.checkpoint_timer import CheckpointTimer
from jobs.trainers.methods import lora_target_modules
from jobs.trainers.progress import ProgressCallback
from jobs.trainers.tail import TrainOutcome, finish_training

if TYPE_CHECKING:  # sentence-transformers (with scikit-learn and scipy, ~50 MiB) loads only when an embedding job trains
    from sentence_transformers import SentenceTransformerTrainingArguments

COLUMNS = ("anchor", "positive", "negative", "sentence1", "sentence2", "score")
"""Dataset column order: sentence-transformers feeds text columns to the loss in order and treats ``score`` as the label."""


def build_loss(spec: JobSpec, model: Any) -> Any:
    """The spec's loss for ``model``, wrapped in MatryoshkaLoss when ``embedding.matryoshka_dims`` is set."""
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        CoSENTLoss,
        MatryoshkaLoss,
        MultipleNegativesRankingLoss,
    )

    settings = spec.embedding
    if settings.loss is EmbeddingLoss.COSENT:
        loss = CoSENTLoss(model)
    elif settings.loss is EmbeddingLoss.CACHED_MNRL:
        loss = CachedMultipleNegativesRankingLoss(model, mini_batch_size=settings.mini_batch_size)
    else:
        loss = MultipleNegativesRankingLoss(model)
    if not settings.matryoshka_dims:
        return loss
    size = model.get_sentence_embedding_dimension()
    too_big = [dim for dim in settings.matryoshka_dims if dim > size]
    if too_big:
        raise SpecError([f"embedding.matryoshka_dims {too_big} are larger than the model's embedding size {size}; use sizes up to {size}"])
    return MatryoshkaLoss(model, loss, matryoshka_dims=settings.matryoshka_dims)


def training_arguments(spec: JobSpec, run_dir: Path, precision_flags: dict[str, bool]) -> SentenceTransformerTrainingArguments:
    """The spec's ``training:`` settings as sentence-transformers training arguments (no in-loop evaluation: the report runs after)."""
    from sentence_transformers import SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers

    in_batch_negatives = spec.embedding.loss is not EmbeddingLoss.COSENT
    return SentenceTransformerTrainingArguments(
        **shared_arguments(spec, run_dir, False, precision_flags),
        activation_checkpointing=spec.training.gradient_checkpointing,
        batch_sampler=BatchSamplers.NO_DUPLICATES if spec.embedding.no_duplicates and in_batch_negatives else BatchSamplers.BATCH_SAMPLER,
    )


def add_lora(model: Any, spec: JobSpec) -> None:
    """Put a LoRA (or DoRA) adapter on the model's transformer through sentence-transformers' ``add_adapter``."""
    backbone = model[0].auto_model
    model.add_adapter(LoraConfig(task_type=TaskType.FEATURE_EXTRACTION, r=spec.lora.r, lora_alpha=spec.lora.alpha,
                                 lora_dropout=spec.lora.dropout, target_modules=lora_target_modules(backbone, spec),
                                 use_dora=spec.lora.use_dora))


def training_dataset(rows: list[dict[str, Any]]) -> Any:
    """A ``datasets.Dataset`` with the rows' columns in the order the losses read them."""
    from datasets import Dataset

    present = [column for column in COLUMNS if column in rows[0]]
    return Dataset.from_dict({column: [row[column] for row in rows] for column in present})


class RestoreMaxSeqLength(TrainerCallback):
    """``training.max_length`` truncates training only, not the saved model's searches: the model's own limit is back when
    training ends, before the adapter or model is saved."""

    def __init__(self, model: Any, max_seq_length: int | None):
        self.model, self.max_seq_length = model, max_seq_length

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.model.max_seq_length = self.max_seq_length


def _prepare_rows(spec: JobSpec, data: EmbeddingData, model: Any) -> list[dict[str, Any]]:
    if not spec.embedding.mine_hard_negatives:
        return data.train
    settings = spec.embedding
    triplets, note = mine_negatives(data.train, model, extra_passages=data.extra_passages, num_negatives=settings.num_negatives,
                                    margin=settings.negative_margin)
    data.warnings.append(note)
    return triplets


def train_embedding_model(
    spec: JobSpec,
    run_dir: Path,
    sink: MetricsSink,
    *,
    show_progress: bool = False,
    stop_file: Path | None = None,
) -> TrainOutcome:
    """Train one sentence-embedding spec into ``run_dir``; resumes from ``run_dir/checkpoints`` when it holds one."""
    from sentence_transformers import SentenceTransformerTrainer

    if spec.task is not Task.SENTENCE_EMBEDDING:
        raise SpecError([f"train_embedding_model trains task sentence-embedding, not {spec.task.value}"])
    started = time.perf_counter()
    set_seed(spec.training.seed)
    resolved = resolve_model(spec.base_model, task=spec.task, revision=spec.base_model_revision)
    dtype, precision_flags = resolve_precision(spec.training.precision, spec.method)
    data = load_embedding_data(spec)
    model = load_sentence_transformer(resolved.path, dtype=dtype)
    model_max_length = model.max_seq_length
    model.max_seq_length = min(spec.training.max_length, model_max_length or spec.training.max_length)
    rows = _prepare_rows(spec, data, model)  # mined with the base model, before any adapter
    if spec.method is Method.LORA:
        add_lora(model, spec)
    progress = ProgressCallback(sink, show_progress=show_progress, stop_file=stop_file)
    trainer = SentenceTransformerTrainer(
        model=model,
        args=training_arguments(spec, run_dir, precision_flags),
        train_dataset=training_dataset(rows),
        loss=build_loss(spec, model),
        callbacks=[progress, CheckpointTimer(spec.training.checkpoint_minutes), RestoreMaxSeqLength(model, model_max_length)],
    )
    return finish_training(trainer, spec, run_dir, sink, data=data, resolved=resolved, started=started,
                           train_examples=len(rows), eval_examples=len(data.held_out), save_model=model.save_pretrained)
