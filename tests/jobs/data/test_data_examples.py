"""jobs.data.examples: prompt masking for chat and instruction rows, label maps, packing, validation split, loading."""

from __future__ import annotations

import json

import pytest
from transformers import AutoTokenizer

from jobs.data.examples import IGNORE_INDEX, build_examples, build_label_map, load_training_data, pack_examples
from jobs.data.formats import FormatChoice
from jobs.data.split import split_validation
from jobs.errors import DataError
from jobs.spec import DataFormat, Task, parse_spec
from tests.tiny import build_tokenizer

CHAT = FormatChoice(DataFormat.CHAT, {"messages": "messages"})
INSTRUCTION = FormatChoice(DataFormat.INSTRUCTION, {"prompt": "question", "response": "answer"})
CLASSES = FormatChoice(DataFormat.CLASSIFICATION, {"text": "text", "label": "label"})
CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "What is the colour of the sky?"},
    {"role": "assistant", "content": "The sky is blue."},
]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    """Only the tiny tokenizer (the one inside the ``tiny_llama`` folder), without building the model."""
    folder = tmp_path_factory.mktemp("tiny-tokenizer")
    build_tokenizer(folder)
    return folder


@pytest.fixture
def tokenizer(tokenizer_dir):
    return AutoTokenizer.from_pretrained(tokenizer_dir)


def trained_runs(tokenizer, example) -> list[str]:
    """The decoded stretches of consecutive graded tokens."""
    runs, current = [], []
    for label in example["labels"] + [IGNORE_INDEX]:
        if label == IGNORE_INDEX:
            if current:
                runs.append(tokenizer.decode(current))
            current = []
        else:
            current.append(label)
    return runs


def test_chat_loss_only_on_assistant_turns(tokenizer):
    built = build_examples([{"messages": CONVERSATION}], CHAT, tokenizer, Task.CAUSAL_LM, max_length=512)
    example = built.examples[0]
    assert trained_runs(tokenizer, example) == ["Paris.<|im_end|>", "The sky is blue.<|im_end|>"]
    assert len(example["input_ids"]) == len(example["labels"]) == len(example["attention_mask"])
    assert built.warnings == [] and built.skipped == []


def test_sharegpt_rows_are_converted(tokenizer):
    row = {"messages": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}
    example = build_examples([row], CHAT, tokenizer, Task.CAUSAL_LM, 512).examples[0]
    assert trained_runs(tokenizer, example) == ["hello<|im_end|>"]
    assert "<|im_start|>user\nhi" in tokenizer.decode(example["input_ids"])


def test_train_on_prompt_grades_everything(tokenizer):
    example = build_examples([{"messages": CONVERSATION}], CHAT, tokenizer, Task.CAUSAL_LM, 512, train_on_prompt=True).examples[0]
    assert example["labels"] == example["input_ids"]


def test_template_that_is_not_prefix_consistent_falls_back(tokenizer):
    tokenizer.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% else %}END{% endif %}"
    )
    example = build_examples([{"messages": CONVERSATION}], CHAT, tokenizer, Task.CAUSAL_LM, 512).examples[0]
    assert trained_runs(tokenizer, example) == ["Paris.<|im_end|>", "The sky is blue.<|im_end|>"]

    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] | upper }}\n{% endfor %}"
        "{% if not add_generation_prompt %}{{ messages | length }}{% endif %}"
    )
    built = build_examples([{"messages": CONVERSATION}], CHAT, tokenizer, Task.CAUSAL_LM, 512)
    assert built.examples[0]["labels"] == built.examples[0]["input_ids"]
    assert built.warnings == ["the chat template does not render conversations turn by turn, so the loss covers whole conversations"]


def test_instruction_with_chat_template(tokenizer):
    row = {"question": "What is the capital of France?", "answer": "Paris."}
    example = build_examples([row], INSTRUCTION, tokenizer, Task.CAUSAL_LM, 512).examples[0]
    assert trained_runs(tokenizer, example) == ["Paris.<|im_end|>"]
    assert tokenizer.decode(example["input_ids"]).startswith("<|im_start|>user\nWhat is the capital of France?")


def test_instruction_plain_template_without_chat_template(tokenizer):
    tokenizer.chat_template = None
    row = {"question": "What is the capital of France?", "answer": "Paris."}
    example = build_examples([row], INSTRUCTION, tokenizer, Task.CAUSAL_LM, 512).examples[0]
    assert tokenizer.decode(example["input_ids"]) == "### Instruction:\nWhat is the capital of France?\n\n### Response:\nParis.<|im_end|>"
    assert trained_runs(tokenizer, example) == ["Paris.<|im_end|>"]


def test_text_rows_are_trained_whole_with_eos(tokenizer):
    choice = FormatChoice(DataFormat.TEXT, {"text": "text"})
    example = build_examples([{"text": "The sky is blue."}], choice, tokenizer, Task.CAUSAL_LM, 512).examples[0]
    assert example["labels"] == example["input_ids"]
    assert example["input_ids"][-1] == tokenizer.eos_token_id


def test_bad_rows_and_fully_truncated_rows_are_skipped_with_their_row(tokenizer):
    rows = [
        {"question": "Short?", "answer": "Yes."},
        {"question": "What is the capital of France? " * 5, "answer": "Paris."},
        {"question": "Empty answer", "answer": "  "},
    ]
    built = build_examples(rows, INSTRUCTION, tokenizer, Task.CAUSAL_LM, max_length=20, row_numbers=[2, 3, 4])
    assert len(built.examples) == 1 and built.rows == [2]
    assert len(built.examples[0]["input_ids"]) <= 20
    assert [(p.row, p.column) for p in built.skipped] == [(3, None), (4, "answer")]
    assert "nothing is left to learn after truncating to max_length 20" in built.skipped[0].message
    assert built.skipped[1].message == "response (column answer) is empty"


