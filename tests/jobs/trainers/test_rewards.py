"""GRPO reward terms: each term scores what it claims, settings are checked when the spec is read, and hostile inputs
(a catastrophic regular expression, an invalid JSON schema, deeply nested JSON) are refused or bounded."""

from __future__ import annotations

import time

import pytest
import regex

from jobs.errors import SpecError
from jobs.spec import RewardTerm, parse_spec
from jobs.trainers.rewards import REGEX_TIMEOUT_SECONDS, normalize_answer, reward_functions, score_completion, score_term, term_names


def term(**settings) -> RewardTerm:
    return RewardTerm(**settings)


def grpo_spec(rewards: list[dict], **training) -> dict:
    return {"base_model": "org/model", "objective": "grpo", "data": {"train": "prompts.jsonl"},
            "training": {"batch_size": 4, **training}, "grpo": {"num_generations": 4, "rewards": rewards}}


def test_exact_match_ignores_case_spaces_and_punctuation_inside_the_tag() -> None:
    exact = term(kind="exact_match", tag="answer")
    assert score_term(exact, "Let me think. <answer> Paris. </answer>", answer="paris") == 1.0
    assert score_term(exact, "<answer>Lyon</answer>", answer="Paris") == 0.0
    assert score_term(exact, "Paris", answer="Paris") == 0.0  # no tag: nothing to compare
    assert score_term(exact, "<answer>Paris</answer>", answer=None) == 0.0
    assert score_term(term(kind="exact_match", case_sensitive=True), "paris", answer="Paris") == 0.0
    assert normalize_answer("  The  ANSWER, is: 42! ") == "the answer is 42"


def test_contains_uses_the_pattern_or_the_reference_answer() -> None:
    assert score_term(term(kind="contains", pattern="Thank you"), "well, thank you!") == 1.0
    assert score_term(term(kind="contains", pattern="Thank you", case_sensitive=True), "well, thank you!") == 0.0
    assert score_term(term(kind="contains"), "the result is 42.", answer="42") == 1.0
    assert score_term(term(kind="contains"), "the result is 41.", answer="42") == 0.0
    assert score_term(term(kind="contains"), "anything", answer=None) == 0.0


def test_regex_searches_and_honours_case() -> None:
    number = term(kind="regex", pattern=r"^\d+$", tag="answer")
    assert score_term(number, "<answer>1234</answer>") == 1.0
    assert score_term(number, "<answer>12a4</answer>") == 0.0
    assert score_term(term(kind="regex", pattern="yes"), "YES") == 1.0
    assert score_term(term(kind="regex", pattern="yes", case_sensitive=True), "YES") == 0.0


def test_json_and_json_schema() -> None:
    assert score_term(term(kind="json"), '{"a": 1}') == 1.0
    assert score_term(term(kind="json"), '```json\n{"a": [1, 2]}\n```') == 1.0
    assert score_term(term(kind="json"), "{'a': 1}") == 0.0
    schema = '{"type": "object", "required": ["name"], "properties": {"age": {"type": "integer"}}}'
    person = term(kind="json_schema", json_schema=schema)
    assert score_term(person, '{"name": "Ana", "age": 3}') == 1.0
    assert score_term(person, '{"name": "Ana", "age": "three"}') == 0.0
    assert score_term(person, '{"age": 3}') == 0.0
    assert score_term(person, "not json") == 0.0


def test_length_falls_linearly_from_the_target() -> None:
    near = term(kind="length", target_length=10)
    assert score_term(near, "x" * 10) == 1.0
    assert score_term(near, "x" * 15) == pytest.approx(0.5)
    assert score_term(near, "x" * 5) == pytest.approx(0.5)
    assert score_term(near, "x" * 40) == 0.0
    assert score_term(near, "") == 0.0


def test_format_needs_a_non_empty_tagged_answer() -> None:
    tagged = term(kind="format", tag="answer")
    assert score_term(tagged, "thinking... <answer>4</answer>") == 1.0
    assert score_term(tagged, "<answer>  </answer>") == 0.0
    assert score_term(tagged, "<answer>4") == 0.0
    assert score_term(tagged, "4") == 0.0


