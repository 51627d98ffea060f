"""``data.thinking`` reaches the preference objectives as it reaches sft: the rows TRL renders (dpo, orpo, kto) carry the
template options, so a Qwen3 pair trained with thinking off has the empty think block in its prompt, shared by the chosen
and the rejected answer, exactly as sft renders the same conversation."""

from __future__ import annotations

from pathlib import Path

import pytest
from trl.data_utils import apply_chat_template

from jobs.data.chat import render_chat
from jobs.data.preference import prompt_text, trl_rows
from jobs.errors import DataError
from jobs.spec import DataFormat, Objective
from tests.jobs.data.chat_families import family_tokenizer

FIELDS = {"prompt_messages": [{"role": "user", "content": "Name a planet."}], "chosen": "Mars.", "rejected": "The Sun."}
EMPTY_THINK = "<think>\n\n</think>\n\n"


@pytest.fixture(scope="module")
def qwen3(tmp_path_factory: pytest.TempPathFactory):
    return family_tokenizer("qwen3", tmp_path_factory.mktemp("qwen3"))


def sft_text(tokenizer, answer: str, thinking: str) -> str:
    return render_chat(tokenizer, [*FIELDS["prompt_messages"], {"role": "assistant", "content": answer}], [], thinking)[0]


def test_a_pair_trained_with_thinking_off_is_rendered_as_sft_renders_it(qwen3) -> None:
    [row] = trl_rows(FIELDS, DataFormat.PREFERENCE, Objective.DPO, qwen3, thinking="off")
    rendered = apply_chat_template(row, qwen3)  # ORPO and KTO render each row so; DPO tokenizes with the same row kwargs
    assert rendered["prompt"].endswith("<|im_start|>assistant\n" + EMPTY_THINK)
    assert "<think>" not in rendered["chosen"] and "<think>" not in rendered["rejected"]
    assert rendered["prompt"] + rendered["chosen"] == sft_text(qwen3, "Mars.", "off")
    assert rendered["prompt"] + rendered["rejected"] == sft_text(qwen3, "The Sun.", "off")
    assert rendered["prompt"] == prompt_text(FIELDS, qwen3, thinking="off")  # the report scores the same prompt


def test_kto_rows_carry_the_switch_and_auto_leaves_the_template_default(qwen3) -> None:
    good, bad = trl_rows(FIELDS, DataFormat.PREFERENCE, Objective.KTO, qwen3, thinking="off")
    for row in (good, bad):
        assert apply_chat_template(row, qwen3)["prompt"].endswith(EMPTY_THINK)
    [auto] = trl_rows(FIELDS, DataFormat.PREFERENCE, Objective.DPO, qwen3)
    assert "chat_template_kwargs" not in auto
    assert apply_chat_template(auto, qwen3)["prompt"].endswith("<|im_start|>assistant\n")


def test_thinking_off_for_a_template_without_the_switch_is_refused(tmp_path: Path) -> None:
    llama3 = family_tokenizer("llama3", tmp_path)
    with pytest.raises(DataError, match="no thinking switch"):
        trl_rows(FIELDS, DataFormat.PREFERENCE, Objective.DPO, llama3, thinking="off")
