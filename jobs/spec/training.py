"""The sections every job has: ``training:`` (optimisation), ``lora:``, ``prompt_tuning:``, ``evaluation:`` (the before/after
report) and ``resources:`` (GPUs and processes), with the choices only they use.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal, Union

from pydantic import Field, field_validator, model_validator

from jobs.spec.base import SpecModel


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


class Strategy(str, Enum):
    """How several processes share one training job (used when more than one process runs). DeepSpeed is not offered:
    FSDP (through accelerate's FSDP2) shards what does not fit one GPU, with nothing more to install."""

    DDP = "ddp"
    FSDP = "fsdp"


class KernelSwitch(str, Enum):
    """A kernel option: ``auto`` lets Adapta decide per configuration (see :mod:`jobs.trainers.accelerators`)."""

    AUTO = "auto"
    ON = "on"
    OFF = "off"


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
    gradient_checkpointing: bool = Field(default=False, description="Trade compute for memory on long sequences (on a GPU it is also "
                                                                     "turned on by itself when the memory estimate does not fit without it).")
    liger_kernel: KernelSwitch = Field(default=KernelSwitch.AUTO, description="Liger Kernel's fused GPU kernels (RMSNorm, SwiGLU, RoPE, "
                                       "fused linear cross-entropy): less memory, more tokens/s. auto: on a CUDA GPU with liger-kernel "
                                       "installed, for causal-LM models it supports; on: require them; off: never.")
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
        description="auto: every linear layer but the model's heads (text tasks; measured better than attention only) and the attention "
                    "projections of a text-to-image UNet; all-linear: every linear layer; or a list of module names such as [q_proj, v_proj].",
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


class ResourcesSpec(SpecModel):
    """What the job needs from the machine that runs it."""

    gpus: int = Field(default=1, ge=0, le=64, description="GPUs for this job; more than 1 launches data-parallel training with accelerate.")
    processes: int = Field(default=1, ge=1, le=64, description="Training processes when running on CPU (data parallel with gloo); GPUs count otherwise.")
    strategy: Strategy = Field(default=Strategy.DDP, description="ddp (data parallel) or fsdp (the model sharded across 2 or more GPUs), "
                                                                 "for multi-process jobs.")

    @field_validator("strategy", mode="before")
    @classmethod
    def _deepspeed_not_offered(cls, value: object) -> object:
        if str(getattr(value, "value", value)).lower() == "deepspeed":
            raise ValueError("deepspeed is not offered; use fsdp to shard a model across GPUs (accelerate's FSDP2, nothing to install) or ddp")
        return value

    @model_validator(mode="after")
    def _fsdp_shards_across_gpus(self) -> ResourcesSpec:
        if self.strategy is Strategy.FSDP and self.gpus < 2:
            raise ValueError(f"resources.strategy fsdp shards the model across GPUs and needs resources.gpus of 2 or more (it is {self.gpus}; "
                             "accelerate cannot shard over CPU processes and would train them as plain ddp); set strategy to ddp, "
                             "or ask for more GPUs")
        return self
