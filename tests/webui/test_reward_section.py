"""The GRPO reward builder's logic: the settings each kind shows, adding and removing terms through the ``grpo.rewards``
YAML (which the spec, the YAML round trip and Submit read), the one-sentence refusals, and the preview table."""

from __future__ import annotations

import re

import pytest

from jobs.evaluation.reward_preview import RewardPreview
from jobs.spec import RewardKind, RewardTerm, parse_spec
from webui.reward_section import (
    KIND_FIELDS,
    MAX_TERMS,
    SETTING_FIELDS,
    add_term,
    preview_frame,
    read_terms,
    remove_term,
    setting_updates,
    shown_for,
    term_choices,
    terms_frame,
)
from webui.spec_form import records_value


def test_every_kind_shows_only_settings_a_term_has() -> None:
    assert set(KIND_FIELDS) == set(RewardKind)
    assert set(SETTING_FIELDS) == set(RewardTerm.model_fields) - {"kind", "weight"}
    shown = dict(zip(SETTING_FIELDS, setting_updates("regex", ""), strict=True))
    assert {name for name, update in shown.items() if update["visible"]} == {"pattern", "tag", "case_sensitive"}
    shown = dict(zip(SETTING_FIELDS, setting_updates("length", ""), strict=True))
    assert {name for name, update in shown.items() if update["visible"]} == {"target_length", "tag"}
    assert dict(zip(SETTING_FIELDS, setting_updates("format", ""), strict=True))["tag"]["value"] == "answer"
    assert dict(zip(SETTING_FIELDS, setting_updates("contains", "answer"), strict=True))["tag"]["value"] == ""  # default tag cleared
    assert "value" not in dict(zip(SETTING_FIELDS, setting_updates("contains", "final"), strict=True))["tag"]  # a chosen tag stays


def test_terms_are_added_and_removed_through_the_rewards_yaml() -> None:
    text = add_term("", "format", 1.0, tag="answer", pattern="ignored: format reads no pattern")
    text = add_term(text, "contains", 0.5, pattern="Paris", tag="", case_sensitive=True)
    text = add_term(text, "length", -1, target_length=40.0, json_schema="{}")
    assert records_value(text) == [{"kind": "format", "weight": 1.0, "tag": "answer"},
                                   {"kind": "contains", "weight": 0.5, "pattern": "Paris", "case_sensitive": True},
                                   {"kind": "length", "weight": -1.0, "target_length": 40}]
    frame = terms_frame(read_terms(text), "en")
    assert frame.columns.tolist() == ["#", "name", "kind", "weight", "settings"]
    assert frame.values.tolist()[1] == [2, "contains", "contains", 0.5, "pattern: Paris · case_sensitive: True"]
    assert term_choices(read_terms(text)) == [("1 · format × 1", "1"), ("2 · contains × 0.5", "2"), ("3 · length × -1", "3")]
    text = remove_term(text, "2")
    assert [term.kind.value for term in read_terms(text)] == ["format", "length"]

    spec = parse_spec({"base_model": "org/model", "objective": "grpo", "data": {"train": "prompts.jsonl"}, "training": {"batch_size": 4},
                       "grpo": {"rewards": records_value(text)}})
    assert [term.target_length for term in spec.grpo.rewards] == [None, 40]


@pytest.mark.parametrize(("call", "sentence"), [
    (lambda: add_term("", "regex", 1.0, pattern=""), "kind regex needs a pattern"),
    (lambda: add_term("", "regex", 1.0, pattern="(a+)+$"), "repeats a group that itself repeats"),
    (lambda: add_term("", "length", 1.0), "kind length needs target_length"),
    (lambda: add_term("", "json_schema", 1.0, json_schema='{"type": 3}'), "json_schema is not a valid JSON schema"),
    (lambda: add_term("", "contains", 11.0, pattern="x"), "weight must be at most 10"),
    (lambda: add_term("", "", 1.0), "pick a kind for the reward term"),
    (lambda: add_term("- kind: [", "format", 1.0, tag="answer"), "grpo.rewards is not valid YAML"),
    (lambda: add_term("- kind: nonsense", "format", 1.0, tag="answer"), "reward term 1: kind must be one of"),
    (lambda: add_term("kind: format", "format", 1.0, tag="answer"), "grpo.rewards must be a list of terms"),
    (lambda: add_term("- kind: json\n" * MAX_TERMS, "json", 1.0), f"at most {MAX_TERMS} terms"),
    (lambda: remove_term("- kind: json\n", None), "pick the reward term to remove"),
    (lambda: remove_term("- kind: json\n", "2"), "pick the reward term to remove"),
])
def test_refusals_are_one_sentence_naming_what_to_fix(call: object, sentence: str) -> None:
    with pytest.raises(ValueError, match=re.escape(sentence)) as caught:
        call()
    assert "\n" not in str(caught.value)


def test_builder_shows_for_causal_lm_with_grpo_only() -> None:
    assert shown_for("causal-lm", "grpo")
    assert not shown_for("causal-lm", "dpo") and not shown_for("causal-lm", "sft") and not shown_for("text-classification", "grpo")


def test_preview_table_has_a_column_per_term_and_the_total() -> None:
    items = [RewardPreview(row=2, prompt="Colour of Zor?", answer="teal", completion="<answer>teal</answer>",
                           scores={"format": 1.0, "exact_match": 0.0, "reward": 1.0}),
             RewardPreview(row=3, prompt="Colour of Quel?", answer=None, completion="amber", scores={"format": 0.0, "exact_match": 0.0,
                                                                                                      "reward": 0.0})]
    frame = preview_frame(items, ["format", "exact_match"], "en")
    assert frame.columns.tolist() == ["row", "prompt", "reference answer", "base completion", "format", "exact_match", "total"]
    assert frame.values.tolist()[0] == [2, "Colour of Zor?", "teal", "<answer>teal</answer>", 1.0, 0.0, 1.0]
    long = RewardPreview(row=4, prompt="Go on.", answer=None, completion="na" * 400, scores={"format": 0.0, "exact_match": 0.0, "reward": 0.0})
    assert preview_frame([long], ["format", "exact_match"], "en")["base completion"][0] == "na" * 150 + "…"
    no_answers = preview_frame(items[1:], ["format", "exact_match"], "pt-BR")
    assert no_answers.columns.tolist() == ["linha", "prompt", "resposta do modelo base", "format", "exact_match", "total"]
