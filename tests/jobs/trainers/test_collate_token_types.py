"""The text trainer's collators: text pairs keep ``token_type_ids``; causal-LM batches pad on the right with -100 labels.

The pair test uses a tiny BERT whose output depends on the token types (``type_vocab_size`` 2, random weights) and a
BERT-style tokenizer (``[CLS] a [SEP] b [SEP]``, second sentence type 1) that pads on the left for generation.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tokenizers import processors
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

from jobs.data import load_training_data
from jobs.data.examples import IGNORE_INDEX
from jobs.spec import Task, parse_spec
from jobs.trainers.collate import make_collator
from tests.tiny import build_tokenizer

PAIRS = [
    ("The film was long.", "It never felt slow.", "entailment"),
    ("A dog sleeps.", "The cat is awake and hungry for its dinner.", "neutral"),
    ("Rain fell all day.", "It was dry.", "contradiction"),
]


@pytest.fixture(scope="module")
def pair_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT pair classifier and a BERT-style pair tokenizer, saved in one folder."""
    folder = tmp_path_factory.mktemp("pair-bert")
    backend = build_tokenizer(folder).backend_tokenizer
    cls, sep = "<|endoftext|>", "<|im_end|>"
    backend.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        pair=f"{cls} $A {sep} $B:1 {sep}:1",
        special_tokens=[(cls, backend.token_to_id(cls)), (sep, backend.token_to_id(sep))],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", cls_token=cls, sep_token=sep, unk_token=cls,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"], padding_side="left",
    )
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                        type_vocab_size=2, pad_token_id=tokenizer.pad_token_id, num_labels=3, initializer_range=0.5)
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


def test_pair_batches_keep_token_type_ids_and_match_the_unbatched_forward(tmp_path: Path, pair_model: Path) -> None:
    data_file = tmp_path / "pairs.csv"
    data_file.write_text("sentence1,sentence2,label\n" + "".join(f'"{a}","{b}",{label}\n' for a, b, label in PAIRS), encoding="utf-8")
    spec = parse_spec({"task": "text-classification", "base_model": str(pair_model), "data": {"train": str(data_file)}})
    tokenizer = AutoTokenizer.from_pretrained(pair_model)
    features = load_training_data(spec, tokenizer).train
    assert all(1 in feature["token_type_ids"] for feature in features), "the second sentence is type 1"

    batch = make_collator(tokenizer, spec.task)(features)
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "labels"}
    assert batch["input_ids"].shape[1] % 8 == 0 and batch["token_type_ids"].shape == batch["input_ids"].shape
    assert batch["labels"].tolist() == [1, 2, 0]  # labels sorted: contradiction, entailment, neutral
    assert tokenizer.padding_side == "left", "the collator pads on the right without changing the tokenizer"

    model = BertForSequenceClassification.from_pretrained(pair_model).eval()
    with torch.no_grad():
        batched = model(**{key: value for key, value in batch.items() if key != "labels"}).logits
        without_types = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        for row, feature in enumerate(features):
            size = len(feature["input_ids"])
            assert batch["attention_mask"][row].tolist() == [1] * size + [0] * (batch["input_ids"].shape[1] - size)
            alone = model(**{key: torch.tensor([feature[key]]) for key in ("input_ids", "token_type_ids", "attention_mask")}).logits
            torch.testing.assert_close(batched[row], alone[0], atol=1e-5, rtol=1e-5)
    assert (batched - without_types).abs().max() > 0.1, "the model's output depends on the token types"


def test_causal_lm_batches_pad_right_with_ignored_labels(tiny_llama: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    tokenizer.padding_side = "left"
    features = [{"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": [IGNORE_INDEX, 6, 7]},
                {"input_ids": [8, 9], "attention_mask": [1, 1], "labels": [8, 9]}]
    batch = make_collator(tokenizer, Task.CAUSAL_LM)(features)
    pad = tokenizer.pad_token_id
    assert batch["input_ids"].tolist() == [[5, 6, 7] + [pad] * 5, [8, 9] + [pad] * 6]
    assert batch["attention_mask"].tolist() == [[1] * 3 + [0] * 5, [1] * 2 + [0] * 6]
    assert batch["labels"].tolist() == [[IGNORE_INDEX, 6, 7] + [IGNORE_INDEX] * 5, [8, 9] + [IGNORE_INDEX] * 6]
    packed = make_collator(tokenizer, Task.CAUSAL_LM, packing=True)([{"input_ids": [5, 6, 7], "labels": [IGNORE_INDEX, 6, 7], "position_ids": [0, 1, 0]}])
    assert "attention_mask" not in packed and packed["use_cache"] is False
    assert packed["position_ids"].tolist() == [[0, 1, 0, 0, 1, 2, 3, 4]]
    assert packed["labels"].tolist() == [[IGNORE_INDEX, 6, 7] + [IGNORE_INDEX] * 5]
