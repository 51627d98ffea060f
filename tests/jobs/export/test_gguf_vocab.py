"""SentencePiece vocabularies as llama.cpp reads them: scores that merge in transformers' order, byte and control token types,
the ``▁`` prefix per layout, and a clear refusal for tokenizers llama.cpp's writers here do not cover.

(That llama.cpp itself then splits text exactly as transformers does is checked in test_gguf_families.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from jobs.errors import AdaptaError
from jobs.export.gguf_families import gguf_support
from jobs.export.gguf_vocab import tokenizer_kind, tokenizer_refusal, vocabulary
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
