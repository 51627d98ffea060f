"""``launch.py doctor`` and the Models tab header on a faked CUDA machine: GPUs from a fake ``nvidia-smi``, kernels faked."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

import launch
from jobs.models import hardware
from jobs.models.hardware import GpuInfo, Hardware, choose_attention, detect_hardware, doctor_line, doctor_report, method_availability

H100 = GpuInfo("NVIDIA H100 80GB HBM3", 81559 * 1024 * 1024, (9, 0))
T4 = GpuInfo("Tesla T4", 15360 * 1024 * 1024, (7, 5))
ALL_KERNELS = {"bitsandbytes": "0.49.2", "liger_kernel": "0.6.5", "flash_attn": "2.8.3"}


@pytest.fixture
def fake_cuda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two H100s behind a fake nvidia-smi on PATH, bitsandbytes and liger-kernel installed, a CUDA build of torch."""
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.parent.mkdir()
    smi.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 81559, 9.0'\necho 'NVIDIA H100 80GB HBM3, 81559, 9.0'\n")
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{smi.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(hardware, "installed_kernels", lambda: {"bitsandbytes": "0.49.2", "liger_kernel": "0.6.5"})
    monkeypatch.setattr(hardware, "torch_version", lambda: "2.13.0+cu128")


def test_doctor_on_a_faked_cuda_machine(fake_cuda: None, capsys: pytest.CaptureFixture[str]) -> None:
    found = detect_hardware()
    assert [gpu.name for gpu in found.gpus] == ["NVIDIA H100 80GB HBM3"] * 2 and found.bf16 and found.cuda
    assert launch.main(["doctor"]) == 0
    report = capsys.readouterr().out
    assert "GPU 1: NVIDIA H100 80GB HBM3, 85.5 GB, compute capability 9.0, bf16 yes" in report
    assert "yes  qlora" in report and "yes  liger kernels" in report and "yes  fsdp" in report
    assert "precision auto: bf16; attention: sdpa (flash-attn is not installed" in report
    assert "to do: optional: flash-attn" in report
    assert launch.main(["doctor", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["methods"]["qlora"] is None and data["attention"] == "sdpa" and len(data["gpus"]) == 2
    assert doctor_line(found) == "2× NVIDIA H100 80GB HBM3 (85.5 GB each), bf16, sdpa attention, bitsandbytes, liger_kernel; QLoRA ready."


def test_cuda_visible_devices_limits_the_gpus(fake_cuda: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert len(detect_hardware().gpus) == 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert detect_hardware().gpus == ()


def test_what_each_machine_enables() -> None:
    cpu = Hardware(torch_version="2.13.0+cpu")
    assert method_availability(cpu)["qlora"] == "needs the bitsandbytes package (pip install -r requirements.txt)"
    assert method_availability(cpu)["lora, dora, prompt tuning, full"] is None
    assert doctor_line(cpu).startswith("No CUDA GPU: training runs on the CPU in fp32") and "QLoRA needs the bitsandbytes" in doctor_line(cpu)
    cpu_qlora = Hardware(kernels={"bitsandbytes": "0.50.2"}, torch_version="2.13.0+cpu")
    assert method_availability(cpu_qlora)["qlora"] is None and "QLoRA on the CPU" in doctor_line(cpu_qlora)
    assert "yes  qlora (QLoRA on the CPU: it trains, but measured here it needs as much memory as LoRA" in doctor_report(cpu_qlora)
    assert "0.50 or newer" in method_availability(Hardware(kernels={"bitsandbytes": "0.45.5"}, torch_version="2.13.0+cpu"))["qlora"]
    bare_gpu = Hardware(gpus=(H100,), torch_version="2.13.0")
    assert "bitsandbytes" in method_availability(bare_gpu)["qlora"]
    assert "pip install -r requirements-gpu.txt" in doctor_report(bare_gpu)
    cpu_torch_on_gpu = Hardware(gpus=(H100,), kernels=ALL_KERNELS, torch_version="2.13.0+cpu")
    assert not cpu_torch_on_gpu.cuda and "make run GPU=1" in doctor_line(cpu_torch_on_gpu)
    old = Hardware(gpus=(T4,), kernels=ALL_KERNELS, torch_version="2.13.0")
    assert "fp16" in doctor_line(old) and method_availability(old)["bf16"] is not None


def test_attention_choice_per_configuration() -> None:
    full = Hardware(gpus=(H100,), kernels=ALL_KERNELS, torch_version="2.13.0")
    assert choose_attention(full, "bf16")[0] == "flash_attention_2"
    assert choose_attention(full, "fp32")[0] == "sdpa"  # FlashAttention computes only in 16 bits
    assert choose_attention(Hardware(gpus=(T4,), kernels=ALL_KERNELS), "fp16")[0] == "sdpa"  # pre-Ampere
    assert choose_attention(Hardware(gpus=(H100,)), "bf16")[0] == "sdpa"  # flash-attn not installed
    assert choose_attention(Hardware(), "fp32")[0] == "sdpa"

