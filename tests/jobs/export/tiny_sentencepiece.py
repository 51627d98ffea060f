"""Tiny SentencePiece-style tokenizers (BPE with byte fallback and ``▁`` for spaces), built offline, for the GGUF tests.

    from tests.jobs.export.tiny_sentencepiece import build_sentencepiece_tokenizer
    tokenizer = build_sentencepiece_tokenizer(folder, style="llama")   # or "gemma"

Laid out as transformers lays out a converted ``tokenizer.model``: the special tokens first, the 256 ``<0x..>`` byte tokens,
then the pieces learnt on the tiny corpus, and the merges generated from the vocabulary by score
(``transformers.tokenization_utils_base.generate_merges``, as its SentencePiece converter does), so BPE merges exactly
as SentencePiece (and llama.cpp) would. ``llama`` is Llama 2 / Mistral 7B / Phi-3's layout (a ``▁`` before the text,
``LlamaTokenizer`` in its legacy mode, which puts it after special tokens too, as llama.cpp does); ``gemma`` is Gemma's
(no ``▁`` before the text, ``GemmaTokenizer``). Both carry the tiny chat template's special tokens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, GemmaTokenizer, LlamaTokenizer
from transformers.tokenization_utils_base import generate_merges

from tests.tiny import CHAT_TEMPLATE, CORPUS

CHAT_TOKENS = ["<|im_start|>", "<|im_end|>"]
BYTE_TOKENS = [f"<0x{value:02X}>" for value in range(256)]


def learnt_pieces(vocab_size: int = 300) -> list[str]:
    """Pieces learnt on the corpus with SentencePiece's word splitting (``▁word``), most frequent merges last."""
    trainer_tokenizer = Tokenizer(models.BPE())
    trainer_tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    trainer_tokenizer.train_from_iterator(CORPUS, trainer=trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False))
    learnt = trainer_tokenizer.get_vocab()
    return sorted(learnt, key=learnt.__getitem__)


def build_sentencepiece_tokenizer(folder: Path, style: str = "llama", *, legacy: bool = True, chat_template: str = CHAT_TEMPLATE,
                                  chat_tokens: tuple[str, ...] = tuple(CHAT_TOKENS), eos: str = "<|im_end|>") -> Any:
    """A SentencePiece-style tokenizer saved to ``folder`` (``style``: ``llama`` or ``gemma``); ``legacy=False`` is the
    non-legacy Llama layout (a ``▁`` at the start of the text only) of today's Llama 2, Mistral 7B and Phi-3 tokenizers,
    ``chat_template``, ``chat_tokens`` and ``eos`` a family's chat template, its special tokens and its EOS."""
    specials = ["<unk>", "<s>", "</s>"] if style == "llama" else ["<pad>", "<eos>", "<bos>", "<unk>"]
    pieces = specials + BYTE_TOKENS + [piece for piece in learnt_pieces() if piece not in specials]
    vocab = {piece: index for index, piece in enumerate(pieces)}
    merges = generate_merges(vocab, {piece: -float(index) for piece, index in vocab.items() if index >= len(specials) + 256},
                             skip_tokens=specials)
    if style == "llama":
        tokenizer = LlamaTokenizer(vocab=vocab, merges=merges, legacy=legacy, add_prefix_space=True, pad_token="<unk>",
                                   additional_special_tokens=[token for token in chat_tokens if token not in specials])
    else:
        tokenizer = GemmaTokenizer(vocab=vocab, merges=merges, additional_special_tokens=[token for token in chat_tokens if token not in specials])
    tokenizer.chat_template = chat_template
    tokenizer.eos_token = eos
    tokenizer.padding_side = "left"
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)
    if style == "llama":  # transformers does not save ``legacy``; a model's own tokenizer_config.json may say it
        config_path = folder / "tokenizer_config.json"
        config_path.write_text(json.dumps({**json.loads(config_path.read_text(encoding="utf-8")), "legacy": legacy}), encoding="utf-8")
    return AutoTokenizer.from_pretrained(folder)
