"""The ``grpo:`` section: sampling settings and the reward terms built in the form, each checked when the spec is.

A term's settings must fit its kind (:func:`check_term`): a regex term needs a pattern that compiles and has no nested
repetition (``(a+)+``, which can take exponential time), a json_schema term a schema that is valid JSON Schema.
:mod:`jobs.trainers.rewards` scores completions with the same compiled patterns and validators.

    compile_pattern("^[0-9]+$", case_sensitive=False).search("42")   # a match
"""

from __future__ import annotations

import json
from enum import Enum
from functools import lru_cache
from typing import Any

import regex
from pydantic import Field, model_validator

from jobs.spec.base import SpecModel

_NESTED_QUANTIFIER = regex.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)[+*{]")
"""A group that holds a quantifier and is itself quantified, e.g. (a+)+ or (\\w*x)*: the shape of catastrophic backtracking."""


class RewardKind(str, Enum):
    """grpo: what one reward term checks in a completion (each scores 0 to 1)."""

    EXACT_MATCH = "exact_match"
    CONTAINS = "contains"
    REGEX = "regex"
    JSON = "json"
    JSON_SCHEMA = "json_schema"
    LENGTH = "length"
    FORMAT = "format"


class RewardTerm(SpecModel):
    """grpo: one reward term; the reward of a completion is the weighted sum of its terms (see :mod:`jobs.trainers.rewards`)."""

    kind: RewardKind = Field(description="exact_match (equals the reference answer after normalising case, spaces and punctuation), "
                             "contains (a text), regex (a regular expression), json (valid JSON), json_schema (JSON valid against "
                             "a schema), length (near a target length) or format (the answer wrapped in <tag>...</tag>).")
    weight: float = Field(default=1.0, ge=-10, le=10, description="How much this term counts (negative: a penalty).")
    pattern: str | None = Field(default=None, max_length=500, description="contains: the text to find; regex: the regular expression "
                                "to match (searched anywhere, limited to simple patterns).")
    json_schema: str | None = Field(default=None, max_length=20000, description="json_schema: the JSON schema the answer must "
                                    "satisfy, pasted as JSON.")
    target_length: int | None = Field(default=None, ge=1, le=100000, description="length: the ideal answer length in characters "
                                      "(the reward falls linearly to 0 at twice or zero that length).")
    tag: str | None = Field(default=None, max_length=40, pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", description="format: the tag the "
                            "answer must be wrapped in, e.g. answer for <answer>...</answer>; other kinds: score only the text "
                            "inside that tag (empty: the whole completion).")
    case_sensitive: bool = Field(default=False, description="contains, regex and exact_match: tell upper and lower case apart.")

    @model_validator(mode="after")
    def _settings_fit_the_kind(self) -> RewardTerm:
        check_term(self)
        return self


class GrpoSpec(SpecModel):
    """grpo: reinforcement learning from rewards built in the form (see :mod:`jobs.trainers.grpo`)."""

    num_generations: int = Field(default=4, ge=2, le=64, description="Completions sampled per prompt and compared with each other; "
                                 "training.batch_size x gradient_accumulation must be a multiple of it.")
    max_completion_length: int = Field(default=128, ge=1, le=32768, description="The longest completion sampled, in tokens.")
    temperature: float = Field(default=1.0, gt=0, le=2, description="Sampling temperature of the completions (higher: more varied).")
    beta: float = Field(default=0.0, ge=0, le=10, description="Weight of the KL penalty that keeps the model near the base "
                        "(0: none, and no reference model is needed).")
    rewards: list[RewardTerm] = Field(default_factory=list, max_length=16, description="The reward terms, each with a weight; "
                                      "the reward of a completion is their weighted sum.")


def check_term(term: RewardTerm) -> None:
    """Raise ValueError with one sentence when a term's settings do not fit its kind (a refused regex or schema included)."""
    kind = term.kind
    if kind is RewardKind.REGEX:
        if not term.pattern:
            raise ValueError("kind regex needs a pattern, e.g. ^\\d+$")
        compile_pattern(term.pattern, term.case_sensitive)
    if kind is RewardKind.JSON_SCHEMA:
        if not term.json_schema or not term.json_schema.strip():
            raise ValueError('kind json_schema needs json_schema, e.g. {"type": "object", "required": ["name"]}')
        schema_validator(term.json_schema)
    if kind is RewardKind.LENGTH and term.target_length is None:
        raise ValueError("kind length needs target_length, the ideal answer length in characters")
    if kind is RewardKind.FORMAT and not term.tag:
        raise ValueError("kind format needs a tag, e.g. answer for <answer>...</answer>")


@lru_cache(maxsize=64)
def compile_pattern(pattern: str, case_sensitive: bool) -> Any:
    """A regex term's pattern compiled (case folded unless ``case_sensitive``); ValueError for a nested repetition or a bad pattern."""
    if _NESTED_QUANTIFIER.search(pattern):
        raise ValueError(f"pattern {pattern[:60]!r} repeats a group that itself repeats (like (a+)+), which can take forever on "
                         "some answers; write it without the nested repetition")
    try:
        return regex.compile(pattern, 0 if case_sensitive else regex.IGNORECASE)
    except regex.error as error:
        raise ValueError(f"pattern {pattern[:60]!r} is not a valid regular expression ({error}); fix it or use kind contains") from None


@lru_cache(maxsize=64)
def schema_validator(schema_text: str) -> Any:
    """A json_schema term's validator (``jsonschema``); ValueError naming the problem when the text is not a valid JSON schema."""
    import jsonschema

    try:
        schema = json.loads(schema_text)
    except json.JSONDecodeError as error:
        raise ValueError(f"json_schema is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); paste the schema "
                         "as JSON") from None
    if not isinstance(schema, (dict, bool)):
        raise ValueError('json_schema must be a JSON object, e.g. {"type": "object"}')
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as error:
        where = "/".join(str(part) for part in error.path) or "the top level"
        raise ValueError(f"json_schema is not a valid JSON schema at {where}: {error.message}") from None
    return cls(schema)
