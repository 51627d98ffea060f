"""The one-command GPU install: ``make run`` on a machine where ``nvidia-smi`` answers installs the CUDA build of torch and the GPU
kernels, pinned; without one (or with GPU=0) it keeps the CPU pin. Checked with ``make -n`` (the plan, nothing installed)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def install_plan(path: str, *variables: str) -> str:
    environment = {**os.environ, "PATH": path}
    for inherited in ("GPU", "TORCH_CONSTRAINTS", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES", "MAKELEVEL"):  # e.g. under `make test GPU=1`
        environment.pop(inherited, None)
    result = subprocess.run(["make", "-n", "-B", "install", *variables], cwd=ROOT, env=environment, capture_output=True, text=True,
                            check=True, timeout=60)
    return result.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_installs_the_gpu_stack_where_nvidia_smi_answers(tmp_path: Path) -> None:
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 81559, 9.0'\n")
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    no_gpu = os.pathsep.join(part for part in os.environ["PATH"].split(os.pathsep) if not (Path(part) / "nvidia-smi").exists())
    gpu_plan = install_plan(f"{tmp_path}{os.pathsep}{no_gpu}")
    assert "-r requirements.txt -r requirements-gpu.txt -c constraints-gpu.txt" in gpu_plan
    cpu_plan = install_plan(no_gpu)
    assert "-c constraints-cpu.txt" in cpu_plan and "requirements-gpu.txt" not in cpu_plan
    assert "requirements-gpu.txt" in install_plan(no_gpu, "GPU=1")
    assert "constraints-cpu.txt" in install_plan(f"{tmp_path}{os.pathsep}{no_gpu}", "GPU=0")


def test_gpu_requirements_are_pinned() -> None:
    for name in ("requirements-gpu.txt", "constraints-gpu.txt"):
        lines = [line.split("#")[0].strip() for line in (ROOT / name).read_text().splitlines()]
        pins = [line for line in lines if line]
        assert pins and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", pin) for pin in pins), pins
