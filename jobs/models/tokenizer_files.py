"""Saving a tokenizer so that it loads back splitting text exactly as it did.

transformers 5 does not write a SentencePiece-style tokenizer's ``legacy`` flag into ``tokenizer_config.json``, and reloads
without it in non-legacy mode: a Llama 2 / Mistral 7B / Phi-3 style tokenizer saved with an adapter, a merged model or a
converted GGUF then puts no ``▁`` after special tokens, so the Playground, the report and llama.cpp would see other tokens
than training did. :func:`save_tokenizer` writes the flag back.

    from jobs.models.tokenizer_files import save_tokenizer
    save_tokenizer(tokenizer, run_dir / "adapter")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

KEPT_FLAGS = ("legacy",)
"""Tokenizer attributes that change how text is split and that ``save_pretrained`` may leave out."""


def save_tokenizer(tokenizer: Any, folder: str | Path) -> None:
    """``tokenizer.save_pretrained(folder)``, then the flags of :data:`KEPT_FLAGS` the tokenizer has written into its config."""
    folder = Path(folder)
    tokenizer.save_pretrained(folder)
    flags = {name: value for name in KEPT_FLAGS if isinstance(value := getattr(tokenizer, name, None), bool)}
    config_path = folder / "tokenizer_config.json"
    if not flags or not config_path.is_file():
        return
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if all(config.get(name) == value for name, value in flags.items()):
        return
    config.update(flags)
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
