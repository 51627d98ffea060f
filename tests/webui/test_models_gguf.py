"""The Models tab says per model, before anything trains, whether a fine-tune of it exports to GGUF for llama.cpp (the Train
pre-flight's sentence), and why not: from config.json and the tokenizer for a model on this machine, from the architecture for
a Hub model not downloaded yet."""

from __future__ import annotations

import shutil
from pathlib import Path

from tokenizers import Tokenizer, models

from jobs.hub.search import model_info
from webui.models_tab import describe, gguf_line


def test_a_local_model_says_whether_it_exports_to_gguf(tiny_llama: Path, tmp_path: Path) -> None:
    info = model_info(str(tiny_llama))
    assert "GGUF: the result exports to GGUF for llama.cpp, Ollama and LM Studio (Llama)" in describe(info, "en")
    assert "GGUF: o resultado exporta para GGUF" in describe(info, "pt-BR")

    unigram = tmp_path / "unigram-llama"  # the same model with a tokenizer llama.cpp's writers here do not cover
    shutil.copytree(tiny_llama, unigram)
    Tokenizer(models.Unigram([("<unk>", 0.0), ("a", -1.0)], unk_id=0)).save(str(unigram / "tokenizer.json"))
    line = gguf_line(model_info(str(unigram)), "en")
    assert line is not None and line.startswith("GGUF: the result will not export to GGUF (") and "is Unigram (not BPE)" in line


def test_a_hub_model_is_judged_by_its_architecture_until_downloaded() -> None:
    hub = {"id": "Qwen/Qwen3-0.6B", "task": "causal-lm", "architecture": "Qwen3ForCausalLM", "model_type": "qwen3"}
    assert gguf_line(hub, "en") == ("GGUF: Qwen3 models export to GGUF for llama.cpp, Ollama and LM Studio; this one's settings and "
                                    "tokenizer are checked once it is downloaded")
    multimodal = {**hub, "architecture": "Gemma3ForConditionalGeneration", "model_type": "gemma3"}
    line = gguf_line(multimodal, "en")
    assert line is not None and "does not support the Gemma3ForConditionalGeneration architecture yet" in line
    assert gguf_line({**hub, "task": "text-classification"}, "en") is None  # only text generation exports to GGUF
