"""GRPO reward terms built in the form: each term is a small function that scores one completion from 0 to 1.

The spec lists terms (:class:`jobs.spec.RewardTerm`); the reward of a completion is the weighted sum of its terms'
scores. Every term can look at the whole completion or, with ``tag``, only at the text inside ``<tag>...</tag>``.

- exact_match: the answer equals the row's reference answer after :func:`normalize_answer`.
- contains: the answer contains ``pattern`` (or, without a pattern, the row's reference answer).
- regex: ``pattern`` matches somewhere in the answer. Patterns with nested quantifiers (``(a+)+``), which can take
  exponential time, are refused when the spec is checked (:func:`jobs.spec.rewards.check_term`), and every match runs under
  :data:`REGEX_TIMEOUT_SECONDS`.
- json / json_schema: the answer parses as JSON (code fences allowed) / and is valid against the pasted schema. The
  schema's ``pattern`` and ``patternProperties`` are matched with the same bounded engine as regex terms (``regex``,
  :data:`REGEX_TIMEOUT_SECONDS` per match, the GIL released), never with Python's ``re`` (which ``jsonschema`` uses and
  which can backtrack for minutes on ``^(\\w+\\s?)*$``, holding the GIL); a match that runs out of time fails validation.
- length: 1 at ``target_length`` characters, falling linearly to 0 at 0 or twice the target.
- format: the completion holds ``<tag>...</tag>`` with a non-empty answer inside.

Partial credit for a format, for a model that writes the tags only now and then (GRPO learns nothing from a group whose
completions all score the same): add a ``contains`` term per tag next to the ``format`` term, e.g. ``<answer>`` x 0.25,
``</answer>`` x 0.25 and ``format`` x 0.5, so a lone opening tag already beats a plain answer (examples/smollm2-grpo.yaml).

    scores = score_completion(spec.grpo.rewards, "<answer>4</answer>", answer="4")   # {"format": 1.0, ...}

The web server scores its reward preview in a separate process with a time limit (:func:`score_in_worker`, which runs
``python -m jobs.trainers.rewards`` with the terms and completions as JSON on stdin), so a slow pattern never holds
the server's interpreter.
"""

from __future__ import annotations

import json
import os
import sys
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from typing import Any

import regex

from jobs.spec.rewards import RewardKind, RewardTerm, compile_pattern, schema_validator
from jobs.trainers.worker_process import NICENESS, run_module_in_worker

REGEX_TIMEOUT_SECONDS = 0.05
"""The longest one regular-expression match may run; a match that takes longer scores 0."""
SCORING_PROCESS_SECONDS = 20.0
"""The longest :func:`score_in_worker` may run (the process's start included); past it the process is killed."""


def bounded_search(pattern: str | Any, text: str, flags: int = 0) -> bool:
    """Whether ``pattern`` matches somewhere in ``text``, with ``regex`` under :data:`REGEX_TIMEOUT_SECONDS` and the GIL released
    (other threads of the process keep running); TimeoutError when the match runs out of time, ValueError for a bad pattern."""
    try:
        compiled = pattern if not isinstance(pattern, str) else _compiled(pattern, flags)
    except regex.error as error:
        raise ValueError(f"pattern {str(pattern)[:60]!r} is not a valid regular expression ({error})") from None
    return compiled.search(text, timeout=REGEX_TIMEOUT_SECONDS, concurrent=True) is not None


@lru_cache(maxsize=256)
def _compiled(pattern: str, flags: int) -> Any:
    return regex.compile(pattern, flags)