def test_the_shipped_grpo_example_gives_partial_credit_per_tag() -> None:
    """examples/smollm2-grpo.yaml builds the partial format reward from plain terms: a lone tag already earns something."""
    from pathlib import Path

    from jobs.spec import load_spec

    terms = load_spec(Path(__file__).resolve().parents[3] / "examples" / "smollm2-grpo.yaml").grpo.rewards
    reward = lambda text: score_completion(terms, text)["reward"]  # noqa: E731
    assert reward("The sky on Zorvath is teal.") == 0.0
    assert reward("Copy: <answer>The sky on Zorvath is") == 0.25
    assert reward("<answer></answer>") == 0.5
    assert reward("<answer>The sky on Zorvath is teal.</answer>") == 1.0


def test_weighted_sum_names_and_trl_functions() -> None:
    terms = [term(kind="format", tag="answer"), term(kind="contains", pattern="4", weight=0.5), term(kind="contains", pattern="x", weight=-1)]
    assert term_names(terms) == ["format", "contains", "contains_2"]
    scores = score_completion(terms, "<answer>4</answer>")
    assert scores == {"format": 1.0, "contains": 1.0, "contains_2": 0.0, "reward": 1.5}
    functions = reward_functions(terms)
    assert [function.__name__ for function in functions] == term_names(terms)
    chat = [[{"role": "assistant", "content": "<answer>4</answer>"}], [{"role": "assistant", "content": "x"}]]
    assert functions[0](prompts=["p", "p"], completions=chat) == [1.0, 0.0]
    assert functions[2](prompts=["p", "p"], completions=["no", "x"], answer=[None, None]) == [0.0, 1.0]


def test_catastrophic_regex_is_refused_when_the_spec_is_read() -> None:
    for pattern in ["(a+)+$", r"^(\w+\s?)*$", "(x*y*)*z", "(.*a){12}"]:
        with pytest.raises(SpecError) as error:
            parse_spec(grpo_spec([{"kind": "regex", "pattern": pattern}]))
        assert error.value.problems == [error.value.problems[0]]
        assert "grpo.rewards.0" in error.value.problems[0] and "repeats a group" in error.value.problems[0]


def test_slow_regex_that_passes_the_check_is_stopped_by_the_time_limit() -> None:
    pattern, text = r"^(a+)\1*b", "a" * 20_000
    with pytest.raises(TimeoutError):  # hostile indeed: it runs past the limit (terms match ignoring case by default)
        regex.compile(pattern, regex.IGNORECASE).search(text, timeout=REGEX_TIMEOUT_SECONDS)
    started = time.perf_counter()
    assert score_term(term(kind="regex", pattern=pattern), text) == 0.0
    assert time.perf_counter() - started < 2.0


def test_invalid_regex_and_schema_get_one_sentence() -> None:
    problems = {}
    for name, reward in {"regex": {"kind": "regex", "pattern": "(["},
                         "json": {"kind": "json_schema", "json_schema": "{bad"},
                         "schema": {"kind": "json_schema", "json_schema": '{"type": "nope"}'},
                         "list": {"kind": "json_schema", "json_schema": "[1, 2]"}}.items():
        with pytest.raises(SpecError) as error:
            parse_spec(grpo_spec([reward]))
        assert len(error.value.problems) == 1
        problems[name] = error.value.problems[0]
    assert "not a valid regular expression" in problems["regex"]
    assert "json_schema is not valid JSON (line 1, column 2" in problems["json"]
    assert "not a valid JSON schema at type" in problems["schema"]
    assert "must be a JSON object" in problems["list"]


def test_hostile_json_answers_score_zero_without_crashing() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    assert score_term(term(kind="json"), deep) == 0.0
    assert score_term(term(kind="json_schema", json_schema='{"type": "array"}'), deep) == 0.0
    assert score_term(term(kind="json"), "") == 0.0


@pytest.mark.parametrize(("reward", "needle"), [
    ({"kind": "regex"}, "needs a pattern"),
    ({"kind": "json_schema"}, "needs json_schema"),
    ({"kind": "length"}, "needs target_length"),
    ({"kind": "format"}, "needs a tag"),
    ({"kind": "format", "tag": "<answer>"}, "grpo.rewards.0.tag"),
])
def test_each_kind_requires_its_settings(reward: dict, needle: str) -> None:
    with pytest.raises(SpecError) as error:
        parse_spec(grpo_spec([reward]))
    assert needle in error.value.problems[0]
