"""jobs.data.formats: each format is detected from common column names, and a user mapping wins."""

from __future__ import annotations

import pytest

from jobs.data.formats import FormatChoice, resolve_format
from jobs.errors import DataError
from jobs.spec import DataFormat, Task

AUTO = DataFormat.AUTO


def test_detects_text():
    choice = resolve_format([{"text": "hello", "id": 1}], AUTO, {}, Task.CAUSAL_LM)
    assert choice == FormatChoice(DataFormat.TEXT, {"text": "text"})


def test_single_column_of_any_name_is_text():
    assert resolve_format([{"tweet_body": "hi"}], AUTO, {}, Task.CAUSAL_LM).mapping == {"text": "tweet_body"}


def test_detects_instruction_alpaca_style():
    records = [{"instruction": "Add", "input": "1 and 2", "output": "3"}]
    choice = resolve_format(records, AUTO, {}, Task.CAUSAL_LM)
    assert choice.format is DataFormat.INSTRUCTION
    assert choice.mapping == {"prompt": "instruction", "response": "output", "input": "input"}


def test_detects_instruction_question_answer_ignoring_case():
    choice = resolve_format([{"Question": "q", "Answer": "a"}], AUTO, {}, Task.CAUSAL_LM)
    assert choice == FormatChoice(DataFormat.INSTRUCTION, {"prompt": "Question", "response": "Answer"})


def test_detects_chat_and_sharegpt():
    chat = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}]
    share = [{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}]
    assert resolve_format(chat, AUTO, {}, Task.CAUSAL_LM) == FormatChoice(DataFormat.CHAT, {"messages": "messages"})
    assert resolve_format(share, AUTO, {}, Task.CAUSAL_LM) == FormatChoice(DataFormat.CHAT, {"messages": "conversations"})


def test_classification_for_the_classification_task():
    choice = resolve_format([{"review": "great", "sentiment": "pos"}], AUTO, {}, Task.TEXT_CLASSIFICATION)
    assert choice == FormatChoice(DataFormat.CLASSIFICATION, {"text": "review", "label": "sentiment"})
    pair = resolve_format([{"sentence1": "a", "sentence2": "b", "label": 0}], AUTO, {}, Task.TEXT_CLASSIFICATION)
    assert pair.mapping == {"text": "sentence1", "label": "label", "text_pair": "sentence2"}


def test_user_mapping_overrides_detection():
    records = [{"question": "q", "answer": "a", "body": "long answer"}]
    choice = resolve_format(records, AUTO, {"response": "body"}, Task.CAUSAL_LM)
    assert choice == FormatChoice(DataFormat.INSTRUCTION, {"prompt": "question", "response": "body"})
    forced = resolve_format(records, DataFormat.TEXT, {"text": "body"}, Task.CAUSAL_LM)
    assert forced == FormatChoice(DataFormat.TEXT, {"text": "body"})


def test_mapped_column_missing_lists_the_columns():
    with pytest.raises(DataError) as caught:
        resolve_format([{"q": "x", "a": "y"}], AUTO, {"prompt": "question"}, Task.CAUSAL_LM, source="qa.csv")
    assert str(caught.value) == "column 'question' (mapped to prompt) is not in qa.csv; the columns are: q, a."


def test_nothing_fits_says_what_to_map():
    with pytest.raises(DataError) as caught:
        resolve_format([{"q": "x", "a": "y"}], AUTO, {}, Task.CAUSAL_LM, source="qa.csv")
    message = str(caught.value)
    assert message.startswith("cannot tell how to use the columns of qa.csv (q, a); map them")
    assert "{prompt: <column>, response: <column>}" in message


def test_forced_format_missing_role():
    with pytest.raises(DataError) as caught:
        resolve_format([{"review": "x"}], DataFormat.CLASSIFICATION, {}, Task.TEXT_CLASSIFICATION, source="r.csv")
    assert str(caught.value).startswith("r.csv has no label column for the classification format (columns found: review)")


def test_unknown_role_in_mapping():
    with pytest.raises(DataError, match="unknown role 'answer'"):
        resolve_format([{"a": "x"}], AUTO, {"answer": "a"}, Task.CAUSAL_LM)
