"""Dynamic padding: each batch is padded to its own longest example (rounded up to a multiple of 8)."""

from __future__ import annotations

from typing import Any

import torch


class PadCollator:
    """Pads ``input_ids``/``attention_mask`` on the right and causal-LM ``labels`` with -100."""

    def __init__(self, pad_token_id: int, multiple_of: int = 8):
        self.pad_token_id = pad_token_id
        self.multiple_of = multiple_of

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        longest = max(len(feature["input_ids"]) for feature in features)
        if self.multiple_of > 1:
            longest = -(-longest // self.multiple_of) * self.multiple_of
        batch: dict[str, list] = {"input_ids": [], "attention_mask": [], "labels": []}
        for feature in features:
            ids = list(feature["input_ids"])
            padding = longest - len(ids)
            batch["input_ids"].append(ids + [self.pad_token_id] * padding)
            mask = list(feature.get("attention_mask") or [1] * len(ids))
            batch["attention_mask"].append(mask + [0] * padding)
            label = feature["labels"]
            batch["labels"].append(list(label) + [-100] * padding if isinstance(label, (list, tuple)) else label)
        return {name: torch.tensor(values, dtype=torch.long) for name, values in batch.items()}
