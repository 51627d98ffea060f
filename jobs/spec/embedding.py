"""sentence-embedding's own section, ``embedding:``: the loss, Matryoshka sizes, hard-negative mining and the extra corpus."""

from __future__ import annotations

from enum import Enum

from pydantic import Field, field_validator

from jobs.spec.base import SpecModel, refuse_url


class EmbeddingLoss(str, Enum):
    """sentence-embedding: the training objective (sentence-transformers' losses)."""

    MNRL = "mnrl"
    CACHED_MNRL = "cached-mnrl"
    COSENT = "cosent"


class EmbeddingSpec(SpecModel):
    """sentence-embedding: how an embedding model is fine-tuned for retrieval (see :mod:`jobs.trainers.embedding`)."""

    loss: EmbeddingLoss = Field(default=EmbeddingLoss.MNRL, description="sentence-embedding: mnrl (in-batch negatives, for pairs and "
                                "triplets), cached-mnrl (the same with large batches in little memory) or cosent (scored pairs).")
    matryoshka_dims: list[int] = Field(default_factory=list, max_length=8, description="sentence-embedding: Matryoshka training: the "
                                       "embedding sizes to keep good, e.g. [384, 128, 64] (empty: off).")
    mini_batch_size: int = Field(default=32, ge=1, le=1024, description="sentence-embedding: cached-mnrl only: rows embedded at once "
                                 "inside a batch (lower it to save memory; the batch size stays training.batch_size).")
    no_duplicates: bool = Field(default=True, description="sentence-embedding: keep repeated texts out of one batch, so no in-batch "
                                "negative is secretly a positive (mnrl and cached-mnrl).")
    mine_hard_negatives: bool = Field(default=False, description="sentence-embedding: turn pairs into triplets with hard negatives found "
                                      "by the base model among the training passages before training.")
    num_negatives: int = Field(default=1, ge=1, le=20, description="sentence-embedding: hard negatives mined per pair.")
    negative_margin: float = Field(default=0.1, ge=0, le=1, description="sentence-embedding: a mined negative must score at least this "
                                   "much below the positive (cosine), so near-duplicates of the positive are not taken as negatives.")
    corpus: str | None = Field(default=None, max_length=4096, description="sentence-embedding: an optional file of extra passages "
                               "(a text or passage column) searched by the before/after report and the Playground, besides the data's own.")

    @field_validator("matryoshka_dims")
    @classmethod
    def _dims(cls, value: list[int]) -> list[int]:
        if any(dim < 8 or dim > 16384 for dim in value):
            raise ValueError("sizes must be between 8 and 16384, e.g. [384, 128, 64]")
        return sorted(set(value), reverse=True)

    @field_validator("corpus")
    @classmethod
    def _corpus_path(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return refuse_url(value)