def test_label_maps_sort_strings_and_numbers():
    mapping = {"label": "label"}
    assert build_label_map([{"label": "pos"}, {"label": "neg"}, {"label": None}, {"label": "neutral"}], mapping) == [
        "neg",
        "neutral",
        "pos",
    ]
    assert build_label_map([{"label": 10}, {"label": 2}, {"label": 1.0}, {"label": "2"}], mapping) == ["1", "2", "10"]


def test_classification_examples_carry_label_ids(tokenizer):
    rows = [{"text": "great film", "label": 10}, {"text": "awful", "label": 2}, {"text": "ok", "label": "7"}]
    built = build_examples(rows, CLASSES, tokenizer, Task.TEXT_CLASSIFICATION, max_length=4)
    assert [example["labels"] for example in built.examples] == [2, 0, 1]
    assert all(len(example["input_ids"]) <= 4 for example in built.examples)
    unknown = build_examples([{"text": "x", "label": "other"}], CLASSES, tokenizer, Task.TEXT_CLASSIFICATION, 8, label_names=["a", "b"])
    assert unknown.examples == [] and "label 'other' is not one of the training labels (a, b)" in unknown.skipped[0].message


def test_packing_keeps_whole_examples_and_every_graded_token(tokenizer):
    built = build_examples([{"messages": CONVERSATION}] * 5, CHAT, tokenizer, Task.CAUSAL_LM, 512)
    size = len(built.examples[0]["input_ids"])
    packed = pack_examples(built.examples, max_length=2 * size + 1)
    assert [len(sequence["input_ids"]) for sequence in packed] == [2 * size, 2 * size, size]
    assert all(sequence["position_ids"] == [*range(size)] * (len(sequence["input_ids"]) // size) for sequence in packed)
    graded = [label for example in built.examples for label in example["labels"] if label != IGNORE_INDEX]
    assert [label for sequence in packed for label in sequence["labels"] if label != IGNORE_INDEX] == graded


def test_validation_split_is_deterministic():
    items = list(range(100))
    train, held = split_validation(items, 0.1, seed=42)
    assert len(held) == 10 and sorted(train + held) == items
    assert split_validation(items, 0.1, seed=42) == (train, held)
    assert split_validation(items, 0.1, seed=7)[1] != held
    assert split_validation([1], 0.5, seed=0) == ([1], [])


def _spec(path, **extra):
    data = {"train": str(path), **extra.pop("data", {})}
    return parse_spec({"base_model": "tiny", "data": data, **extra})


def test_load_training_data_splits_and_packs(tmp_path, tokenizer):
    path = tmp_path / "qa.jsonl"
    rows = [{"question": f"What is {i}?", "answer": f"It is {i}."} for i in range(20)] + [{"question": "x", "answer": ""}]
    path.write_text("\n".join(json.dumps(row) for row in rows), encoding="utf-8")
    data = load_training_data(_spec(path, data={"validation": 0.2}), tokenizer)
    assert data.choice.format is DataFormat.INSTRUCTION and len(data.train) == 16 and len(data.eval) == 4
    assert [(p.row, p.column) for p in data.skipped] == [(21, "answer")]
    packed = load_training_data(_spec(path, training={"packing": True, "max_length": 64}), tokenizer)
    assert packed.eval is None and all(len(sequence["input_ids"]) <= 64 for sequence in packed.train)
    assert sum(sequence["position_ids"].count(0) for sequence in packed.train) == 20  # every usable row, whole


def test_load_training_data_classification_and_unseen_validation_label(tmp_path, tokenizer):
    train = tmp_path / "train.csv"
    train.write_text("review,sentiment\ngreat,pos\nawful,neg\nlovely,pos\n", encoding="utf-8")
    valid = tmp_path / "valid.csv"
    valid.write_text("review,sentiment\nfine,pos\nmeh,neutral\n", encoding="utf-8")
    spec = _spec(train, task="text-classification")
    data = load_training_data(spec, tokenizer)
    assert data.label_names == ["neg", "pos"] and [example["labels"] for example in data.train] == [1, 0, 1]
    with pytest.raises(DataError) as caught:
        load_training_data(_spec(train, task="text-classification", data={"validation": str(valid)}), tokenizer)
    assert str(caught.value).startswith("valid.csv row 3 has label 'neutral', which the training data never uses")


def test_load_training_data_without_usable_rows(tmp_path, tokenizer):
    path = tmp_path / "blank.csv"
    path.write_text('text,id\n ,1\n" ",2\n', encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_training_data(_spec(path), tokenizer)
    assert str(caught.value) == "no usable rows in blank.csv: row 2: text is empty; row 3: text is empty."


def test_template_without_system_role_gets_system_merged_into_user(tokenizer):
    tokenizer.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
        "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    built = build_examples([{"messages": CONVERSATION}], CHAT, tokenizer, Task.CAUSAL_LM, 512)
    example = built.examples[0]
    assert tokenizer.decode(example["input_ids"]).startswith("<|im_start|>user\nBe brief.\n\nWhat is the capital of France?")
    assert trained_runs(tokenizer, example) == ["Paris.<|im_end|>", "The sky is blue.<|im_end|>"]
    assert "system" in built.warnings[0]
