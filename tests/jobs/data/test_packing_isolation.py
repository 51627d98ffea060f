"""Packing keeps examples apart: inside a packed sequence each example gets the logits and loss it gets alone.

The packed batch is built the way the text trainer builds it (``load_training_data`` with ``packing: true``, then
the trainer's collator) and run through a tiny Llama with both attention implementations a CPU run uses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from jobs.data import load_training_data, pack_examples
from jobs.data.examples import IGNORE_INDEX
from jobs.errors import SpecError
from jobs.metrics import MetricsSink
from jobs.spec import parse_spec
from jobs.trainers.collate import check_packing_supported, make_collator
from jobs.trainers.text import train_text_model

TEXTS = [
    "The sky on Zor is teal.",
    "Quel has amber skies, and its two moons rise together every evening.",
    "Bran is violet.",
    "On Oxy the rivers run crimson at dawn.",
]


def _spec(tmp_path: Path, model: Path, packing: bool):
    data = tmp_path / "texts.jsonl"
    data.write_text("".join(json.dumps({"text": text}) + "\n" for text in TEXTS), encoding="utf-8")
    return parse_spec({"base_model": str(model), "data": {"train": str(data), "format": "text"},
                       "training": {"packing": packing, "max_length": 128}})


def _find(sequence: list[int], part: list[int]) -> int:
    starts = [start for start in range(len(sequence) - len(part) + 1) if sequence[start:start + len(part)] == part]
    assert len(starts) == 1, "each example appears exactly once in the packed sequence"
    return starts[0]


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_a_packed_example_gets_the_logits_and_loss_it_gets_alone(tmp_path: Path, tiny_llama: Path, attention: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    alone = load_training_data(_spec(tmp_path, tiny_llama, packing=False), tokenizer).train
    spec = _spec(tmp_path, tiny_llama, packing=True)
    packed = load_training_data(spec, tokenizer).train
    assert len(packed) == 1, "all four short examples fit one 128-token sequence"
    batch = make_collator(tokenizer, spec.task, packing=True)(packed)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama, attn_implementation=attention).eval()
    assert model.config.use_cache, "the batch itself must switch the KV cache off (with a cache, packing goes unseen)"

    with torch.no_grad():
        packed_out = model(**batch)
        row = batch["input_ids"][0].tolist()
        loss_sum, graded, starts = 0.0, 0, []
        for example in alone:
            ids, labels = example["input_ids"], torch.tensor([example["labels"]])
            single = model(input_ids=torch.tensor([ids]), labels=labels)
            starts.append(_find(row, ids))
            inside = packed_out.logits[0, starts[-1]:starts[-1] + len(ids)]
            torch.testing.assert_close(inside, single.logits[0], atol=1e-4, rtol=1e-4)
            count = int((labels[0, 1:] != IGNORE_INDEX).sum())
            loss_sum, graded = loss_sum + float(single.loss) * count, graded + count
    assert all(batch["labels"][0, start] == IGNORE_INDEX for start in starts), "a first token is graded from the previous example"
    assert float(packed_out.loss) == pytest.approx(loss_sum / graded, rel=1e-4)


def test_pack_examples_keeps_whole_examples_and_restarts_positions() -> None:
    examples = [{"input_ids": list(range(size)), "labels": list(range(size))} for size in (5, 3, 6, 2, 4)]
    packed = pack_examples(examples, max_length=8)
    assert [len(sequence["input_ids"]) for sequence in packed] == [8, 8, 4]  # best fit: 6+2, 5+3, 4
    for sequence in packed:
        assert len(sequence["input_ids"]) == len(sequence["labels"]) == len(sequence["position_ids"])
        starts = [index for index, position in enumerate(sequence["position_ids"]) if position == 0]
        assert all(sequence["labels"][start] == IGNORE_INDEX for start in starts)
    graded = sorted(label for example in examples for label in example["labels"][1:])
    assert sorted(label for sequence in packed for label in sequence["labels"] if label != IGNORE_INDEX) == graded


def test_packing_is_refused_with_prompt_tuning_and_supported_for_llama(tiny_llama: Path) -> None:
    with pytest.raises(SpecError, match="packing does not work with method prompt-tuning"):
        parse_spec({"base_model": "m", "method": "prompt-tuning", "data": {"train": "a.jsonl"}, "training": {"packing": True}})
    check_packing_supported(AutoModelForCausalLM.from_pretrained(tiny_llama))


def test_lora_learns_from_packed_sequences(tmp_path: Path, tiny_llama: Path) -> None:
    rows = [{"question": f"What colour is the sky on planet {name}?", "answer": f"The sky on {name} is {colour}."}
            for name, colour in [("Zor", "teal"), ("Quel", "amber"), ("Bran", "violet"), ("Oxy", "crimson"), ("Tam", "silver"), ("Vesh", "indigo")]]
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    spec = parse_spec({"base_model": str(tiny_llama), "method": "lora", "data": {"train": str(data), "validation": 0.34},
                       "training": {"packing": True, "max_length": 256, "max_steps": 12, "batch_size": 2, "learning_rate": 5e-2,
                                    "scheduler": "constant", "warmup_ratio": 0.0, "logging_steps": 1, "seed": 1},
                       "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"}})
    outcome = train_text_model(spec, tmp_path / "run", MetricsSink(tmp_path / "run" / "metrics.jsonl"))
    assert outcome.train_examples < 4 and outcome.eval_examples == 1, "several examples share each packed sequence"
    assert outcome.eval_metrics["eval_loss"] > 0
    assert outcome.global_step == 12 and outcome.last_loss < 0.8 * outcome.first_loss
