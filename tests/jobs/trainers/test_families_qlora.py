"""QLoRA for every family, on the CPU: each family trains 2 steps on NF4 4-bit base weights through the real trainer (the path
``launch.py train`` takes), the adapter saves, and the merge folds it into the family's unquantized fp32 weights (not the 4-bit
ones) and answers like the PEFT model; one family's merge exports to GGUF q8_0 that llama.cpp runs. The pre-flight's memory
line says QLoRA on the CPU saves nothing against LoRA (as measured) and estimates it as LoRA; without bitsandbytes, QLoRA is
refused there and before any work, naming the package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from jobs.errors import UnsupportedError
from jobs.export import export_gguf
from jobs.export.merge import merge_run
from jobs.hub import search
from jobs.inference.text import open_run
from jobs.models import hardware
from jobs.models.hardware import QLORA_CPU_NOTE
from jobs.queue.run import train_in_foreground
from jobs.spec import parse_spec
from tests.jobs.data.chat_families import TRAINED_FAMILIES, family_model
from tests.jobs.export import conftest as export_fixtures
from tests.jobs.trainers.test_families import family_spec

llamacpp = export_fixtures.llamacpp  # the export tests' llama.cpp (skips only without Node.js)


def train_qlora(family: str, tmp_path: Path) -> tuple[Path, Path]:
    """(base model folder, run folder) of a 2-step QLoRA run of ``family``."""
    model = family_model(family, tmp_path / family)
    spec = parse_spec(family_spec(tmp_path, model, "qlora", thinking="off" if family == "qwen3" else "auto"))
    _, summary = train_in_foreground(spec, show_progress=False)
    adapter = Path(summary["output_folder"])
    assert summary["global_step"] == 2 and (adapter / "adapter_model.safetensors").is_file()
    return model, adapter.parent


def check_merge(model: Path, run_dir: Path, merged: Path) -> None:
    """The run's merge folds the adapter into the unquantized fp32 base exactly and answers like the PEFT model."""
    merge_run(run_dir, merged)
    assert "quantization_config" not in json.loads((merged / "config.json").read_text())
    base, folded = load_file(model / "model.safetensors"), load_file(merged / "model.safetensors")
    adapter = load_file(run_dir / "adapter" / "adapter_model.safetensors")
    down = next(name for name in adapter if name.endswith("layers.0.mlp.down_proj.lora_A.weight"))
    weight = down.removeprefix("base_model.model.").replace(".lora_A", "")
    delta = 8 / 4 * adapter[down.replace("lora_A", "lora_B")] @ adapter[down]  # alpha / r · B·A
    assert delta.abs().max() > 0  # the adapter learned something in 2 steps
    assert folded[weight].dtype == base[weight].dtype == torch.float32
    # the fp32 base plus the update exactly: folding into dequantized NF4 weights would be off by the 4-bit rounding (~1e-2)
    torch.testing.assert_close(folded[weight], base[weight] + delta, rtol=0, atol=1e-6)

    peft_model = open_run(run_dir).model
    ids = torch.tensor([[1, 5, 9, 17, 33, 65, 100, 7]])
    with torch.no_grad():
        expected = peft_model(input_ids=ids).logits
        got = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32)(input_ids=ids).logits
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("family", [family for family in TRAINED_FAMILIES if family != "llama3"])
def test_qlora_trains_each_family_and_merges_into_the_unquantized_base(tmp_path: Path, family: str) -> None:
    model, run_dir = train_qlora(family, tmp_path)
    check_merge(model, run_dir, tmp_path / "merged")


@pytest.mark.usefixtures("llamacpp")
def test_llama3_qlora_merges_and_exports_to_gguf_that_llamacpp_runs(tmp_path: Path) -> None:
    model, run_dir = train_qlora("llama3", tmp_path)
    check_merge(model, run_dir, tmp_path / "merged")
    result = export_gguf(run_dir, ["q8_0"], merged_dir=tmp_path / "merged")  # the finished merge above is reused
    q8 = result.report["files"][0]
    assert result.report["verifier"] == "llama.cpp" and q8["loaded"] and q8["passed"] and result.passed, result.report


def test_the_pre_flight_says_qlora_runs_on_the_cpu_slower_and_without_bitsandbytes_refuses(tmp_path: Path,
                                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "available_memory", lambda: ("CPU (24 GB)", 8 * 1024**3))
    table = search.memory_table({"parameters": 1_000_000})
    row = table["qlora"]
    assert row["fits"] and row["human"].endswith(f"({QLORA_CPU_NOTE})")
    assert row["bytes"] == table["lora"]["bytes"]  # measured: 4-bit weights save nothing on the CPU, so QLoRA never looks smaller
    monkeypatch.setattr(search, "installed_kernels", dict)  # no bitsandbytes here
    row = search.memory_table({"parameters": 1_000_000})["qlora"]
    assert row["fits"] is False and row["human"].endswith("(QLoRA needs the bitsandbytes package (pip install -r requirements.txt))")
    monkeypatch.setattr(hardware, "installed_kernels", dict)
    model = family_model("qwen2", tmp_path / "qwen2")
    with pytest.raises(UnsupportedError, match=r"QLoRA needs the bitsandbytes package \(pip install -r requirements.txt\)"):
        train_in_foreground(parse_spec(family_spec(tmp_path, model, "qlora")), show_progress=False)
