"""The JobSpec: the one typed description of an adaptation job, what every layer reads.

One module per section (:mod:`jobs.spec.data`, :mod:`jobs.spec.training` for training/lora/prompt_tuning/evaluation/
resources, :mod:`jobs.spec.images`, :mod:`jobs.spec.embedding`, :mod:`jobs.spec.preference`, :mod:`jobs.spec.rewards`),
the choices that shape a whole job (:mod:`jobs.spec.enums`), the base every section shares (:mod:`jobs.spec.base`),
:mod:`jobs.spec.job` (the JobSpec that assembles them), :mod:`jobs.spec.checks` (the checks across sections, in one
place), :mod:`jobs.spec.parse` (mapping, YAML text or file to a JobSpec, one sentence per problem),
:mod:`jobs.spec.compat` (older and newer specs keep loading), :mod:`jobs.spec.limits` (bounds checked at the door before
anything is parsed) and :mod:`jobs.spec.reference` (the Markdown reference in ``docs/spec-reference.md``, generated from
the schema).

    from jobs.spec import JobSpec, load_spec, parse_spec
"""

from jobs.spec.base import SpecModel, check_model_reference, refuse_url
from jobs.spec.data import HUB_DATA_PREFIX, DataSpec
from jobs.spec.embedding import EmbeddingLoss, EmbeddingSpec
from jobs.spec.enums import EMBEDDING_FORMATS, OBJECTIVE_FORMATS, PREFERENCE_OBJECTIVES, DataFormat, Method, Objective, Task
from jobs.spec.images import BaseQuantization, CaptionSource, Crop, ImagesSpec, SamplesSpec, TimestepSampling
from jobs.spec.job import JobSpec
from jobs.spec.parse import format_validation_error, load_spec, parse_spec, parse_spec_yaml
from jobs.spec.preference import DPO_LOSSES, KTO_LOSSES, PreferenceLoss, PreferenceSpec, ReferenceModel
from jobs.spec.rewards import GrpoSpec, RewardKind, RewardTerm
from jobs.spec.training import EvaluationSpec, KernelSwitch, LoraSpec, Precision, PromptTuningSpec, ResourcesSpec, Scheduler, Strategy, TrainingSpec

__all__ = [
    "CaptionSource",
    "BaseQuantization",
    "Crop",
    "DPO_LOSSES",
    "DataFormat",
    "DataSpec",
    "EMBEDDING_FORMATS",
    "EmbeddingLoss",
    "EmbeddingSpec",
    "EvaluationSpec",
    "GrpoSpec",
    "HUB_DATA_PREFIX",
    "ImagesSpec",
    "JobSpec",
    "KTO_LOSSES",
    "LoraSpec",
    "Method",
    "OBJECTIVE_FORMATS",
    "Objective",
    "PREFERENCE_OBJECTIVES",
    "KernelSwitch",
    "Precision",
    "PreferenceLoss",
    "PreferenceSpec",
    "PromptTuningSpec",
    "ReferenceModel",
    "ResourcesSpec",
    "RewardKind",
    "RewardTerm",
    "SamplesSpec",
    "Scheduler",
    "SpecModel",
    "Strategy",
    "Task",
    "TimestepSampling",
    "TrainingSpec",
    "check_model_reference",
    "format_validation_error",
    "load_spec",
    "parse_spec",
    "parse_spec_yaml",
    "refuse_url",
]
