"""User patterns are matched with a time limit: a json_schema term's "pattern" that backtracks catastrophically under Python's
``re`` (``^(\\w+\\s?)*$`` on a long word that ends in "!") scores 0 at once, and the reward preview scores in a process of its
own, which is killed when it runs out of time."""

from __future__ import annotations

import json
import time

import pytest

from jobs.errors import AdaptaError
from jobs.spec import RewardTerm
from jobs.trainers.rewards import score_completions, score_in_worker, score_term

CATASTROPHIC = "^(\\w+\\s?)*$"
LONG_WORD = '"' + "a" * 25 + '!"'  # Python's re needs ~10 s (doubling with each letter) to reject it


def schema_term(schema: dict) -> RewardTerm:
    return RewardTerm(kind="json_schema", json_schema=json.dumps(schema))


def test_a_catastrophic_schema_pattern_is_rejected_at_once() -> None:
    term = schema_term({"type": "string", "pattern": CATASTROPHIC})
    started = time.perf_counter()
    assert score_term(term, LONG_WORD) == 0.0
    assert time.perf_counter() - started < 2.0
    assert score_term(term, '"planets are round"') == 1.0


def test_pattern_properties_are_bounded_too() -> None:
    term = schema_term({"type": "object", "patternProperties": {CATASTROPHIC: {"type": "integer"}, "^x": {"type": "integer"}}})
    started = time.perf_counter()
    assert score_term(term, json.dumps({"a" * 25 + "!": "text", "xy": 1})) == 1.0
    assert score_term(term, json.dumps({"xy": "not a number"})) == 0.0
    assert time.perf_counter() - started < 2.0


def test_scoring_in_a_worker_matches_and_is_killed_past_its_time() -> None:
    terms = [schema_term({"type": "string", "pattern": CATASTROPHIC}), RewardTerm(kind="contains", pattern="round", weight=0.5)]
    items = [(LONG_WORD, None), ('"planets are round"', "yes")]
    assert score_in_worker(terms, items) == score_completions(terms, items)
    with pytest.raises(AdaptaError, match="took more than 0 seconds and was stopped"):
        score_in_worker(terms, items, limit_s=0.01)
