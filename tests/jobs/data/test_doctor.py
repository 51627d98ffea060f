"""The data doctor on files with planted problems: each found with its exact row numbers, none on a clean file of the
same size, and a fix whose output a second check finds clean (the input byte for byte unchanged)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.data.doctor import DataCheck, check_data, fix_data, lengths
from jobs.spec import Task

SUBJECTS = ["river", "mountain", "library", "garden", "bridge", "market", "forest", "harbor", "castle", "museum", "valley",
            "island", "temple", "meadow", "canyon", "lighthouse", "orchard", "station", "cathedral", "desert", "glacier",
            "vineyard", "village", "stadium"]
QUALITIES = ["quiet", "ancient", "crowded", "narrow", "famous", "hidden", "colourful", "windy", "peaceful", "enormous",
             "modern", "gloomy", "sunny", "frozen", "busy", "charming", "remote", "tiny", "golden", "rocky", "misty",
             "grand", "humble", "lively"]
TOKEN = "hf_" + "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xYz12"
MAX_LENGTH = 256


def clean_row(index: int) -> dict[str, str]:
    subject, quality = SUBJECTS[index % len(SUBJECTS)], QUALITIES[(index * 5 + index // len(SUBJECTS)) % len(QUALITIES)]
    return {"prompt": f"Describe the {quality} {subject} for a travel guide.",
            "response": f"The {subject} is {quality}; travellers who visit it tend to remember the {subject} for years."}


def long_row() -> dict[str, str]:
    story = ("Once upon a time the keeper of the lighthouse counted every ship that passed the rocky coast at night, "
             "wrote their names into a thick book, and told the children of the village about storms and stars. ")
    return {"prompt": "Tell the whole story of the lighthouse keeper in detail.", "response": story}


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def planted(tmp_path: Path) -> tuple[Path, Path]:
    """24 training rows (line = row number) and 4 validation rows, with one planted problem each where said."""
    rows = [clean_row(i) for i in range(24)]
    rows[3] = long_row()  # row 4: the original of the near-duplicate on row 11
    rows[4] = dict(rows[1])  # row 5: exact copy of row 2
    rows[7] = {key: "  " + value.upper().replace(".", " !") for key, value in rows[2].items()}  # row 8: row 3, normalised
    near = long_row()
    near["response"] = near["response"].replace("stars.", "comets.")
    rows[10] = near  # row 11: row 4 with one word changed
    rows[12]["response"] += " Write to maria.souza@example.com for help."  # row 13
    rows[13]["response"] += " Her CPF is 529.982.247-25."  # row 14: valid check digits
    rows[14]["response"] += " The code 529.982.247-26 is not a CPF."  # row 15: invalid check digits, not reported
    rows[15]["response"] += " Pay with 4111 1111 1111 1111."  # row 16: Luhn-valid
    rows[16]["response"] += f" Use the token {TOKEN} to log in."  # row 17
    rows[17]["response"] = long_row()["response"] * 6  # row 18: the answer is cut
    rows[18]["prompt"] = "Summarise this. " + long_row()["response"] * 6  # row 19: the prompt alone is too long
    validation = [clean_row(100 + i) for i in range(4)]
    validation[1] = dict(rows[5])  # validation row 2: a copy of training row 6
    validation[2] = dict(long_row(), response=long_row()["response"].replace("children", "sailors"))  # row 3: near row 4
    return write_jsonl(tmp_path / "train.jsonl", rows), write_jsonl(tmp_path / "valid.jsonl", validation)


def clean(tmp_path: Path) -> tuple[Path, Path]:
    return (write_jsonl(tmp_path / "clean.jsonl", [clean_row(i) for i in range(24)]),
            write_jsonl(tmp_path / "clean-valid.jsonl", [clean_row(100 + i) for i in range(4)]))


def found(check: DataCheck) -> dict[tuple[str, str], list[int]]:
    return {(finding.kind, finding.file): finding.rows for finding in check.findings}


PLANTED = {
    ("exact_duplicate", "train"): [5], ("normalised_duplicate", "train"): [8], ("near_duplicate", "train"): [11],
    ("email", "train"): [13], ("cpf", "train"): [14], ("card", "train"): [16], ("secret", "train"): [17],
    ("too_long", "train"): [18, 19], ("validation_copy", "validation"): [2], ("near_duplicate", "validation"): [3],
}


def test_each_planted_problem_is_found_on_its_rows_and_a_clean_file_has_none(tmp_path: Path, tokenizer) -> None:
    train, validation = planted(tmp_path)
    check = check_data(train, validation, tokenizer=tokenizer, max_length=MAX_LENGTH)
    assert found(check) == PLANTED
    assert check.lengths is not None and check.lengths.cut_in_answer == [18] and check.lengths.cut_in_prompt == [19]
    assert check.lengths.keeps_95_percent < check.lengths.longest
    assert check.blocks_training() and check.train_rows == 24 and check.validation_rows == 4
    secret = next(f for f in check.findings if f.kind == "secret")
    assert TOKEN not in json.dumps(check.to_dict()) and "Hugging Face token" in secret.examples[0]
    assert DataCheck.from_dict(json.loads(json.dumps(check.to_dict()))) == check
    assert check.languages and max(check.languages, key=check.languages.__getitem__) == "en"

    clean_train, clean_validation = clean(tmp_path)
    clean_check = check_data(clean_train, clean_validation, tokenizer=tokenizer, max_length=MAX_LENGTH)
    assert clean_check.findings == [] and clean_check.summary() == "no problems found in 28 rows"


def test_a_large_file_measures_the_rows_near_max_length_exactly(tmp_path: Path, tokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    train, _ = planted(tmp_path)
    exact = check_data(train, tokenizer=tokenizer, max_length=MAX_LENGTH)
    monkeypatch.setattr(lengths, "EXACT_ROWS", 5)  # as if the file had more than 2,000 rows: estimates, then exact near the limit
    monkeypatch.setattr(lengths, "SAMPLE_ROWS", 3)
    estimated = check_data(train, tokenizer=tokenizer, max_length=MAX_LENGTH)
    assert estimated.lengths is not None and exact.lengths is not None
    assert (estimated.lengths.cut_in_prompt, estimated.lengths.cut_in_answer) == (exact.lengths.cut_in_prompt, exact.lengths.cut_in_answer)
    assert estimated.lengths.longest == exact.lengths.longest and found(estimated) == found(exact)


def test_the_fix_writes_a_clean_copy_and_leaves_the_upload_alone(tmp_path: Path) -> None:
    train, validation = planted(tmp_path)
    before = train.read_bytes(), validation.read_bytes()
    check = check_data(train, validation)
    result = fix_data(check, train, validation, tmp_path / "fixed")
    assert (train.read_bytes(), validation.read_bytes()) == before
    assert result.train == tmp_path / "fixed" / "train.fixed.jsonl" and result.validation is not None
    assert result.removed == 5 and result.masked == 4  # 3 duplicates + 2 validation copies; e-mail, CPF, card, token
    text = result.train.read_text(encoding="utf-8")
    assert all(mask in text for mask in ("<EMAIL>", "<CPF>", "<CARD>", "<SECRET>")) and TOKEN not in text
    assert "529.982.247-26" in text  # an invalid CPF is left as it is
    again = check_data(result.train, result.validation)
    assert [f for f in again.findings if f.severity in ("block", "fix")] == [] and not again.blocks_training()
    assert again.train_rows == 21 and again.validation_rows == 2


def test_a_class_with_two_examples_is_reported_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    rows = [("I loved every minute of this film", "positive")] * 0
    rows = [(f"review number {word} was {mood}", label) for word, mood, label in
            [(w, "wonderful", "positive") for w in SUBJECTS[:6]] + [(w, "boring", "negative") for w in SUBJECTS[6:12]]]
    rows[3], rows[8] = ("review about the castle was so-so", "neutral"), ("review about the bridge was so-so", "neutral")
    path.write_text("text,label\n" + "".join(f"{text},{label}\n" for text, label in rows), encoding="utf-8")
    check = check_data(path)  # a label column: checked as classification data without being told
    assert check.format == "classification"
    assert check.labels == {"positive": 5, "negative": 5, "neutral": 2}
    assert found(check) == {("rare_class", "train"): [5, 10]}  # csv rows: the header is row 1
    assert check_data(path, task=Task.TEXT_CLASSIFICATION).findings == check.findings


@pytest.mark.parametrize("answer, kind", [("", "empty_answer"), ("n/a", "empty_answer"),
                                          ("Describe the quiet pier for a travel guide.", "repeats_prompt")])
def test_empty_answers_and_answers_repeating_the_prompt(tmp_path: Path, answer: str, kind: str) -> None:
    rows = [clean_row(i) for i in range(6)]
    rows[2] = {"prompt": "Describe the quiet pier for a travel guide.", "response": answer}  # a prompt of its own: no conflict
    check = check_data(write_jsonl(tmp_path / "answers.jsonl", rows))
    assert found(check) == {(kind, "train"): [3]}
