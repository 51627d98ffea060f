"""The JobSpec: the one typed description of an adaptation job.

The YAML file that ``launch.py train|submit`` reads, the web form, the job row's JSON and the child
process all go through :func:`parse_spec`. Field names are a public contract: add fields freely,
rename none; a setting that moves to another section keeps loading from its old place with a warning
(:mod:`jobs.spec.compat`). Settings shared by every job live in ``training:``; a task's own settings in
its own section (text-to-image: ``images:`` and ``samples:``). Every field declares its bounds, choices
and help text here, and the UI builds its widgets from them (``JobSpec.model_json_schema()``).

    from jobs.spec import load_spec
    spec = load_spec("examples/smollm2-lora.yaml")
"""

from __future__ import annotations

import difflib
import re
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from jobs.errors import SpecError
from jobs.spec.compat import move_old_settings, spec_warning
from jobs.spec.limits import check_value_bounds, load_bounded_yaml, shown

HUB_DATA_PREFIX = "hub:"  # data.train: hub:OWNER/NAME names a dataset on the Hugging Face Hub


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


class Scheduler(str, Enum):
    """Learning-rate schedule (names as in transformers)."""

    LINEAR = "linear"
    COSINE = "cosine"
    CONSTANT = "constant"
    CONSTANT_WITH_WARMUP = "constant_with_warmup"


class Precision(str, Enum):
    """Numeric precision of training; ``auto`` picks bf16 or fp16 on CUDA and fp32 on CPU."""

    AUTO = "auto"
    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"


class CaptionSource(str, Enum):
    """text-to-image: where each image's caption comes from."""

    AUTO = "auto"
    TXT = "txt"
    METADATA = "metadata"
    INSTANCE_PROMPT = "instance_prompt"


class Crop(str, Enum):
    """text-to-image: how an image is cropped to the training resolution after resizing its short side."""

    CENTER = "center"
    RANDOM = "random"


