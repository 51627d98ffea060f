"""The choices that shape a whole job: its task, method, data format and objective, and which of them fit together.

Section-specific choices (a scheduler, a loss, a caption source) live with their section (:mod:`jobs.spec.training`,
:mod:`jobs.spec.embedding`, ...); these are the ones several sections and the cross-field checks
(:mod:`jobs.spec.checks`) read.
"""

from __future__ import annotations

from enum import Enum


class Task(str, Enum):
    """What the adapted model does."""

    CAUSAL_LM = "causal-lm"
    TEXT_CLASSIFICATION = "text-classification"
    TEXT_TO_IMAGE = "text-to-image"
    SENTENCE_EMBEDDING = "sentence-embedding"


class Method(str, Enum):
    """How the base model is adapted."""

    LORA = "lora"
    QLORA = "qlora"
    PROMPT_TUNING = "prompt-tuning"
    FULL = "full"


class DataFormat(str, Enum):
    """How rows of the data file are turned into training examples."""

    AUTO = "auto"
    TEXT = "text"
    INSTRUCTION = "instruction"
    CHAT = "chat"
    CLASSIFICATION = "classification"
    PAIRS = "pairs"
    TRIPLETS = "triplets"
    SCORED_PAIRS = "scored-pairs"
    PREFERENCE = "preference"
    FEEDBACK = "feedback"
    PROMPTS = "prompts"


EMBEDDING_FORMATS = (DataFormat.PAIRS, DataFormat.TRIPLETS, DataFormat.SCORED_PAIRS)
"""sentence-embedding data: (anchor, positive) pairs, (anchor, positive, negative) triplets, (sentence1, sentence2, score)."""


class Objective(str, Enum):
    """causal-lm: what training optimises (sft: imitate the answers; dpo/orpo/kto: prefer the better answer; grpo: maximise rewards)."""

    SFT = "sft"
    DPO = "dpo"
    ORPO = "orpo"
    KTO = "kto"
    GRPO = "grpo"


PREFERENCE_OBJECTIVES = (Objective.DPO, Objective.ORPO, Objective.KTO)
OBJECTIVE_FORMATS: dict[Objective, tuple[DataFormat, ...]] = {
    Objective.DPO: (DataFormat.AUTO, DataFormat.PREFERENCE),
    Objective.ORPO: (DataFormat.AUTO, DataFormat.PREFERENCE),
    Objective.KTO: (DataFormat.AUTO, DataFormat.FEEDBACK, DataFormat.PREFERENCE),
    Objective.GRPO: (DataFormat.AUTO, DataFormat.PROMPTS),
}
"""The data formats each non-sft objective reads (preference: prompt/chosen/rejected; feedback: prompt/completion/label;
prompts: prompt with an optional reference answer)."""
