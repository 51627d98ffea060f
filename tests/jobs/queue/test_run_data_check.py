"""A run checks its data before training: a file written by "Fix" trains, and its run folder, report and model card say what the
fix removed and masked; a file with a secret is refused before the model is even fetched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.data.doctor import check_data, fix_data
from jobs.data.doctor_notes import DATA_CHECK_FILE, write_fix_note
from jobs.errors import DataError
from jobs.evaluation.report import read_report
from jobs.queue.run import train_in_foreground
from jobs.spec import parse_spec
from tests.doctor_rows import SECRET_ROW, write_planted


def tiny_spec(model: Path, train: Path) -> object:
    return parse_spec({"task": "causal-lm", "base_model": str(model), "method": "lora", "data": {"train": str(train)},
                       "training": {"max_steps": 2, "batch_size": 2, "max_length": 64, "warmup_ratio": 0.0},
                       "lora": {"target_modules": "all-linear"}})


def test_a_run_on_fixed_data_records_what_the_fix_removed_in_its_folder_report_and_card(tmp_path: Path, tiny_llama: Path) -> None:
    planted = write_planted(tmp_path / "planted.jsonl")
    with pytest.raises(DataError, match=f"row {SECRET_ROW}\\b"):  # refused before the (missing) model is looked for
        train_in_foreground(tiny_spec(tmp_path / "no-such-model", planted), output_dir=tmp_path / "refused", show_progress=False)
    before = check_data(planted)
    fixed = fix_data(before, planted, None, tmp_path / "fixed")
    write_fix_note(fixed.train, fixed, before, planted)
    _, summary = train_in_foreground(tiny_spec(tiny_llama, Path(fixed.train)), output_dir=tmp_path / "run", show_progress=False)
    record = json.loads((tmp_path / "run" / DATA_CHECK_FILE).read_text(encoding="utf-8"))
    assert record["fixed"]["removed"] == fixed.removed and not record["check"]["blocks_training"]
    line = summary["data_check"]
    assert line.startswith("trained on 8 rows; before training 1 duplicate was removed and 1 secret and 1 e-mail address masked"), line
    assert read_report(tmp_path / "run").data_check == line
    assert f"- data check: {line}" in (tmp_path / "run" / "README.md").read_text(encoding="utf-8")