class SpecModel(BaseModel):
    """Base of every spec section: unknown keys are ignored with a warning that suggests a fix."""

    model_config = ConfigDict(extra="ignore", use_enum_values=False, validate_assignment=True)

    @model_validator(mode="before")
    @classmethod
    def _warn_unknown_keys(cls, values: Any) -> Any:
        if isinstance(values, dict):
            known = set(cls.model_fields)
            for key in values:
                if isinstance(key, str) and key not in known:
                    close = difflib.get_close_matches(key, known, n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    spec_warning(f"{cls.__name__}: unknown key '{key}' ignored{hint}")
        return values


class DataSpec(SpecModel):
    """Where the training data is and how to read it."""

    train: str = Field(description="Training data file: .csv .tsv .jsonl .json .parquet or .txt (text-to-image: a folder or .zip of images), "
                                   "or a Hub dataset as hub:OWNER/NAME.")
    validation: Union[float, str, None] = Field(
        default=None,
        description="Held-out data: a fraction of the training rows (0 to 0.5), a file (a Hub dataset: a split name; text-to-image: a folder "
                    "or .zip of captioned images), or empty for none. The before/after report is measured on it.",
    )
    config: str | None = Field(default=None, max_length=200, description="Hub dataset only: the configuration (subset) to load, if it has several.")
    split: str = Field(default="train", min_length=1, max_length=200, description="Hub dataset only: the split to train on, e.g. train or train[:1000].")
    format: DataFormat = Field(
        default=DataFormat.AUTO,
        description="auto detects it from the columns; text, instruction, chat or classification force it.",
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Map roles to your column names, e.g. {prompt: question, response: answer} or {text: review, label: stars}.",
    )

    @field_validator("validation")
    @classmethod
    def _validation_fraction(cls, value: Union[float, str, None]) -> Union[float, str, None]:
        if isinstance(value, float) and not 0.0 < value <= 0.5:
            raise ValueError("must be a fraction between 0 and 0.5 (e.g. 0.1), a file path, or empty")
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("train")
    @classmethod
    def _train_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a data file")
        if value.startswith(HUB_DATA_PREFIX):
            from jobs.data.hub_datasets import check_hub_dataset_id

            check_hub_dataset_id(value)
        else:
            refuse_url(value)
        return value

    @model_validator(mode="after")
    def _validation_fits_the_source(self) -> DataSpec:
        if isinstance(self.validation, str):
            if self.from_hub:
                from jobs.data.hub_datasets import parse_split

                try:
                    parse_split(self.validation)
                except Exception:  # noqa: BLE001 - DataError or ValueError: one sentence either way
                    raise ValueError(f"data.validation of a Hub dataset names one of its splits (e.g. test or train[:100]), "
                                     f"not a file (got {shown(self.validation)})") from None
            else:
                refuse_url(self.validation)
        return self

    @property
    def from_hub(self) -> bool:
        """True when ``train`` names a Hub dataset (hub:OWNER/NAME)."""
        return self.train.startswith(HUB_DATA_PREFIX)


class TrainingSpec(SpecModel):
    """Optimisation settings shared by every method."""

    epochs: float = Field(default=1.0, gt=0, le=100, description="Passes over the training data.")
    max_steps: int | None = Field(default=None, ge=1, le=1_000_000, description="Stop after this many optimizer steps (overrides epochs).")
    learning_rate: float = Field(default=2.0e-4, gt=0, le=1.0, description="Peak learning rate.")
    batch_size: int = Field(default=8, ge=1, le=1024, description="Examples per device per step.")
    gradient_accumulation: int = Field(default=1, ge=1, le=1024, description="Steps to accumulate before each optimizer update.")
    max_length: int = Field(default=512, ge=8, le=131072, description="Longest example in tokens; longer ones are truncated.")
    warmup_ratio: float = Field(default=0.03, ge=0, le=0.5, description="Fraction of steps spent warming up the learning rate.")
    scheduler: Scheduler = Field(default=Scheduler.COSINE, description="Learning-rate schedule after warm-up.")
    weight_decay: float = Field(default=0.0, ge=0, le=1.0, description="AdamW weight decay.")
    eval_steps: int | None = Field(default=None, ge=1, description="Evaluate every N steps (empty: at the end of each epoch when there is validation data).")
    save_steps: int | None = Field(default=None, ge=1, description="Save a resumable checkpoint every N steps (empty: at the end of each epoch).")
    checkpoint_minutes: float | None = Field(
        default=10.0, gt=0, le=1440,
        description="Also save a resumable checkpoint after every this many minutes of training, so a crash loses minutes, not the run "
                    "(empty: only at save_steps or epoch ends). A restarted job resumes from the newest complete checkpoint.")
    logging_steps: int = Field(default=1, ge=1, le=10_000, description="Record metrics every N steps.")
    seed: int = Field(default=42, ge=0, le=2**32 - 1, description="Random seed for data order and initialisation.")
    precision: Precision = Field(default=Precision.AUTO, description="auto, fp32, bf16 or fp16 (bf16/fp16 need CUDA).")
    gradient_checkpointing: bool = Field(default=False, description="Trade compute for memory on long sequences.")
    packing: bool = Field(default=False, description="Causal LM only: pack whole examples into each max_length sequence; each example "
                                                     "attends only to itself. Not with prompt tuning.")
    group_by_length: bool = Field(default=True, description="Batch examples of similar length together to waste less padding.")
    train_on_prompt: bool = Field(default=False, description="Also compute the loss on prompt and user tokens (default: answers only).")
    max_grad_norm: float = Field(default=1.0, gt=0, le=1000, description="Clip the gradient norm to this value before each optimizer update.")


class LoraSpec(SpecModel):
    """LoRA / QLoRA / DoRA settings."""

    r: int = Field(default=8, ge=1, le=1024, description="Rank of the low-rank update.")
    alpha: float = Field(default=16, gt=0, le=4096, description="Scaling numerator; the update is scaled by alpha / r.")
    dropout: float = Field(default=0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: Union[Literal["auto", "all-linear"], list[str]] = Field(
        default="auto",
        description="auto (attention projections), all-linear, or a list of module names such as [q_proj, v_proj].",
    )
    use_dora: bool = Field(default=False, description="Weight-decomposed LoRA (DoRA).")

    @field_validator("target_modules")
    @classmethod
    def _non_empty_list(cls, value: Union[str, list[str]]) -> Union[str, list[str]]:
        if isinstance(value, list) and not [name for name in value if name.strip()]:
            raise ValueError("must be auto, all-linear, or a non-empty list of module names")
        return value


class PromptTuningSpec(SpecModel):
    """Prompt tuning settings."""

    num_virtual_tokens: int = Field(default=20, ge=1, le=1000, description="Number of trainable virtual tokens.")
    init_text: str | None = Field(default=None, description="Initialise the virtual tokens from this text (empty: random).")


class ImagesSpec(SpecModel):
    """text-to-image: how images and captions are read and how the diffusion LoRA trains (see :mod:`jobs.trainers.images.train`).
    These settings lived in data:, training: and lora: before; specs that still have them there load with a warning
    (:mod:`jobs.spec.compat`)."""

    caption: CaptionSource = Field(default=CaptionSource.AUTO, description="Where captions come from: auto (metadata.jsonl/csv, else "
                                   "same-name .txt files, else the instance prompt), txt, metadata or instance_prompt.")
    instance_prompt: str | None = Field(default=None, max_length=1000, description="One caption for every image without its own, "
                                        "e.g. 'a photo of sks dog'.")
    trigger_word: str | None = Field(default=None, max_length=100, description="A rare word put in front of every caption that lacks "
                                     "it, e.g. sks.")
    resolution: int = Field(default=512, ge=32, le=4096, multiple_of=8, description="Square training size in pixels (a multiple of 8).")
    crop: Crop = Field(default=Crop.CENTER, description="Center or random crop after resizing the short side to the resolution.")
    random_flip: bool = Field(default=False, description="Flip images horizontally at random (not for subjects with text or asymmetry).")
    noise_offset: float = Field(default=0.0, ge=0, le=1.0, description="Offset noise strength (0.05-0.1 helps very dark or bright images).")
    snr_gamma: float | None = Field(default=None, gt=0, le=100, description="Min-SNR loss weighting gamma (5 is typical; empty: plain MSE).")
    cache_latents: bool = Field(default=False, description="Encode every image with the VAE once (faster; disables random crop and flip).")
    use_8bit_adam: bool = Field(default=False, description="8-bit AdamW from bitsandbytes (needs CUDA and bitsandbytes).")
    train_text_encoder: bool = Field(default=False, description="Also put LoRA on the text encoder(s) attention (lora.r, alpha and "
                                     "dropout apply to both).")


class SamplesSpec(SpecModel):
    """text-to-image: sample images rendered during training at fixed seeds, saved under runs/<job>/samples/."""

    prompts: list[str] = Field(default_factory=list, max_length=16, description="Prompts to render (empty: no samples).")
    every_steps: int | None = Field(default=None, ge=1, description="Render every N steps (empty: at the end only).")
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="Seed of the sample images, the same at every step.")
    num_inference_steps: int = Field(default=25, ge=1, le=200, description="Denoising steps per sample image.")
    guidance_scale: float = Field(default=7.5, ge=0, le=30, description="Classifier-free guidance scale of the samples.")


class EvaluationSpec(SpecModel):
    """The before/after report written at the end of every job: the base model and the adapted model scored on the same
    held-out rows (see :mod:`jobs.evaluation`)."""

    enabled: bool = Field(default=True, description="Score the base and the adapted model on held-out rows after training "
                                                     "(runs/<job>/eval_report.json, the Jobs tab, the model card).")
    holdout: float = Field(default=0.1, ge=0.02, le=0.5, description="Without data.validation: the share of the training rows held out "
                                                                     "for the report, when the data has at least 50 usable rows.")
    max_rows: int = Field(default=100, ge=1, le=5000, description="Score at most this many held-out rows (a cap on the report's cost).")
    max_new_tokens: int = Field(default=48, ge=1, le=1024, description="causal-lm: the longest answer generated per row when comparing "
                                                                      "with the reference answer.")
    batch_size: int = Field(default=32, ge=1, le=256, description="Rows scored together (larger is faster, smaller needs less memory).")


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


class RewardKind(str, Enum):
    """grpo: what one reward term checks in a completion (each scores 0 to 1)."""

    EXACT_MATCH = "exact_match"
    CONTAINS = "contains"
    REGEX = "regex"
    JSON = "json"
    JSON_SCHEMA = "json_schema"
    LENGTH = "length"
    FORMAT = "format"


class RewardTerm(SpecModel):
    """grpo: one reward term; the reward of a completion is the weighted sum of its terms (see :mod:`jobs.trainers.rewards`)."""

    kind: RewardKind = Field(description="exact_match (equals the reference answer after normalising case, spaces and punctuation), "
                             "contains (a text), regex (a regular expression), json (valid JSON), json_schema (JSON valid against "
                             "a schema), length (near a target length) or format (the answer wrapped in <tag>...</tag>).")
    weight: float = Field(default=1.0, ge=-10, le=10, description="How much this term counts (negative: a penalty).")
    pattern: str | None = Field(default=None, max_length=500, description="contains: the text to find; regex: the regular expression "
                                "to match (searched anywhere, limited to simple patterns).")
    json_schema: str | None = Field(default=None, max_length=20000, description="json_schema: the JSON schema the answer must "
                                    "satisfy, pasted as JSON.")
    target_length: int | None = Field(default=None, ge=1, le=100000, description="length: the ideal answer length in characters "
                                      "(the reward falls linearly to 0 at twice or zero that length).")
    tag: str | None = Field(default=None, max_length=40, pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", description="format: the tag the "
                            "answer must be wrapped in, e.g. answer for <answer>...</answer>; other kinds: score only the text "
                            "inside that tag (empty: the whole completion).")
    case_sensitive: bool = Field(default=False, description="contains, regex and exact_match: tell upper and lower case apart.")

    @model_validator(mode="after")
    def _settings_fit_the_kind(self) -> RewardTerm:
        from jobs.trainers.rewards import check_term

        check_term(self)
        return self


class GrpoSpec(SpecModel):
    """grpo: reinforcement learning from rewards built in the form (see :mod:`jobs.trainers.grpo`)."""

    num_generations: int = Field(default=4, ge=2, le=64, description="Completions sampled per prompt and compared with each other; "
                                 "training.batch_size x gradient_accumulation must be a multiple of it.")
    max_completion_length: int = Field(default=128, ge=1, le=32768, description="The longest completion sampled, in tokens.")
    temperature: float = Field(default=1.0, gt=0, le=2, description="Sampling temperature of the completions (higher: more varied).")
    beta: float = Field(default=0.0, ge=0, le=10, description="Weight of the KL penalty that keeps the model near the base "
                        "(0: none, and no reference model is needed).")
    rewards: list[RewardTerm] = Field(default_factory=list, max_length=16, description="The reward terms, each with a weight; "
                                      "the reward of a completion is their weighted sum.")


class Strategy(str, Enum):
    """How several processes share one training job (used when more than one process runs)."""

    DDP = "ddp"
    FSDP = "fsdp"
    DEEPSPEED = "deepspeed"


class ResourcesSpec(SpecModel):
    """What the job needs from the machine that runs it."""

    gpus: int = Field(default=1, ge=0, le=64, description="GPUs for this job; more than 1 launches data-parallel training with accelerate.")
    processes: int = Field(default=1, ge=1, le=64, description="Training processes when running on CPU (data parallel with gloo); GPUs count otherwise.")
    strategy: Strategy = Field(default=Strategy.DDP, description="ddp (data parallel), fsdp (sharded) or deepspeed, for multi-process jobs.")


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
        if self.training.packing and self.task is not Task.CAUSAL_LM:
            raise ValueError("training.packing only applies to task causal-lm; set it to false")
        if self.training.packing and self.method is Method.PROMPT_TUNING:
            raise ValueError("training.packing does not work with method prompt-tuning (PEFT drops the position ids that keep "
                             "packed examples apart); set packing to false or use lora")
        if self.data.format is DataFormat.CLASSIFICATION and self.task is not Task.TEXT_CLASSIFICATION:
            raise ValueError("data.format classification needs task text-classification")
        if self.task is Task.TEXT_CLASSIFICATION and self.data.format in (DataFormat.TEXT, DataFormat.CHAT, DataFormat.INSTRUCTION):
            raise ValueError(f"data.format {self.data.format.value} does not fit task text-classification; use classification or auto")
        _check_objective(self)
        if self.task is Task.SENTENCE_EMBEDDING:
            _check_embedding(self)
        elif self.data.format in EMBEDDING_FORMATS:
            raise ValueError(f"data.format {self.data.format.value} needs task sentence-embedding")
        if self.task is Task.TEXT_TO_IMAGE:
            if self.method is not Method.LORA:
                raise ValueError(f"method {self.method.value} is not available for task text-to-image; use method lora")
            if self.data.format is not DataFormat.AUTO:
                raise ValueError("data.format does not apply to task text-to-image; leave it auto and set images.caption instead")
            if self.data.from_hub:
                raise ValueError("data.train: Hub datasets are for text tasks; for text-to-image give a folder or .zip of captioned images")
            if self.images.caption is CaptionSource.INSTANCE_PROMPT and not (self.images.instance_prompt or "").strip():
                raise ValueError("images.caption instance_prompt needs images.instance_prompt, e.g. 'a photo of sks dog'")
        return self

    def to_yaml(self) -> str:
        """The spec as YAML, with enums written as their plain values."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)

    @property
    def display_name(self) -> str:
        """The name, or a readable default built from the model and method."""
        return self.name or f"{Path(self.base_model).name}-{self.method.value}"


def _check_objective(spec: JobSpec) -> None:
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


def _check_embedding(spec: JobSpec) -> None:
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


_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def refuse_url(value: str) -> str:
    """A local path field takes a path, never a URL (``http://``, ``file:``, ...): raise ValueError for those."""
    if _URL_SCHEME.match(value.strip()) and not re.match(r"^[A-Za-z]:[\\/]", value.strip()):  # a Windows drive is a path
        raise ValueError(f"must be a path on this machine or a Hub id, not a URL (got {shown(value)})")
    return value


def check_model_reference(value: str) -> str:
    """``base_model`` is a local folder or file (an absolute, ``./`` or ``~`` path, or one that exists) or a Hub id that passes
    ``huggingface_hub``'s own id rules; a URL, ``file:`` or an id with ``..`` is refused."""
    refuse_url(value)
    path = Path(value).expanduser()
    relative_local = value.startswith(("./", "../")) or path.suffix.lower() in (".gguf", ".safetensors")
    if path.exists() or path.is_absolute() or (relative_local and ".." not in path.parts):
        return value
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(value)
    except HFValidationError:
        raise ValueError(f"is neither a folder or file on this machine nor a valid Hub id such as org/name (got {shown(value)})") from None
    return value


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc if not str(part).startswith(("function-", "literal[", "str", "float", "list[")))


def _problem_sentence(error: dict[str, Any]) -> str:
    path = _field_path(error["loc"]) or "spec"
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = error.get("input")
    got_text = "" if isinstance(got, (dict, list)) or got is None else f" (got {shown(got)})"
    if kind == "missing":
        return f"{path} is required"
    if kind == "enum":
        return f"{path} must be one of: {ctx.get('expected', '')}{got_text}"
    if kind == "string_pattern_mismatch":
        return f"{path} may hold only letters, digits and . _ / -{got_text}"
    if kind == "literal_error":
        return f"{path} must be {ctx.get('expected', '')}{got_text}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {"greater_than": "greater than", "greater_than_equal": "at least", "less_than": "less than", "less_than_equal": "at most"}
        bound = next(iter(ctx.values()), "")
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"{path} must be {words[kind]} {bound}{got_text}"
    if kind in ("value_error", "assertion_error"):
        message = str(ctx.get("error", error["msg"]))
        return message if path == "spec" or message.startswith(path) else f"{path} {message}"
    return f"{path}: {error['msg'].lower()}{got_text}"


def format_validation_error(error: ValidationError) -> list[str]:
    """One sentence per problem, naming the field and what is allowed; duplicates from unions removed."""
    sentences: list[str] = []
    for item in error.errors():
        sentence = _problem_sentence(item)
        if sentence not in sentences:
            sentences.append(sentence)
    return sentences


def parse_spec(data: dict[str, Any] | JobSpec) -> JobSpec:
    """Validate a mapping into a JobSpec, raising :class:`SpecError` with one sentence per problem."""
    if isinstance(data, JobSpec):
        return data
    if not isinstance(data, dict):
        raise SpecError([f"the spec must be a mapping of fields (task, base_model, method, data, ...), got {type(data).__name__}"])
    check_value_bounds(data)
    try:
        return JobSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(format_validation_error(error)) from None


def parse_spec_yaml(text: str, source: str = "spec") -> JobSpec:
    """Parse YAML text into a JobSpec within the limits of :mod:`jobs.spec.limits`; YAML syntax errors name the line."""
    try:
        data = load_bounded_yaml(text, source)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise SpecError([f"{source} is not valid YAML{where}: {problem}"]) from None
    if data is None:
        raise SpecError([f"{source} is empty; it needs at least base_model and data.train"])
    return parse_spec(data)


def load_spec(path: str | Path) -> JobSpec:
    """Read a YAML spec file. Relative data paths stay relative to the current directory."""
    path = Path(path)
    if not path.is_file():
        raise SpecError([f"spec file {path} does not exist"])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpecError([f"spec file {path} is not UTF-8 text"]) from None
    return parse_spec_yaml(text, source=str(path))
