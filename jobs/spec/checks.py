"""The checks that look at several sections of a job at once (the task with the method, the data format with the
objective, the loss with the data ...), in one place; :class:`jobs.spec.job.JobSpec`'s validator calls :func:`check_job`.

Each refusal is a ValueError with one sentence naming the fields and what to set instead. The checks of one section
alone stay with that section (:mod:`jobs.spec.data`, :mod:`jobs.spec.rewards`, ...).
"""

from __future__ import annotations

from typing import Protocol

from jobs.spec.data import DataSpec
from jobs.spec.embedding import EmbeddingLoss, EmbeddingSpec
from jobs.spec.enums import EMBEDDING_FORMATS, OBJECTIVE_FORMATS, DataFormat, Method, Objective, Task
from jobs.spec.images import CaptionSource, ImagesSpec
from jobs.spec.preference import DPO_LOSSES, KTO_LOSSES, PreferenceSpec
from jobs.spec.rewards import GrpoSpec
from jobs.spec.training import TrainingSpec


class JobSections(Protocol):
    """The parts of a :class:`jobs.spec.job.JobSpec` the cross-field checks read."""

    task: Task
    method: Method
    objective: Objective
    data: DataSpec
    training: TrainingSpec
    images: ImagesSpec
    embedding: EmbeddingSpec
    preference: PreferenceSpec
    grpo: GrpoSpec


def check_job(spec: JobSections) -> None:
    """Raise ValueError (one sentence) when the task, method, objective, data format and task sections do not fit together."""
    if spec.training.packing and spec.task is not Task.CAUSAL_LM:
        raise ValueError("training.packing only applies to task causal-lm; set it to false")
    if spec.training.packing and spec.method is Method.PROMPT_TUNING:
        raise ValueError("training.packing does not work with method prompt-tuning (PEFT drops the position ids that keep "
                         "packed examples apart); set packing to false or use lora")
    if spec.data.format is DataFormat.CLASSIFICATION and spec.task is not Task.TEXT_CLASSIFICATION:
        raise ValueError("data.format classification needs task text-classification")
    if spec.task is Task.TEXT_CLASSIFICATION and spec.data.format in (DataFormat.TEXT, DataFormat.CHAT, DataFormat.INSTRUCTION):
        raise ValueError(f"data.format {spec.data.format.value} does not fit task text-classification; use classification or auto")
    _check_objective(spec)
    if spec.task is Task.SENTENCE_EMBEDDING:
        _check_embedding(spec)
    elif spec.data.format in EMBEDDING_FORMATS:
        raise ValueError(f"data.format {spec.data.format.value} needs task sentence-embedding")
    if spec.task is Task.TEXT_TO_IMAGE:
        if spec.method is not Method.LORA:
            raise ValueError(f"method {spec.method.value} is not available for task text-to-image; use method lora")
        if spec.data.format is not DataFormat.AUTO:
            raise ValueError("data.format does not apply to task text-to-image; leave it auto and set images.caption instead")
        if spec.data.from_hub:
            raise ValueError("data.train: Hub datasets are for text tasks; for text-to-image give a folder or .zip of captioned images")
        if spec.images.caption is CaptionSource.INSTANCE_PROMPT and not (spec.images.instance_prompt or "").strip():
            raise ValueError("images.caption instance_prompt needs images.instance_prompt, e.g. 'a photo of sks dog'")


