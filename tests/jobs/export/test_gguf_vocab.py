"""SentencePiece vocabularies as llama.cpp reads them: scores that merge in transformers' order, byte and control token types,
the ``▁`` prefix per layout (and for transformers' non-legacy tokenizers, checked in llama.cpp itself), and a clear refusal for
tokenizers llama.cpp's writers here do not cover.

(That llama.cpp itself then splits text exactly as transformers does is checked in test_gguf_families.py.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gguf
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM

from jobs.errors import AdaptaError
from jobs.export.gguf_convert import convert_folder
from jobs.export.gguf_families import gguf_support
from jobs.export.gguf_llamacpp import LlamaCppRequest, run_llamacpp
from jobs.export.gguf_verify import Reference, tokenization_counts, tokenization_warning, tokenizer_texts
from jobs.export.gguf_vocab import space_prefix_note, tokenizer_kind, tokenizer_refusal, vocabulary
from tests.jobs.export.tiny_sentencepiece import build_sentencepiece_tokenizer

GEMMA3 = {"architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "hidden_size": 64, "num_attention_heads": 4,
          "num_hidden_layers": 2, "head_dim": 16, "query_pre_attn_scalar": 16, "hidden_activation": "gelu_pytorch_tanh",
          "layer_types": ["sliding_attention", "full_attention"], "sliding_window": 12}


@pytest.mark.parametrize(("style", "space_prefix"), [("llama", True), ("gemma", False)])
def test_a_sentencepiece_vocabulary_is_written_as_llamacpp_reads_it(tmp_path: Path, style: str, space_prefix: bool) -> None:
    tokenizer = build_sentencepiece_tokenizer(tmp_path / style, style)
    vocab = vocabulary(tokenizer, tmp_path / style, len(tokenizer) + 3)
    assert vocab.kind == "llama" and vocab.merges == [] and vocab.add_space_prefix is space_prefix
    assert len(vocab.tokens) == len(vocab.types) == len(vocab.scores) == len(tokenizer) + 3
    types = dict(zip(vocab.tokens, vocab.types, strict=True))
    assert types["<0x0A>"] == gguf.TokenType.BYTE and types["<unk>"] == gguf.TokenType.UNKNOWN
    assert types["<|im_start|>"] == gguf.TokenType.CONTROL and vocab.types[-1] == gguf.TokenType.UNUSED
    merges = json.loads((tmp_path / style / "tokenizer.json").read_text(encoding="utf-8"))["model"]["merges"]
    scores = dict(zip(vocab.tokens, vocab.scores, strict=True))
    first, later = "".join(merges[0]), "".join(merges[-1])
    assert scores[first] == 0.0 and scores[later] < scores[first]  # llama.cpp merges the highest score first: the first merge


def test_a_gemma3_model_with_a_sentencepiece_tokenizer_exports(tmp_path: Path) -> None:
    build_sentencepiece_tokenizer(tmp_path, "gemma")
    support = gguf_support(GEMMA3, tmp_path)
    assert support.exportable, support.reason


def test_a_tokenizer_llamacpp_cannot_read_here_is_refused_with_the_reason(tmp_path: Path) -> None:
    unigram = Tokenizer(models.Unigram([("<unk>", 0.0), ("a", -1.0)], unk_id=0))
    unigram.pre_tokenizer = pre_tokenizers.Metaspace()
    state = json.loads(unigram.to_str())
    assert tokenizer_kind(state) is None
    assert "is Unigram (not BPE); GGUF export supports byte-level BPE tokenizers" in str(tokenizer_refusal(state, "t5"))
    no_fallback = Tokenizer(models.BPE(vocab={"a": 0, "b": 1}, merges=[]))
    no_fallback.pre_tokenizer = pre_tokenizers.Metaspace()
    assert "BPE (without byte fallback)" in str(tokenizer_refusal(json.loads(no_fallback.to_str()), "bpe"))
    folder = tmp_path / "t5"
    folder.mkdir()
    unigram.save(str(folder / "tokenizer.json"))
    support = gguf_support(GEMMA3, folder)
    assert not support.exportable and "cannot be exported to GGUF: the tokenizer of t5 is Unigram" in support.reason
    with pytest.raises(AdaptaError, match="Unigram"):
        vocabulary(type("Wrapped", (), {"backend_tokenizer": unigram})(), folder, 2)


MISTRAL_V03 = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]"
               "{% else %}{{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}")
"""Mistral 7B v0.1-v0.3's template: a space after ``[INST]``, which llama.cpp would double with a ``▁`` of its own."""
CHATS = [[{"role": "user", "content": "What is the capital of France?"}],
         [{"role": "user", "content": "Did you like the film?"}, {"role": "assistant", "content": "I love this film."},
          {"role": "user", "content": "What does the fox do?"}],
         [{"role": "user", "content": "The quick brown fox"}, {"role": "assistant", "content": "jumps over the lazy dog."}]]


