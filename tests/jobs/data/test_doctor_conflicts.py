"""The data doctor's conflicting labels and answers: the same input (normalised as the duplicate check normalises it) with
different labels, answers, or chosen and rejected swapped, found on the planted rows with what each row says; none in a
clean file; and the fix keeps every conflicting row (it cannot know which one is right)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.data.doctor import check_data, fix_data
from jobs.spec import DataFormat
from tests.jobs.data.test_doctor import SUBJECTS, clean_row, write_jsonl


def _conflicts(check) -> dict[str, list[int]]:
    return {finding.kind: finding.rows for finding in check.findings if finding.kind.startswith("conflicting_")}


def test_the_same_text_with_two_labels_is_a_conflict_with_its_rows_and_labels(tmp_path: Path) -> None:
    rows = [(f"review number {word} was wonderful", "positive") for word in SUBJECTS[:6]]
    rows += [(f"review number {word} was boring", "negative") for word in SUBJECTS[6:12]]
    rows[7] = ("Review number RIVER was wonderful!", "negative")  # csv row 9: csv row 2's text, normalised, another label
    rows[4] = ("review number library was wonderful", "positive")  # row 6: row 4 again with the same label: no conflict
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\n" + "".join(f"{text},{label}\n" for text, label in rows), encoding="utf-8")
    check = check_data(path)
    assert _conflicts(check) == {"conflicting_label": [2, 9]}
    finding = next(f for f in check.findings if f.kind == "conflicting_label")
    assert finding.severity == "warn" and [group.rows for group in finding.groups] == [[2, 9]]
    assert finding.groups[0].seen == ["positive", "negative"]
    assert "'positive' (row 2)" in finding.examples[0] and "'negative' (row 9)" in finding.examples[0]
    assert "fix leaves" in finding.action
    again = type(check).from_dict(json.loads(json.dumps(check.to_dict())))
    assert again == check


def test_the_same_prompt_with_different_answers_is_a_warning_and_the_fix_keeps_both(tmp_path: Path) -> None:
    rows = [clean_row(i) for i in range(12)]
    rows[5] = {"prompt": rows[1]["prompt"].upper(), "response": "Skip it: the market is closed this year."}  # row 6: row 2's prompt
    rows[8] = dict(rows[1])  # row 9: an exact copy of row 2 (a duplicate, which the fix removes), not a third answer
    rows[10] = {"prompt": rows[3]["prompt"], "response": "A different answer to row 4's prompt."}  # row 11
    rows[11]["response"] += " Write to ana@example.com."  # row 12: masked by the fix
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    check = check_data(train)
    assert _conflicts(check) == {"conflicting_answer": [2, 4, 6, 11]}
    finding = next(f for f in check.findings if f.kind == "conflicting_answer")
    assert finding.severity == "warn" and [group.rows for group in finding.groups] == [[2, 6], [4, 11]]
    assert "legitimate" in finding.detail
    result = fix_data(check, train, None, tmp_path / "fixed")
    kept = [json.loads(line) for line in result.train.read_text(encoding="utf-8").splitlines()]
    assert result.removed == 1 and len(kept) == 11  # only the exact duplicate
    assert rows[5] in kept and rows[1] in kept and rows[10] in kept and rows[3] in kept
    assert "kept" in result.summary and "conflicting" in result.summary


def test_chosen_and_rejected_swapped_in_another_row_is_a_conflict(tmp_path: Path) -> None:
    rows = [{"prompt": f"Name a {word}.", "chosen": f"A {word} by the sea.", "rejected": f"No {word}."} for word in SUBJECTS[:6]]
    rows[4] = {"prompt": "name a river", "chosen": rows[0]["rejected"], "rejected": rows[0]["chosen"]}  # row 5 swaps row 1
    check = check_data(write_jsonl(tmp_path / "pairs.jsonl", rows))
    assert check.format == "preference" and _conflicts(check) == {"conflicting_preference": [1, 5]}


def test_a_clean_file_has_no_conflicts(tmp_path: Path) -> None:
    check = check_data(write_jsonl(tmp_path / "clean.jsonl", [clean_row(i) for i in range(24)]))
    assert _conflicts(check) == {}


@pytest.mark.parametrize("fmt, rows, kind", [
    (DataFormat.CHAT, [{"messages": [{"role": "user", "content": f"Tell me about the {word}."},
                                     {"role": "assistant", "content": f"The {word} is old."}]} for word in SUBJECTS[:4]]
     + [{"messages": [{"role": "user", "content": "tell me about the RIVER"}, {"role": "assistant", "content": "It floods."}]}],
     "conflicting_answer"),
    (DataFormat.FEEDBACK, [{"prompt": f"Describe the {word}.", "completion": f"The {word} is old.", "label": True}
                           for word in SUBJECTS[:4]]
     + [{"prompt": "describe the river", "completion": "The river is old!", "label": False}], "conflicting_label"),
])
def test_chat_and_feedback_conflicts(tmp_path: Path, fmt: DataFormat, rows: list[dict], kind: str) -> None:
    """The feedback row 5 is also word for word row 1 with another label: a conflict, not a near-duplicate the fix drops."""
    check = check_data(write_jsonl(tmp_path / "rows.jsonl", rows), fmt=fmt)
    assert _conflicts(check) == {kind: [1, 5]} and "near_duplicate" not in {f.kind for f in check.findings}
