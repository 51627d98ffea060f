"""``bench/gpu_suite.py`` stays ready for a GPU: its dry run builds both model configs and prints the plan with the estimates, and
its table reads the measurement files (a fabricated report here; the real ones come from a CUDA machine)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def suite():  # noqa: ANN201 - the bench module
    spec = importlib.util.spec_from_file_location("gpu_suite", ROOT / "bench" / "gpu_suite.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_suite"] = module
    spec.loader.exec_module(module)
    return module


def test_dry_run_builds_both_configs_and_plans_every_run(suite, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    assert suite.main(["--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "qwen2.5-0.5b: qwen2, 494.0 M parameters, vocabulary 151936" in printed
    assert "llama-3.2-1b: llama, 1235.8 M parameters, vocabulary 128256" in printed
    assert printed.count(" estimate ") == 20 and "llama-3.2-1b qlora adapta matched" in printed


def test_the_table_reads_the_measurements(suite, tmp_path: Path) -> None:  # noqa: ANN001
    def row(side: str, label: str, tokens_per_second: float) -> dict:
        return {"model": "qwen2.5-0.5b", "side": side, "method": "lora", "liger": "off", "packing": False, "label": label,
                "tokens_per_second": tokens_per_second, "mfu": 0.31, "max_memory_allocated": 10 * 2**30, "memory_estimate": 11 * 2**30}

    runs = [row("plain", "matched", 40_000), row("adapta", "matched", 41_000), row("adapta", "defaults (packing + Liger auto)", 60_000),
            {"model": "llama-3.2-1b", "side": "plain", "method": "full", "label": "matched", "skipped": "budget: 10 s left"}]
    report = {"device": "NVIDIA H100 80GB HBM3", "smoke": False, "runs": runs, "ratios": suite.ratios(runs)}
    assert report["ratios"] == {"qwen2.5-0.5b lora matched": 1.025, "qwen2.5-0.5b lora defaults (packing + Liger auto)": 1.5}
    (tmp_path / "gpu_suite_nvidia-h100_20270101-0000.json").write_text(json.dumps(report))
    (tmp_path / "gpu_suite_cpu_smoke_20270101-0000.json").write_text(json.dumps({**report, "device": "cpu", "smoke": True}))
    lines = suite.table(tmp_path).splitlines()
    assert len(lines) == 5 and all("H100" in line for line in lines[2:])
    assert "| 60,000 | 1.50× | 31.0 % | 10.0 GiB | 11.0 GiB | 1.10 |" in lines[4]
    assert "No GPU suite measurements yet" in suite.table(tmp_path / "none")


def test_bitsandbytes_is_slimmed_to_the_devices_cuda_build(tmp_path: Path) -> None:
    import zipfile

    spec = importlib.util.spec_from_file_location("device_wheels", ROOT / "bench" / "device_wheels.py")
    wheels = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(wheels)
    wheel = tmp_path / "bitsandbytes-0.50.2-py3-none-manylinux_2_24_x86_64.whl"
    files = {"bitsandbytes/__init__.py": b"", "bitsandbytes/libbitsandbytes_cuda130.so": b"13", "bitsandbytes/libbitsandbytes_cuda128.so": b"1" * 999,
             "bitsandbytes/libbitsandbytes_rocm72.so": b"r", "bitsandbytes/libbitsandbytes_cpu.so": b"c",
             "bitsandbytes-0.50.2.dist-info/RECORD": b"stale"}
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    with zipfile.ZipFile(wheels.slim_bitsandbytes(wheel, "130")) as archive:
        names = set(archive.namelist())
        record = archive.read("bitsandbytes-0.50.2.dist-info/RECORD").decode().splitlines()
    assert names == {"bitsandbytes/__init__.py", "bitsandbytes/libbitsandbytes_cuda130.so", "bitsandbytes/libbitsandbytes_cpu.so",
                     "bitsandbytes-0.50.2.dist-info/RECORD"}
    assert wheels._record_line("bitsandbytes/libbitsandbytes_cuda130.so", b"13") in record and len(record) == 4
    assert "bitsandbytes==" in " ".join(wheels.requirements()) and "liger-kernel==" in " ".join(wheels.requirements())
