"""The JobSpec: the one typed description of an adaptation job, assembled from one section per concern.

The YAML file that ``launch.py train|submit`` reads, the web form, the job row's JSON and the child
process all go through :func:`jobs.spec.parse.parse_spec`. Field names are a public contract: add fields freely,
rename none; a setting that moves to another section keeps loading from its old place with a warning
(:mod:`jobs.spec.compat`). Settings shared by every job live in ``training:`` (:mod:`jobs.spec.training`); a task's
own settings in its own section (text-to-image: ``images:`` and ``samples:``, :mod:`jobs.spec.images`). Every field
declares its bounds, choices and help text where it is declared, and the UI builds its widgets from them
(``JobSpec.model_json_schema()``). The checks across sections are in :mod:`jobs.spec.checks`.

    from jobs.spec import load_spec
    spec = load_spec("examples/smollm2-lora.yaml")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, field_validator, model_validator

from jobs.spec.base import SpecModel, check_model_reference
from jobs.spec.checks import check_job
from jobs.spec.compat import move_old_settings
from jobs.spec.data import DataSpec
from jobs.spec.embedding import EmbeddingSpec
from jobs.spec.enums import Method, Objective, Task
from jobs.spec.images import ImagesSpec, SamplesSpec
from jobs.spec.preference import PreferenceSpec
from jobs.spec.rewards import GrpoSpec
from jobs.spec.training import EvaluationSpec, LoraSpec, PromptTuningSpec, ResourcesSpec, TrainingSpec


class JobSpec(SpecModel):
    """One adaptation job: a base model, data, a method and its settings."""

    name: str | None = Field(default=None, max_length=200, description="A name to find the run by.")
    task: Task = Field(default=Task.CAUSAL_LM, description="causal-lm (generate text), text-classification, text-to-image (Stable Diffusion "
                                                         "LoRA) or sentence-embedding (retrieval embeddings).")
    base_model: str = Field(description="A Hub id, a local folder, or a path to a .gguf file (text-to-image: a diffusers folder or single-file .safetensors).")
    base_model_revision: str | None = Field(
        default=None, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
        description="Hub models only: the branch, tag or commit to train from (empty: main). A run's spec.yaml records the exact commit, "
                    "so a rerun gets the same weights.")
    method: Method = Field(default=Method.LORA, description="lora, qlora, prompt-tuning or full.")
    objective: Objective = Field(default=Objective.SFT, description="causal-lm: sft (learn the answers), dpo, orpo or kto (learn "
                                 "which of two answers is preferred), or grpo (learn from rewards).")
    data: DataSpec
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    lora: LoraSpec = Field(default_factory=LoraSpec)
    prompt_tuning: PromptTuningSpec = Field(default_factory=PromptTuningSpec)
    images: ImagesSpec = Field(default_factory=ImagesSpec)
    samples: SamplesSpec = Field(default_factory=SamplesSpec)
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    embedding: EmbeddingSpec = Field(default_factory=EmbeddingSpec)
    preference: PreferenceSpec = Field(default_factory=PreferenceSpec)
    grpo: GrpoSpec = Field(default_factory=GrpoSpec)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)

    @model_validator(mode="before")
    @classmethod
    def _settings_in_their_old_place(cls, values: Any) -> Any:
        return move_old_settings(values)

    @field_validator("base_model")
    @classmethod
    def _model_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a model: a Hub id such as HuggingFaceTB/SmolLM2-135M-Instruct, a folder or a .gguf file")
        return check_model_reference(value.strip())

    @field_validator("base_model_revision", mode="before")
    @classmethod
    def _revision(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str) and ".." in value:
            raise ValueError("must be a branch, tag or commit hash (no '..')")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> JobSpec:
        check_job(self)
        return self

    def to_yaml(self) -> str:
        """The spec as YAML, with enums written as their plain values."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)

    @property
    def display_name(self) -> str:
        """The name, or a readable default built from the model and method."""
        return self.name or f"{Path(self.base_model).name}-{self.method.value}"
