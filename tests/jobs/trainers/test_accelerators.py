"""The GPU decisions (precision, attention, padding-free packing, fused AdamW, Liger, gradient checkpointing) for faked machines."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.errors import UnsupportedError
from jobs.models.hardware import GpuInfo, Hardware
from jobs.spec import parse_spec
from jobs.trainers.accelerators import check_process_count, fsdp_launch_arguments, gpu_settings
from jobs.trainers.arguments import shared_arguments

GIB = 1024 ** 3
H100 = Hardware(gpus=(GpuInfo("H100", 80 * GIB, (9, 0)),), kernels={"bitsandbytes": "x", "liger_kernel": "x", "flash_attn": "x"},
                torch_version="2.13.0")
H100_BARE = Hardware(gpus=(GpuInfo("H100", 80 * GIB, (9, 0)),), torch_version="2.13.0")
T4 = Hardware(gpus=(GpuInfo("T4", 16 * GIB, (7, 5)),), kernels={"liger_kernel": "x", "flash_attn": "x"}, torch_version="2.13.0")
CPU = Hardware(torch_version="2.13.0+cpu")


def spec(**training: object):  # noqa: ANN201 - a JobSpec
    return parse_spec({"base_model": "m", "data": {"train": "x.jsonl"}, "training": training})


def test_a_modern_gpu_with_every_kernel_gets_the_fast_path() -> None:
    chosen = gpu_settings(spec(packing=True), H100, model_type="qwen2")
    assert (chosen.precision, chosen.attention, chosen.padding_free, chosen.optimizer, chosen.liger_kernel) == (
        "bf16", "flash_attention_2", True, "adamw_torch_fused", True)
    assert chosen.trainer_arguments() == {"use_liger_kernel": True, "optim": "adamw_torch_fused"}
    assert len(chosen.reasons) == 6 and not chosen.gradient_checkpointing


def test_older_gpus_and_missing_kernels_fall_back_with_a_reason() -> None:
    old = gpu_settings(spec(packing=True), T4, model_type="llama")
    assert (old.precision, old.loss_scaler, old.attention, old.padding_free) == ("fp16", True, "sdpa", False)
    bare = gpu_settings(spec(), H100_BARE, model_type="llama")
    assert (bare.attention, bare.liger_kernel) == ("sdpa", False) and "liger-kernel not installed" in bare.reasons[4]
    fp32 = gpu_settings(spec(precision="fp32"), H100, model_type="llama")
    assert fp32.attention == "sdpa"  # FlashAttention computes only bf16/fp16
    assert not gpu_settings(spec(), H100, model_type="bert").liger_kernel  # no Liger kernels for that family
    assert not gpu_settings(spec(liger_kernel="off"), H100, model_type="llama").liger_kernel


def test_the_cpu_path_changes_nothing() -> None:
    chosen = gpu_settings(spec(packing=True), CPU, model_type="llama", memory_needed=lambda _: 10**15)
    assert (chosen.precision, chosen.attention, chosen.optimizer, chosen.liger_kernel, chosen.gradient_checkpointing) == (
        "fp32", "sdpa", None, False, False)
    assert chosen.trainer_arguments() == {"use_liger_kernel": False}
    arguments = shared_arguments(spec(), Path("run"), False, {"bf16": False, "fp16": False})
    assert arguments["use_liger_kernel"] is False and "optim" not in arguments


def test_liger_on_is_refused_where_it_cannot_run() -> None:
    with pytest.raises(UnsupportedError, match="no CUDA GPU"):
        gpu_settings(spec(liger_kernel="on"), CPU, model_type="llama")
    with pytest.raises(UnsupportedError, match="requirements-gpu.txt"):
        gpu_settings(spec(liger_kernel="on"), H100_BARE, model_type="llama")
    assert gpu_settings(spec(liger_kernel="on"), H100, model_type="llama").liger_kernel


def test_gradient_checkpointing_only_when_needed_to_fit() -> None:
    def estimate(without: int, with_it: int):  # noqa: ANN202
        return lambda checkpointing: with_it if checkpointing else without

    assert not gpu_settings(spec(), H100, memory_needed=estimate(30 * GIB, 20 * GIB)).gradient_checkpointing
    turned_on = gpu_settings(spec(), H100, memory_needed=estimate(75 * GIB, 40 * GIB))
    assert turned_on.gradient_checkpointing and "exceeds" in turned_on.reasons[5]
    assert gpu_settings(spec(gradient_checkpointing=True), H100, memory_needed=estimate(1, 1)).gradient_checkpointing


def test_process_count_and_fsdp_launch() -> None:
    two = parse_spec({"base_model": "m", "data": {"train": "x.jsonl"}, "resources": {"gpus": 2, "strategy": "fsdp"}})
    with pytest.raises(UnsupportedError, match="resources.gpus is 2 but this run has 1 process"):
        check_process_count(two, world_size=1)
    check_process_count(two, world_size=2)
    check_process_count(spec(), world_size=1)
    flags = fsdp_launch_arguments()
    assert flags[:3] == ["--use_fsdp", "--fsdp_version", "2"] and "SHARDED_STATE_DICT" in flags and "TRANSFORMER_BASED_WRAP" in flags
    from accelerate.commands.launch import launch_command_parser

    parsed = launch_command_parser().parse_args([*flags, "--num_processes", "2", "train.py"])  # accelerate accepts every flag
    assert (parsed.fsdp_version, parsed.fsdp_state_dict_type, parsed.fsdp_cpu_ram_efficient_loading) == ("2", "SHARDED_STATE_DICT", "true")
