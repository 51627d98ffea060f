"""Fast by default on a GPU, decided per configuration: precision, attention, padding-free packing, fused AdamW, Liger kernels
and gradient checkpointing, each with its reason, from a job spec and the machine (:mod:`jobs.models.hardware`).

:func:`gpu_settings` is a pure function of the spec, the hardware, the model's family and its memory estimate, so a test fakes
any GPU on a CPU machine. The text trainer loads the model with :attr:`GpuSettings.attention` and trains with
:meth:`GpuSettings.trainer_arguments` and :attr:`GpuSettings.gradient_checkpointing`; every trainer shares the optimizer and
kernel choice through :func:`jobs.trainers.arguments.shared_arguments`.

    settings = gpu_settings(spec, hardware_from_torch(), model_type="llama", memory_needed=memory_needed_for(spec, folder))
    settings.attention, settings.trainer_arguments(), settings.reasons

It also holds the launch side of several processes: :func:`fsdp_launch_arguments` (accelerate's FSDP2 flags) and
:func:`check_process_count` (a run that would train with fewer processes than its spec asks for is refused).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs.errors import UnsupportedError
from jobs.models.catalog import safetensors_params
from jobs.models.hardware import Hardware, choose_attention, default_dtype, hardware_from_torch
from jobs.models.memory import estimate_for_config
from jobs.models.memory_job import workload_for
from jobs.models.source import read_config
from jobs.spec import JobSpec, KernelSwitch, Method, Precision, Task
from jobs.trainers.recommend import liger_helps

FUSED_ADAMW = "adamw_torch_fused"
GPU_MEMORY_USABLE = 0.9
"""Share of a GPU's memory a job may plan for (the CUDA context, the allocator's fragmentation and the rest take the remainder)."""


@dataclass(frozen=True)
class GpuSettings:
    """What a job trains with here; ``reasons`` says why, one sentence per decision."""

    precision: str
    """fp32, bf16 or fp16 (fp16 trains with a loss scaler: transformers' ``fp16=True``)."""
    attention: str
    """flash_attention_2 or sdpa (transformers falls back to eager by itself where a model lacks SDPA)."""
    padding_free: bool
    """Packing on FlashAttention-2: each packed example's ``position_ids`` make it attend only to itself without padding."""
    optimizer: str | None
    """adamw_torch_fused on CUDA; None keeps transformers' default (the CPU path)."""
    liger_kernel: bool
    gradient_checkpointing: bool
    reasons: tuple[str, ...]

    @property
    def loss_scaler(self) -> bool:
        return self.precision == "fp16"

    def trainer_arguments(self) -> dict[str, Any]:
        """The ``TrainingArguments`` keywords these settings set (precision flags stay with :func:`jobs.models.resolve_precision`)."""
        arguments: dict[str, Any] = {"use_liger_kernel": self.liger_kernel}
        if self.optimizer:
            arguments["optim"] = self.optimizer
        return arguments


def _precision(spec: JobSpec, hardware: Hardware) -> tuple[str, str]:
    chosen = spec.training.precision
    if chosen is Precision.AUTO:
        dtype = default_dtype(hardware)
        why = {"fp32": "no CUDA GPU: fp32", "bf16": "the GPU computes bf16 natively: bf16",
               "fp16": "the GPU has no native bf16: fp16 with a loss scaler"}[dtype]
        return dtype, f"precision auto → {why}"
    return chosen.value, f"precision {chosen.value} as the spec asks"


def _liger(spec: JobSpec, hardware: Hardware, model_type: str | None) -> tuple[bool, str]:
    switch = spec.training.liger_kernel
    if switch is KernelSwitch.OFF:
        return False, "Liger kernels off as the spec asks"
    helps = liger_helps(spec.task.value, model_type, on_gpu=hardware.cuda)
    installed = hardware.has("liger_kernel")
    if switch is KernelSwitch.ON:
        if not hardware.cuda:
            raise UnsupportedError("training.liger_kernel is on but this machine has no CUDA GPU (Liger's kernels are Triton GPU kernels); "
                                   "set it to auto or off")
        if not installed:
            raise UnsupportedError("training.liger_kernel is on but the liger-kernel package is not installed; run "
                                   "`pip install -r requirements-gpu.txt` (or `make run GPU=1`), or set it to auto")
        if not helps:
            raise UnsupportedError(f"training.liger_kernel is on but Liger has no kernels for {model_type or 'this model'} in task "
                                   f"{spec.task.value}; set it to auto or off")
        return True, "Liger kernels on as the spec asks"
    if helps and installed:
        return True, f"Liger kernels auto → on (CUDA, liger-kernel installed, {model_type} supported)"
    missing = "no CUDA GPU" if not hardware.cuda else "liger-kernel not installed" if not installed else f"no Liger kernels for {model_type}"
    return False, f"Liger kernels auto → off ({missing})"


def _checkpointing(spec: JobSpec, hardware: Hardware, memory_needed: Callable[[bool], int] | None) -> tuple[bool, str]:
    if spec.training.gradient_checkpointing:
        return True, "gradient checkpointing on as the spec asks"
    if not hardware.cuda or memory_needed is None:
        return False, "gradient checkpointing off (not asked for)"
    budget = int(min(gpu.memory_bytes for gpu in hardware.gpus) * GPU_MEMORY_USABLE)
    without, with_it = memory_needed(False), memory_needed(True)
    gib = 1024 ** 3
    if without <= budget:
        return False, f"gradient checkpointing off: the estimate without it ({without / gib:.1f} GiB) fits the GPU ({budget / gib:.1f} GiB usable)"
    return True, (f"gradient checkpointing on: the estimate without it ({without / gib:.1f} GiB) exceeds the GPU's {budget / gib:.1f} GiB usable, "
                  f"with it {with_it / gib:.1f} GiB")


def gpu_settings(spec: JobSpec, hardware: Hardware, *, model_type: str | None = None,
                 memory_needed: Callable[[bool], int] | None = None) -> GpuSettings:
    """The settings ``spec`` trains with on ``hardware`` (see the module docstring).

    ``model_type`` is the model's ``config.model_type`` (for Liger's support); ``memory_needed(gradient_checkpointing)`` is the
    estimated peak in bytes (:func:`memory_needed_for`), which turns gradient checkpointing on only when the job does not fit
    without it. Raises :class:`UnsupportedError` for a setting this machine cannot honour (``liger_kernel: on`` without CUDA)."""
    precision, precision_why = _precision(spec, hardware)
    attention, attention_why = choose_attention(hardware, precision)
    packing = spec.training.packing and spec.task is Task.CAUSAL_LM
    padding_free = packing and attention == "flash_attention_2"
    liger, liger_why = _liger(spec, hardware, model_type)
    checkpointing, checkpointing_why = _checkpointing(spec, hardware, memory_needed)
    optimizer = FUSED_ADAMW if hardware.cuda else None
    reasons = (
        precision_why,
        f"attention {attention}: {attention_why}",
        ("packing padding-free (FlashAttention-2 varlen from position ids)" if padding_free
         else "packing with a block-diagonal mask from position ids (SDPA)" if packing else "no packing"),
        "optimizer adamw_torch_fused (one fused CUDA kernel)" if optimizer else "optimizer: transformers' default",
        liger_why,
        checkpointing_why,
    )
    return GpuSettings(precision=precision, attention=attention, padding_free=padding_free, optimizer=optimizer, liger_kernel=liger,
                       gradient_checkpointing=checkpointing, reasons=reasons)


def memory_needed_for(spec: JobSpec, model_folder: Path) -> Callable[[bool], int] | None:
    """The estimated peak GPU bytes of ``spec`` on the model in ``model_folder``, as a function of gradient checkpointing (None when
    the folder's weights cannot be counted)."""
    params = safetensors_params(sorted(Path(model_folder).glob("*.safetensors")))
    if not params:
        return None
    config = read_config(Path(model_folder))
    precision_bytes = 4 if spec.training.precision is Precision.FP32 else 2
    lora_r = spec.lora.r if spec.method in (Method.LORA, Method.QLORA) else 8

    def needed(gradient_checkpointing: bool) -> int:
        return estimate_for_config(config, params, spec.method, batch_size=spec.training.batch_size, seq_len=spec.training.max_length,
                                   precision_bytes=precision_bytes, gradient_checkpointing=gradient_checkpointing, lora_r=lora_r,
                                   lora_targets=spec.lora.target_modules, device="cuda", workload=workload_for(spec)).total

    return needed


def processes_asked(spec: JobSpec) -> int:
    """The processes a job trains with: one per GPU it asks for, or its CPU processes (the worker launches this many ranks)."""
    return max(spec.resources.gpus, spec.resources.processes)


def check_process_count(spec: JobSpec, world_size: int | None = None) -> None:
    """Refuse a run with fewer processes than its spec asks for (``launch.py train`` runs one; only a worker launches several).

    ``world_size`` defaults to ``$WORLD_SIZE`` (set by accelerate/torch for each rank; absent means one process)."""
    running = world_size if world_size is not None else int(os.environ.get("WORLD_SIZE", "1"))
    asked = processes_asked(spec)
    if asked > running:
        field_name, value = ("resources.gpus", spec.resources.gpus) if spec.resources.gpus >= spec.resources.processes else (
            "resources.processes", spec.resources.processes)
        raise UnsupportedError(f"{field_name} is {value} but this run has {running} process{'es' if running != 1 else ''}: a run in the "
                               "foreground trains one, so submit it to the queue (launch.py submit, with a worker running) or set "
                               f"{field_name} to 1")


def fsdp_launch_arguments() -> list[str]:
    """``accelerate launch`` flags for ``resources.strategy: fsdp``: FSDP2, each decoder layer of the family its own shard unit
    (``TRANSFORMER_BASED_WRAP`` reads the model's ``_no_split_modules``), sharded state dicts saved and resumed, weights loaded
    on rank 0 and broadcast (CPU-RAM efficient), parameters resharded after forward."""
    return ["--use_fsdp", "--fsdp_version", "2", "--fsdp_auto_wrap_policy", "TRANSFORMER_BASED_WRAP",
            "--fsdp_state_dict_type", "SHARDED_STATE_DICT", "--fsdp_cpu_ram_efficient_loading", "true",
            "--fsdp_reshard_after_forward", "true"]


def settings_for_model(spec: JobSpec, model_folder: Path) -> GpuSettings:
    """:func:`gpu_settings` for ``spec`` on the model in ``model_folder`` on this process's devices; prints the reasons (the run log)."""
    settings = gpu_settings(spec, hardware_from_torch(), model_type=read_config(Path(model_folder)).get("model_type"),
                            memory_needed=memory_needed_for(spec, model_folder))
    if int(os.environ.get("RANK", "0")) == 0:
        print("adapta: " + "; ".join(settings.reasons), flush=True)
    return settings
