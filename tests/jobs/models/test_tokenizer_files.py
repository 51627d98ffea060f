"""A SentencePiece-style tokenizer in legacy mode (Llama 2, Mistral 7B, Phi-3) splits text the same way after Adapta saves it
(with an adapter, a merged model, a converted GGUF): transformers 5's ``save_pretrained`` alone drops ``legacy``."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import AutoTokenizer

from jobs.models.tokenizer_files import save_tokenizer
from tests.jobs.export.tiny_sentencepiece import build_sentencepiece_tokenizer

TEXT = "<|im_start|>user hello world<|im_end|>"


def test_a_legacy_tokenizer_splits_text_alike_after_saving(tmp_path: Path) -> None:
    build_sentencepiece_tokenizer(tmp_path / "base", style="llama")
    base = AutoTokenizer.from_pretrained(tmp_path / "base")
    save_tokenizer(base, tmp_path / "saved")
    saved = AutoTokenizer.from_pretrained(tmp_path / "saved")
    assert saved.tokenize(TEXT) == base.tokenize(TEXT)
    assert json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text())["legacy"] is True


def test_a_tokenizer_without_the_flag_is_saved_as_transformers_saves_it(tmp_path: Path, tiny_llama: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    tokenizer.save_pretrained(tmp_path / "plain")
    save_tokenizer(tokenizer, tmp_path / "ours")
    assert (tmp_path / "ours" / "tokenizer_config.json").read_text() == (tmp_path / "plain" / "tokenizer_config.json").read_text()