def _check_objective(spec: JobSections) -> None:
    """dpo/orpo/kto/grpo: the task, method, data format and settings must fit the objective (one sentence per refusal)."""
    objective = spec.objective
    if objective is Objective.SFT:
        if spec.data.format in (DataFormat.PREFERENCE, DataFormat.FEEDBACK, DataFormat.PROMPTS):
            raise ValueError(f"data.format {spec.data.format.value} needs objective dpo, orpo, kto or grpo; set objective, or use auto")
        return
    if spec.task is not Task.CAUSAL_LM:
        raise ValueError(f"objective {objective.value} applies to task causal-lm only; use objective sft")
    if spec.method is Method.PROMPT_TUNING:
        raise ValueError(f"method prompt-tuning is not available for objective {objective.value}: its virtual tokens shift every "
                         "sequence, so the per-token log-probabilities TRL compares no longer line up with the answer; use lora or full")
    if spec.training.packing:
        raise ValueError(f"training.packing applies to objective sft only; set it to false for objective {objective.value}")
    if spec.data.format not in OBJECTIVE_FORMATS[objective]:
        allowed = " or ".join(fmt.value for fmt in OBJECTIVE_FORMATS[objective])
        raise ValueError(f"data.format {spec.data.format.value} does not fit objective {objective.value}; use {allowed}")
    loss = spec.preference.loss_type
    if loss is not None and objective is Objective.DPO and loss not in DPO_LOSSES:
        raise ValueError(f"preference.loss_type {loss.value} is not a dpo loss; use sigmoid, ipo, hinge or robust")
    if loss is not None and objective is Objective.KTO and loss not in KTO_LOSSES:
        raise ValueError(f"preference.loss_type {loss.value} is not a kto loss; use kto or apo_zero_unpaired")
    limit = spec.preference.max_prompt_length
    if objective is not Objective.GRPO and limit is not None and limit >= spec.training.max_length:
        raise ValueError(f"preference.max_prompt_length ({limit}) must be below training.max_length ({spec.training.max_length}), "
                         "which holds the prompt and the answer together")
    if objective is Objective.KTO and spec.training.batch_size < 2:
        raise ValueError("objective kto needs training.batch_size of at least 2: its KL estimate pairs each row with another of the "
                         "same batch")
    if objective is Objective.GRPO:
        if not spec.grpo.rewards:
            raise ValueError("grpo.rewards is empty; add at least one reward term, e.g. {kind: format, tag: answer}")
        per_step = spec.training.batch_size * spec.training.gradient_accumulation
        if per_step % spec.grpo.num_generations:
            raise ValueError(f"training.batch_size x gradient_accumulation ({per_step}) must be a multiple of grpo.num_generations "
                             f"({spec.grpo.num_generations}); e.g. set batch_size to {spec.grpo.num_generations}")


def _check_embedding(spec: JobSections) -> None:
    """sentence-embedding: the method, data format and loss must fit together (one sentence per refusal)."""
    if spec.method is Method.PROMPT_TUNING:
        raise ValueError("method prompt-tuning is not available for task sentence-embedding: its virtual tokens would be pooled into "
                         "every embedding and the result cannot be saved as a sentence-transformers model; use lora or full")
    if spec.method is Method.QLORA:
        raise ValueError("method qlora is not available for task sentence-embedding: embedding models are small enough that 4-bit "
                         "loading saves little and sentence-transformers cannot save a quantized base; use lora or full")
    if spec.data.format not in (DataFormat.AUTO, *EMBEDDING_FORMATS):
        raise ValueError(f"data.format {spec.data.format.value} does not fit task sentence-embedding; use auto, pairs, triplets or scored-pairs")
    settings = spec.embedding
    if settings.loss is EmbeddingLoss.COSENT and spec.data.format in (DataFormat.PAIRS, DataFormat.TRIPLETS):
        raise ValueError(f"embedding.loss cosent needs scored pairs (sentence1, sentence2, score), not data.format {spec.data.format.value}; "
                         "use loss mnrl or scored-pairs data")
    if settings.loss is not EmbeddingLoss.COSENT and spec.data.format is DataFormat.SCORED_PAIRS:
        raise ValueError(f"embedding.loss {settings.loss.value} learns from pairs or triplets; scored pairs need embedding.loss cosent")
    if settings.mine_hard_negatives and (settings.loss is EmbeddingLoss.COSENT or spec.data.format in (DataFormat.TRIPLETS, DataFormat.SCORED_PAIRS)):
        raise ValueError("embedding.mine_hard_negatives adds negatives to (anchor, positive) pairs trained with mnrl or cached-mnrl; "
                         "turn it off for triplets, scored pairs or loss cosent")
