"""Data and spec of the objectives beyond sft: preference pairs, kto feedback and grpo prompts are detected, read row by
row with row-numbered problems, turned into TRL rows, and the spec refuses combinations TRL cannot train."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jobs.data import inspect_dataset, resolve_format
from jobs.data.preference import load_objective_data, trl_rows
from jobs.data.rows import row_fields
from jobs.errors import DataError, SpecError
from jobs.spec import DataFormat, Objective, Task, parse_spec
from tests.files import write_jsonl
from webui.spec_form import objective_sections, schema_fields, spec_to_values, values_to_spec

PAIRS = [{"prompt": f"Question {n}?", "chosen": f"Good answer {n}.", "rejected": f"Bad answer {n}."} for n in range(6)]


def _file_row(prompt: str | list[dict[str, str]]) -> int:
    """The file row a TRL row came from: ``Question n?`` is PAIRS[n], row n + 2 of the file (row 1 is the skipped pair)."""
    text = prompt[-1]["content"] if isinstance(prompt, list) else prompt
    found = re.search(r"Question (\d+)\?", text)
    assert found is not None, text
    return int(found.group(1)) + 2


class PlainTokenizer:
    """No chat template: prompts are rendered in the plain layout sft uses."""

    chat_template = None
    eos_token = "</s>"

    def apply_chat_template(self, messages, chat_template=None, tokenize=False, add_generation_prompt=False):
        from jinja2 import Template

        return Template(chat_template).render(messages=messages, add_generation_prompt=add_generation_prompt, eos_token=self.eos_token)

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [ord(char) for char in text]}

    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(value) for value in ids)


def test_detection_of_preference_feedback_and_chat_pairs() -> None:
    assert resolve_format(PAIRS).format is DataFormat.PREFERENCE
    assert resolve_format(PAIRS).mapping == {"chosen": "chosen", "rejected": "rejected", "prompt": "prompt"}
    renamed = [{"question": "q", "preferred": "a", "worse": "b"}]
    assert resolve_format(renamed).mapping == {"chosen": "preferred", "rejected": "worse", "prompt": "question"}
    feedback = [{"prompt": "q", "completion": "a", "label": value} for value in (True, False, "yes", 0)]
    assert resolve_format(feedback).format is DataFormat.FEEDBACK
    graded = [{"prompt": "q", "completion": "a", "label": "excellent"}]  # not a yes/no label: stays instruction data for sft
    assert resolve_format(graded).format is DataFormat.INSTRUCTION
    chat = [{"chosen": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello!"}],
             "rejected": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "go away"}]}]
    choice = resolve_format(chat)
    assert choice.format is DataFormat.PREFERENCE
    fields = row_fields(chat[0], choice)
    assert fields["prompt_messages"] == [{"role": "user", "content": "hi"}]
    assert (fields["chosen"], fields["rejected"]) == ("hello!", "go away")
    assert resolve_format([{"prompt": "q", "answer": "a"}], DataFormat.PROMPTS).mapping == {"prompt": "prompt", "reference": "answer"}
    with pytest.raises(DataError, match="needs the classification format, not preference"):
        resolve_format(PAIRS, DataFormat.PREFERENCE, task=Task.TEXT_CLASSIFICATION)


def test_row_numbered_problems_in_the_data_tab(tmp_path: Path) -> None:
    rows = [
        PAIRS[0],
        {"prompt": "Same?", "chosen": "Yes  it is.", "rejected": "Yes it is."},
        {"prompt": "  ", "chosen": "a", "rejected": "b"},
        {"prompt": "Empty answer", "chosen": "a", "rejected": ""},
        {"chosen": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
         "rejected": [{"role": "user", "content": "hey"}, {"role": "assistant", "content": "bye"}], "prompt": "x"},
    ]
    report = inspect_dataset(write_jsonl(tmp_path / "pairs.jsonl", rows))
    assert report.format is DataFormat.PREFERENCE
    assert report.usable_rows == 1
    problems = {problem.row: problem for problem in report.problems}
    assert "rejected is the same answer as chosen" in problems[2].message and problems[2].column == "rejected"
    assert problems[3].message == "prompt is empty"
    assert problems[4].message == "rejected is empty"
    assert "differs from the chosen one before the last answer" in problems[5].message


def test_feedback_labels_and_missing_prompt_column(tmp_path: Path) -> None:
    choice = resolve_format([{"prompt": "q", "completion": "a", "label": True}])
    assert row_fields({"prompt": "q", "completion": "a", "label": "👎"}, choice)["label"] is False
    report = inspect_dataset(write_jsonl(tmp_path / "kto.jsonl", [{"prompt": "q", "completion": "a", "label": True},
                                                                   {"prompt": "q", "completion": "b", "label": "maybe"}]),
                             format=DataFormat.FEEDBACK)
    assert [(problem.row, problem.column) for problem in report.problems] == [(2, "label")]
    assert "use true or false" in report.problems[0].message
    no_prompt = resolve_format([{"chosen": "a", "rejected": "b"}])
    with pytest.raises(Exception, match="each row needs a prompt"):
        row_fields({"chosen": "a", "rejected": "b"}, no_prompt)


def test_trl_rows_plain_layout_and_kto_unpairing() -> None:
    choice = resolve_format(PAIRS)
    fields = row_fields(PAIRS[1], choice)
    plain = PlainTokenizer()
    dpo = trl_rows(fields, choice.format, Objective.DPO, plain)
    assert dpo == [{"prompt": "### User:\nQuestion 1?\n\n### Assistant:\n", "chosen": "Good answer 1.", "rejected": "Bad answer 1."}]
    kto = trl_rows(fields, choice.format, Objective.KTO, plain)
    assert [(row["completion"], row["label"]) for row in kto] == [("Good answer 1.", True), ("Bad answer 1.", False)]
    long = row_fields({"prompt": "0123456789", "chosen": "a", "rejected": "b"}, choice)
    assert trl_rows(long, choice.format, Objective.DPO, plain, max_prompt_length=4)[0]["prompt"].startswith("### User:\n6789\n")


def test_load_objective_data_splits_and_checks_the_answer_column(tmp_path: Path, tiny_llama: Path) -> None:
    from jobs.models import load_tokenizer, resolve_model

    tokenizer = load_tokenizer(resolve_model(str(tiny_llama), task=Task.CAUSAL_LM))
    data_file = write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "p", "chosen": "same", "rejected": "same"}] + PAIRS)
    spec = parse_spec({"base_model": str(tiny_llama), "objective": "dpo", "data": {"train": str(data_file), "validation": 0.34}})
    data = load_objective_data(spec, tokenizer)
    assert (len(data.train), len(data.eval), data.train_rows) == (4, 2, 4)
    assert [problem.row for problem in data.skipped] == [1]
    assert data.train[0]["prompt"][-1]["role"] == "user" and data.train[0]["chosen"][0]["role"] == "assistant"
    trained = [_file_row(row["prompt"]) for row in data.train]
    held_out = [_file_row(row["prompt"]) for row in data.eval]
    assert data.eval_rows == held_out  # each held-out row is named by its row number in the file
    assert set(trained).isdisjoint(held_out) and sorted(trained + held_out) == [2, 3, 4, 5, 6, 7]  # row 1 was skipped
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": "2+2?"}])
    grpo = parse_spec({"base_model": str(tiny_llama), "objective": "grpo", "data": {"train": str(prompts)}, "training": {"batch_size": 4},
                       "grpo": {"rewards": [{"kind": "exact_match"}]}})
    with pytest.raises(DataError, match="exact_match compares with a reference answer, but prompts.jsonl has no answer column"):
        load_objective_data(grpo, tokenizer)


@pytest.mark.parametrize(("changes", "needle"), [
    ({"method": "prompt-tuning"}, "method prompt-tuning is not available for objective dpo"),
    ({"training": {"packing": True}}, "training.packing applies to objective sft only"),
    ({"data": {"train": "x.jsonl", "format": "instruction"}}, "data.format instruction does not fit objective dpo; use auto or preference"),
    ({"task": "text-classification"}, "objective dpo applies to task causal-lm only"),
    ({"preference": {"loss_type": "kto"}}, "preference.loss_type kto is not a dpo loss"),
    ({"objective": "sft", "data": {"train": "x.jsonl", "format": "preference"}}, "data.format preference needs objective dpo"),
    ({"objective": "grpo", "grpo": {"rewards": []}}, "grpo.rewards is empty"),
    ({"objective": "kto", "training": {"batch_size": 1}}, "objective kto needs training.batch_size of at least 2"),
    ({"preference": {"max_prompt_length": 600}}, "preference.max_prompt_length (600) must be below training.max_length (512)"),
    ({"objective": "grpo", "training": {"batch_size": 6}, "grpo": {"num_generations": 4, "rewards": [{"kind": "json"}]}},
     "(6) must be a multiple of grpo.num_generations (4)"),
])
def test_spec_refuses_what_trl_cannot_train(changes: dict, needle: str) -> None:
    spec = {"base_model": "org/model", "objective": "dpo", "data": {"train": "x.jsonl"}}
    spec.update(changes)
    with pytest.raises(SpecError) as error:
        parse_spec(spec)
    assert any(needle in problem for problem in error.value.problems), error.value.problems


def test_form_sections_and_reward_list_round_trip() -> None:
    assert objective_sections("dpo") == {"preference"} and objective_sections("kto") == {"preference"}
    assert objective_sections("grpo") == {"grpo"} and objective_sections("sft") == set()
    fields = schema_fields()
    spec = parse_spec({"base_model": "org/model", "objective": "grpo", "data": {"train": "x.jsonl"}, "training": {"batch_size": 4},
                       "grpo": {"rewards": [{"kind": "format", "tag": "answer"}, {"kind": "regex", "pattern": "^\\d+$", "weight": 0.5}]}})
    values = spec_to_values(fields, spec)
    rewards_box = values[[field.path for field in fields].index("grpo.rewards")]
    assert "kind: format" in rewards_box and "pattern: ^\\d+$" in rewards_box
    again = parse_spec(values_to_spec(fields, values, base_model="org/model", train="x.jsonl", columns={}))
    assert again.grpo.rewards == spec.grpo.rewards and again.objective is Objective.GRPO