def sentencepiece_gguf(folder: Path, family: str, template: str | None = None, legacy: bool = False) -> tuple[Any, Path]:
    """A tiny Llama-shaped model with a SentencePiece tokenizer carrying ``family``'s chat template, as F16 GGUF."""
    from tests.jobs.data.chat_families import FAMILIES, TEMPLATES

    chat = FAMILIES[family]
    tokenizer = build_sentencepiece_tokenizer(folder, legacy=legacy, chat_template=template or (TEMPLATES / f"{chat.template}.jinja").read_text(),
                                              chat_tokens=tuple(chat.specials), eos=chat.eos if chat.eos in chat.specials else "</s>")
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                 vocab_size=len(tokenizer), max_position_embeddings=128, bos_token_id=tokenizer.bos_token_id,
                                 eos_token_id=tokenizer.eos_token_id)).save_pretrained(folder)
    return tokenizer, convert_folder(folder, folder / "model-F16.gguf", "f16")


CASES = {"mistral": ("mistral", None, False), "mistral-v03": ("mistral", MISTRAL_V03, False), "phi3": ("phi3", None, False),
         "legacy-mistral-v03": ("mistral", MISTRAL_V03, True)}
"""name → (family, template, legacy): today's non-legacy tokenizers, and a legacy one whose template writes ``[INST] ``."""


def test_sentencepiece_chat_prompts_split_in_llamacpp_as_in_training_or_the_export_says_how_many_differ(llamacpp: str, tmp_path: Path) -> None:
    """transformers' non-legacy tokenizers put no ``▁`` after a special token and llama.cpp puts one when told
    ``add_space_prefix``: written false for them, llama.cpp splits the job's rows and every chat prompt (they start with a
    special token) exactly as training did. No setting fits a legacy tokenizer whose template writes a space after a
    special token: that is a warning with the count (measured table: docs/export.md)."""
    references, requests = {}, []
    for name, (family, template, legacy) in CASES.items():
        tokenizer, path = sentencepiece_gguf(tmp_path / name, family, template, legacy)
        assert tokenizer.legacy is legacy and vocabulary(tokenizer, tmp_path / name, len(tokenizer)).add_space_prefix is legacy
        rendered = [tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=chat[-1]["role"] == "user") for chat in CHATS]
        sequences = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in rendered]
        references[name] = Reference(None, tokenizer, sequences, sequences, "chat rows")
        requests.append(LlamaCppRequest(path, texts=tokenizer_texts(references[name])))
    counts = {name: tokenization_counts(reference, answer.tokenized) for (name, reference), answer in zip(references.items(),
                                                                                                          run_llamacpp(requests), strict=True)}
    for name, count in counts.items():
        assert count["tokenizer_identical"] == count["tokenizer_texts"] == len(CHATS) + 1, (name, count)  # the job's rows, the probe
        assert count["chat_prompts"] == 3
        if name.startswith("legacy"):
            assert count["chat_prompts_identical"] == 0 and "splits 3 of 3 chat prompts" in str(tokenization_warning(count)), count
        else:
            assert count["chat_prompts_identical"] == 3 and tokenization_warning(count) is None, (name, count)


def test_a_non_legacy_tokenizer_without_a_chat_template_keeps_the_space_prefix(tmp_path: Path) -> None:
    tokenizer = build_sentencepiece_tokenizer(tmp_path, legacy=False)
    tokenizer.chat_template = None
    assert vocabulary(tokenizer, tmp_path, len(tokenizer)).add_space_prefix is True  # plain text: a ▁ at its start, as transformers
    assert space_prefix_note(tokenizer) is None
