"""The loss mask of each family's real chat template: exactly the assistant tokens, the end-of-turn token included and the
turn header excluded, for a two-turn conversation with a system message; Qwen3's and SmolLM3's thinking switch."""

from __future__ import annotations

import pytest

from jobs.data.chat import generation_prompt, render_chat, template_options
from jobs.data.examples import build_examples, trained_token_spans
from jobs.data.formats import FormatChoice
from jobs.errors import DataError
from jobs.evaluation.text import visible_answer
from jobs.spec import DataFormat, Task
from tests.jobs.data.chat_families import FAMILIES, family_tokenizer

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And of Italy?"},
    {"role": "assistant", "content": "Rome."},
]
END = {"llama3": "<|eot_id|>", "qwen2": "<|im_end|>", "qwen3": "<|im_end|>", "gemma3": "<end_of_turn>", "gemma2": "<end_of_turn>",
       "phi3": "<|end|>", "mistral": "</s>", "smollm3": "<|im_end|>"}
EMPTY_THINK = "<think>\n\n</think>\n\n"


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return {name: family_tokenizer(name, tmp_path_factory.mktemp(name)) for name in FAMILIES}


def runs(tokenizer: object, messages: list[dict[str, str]], thinking: str = "auto") -> list[tuple[str, bool]]:
    return trained_token_spans({"messages": messages}, DataFormat.CHAT, tokenizer, 4096, thinking=thinking)


def trained(spans: list[tuple[str, bool]]) -> list[str]:
    return [text for text, is_trained in spans if is_trained]


@pytest.mark.parametrize("name", list(FAMILIES))
def test_exactly_the_assistant_turns_and_their_end_of_turn_are_trained(tokenizers: dict[str, object], name: str) -> None:
    tokenizer = tokenizers[name]
    spans = runs(tokenizer, CONVERSATION)
    first, last = "Paris." + END[name], "Rome." + END[name]
    if name == "qwen3":  # the template gives the last turn an empty think block, which the model then writes
        last = EMPTY_THINK + last
    assert trained(spans) == [first, last]
    warnings: list[str] = []
    assert "".join(text for text, _ in spans) == render_chat(tokenizer, CONVERSATION, warnings)[0]  # every token shown once
    assert ("Be brief." in "".join(text for text, _ in spans)) is (name != "mistral")
    assert any("system message" in warning for warning in warnings) is (name in ("mistral", "gemma2"))


def test_systemless_templates_fold_the_system_text_into_the_first_user_turn(tokenizers: dict[str, object]) -> None:
    for name in ("gemma3", "gemma2"):
        prompt = runs(tokenizers[name], CONVERSATION)[0][0]
        assert prompt.endswith("<start_of_turn>user\nBe brief.\n\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n")
    # Mistral shows the system text only in the last user turn of a prompt: a training conversation (ending with an answer)
    # has none, the prompt the model answers from has it
    assert runs(tokenizers["mistral"], CONVERSATION)[2][0] == "[INST]And of Italy?[/INST]"
    assert generation_prompt(tokenizers["mistral"], CONVERSATION[:-1]).endswith("[INST]Be brief.\n\nAnd of Italy?[/INST]")


def test_phi3_trains_its_end_of_turn_not_the_eos_after_the_last_turn(tokenizers: dict[str, object]) -> None:
    spans = runs(tokenizers["phi3"], CONVERSATION)
    assert spans[-1] == ("\n<|endoftext|>", False)


def test_qwen3_thinking_off_puts_the_empty_think_block_in_the_prompt(tokenizers: dict[str, object]) -> None:
    spans = runs(tokenizers["qwen3"], CONVERSATION, "off")
    assert trained(spans) == ["Paris.<|im_end|>", "Rome.<|im_end|>"]
    assert spans[-3][0].endswith("<|im_start|>assistant\n" + EMPTY_THINK)
    prompt = generation_prompt(tokenizers["qwen3"], CONVERSATION[:-1], "off")
    assert prompt.endswith("<|im_start|>assistant\n" + EMPTY_THINK)


@pytest.mark.parametrize("reasoning", ["field", "inline"])
def test_qwen3_thinking_on_trains_the_last_turns_reasoning(tokenizers: dict[str, object], reasoning: str) -> None:
    answer = ({"role": "assistant", "content": "Rome.", "reasoning_content": "Italy's capital."} if reasoning == "field"
              else {"role": "assistant", "content": "<think>Italy's capital.</think>Rome."})
    messages = [*CONVERSATION[:-1], answer]
    assert trained(runs(tokenizers["qwen3"], messages, "on")) == [
        "Paris.<|im_end|>", "<think>\nItaly's capital.\n</think>\n\nRome.<|im_end|>"]
    assert trained(runs(tokenizers["qwen3"], messages, "off")) == ["Paris.<|im_end|>", "Rome.<|im_end|>"]


def test_smollm3_thinking_switch(tokenizers: dict[str, object]) -> None:
    tokenizer = tokenizers["smollm3"]
    off = runs(tokenizer, CONVERSATION, "off")
    assert trained(off) == ["Paris.<|im_end|>", "Rome.<|im_end|>"]
    assert off[0][0].endswith("<|im_start|>assistant\n<think>\n\n</think>\n") and "Reasoning Mode: /no_think" in off[0][0]
    thought = [*CONVERSATION[:-1], {"role": "assistant", "content": "Rome.", "reasoning_content": "Italy."}]
    assert trained(runs(tokenizer, thought, "on"))[-1] == "<think>\nItaly.\n</think>\nRome.<|im_end|>"


def test_the_report_compares_answers_without_their_think_block() -> None:
    assert visible_answer("<think>\nItaly.\n</think>\n\nRome.") == "Rome."
    assert visible_answer("<think>\nstill thinking") == "<think>\nstill thinking" and visible_answer(" Rome. ") == "Rome."


def test_thinking_is_refused_for_templates_without_the_switch(tokenizers: dict[str, object]) -> None:
    assert template_options(tokenizers["qwen3"], "off") == {"enable_thinking": False}
    assert template_options(tokenizers["qwen2"], "auto") == {}
    with pytest.raises(DataError, match="no thinking switch"):
        template_options(tokenizers["qwen2"], "on")


def test_instruction_rows_take_a_reasoning_column(tokenizers: dict[str, object]) -> None:
    choice = FormatChoice(DataFormat.INSTRUCTION, {"prompt": "q", "response": "a", "reasoning": "why"})
    built = build_examples([{"q": "Capital of Italy?", "a": "Rome.", "why": "It is Rome."}], choice, tokenizers["qwen3"],
                           Task.CAUSAL_LM, 256, thinking="on")
    labels = [token for token in built.examples[0]["labels"] if token != -100]
    assert tokenizers["qwen3"].decode(labels) == "<think>\nIt is Rome.\n</think>\n\nRome.<|im_end|>"