def _pattern_keyword(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    """JSON Schema ``pattern``, matched by :func:`bounded_search` (jsonschema's own uses ``re``, without a time limit)."""
    import jsonschema

    if not validator.is_type(instance, "string"):
        return
    try:
        matched = bounded_search(pattern, instance)
    except (TimeoutError, ValueError) as error:
        yield jsonschema.ValidationError(f"pattern {pattern[:60]!r} could not be matched in time ({error})")
        return
    if not matched:
        yield jsonschema.ValidationError(f"{instance[:60]!r} does not match {pattern[:60]!r}")


def _pattern_properties_keyword(validator: Any, pattern_properties: dict[str, Any], instance: Any, schema: Any) -> Iterator[Any]:
    """JSON Schema ``patternProperties``, with property names matched by :func:`bounded_search`."""
    import jsonschema

    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        for key, value in instance.items():
            try:
                matched = bounded_search(pattern, key)
            except (TimeoutError, ValueError) as error:
                yield jsonschema.ValidationError(f"pattern {pattern[:60]!r} could not be matched in time ({error})")
                return
            if matched:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


@lru_cache(maxsize=64)
def bounded_schema_validator(schema_text: str) -> Any:
    """The json_schema term's validator (:func:`jobs.spec.rewards.schema_validator`, which checks the schema) with ``pattern`` and
    ``patternProperties`` matched by :func:`bounded_search`."""
    import jsonschema

    checked = schema_validator(schema_text)
    bounded = jsonschema.validators.extend(type(checked), {"pattern": _pattern_keyword, "patternProperties": _pattern_properties_keyword})
    return bounded(checked.schema)


def normalize_answer(text: str, case_sensitive: bool = False) -> str:
    """Text compared by exact_match: case folded (unless ``case_sensitive``), punctuation removed, spaces collapsed."""
    if not case_sensitive:
        text = text.casefold()
    kept = "".join(" " if unicodedata.category(char).startswith("P") else char for char in unicodedata.normalize("NFKC", text))
    return " ".join(kept.split())


def extract_tagged(text: str, tag: str) -> str | None:
    """The text inside the first ``<tag>...</tag>`` of ``text`` (stripped), or None when there is none."""
    start_marker, end_marker = f"<{tag}>", f"</{tag}>"
    start = text.find(start_marker)
    if start < 0:
        return None
    end = text.find(end_marker, start + len(start_marker))
    if end < 0:
        return None
    return text[start + len(start_marker):end].strip()


def _parse_json(text: str) -> tuple[bool, Any]:
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        stripped = stripped.rsplit("```", 1)[0].strip()
    try:
        return True, json.loads(stripped)
    except (json.JSONDecodeError, RecursionError):
        return False, None


def _answer_text(completion: str, term: RewardTerm) -> str | None:
    """What a term scores: the text inside the term's tag, or the whole completion."""
    if term.tag and term.kind is not RewardKind.FORMAT:
        return extract_tagged(completion, term.tag)
    return completion


def score_term(term: RewardTerm, completion: str, answer: str | None = None) -> float:
    """One term's score of one completion, from 0 to 1 (unweighted); ``answer`` is the row's reference answer, if any."""
    kind = term.kind
    if kind is RewardKind.FORMAT:
        inside = extract_tagged(completion, term.tag or "answer")
        return 1.0 if inside else 0.0
    text = _answer_text(completion, term)
    if text is None:
        return 0.0
    if kind is RewardKind.EXACT_MATCH:
        if answer is None:
            return 0.0
        return float(normalize_answer(text, term.case_sensitive) == normalize_answer(answer, term.case_sensitive))
    if kind is RewardKind.CONTAINS:
        needle = term.pattern if term.pattern else answer
        if not needle:
            return 0.0
        return float(needle in text) if term.case_sensitive else float(needle.casefold() in text.casefold())
    if kind is RewardKind.REGEX:
        try:
            return float(bounded_search(compile_pattern(term.pattern or "", term.case_sensitive), text))
        except TimeoutError:
            return 0.0
    if kind is RewardKind.JSON:
        return float(_parse_json(text)[0])
    if kind is RewardKind.JSON_SCHEMA:
        parsed, value = _parse_json(text)
        return float(parsed and bounded_schema_validator(term.json_schema or "").is_valid(value))
    if kind is RewardKind.LENGTH:
        target = term.target_length or 1
        return max(0.0, 1.0 - abs(len(text.strip()) - target) / target)
    raise ValueError(f"unknown reward kind {kind}")  # pragma: no cover - the enum is exhaustive


def term_names(terms: Sequence[RewardTerm]) -> list[str]:
    """A unique, readable name per term (its kind, numbered when repeated): the metric names rewards/<name>/mean."""
    counts: dict[str, int] = {}
    names = []
    for term in terms:
        counts[term.kind.value] = counts.get(term.kind.value, 0) + 1
        names.append(term.kind.value if counts[term.kind.value] == 1 else f"{term.kind.value}_{counts[term.kind.value]}")
    return names


def score_completion(terms: Sequence[RewardTerm], completion: str, answer: str | None = None) -> dict[str, float]:
    """Every term's unweighted score of one completion, by :func:`term_names`, plus ``reward`` (the weighted sum)."""
    scores = {name: score_term(term, completion, answer) for name, term in zip(term_names(terms), terms, strict=True)}
    scores["reward"] = sum(term.weight * scores[name] for name, term in zip(term_names(terms), terms, strict=True))
    return scores


def completion_text(completion: Any) -> str:
    """A completion as text: TRL passes a string, or for chat prompts a list of messages whose contents are joined."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(message.get("content", "")) for message in completion if isinstance(message, dict))
    return str(completion)


def reward_functions(terms: Sequence[RewardTerm]) -> list[Callable[..., list[float]]]:
    """One TRL reward function per term (named by :func:`term_names`, so TRL logs ``rewards/<name>/mean``); weights go to
    ``GRPOConfig.reward_weights``. Each reads the reference answer from the dataset's ``answer`` column when present."""
    functions = []
    for name, term in zip(term_names(terms), terms, strict=True):
        def reward(prompts: list[Any], completions: list[Any], answer: list[str | None] | None = None, *, _term: RewardTerm = term,
                   **_: Any) -> list[float]:
            answers = answer if answer is not None else [None] * len(completions)
            return [score_term(_term, completion_text(completion), reference) for completion, reference in zip(completions, answers,
                                                                                                              strict=True)]

        reward.__name__ = name
        functions.append(reward)
    return functions


def score_completions(terms: Sequence[RewardTerm], items: Sequence[tuple[str, str | None]]) -> list[dict[str, float]]:
    """:func:`score_completion` of each (completion, reference answer) pair."""
    return [score_completion(terms, completion, answer) for completion, answer in items]


def score_in_worker(terms: Sequence[RewardTerm], items: Sequence[tuple[str, str | None]],
                    limit_s: float = SCORING_PROCESS_SECONDS) -> list[dict[str, float]]:
    """:func:`score_completions` in a process of its own (``python -m jobs.trainers.rewards``, at a lower priority), killed after
    ``limit_s`` seconds: user patterns never run in the calling process. AdaptaError in one sentence when it runs out of time."""
    request = json.dumps({"terms": [term.model_dump(mode="json") for term in terms], "items": [list(item) for item in items]})
    answer = run_module_in_worker("jobs.trainers.rewards", request, limit_s, what="scoring the answers",
                                  too_slow="a regex or json_schema pattern is too slow on these answers: simplify it (no nested "
                                           "repetition such as (a+)+)")
    return [{name: float(value) for name, value in scores.items()} for scores in json.loads(answer)]


def _serve_one_request() -> None:
    """``python -m jobs.trainers.rewards``: read {"terms": [...], "items": [[completion, answer], ...]} on stdin, write the scores."""
    try:
        os.nice(max(0, NICENESS - os.nice(0)))  # started under `nice` already: nothing more
    except OSError:
        pass
    request = json.loads(sys.stdin.read())
    terms = [RewardTerm.model_validate(term) for term in request["terms"]]
    json.dump(score_completions(terms, [(str(completion), answer) for completion, answer in request["items"]]), sys.stdout)


if __name__ == "__main__":
    _serve_one_request()
