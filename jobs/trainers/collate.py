"""Batch collation for the text trainer: transformers' collators, plus the one for packed sequences.

- text classification: ``DataCollatorWithPadding``; it pads every tokenizer output, so text pairs keep their
  ``token_type_ids`` (padded with the tokenizer's pad type id);
- causal LM: ``DataCollatorForSeq2Seq``: ``input_ids`` padded with the pad token, ``labels`` with -100;
- causal LM with ``training.packing``: :class:`PackedCollator` (see :func:`jobs.data.examples.pack_examples`).

Batches are padded on the right to a multiple of 8, whatever padding side the tokenizer keeps for generation.

    collator = make_collator(tokenizer, Task.CAUSAL_LM, packing=False)
    batch = collator(data.train[:4])
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DataCollatorForSeq2Seq, DataCollatorWithPadding, PreTrainedModel

from jobs.data.examples import IGNORE_INDEX
from jobs.errors import UnsupportedError
from jobs.spec import Task

PAD_TO_MULTIPLE_OF = 8
Collator = Callable[[list[dict[str, Any]]], dict[str, Any]]


@dataclass
class PackedCollator:
    """Pads packed sequences on the right and passes their ``position_ids`` with no attention mask and no KV cache.

    transformers' ``DataCollatorWithFlattening`` would lay the whole batch out as one row (its attention grows with
    the square of batch × max_length); this keeps one row per packed sequence. The padding is a sequence of its own
    (positions restart at 0, labels -100), so no real token attends to it. Features without ``position_ids`` count
    as one example each. transformers only looks for packed sequences when there is no cache, so the batch says
    ``use_cache=False`` itself rather than relying on the model's config.
    """

    pad_token_id: int
    pad_to_multiple_of: int = PAD_TO_MULTIPLE_OF

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        longest = max(len(feature["input_ids"]) for feature in features)
        longest = -(-longest // self.pad_to_multiple_of) * self.pad_to_multiple_of
        batch: dict[str, list[list[int]]] = {"input_ids": [], "labels": [], "position_ids": []}
        for feature in features:
            size = len(feature["input_ids"])
            padding = longest - size
            batch["input_ids"].append([*feature["input_ids"], *[self.pad_token_id] * padding])
            batch["labels"].append([*feature["labels"], *[IGNORE_INDEX] * padding])
            batch["position_ids"].append([*feature.get("position_ids", range(size)), *range(padding)])
        return {**{name: torch.tensor(rows, dtype=torch.long) for name, rows in batch.items()}, "use_cache": False}


def _right_padding(tokenizer: Any) -> Any:
    """The tokenizer itself, or a shallow copy that pads on the right (the original keeps its setting)."""
    if getattr(tokenizer, "padding_side", "right") == "right":
        return tokenizer
    padded = copy.copy(tokenizer)
    padded.padding_side = "right"
    return padded


def make_collator(tokenizer: Any, task: Task, packing: bool = False) -> Collator:
    """The collator for ``task``'s features as :func:`jobs.data.load_training_data` builds them."""
    if Task(task) is Task.TEXT_CLASSIFICATION:
        return DataCollatorWithPadding(_right_padding(tokenizer), pad_to_multiple_of=PAD_TO_MULTIPLE_OF)
    if packing:
        return PackedCollator(tokenizer.pad_token_id)
    return DataCollatorForSeq2Seq(_right_padding(tokenizer), label_pad_token_id=IGNORE_INDEX, pad_to_multiple_of=PAD_TO_MULTIPLE_OF)


def check_packing_supported(model: PreTrainedModel) -> None:
    """Raise :class:`UnsupportedError` unless ``model`` restricts attention per packed example (from position ids)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    accepts_positions = "position_ids" in inspect.signature(base.forward).parameters
    if not (accepts_positions and getattr(base, "_supports_attention_backend", False)):
        raise UnsupportedError(
            f"training.packing needs a model whose attention can be kept within each packed example, and "
            f"{base.config.model_type} cannot; set packing to false"
        )
