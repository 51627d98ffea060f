"""The Models tab opens with ``launch.py doctor``'s one-line form: what this machine offers training (no torch in the web server)."""

from __future__ import annotations

import gradio as gr
import pytest

from jobs.models.hardware import GpuInfo, Hardware
from webui import models_tab
from webui.i18n import Registry


def test_the_models_tab_header_shows_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    h100 = GpuInfo("NVIDIA H100 80GB HBM3", 81559 * 1024 * 1024, (9, 0))
    monkeypatch.setattr(models_tab, "detect_hardware", lambda: Hardware(gpus=(h100,), kernels={"liger_kernel": "0.8.5"}, torch_version="2.13.0"))
    with gr.Blocks() as page:
        models_tab.build(Registry())
    line = next(block for block in page.blocks.values() if getattr(block, "elem_id", None) == "machine-line")
    assert line.value == "🖥️ 1× NVIDIA H100 80GB HBM3 (85.5 GB each), bf16, sdpa attention, liger_kernel; QLoRA needs bitsandbytes."


def test_the_machine_line_follows_the_page_language(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models_tab, "detect_hardware", lambda: Hardware(gpus=(), kernels={}, torch_version="2.13.0"))
    registry = Registry()
    with gr.Blocks() as page:
        models_tab.build(registry)
    line = next(block for block in page.blocks.values() if getattr(block, "elem_id", None) == "machine-line")
    assert line.value.startswith("🖥️ No CUDA GPU: training runs on the CPU in fp32")
    switched = registry.updates("pt-BR")[registry.components.index(line)]  # the language switch rewords it, without detecting again
    assert switched["value"] == ("🖥️ Sem GPU CUDA: o treino roda na CPU em fp32 (LoRA, DoRA, prompt tuning, full; QLoRA precisa do pacote "
                                 "bitsandbytes (pip install -r requirements.txt)).")
    h100 = Hardware(gpus=(GpuInfo("NVIDIA H100", 80 * 1024**3, (9, 0)),), kernels={"bitsandbytes": "0.50.2"}, torch_version="2.13.0")
    assert models_tab.machine_line(h100, "pt-BR") == "🖥️ 1× NVIDIA H100 (85.9 GB cada), bf16, atenção sdpa, bitsandbytes; QLoRA pronto."
