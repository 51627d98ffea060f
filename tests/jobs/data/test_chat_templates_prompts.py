"""The same template everywhere: for every family and thinking setting, the prompt the report generates from (the tokens
before a held-out row's first graded token) and the Playground's prompt for the same conversation are the training
prefix of that row, token for token."""

from __future__ import annotations

import pytest

from jobs.data.examples import build_examples
from jobs.data.formats import FormatChoice
from jobs.evaluation.text import split_prompt_and_answer
from jobs.inference.text import LoadedModel, _prompt_ids
from jobs.spec import DataFormat, Task
from tests.jobs.data.chat_families import FAMILIES, family_tokenizer

CASES = [(name, "auto") for name in FAMILIES] + [("qwen3", "off"), ("qwen3", "on"), ("smollm3", "off"), ("smollm3", "on")]


@pytest.mark.parametrize(("family", "thinking"), CASES)
def test_report_and_playground_prompts_are_the_training_prefix(tmp_path_factory: pytest.TempPathFactory, family: str,
                                                               thinking: str) -> None:
    tokenizer = family_tokenizer(family, tmp_path_factory.mktemp(family))
    system = [] if family == "mistral" else [{"role": "system", "content": "Be brief."}]  # Mistral trains without it (warned)
    question = [*system, {"role": "user", "content": "What is the capital of France?"}]
    row = {"messages": [*question, {"role": "assistant", "content": "Paris."}]}
    built = build_examples([row], FormatChoice(DataFormat.CHAT, {"messages": "messages"}), tokenizer, Task.CAUSAL_LM, 512,
                           thinking=thinking)
    prefix, answer = split_prompt_and_answer(built.examples[0])
    loaded = LoadedModel(None, tokenizer, Task.CAUSAL_LM, None, True, "", thinking)  # type: ignore[arg-type]
    assert _prompt_ids(loaded, question)[0].tolist() == prefix
    assert tokenizer.decode(answer).endswith("Paris." + {"phi3": "<|end|>", "mistral": "</s>", "llama3": "<|eot_id|>"}.get(
        family, "<end_of_turn>" if family.startswith("gemma") else "<|im_end|>"))
