"""What the data doctor's checks leave behind: the run's data_check.json (secrets refuse the job before training), the note
the Submit pre-flight reads beside an upload, and the one line the report and the model card show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.data.doctor import DataCheck, Finding
from jobs.data.doctor_notes import (
    DATA_CHECK_FILE,
    check_job_data,
    data_check_line,
    read_data_check,
    refuse_known_secrets,
    write_check_note,
)
from jobs.errors import DataError
from jobs.spec import parse_spec
from tests.doctor_rows import CLEAN_ROWS, EMAIL, SECRET_ROW, fake_hf_token, write_planted, write_rows


def spec_for(train: Path) -> object:
    return parse_spec({"base_model": "acme/model", "data": {"train": str(train)}})


def finding(kind: str, severity: str, rows: list[int], action: str) -> dict:
    return Finding(kind=kind, severity=severity, file="train", rows=rows, action=action).to_dict()


def test_the_line_says_what_fix_removed_and_masked_and_what_was_left_in() -> None:
    before = {"train_rows": 1241, "findings": [finding("exact_duplicate", "fix", list(range(1, 38)), "removed (the first copy is kept)"),
                                               finding("email", "fix", [3, 5, 8, 9], "masked as <EMAIL>")]}
    fixed = {"check": {"train_rows": 1204, "findings": []}, "fixed": {"before": before, "removed": 37, "masked": 4, "summary": ""}}
    assert data_check_line(fixed) == ("trained on 1,204 rows; before training 37 duplicates were removed and 4 e-mail addresses masked "
                                      "(the Data tab's Fix)")
    left = {"check": {"train_rows": 9, "findings": [finding("exact_duplicate", "fix", [7], "removed"), finding("email", "fix", [8], "masked")]}}
    assert data_check_line(left) == "trained on 9 rows; left in: 1 duplicate and 1 e-mail address"
    assert data_check_line({"check": {"train_rows": 6, "findings": []}}) == "trained on 6 rows; the data check found no problems"
    assert data_check_line({"check": {"train_rows": 1, "format": "images", "findings": []}}).startswith("trained on 1 image;")
    assert data_check_line(None) == ""


def test_a_job_whose_data_holds_a_secret_is_refused_before_training_with_its_row(tmp_path: Path) -> None:
    train = write_planted(tmp_path / "planted.jsonl")
    run_dir = tmp_path / "run"
    with pytest.raises(DataError, match=f"planted.jsonl row {SECRET_ROW}\\b.*press \"Fix\""):
        check_job_data(spec_for(train), run_dir)
    record = json.loads((run_dir / DATA_CHECK_FILE).read_text(encoding="utf-8"))  # written before the refusal: the rows are there
    kinds = {item["kind"]: item["rows"] for item in record["check"]["findings"]}
    assert kinds["secret"] == [SECRET_ROW] and kinds["email"] == [8]
    assert fake_hf_token() not in json.dumps(record) and EMAIL not in json.dumps(record)  # shown masked, never in full
    with pytest.raises(DataError, match="row 9"):  # a resumed run reads the record it started with and refuses again
        check_job_data(spec_for(train), run_dir)


def test_a_clean_job_records_its_check_and_a_hub_dataset_says_why_it_was_not_checked(tmp_path: Path) -> None:
    train = write_rows(tmp_path / "clean.jsonl", CLEAN_ROWS)
    record = check_job_data(spec_for(train), tmp_path / "run")
    assert record["line"] == "trained on 6 rows; the data check found no problems"
    assert read_data_check(tmp_path / "run") == record
    hub = check_job_data(parse_spec({"base_model": "acme/model", "data": {"train": "hub:acme/planets"}}), tmp_path / "hub-run")
    assert hub["line"].startswith("the data was not checked: the data is a Hub dataset")


def test_the_pre_flight_refuses_a_file_whose_check_found_secrets(tmp_path: Path) -> None:
    train = write_rows(tmp_path / "rows.jsonl", CLEAN_ROWS)
    refuse_known_secrets(spec_for(train))  # never checked: the job checks it when it runs
    secret = Finding(kind="secret", severity="block", file="train", rows=[4, 6], examples=["row 4: hf_…"], action="removed")
    write_check_note(train, DataCheck(train_rows=6, validation_rows=0, findings=[secret]))
    with pytest.raises(DataError, match="rows.jsonl rows 4, 6, so training is refused: press \"Fix\""):
        refuse_known_secrets(spec_for(train))
    write_check_note(train, DataCheck(train_rows=6, validation_rows=0, findings=[]))
    refuse_known_secrets(spec_for(train))
