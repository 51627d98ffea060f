"""The ``preference:`` section of objectives dpo, orpo and kto: beta, the loss, the reference model and the prompt limit.

Which loss fits which objective is checked with the other cross-field checks (:mod:`jobs.spec.checks`).
"""

from __future__ import annotations

from enum import Enum

from pydantic import Field

from jobs.spec.base import SpecModel


class PreferenceLoss(str, Enum):
    """dpo/kto: the loss (TRL's names); orpo has one loss of its own."""

    SIGMOID = "sigmoid"
    IPO = "ipo"
    HINGE = "hinge"
    ROBUST = "robust"
    KTO = "kto"
    APO_ZERO_UNPAIRED = "apo_zero_unpaired"


DPO_LOSSES = (PreferenceLoss.SIGMOID, PreferenceLoss.IPO, PreferenceLoss.HINGE, PreferenceLoss.ROBUST)
KTO_LOSSES = (PreferenceLoss.KTO, PreferenceLoss.APO_ZERO_UNPAIRED)


class ReferenceModel(str, Enum):
    """dpo/kto: where the reference log-probabilities come from."""

    AUTO = "auto"
    PRECOMPUTED = "precomputed"


class PreferenceSpec(SpecModel):
    """dpo, orpo, kto: preference tuning settings (see :mod:`jobs.trainers.preference`)."""

    beta: float = Field(default=0.1, gt=0, le=10, description="dpo/kto: how far the model may move from the reference (higher: "
                        "stays closer); orpo: the weight of the odds-ratio term next to the answer loss.")
    loss_type: PreferenceLoss | None = Field(default=None, description="dpo: sigmoid (standard), ipo, hinge or robust; kto: kto or "
                                             "apo_zero_unpaired; empty: the objective's standard loss (orpo has only its own).")
    reference: ReferenceModel = Field(default=ReferenceModel.AUTO, description="dpo/kto: auto (LoRA: the base with the adapter "
                                      "switched off, no extra copy; full: a frozen copy) or precomputed (reference scores computed "
                                      "once before training, so no reference model stays in memory).")
    max_prompt_length: int | None = Field(default=None, ge=4, le=131072, description="Keep at most this many tokens of each "
                                          "prompt (its end); the answer gets the rest of training.max_length (empty: no limit).")
    desirable_weight: float = Field(default=1.0, gt=0, le=100, description="kto: weight of the rows labelled good (raise it when "
                                    "they are fewer than the bad ones).")
    undesirable_weight: float = Field(default=1.0, gt=0, le=100, description="kto: weight of the rows labelled bad.")
