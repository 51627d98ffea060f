"""Uploads and the Train tab's pre-flight on a multi-user server: equal bytes of two users stay two files (a refused upload removes
neither), and pre-flight reads rows only from the caller's own uploads, never another user's file or any other server path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from jobs.errors import DataError
from jobs.spec import parse_spec
from webui import access
from webui.access import Caller
from webui.api_data import owned_datasets, store_upload
from webui.train_tab import preflight_report

ALICE, BOB = Caller(name="alice", can_write=True), Caller(name="bob", can_write=True)


@pytest.fixture
def accounts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(access, "_mode", access.AccessMode.ACCOUNTS)


def test_equal_bytes_of_two_users_are_two_files_and_a_refused_upload_removes_neither(accounts: None, qa_jsonl: Path, tmp_path: Path) -> None:
    mine = store_upload(str(qa_jsonl), ALICE)
    theirs = store_upload(str(qa_jsonl), BOB)
    assert mine != theirs and mine.read_bytes() == theirs.read_bytes()
    assert {"alice", "bob"} == {path.parts[-3] for path in (mine, theirs)}

    unreadable = tmp_path / "planets.parquet"  # the very same bytes, under a type they cannot be read as
    shutil.copyfile(qa_jsonl, unreadable)
    for caller in (BOB, ALICE):
        with pytest.raises(DataError):
            store_upload(str(unreadable), caller)
    assert mine.read_bytes() == theirs.read_bytes() == qa_jsonl.read_bytes(), "a refused upload removed someone's stored file"
    assert [row.path for row in owned_datasets(ALICE)] == [str(mine)] and [row.path for row in owned_datasets(BOB)] == [str(theirs)]


def test_preflight_counts_rows_only_in_the_callers_own_uploads(accounts: None, adapta_home: Path, tiny_llama: Path, qa_jsonl: Path,
                                                               tmp_path: Path) -> None:
    model = adapta_home / "models" / "tiny-llama"
    shutil.copytree(tiny_llama, model)
    stored = store_upload(str(qa_jsonl), ALICE)
    secret = tmp_path / "server-secret.jsonl"
    secret.write_text("".join(json.dumps({"text": f"secret line {n}"}) + "\n" for n in range(40)), encoding="utf-8")

    def report(data: Path, caller: Caller) -> tuple[bool, str]:
        spec = parse_spec({"base_model": str(model), "data": {"train": str(data)}, "training": {"batch_size": 2, "epochs": 1}})
        return preflight_report(spec, "en", caller)

    fits, text = report(stored, ALICE)
    assert fits and "Optimizer steps: 3" in text  # 6 rows, batch 2
    for data in (stored, secret):
        fits, text = report(data, BOB)
        assert not fits and "is not one of your uploads" in text and "Optimizer steps" not in text, text
