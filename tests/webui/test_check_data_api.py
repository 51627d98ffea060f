"""``/check_data`` and the Data tab's check: run in a process of their own, only on the caller's uploads; "Fix" stores a cleaned
copy as a new upload of the caller's (the checked file untouched); a file found to hold secrets is refused at Submit."""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from jobs.data.doctor import check_data
from jobs.data.doctor_notes import read_fix_note
from storage.users import add_user
from tests.doctor_rows import EMAIL_ROW, SECRET_ROW, write_planted
from tests.served_app import served_app
from webui.access import LOCAL_CALLER
from webui.api_data import check_data_action, previous_uploads
from webui.data_check_panel import check_view

PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-2"}


def kinds(result: dict) -> dict[str, list[int]]:
    return {finding["kind"]: finding["rows"] for finding in result["findings"]}


def test_check_and_fix_in_the_data_tab_store_a_cleaned_copy_and_leave_the_upload_as_it_was(tmp_path: Path) -> None:
    me = LOCAL_CALLER  # a single-user server
    planted = write_planted(tmp_path / "planted.jsonl")
    original = planted.read_bytes()
    steps: list[tuple[float, str]] = []
    result = check_data_action(str(planted), me, fix=True, on_progress=lambda done, what: steps.append((done, what)))
    assert kinds(result)["secret"] == [SECRET_ROW] and kinds(result)["email"] == [EMAIL_ROW] and result["blocks_training"]
    assert steps, "the check's process reported no progress"
    assert "no model is chosen" in result["no_lengths"]
    assert planted.read_bytes() == original
    fixed = Path(result["fixed_path"])
    assert fixed.is_file() and fixed != planted and str(fixed) in {path for _, path in previous_uploads(me)}
    assert read_fix_note(fixed)["before"]["blocks_training"] is True
    view = check_view(result, "pt-BR")  # the panel: findings by row, the Fix button offered, lengths say why they are missing
    table = view[1]["value"]
    assert "Segredos" in " ".join(table.iloc[:, 0]) and str(SECRET_ROW) in " ".join(table.iloc[:, 2].astype(str))
    assert view[5]["visible"] is True and "não verificado" in view[2]["value"]
    again = check_data(fixed).to_dict()
    assert "secret" not in kinds(again) and "email" not in kinds(again) and not again["blocks_training"]


@pytest.mark.timeout(300)
def test_check_data_over_the_api_reads_only_the_callers_uploads_and_secrets_refuse_the_submit(adapta_home: Path, tmp_path: Path) -> None:
    for name, password in PASSWORDS.items():
        add_user(name, password)
    planted = write_planted(tmp_path / "planted.jsonl")
    with served_app(["--auth", "--no-worker"], home=adapta_home) as app:
        bob = Client(app.url, auth=("bob", PASSWORDS["bob"]), verbose=False)
        alice = Client(app.url, auth=("alice", PASSWORDS["alice"]), verbose=False)
        stored = bob.predict(handle_file(str(planted)), "auto", "causal-lm", api_name="/inspect_dataset")["stored_path"]
        with pytest.raises(AppError, match="is not one of your uploads"):
            alice.predict(stored, "", "auto", "causal-lm", "", 0, False, api_name="/check_data")
        result = bob.predict(stored, "", "auto", "causal-lm", "", 0, True, api_name="/check_data")  # check and fix
        assert kinds(result)["secret"] == [SECRET_ROW] and result["checked_path"] == stored  # the caller's own form of the path
        spec = f"base_model: HuggingFaceTB/SmolLM2-135M-Instruct\ndata: {{train: '{stored}'}}\n"
        with pytest.raises(AppError, match=f"row {SECRET_ROW}, so training is refused: press \"Fix\""):
            bob.predict(spec, api_name="/submit_job")
        fixed = result["fixed_path"]
        assert fixed.startswith("uploads/") and fixed in [row["stored_path"] for row in bob.predict(api_name="/list_datasets")]
        assert fixed not in [row["stored_path"] for row in alice.predict(api_name="/list_datasets")]


def test_the_panel_says_what_the_max_length_cuts_and_shows_nothing_empty() -> None:
    lengths = {"max_length": 64, "histogram": [[32, 4], [64, 3], [128, 2]], "cut_in_prompt": [8], "cut_in_answer": [9], "keeps_95_percent": 120}
    result = {"train_rows": 9, "validation_rows": 0, "findings": [], "seconds": 0.4, "lengths": lengths, "labels": None, "languages": {"en": 9}}
    status, table, cut, bars, balance, fix, fixed, _ = check_view(result, "en")
    assert status == "✅ No problems found in 9 rows (0.4 s)."
    assert table["visible"] is False and fix["visible"] is False and fixed["visible"] is False  # nothing to list, nothing to fix
    assert "cuts **2** rows (1 in the prompt, 1 in the answer); **120** tokens keep 95 % whole" in cut["value"]
    assert list(bars["value"]["tokens"]) == ["≤32", "≤64", "≤128"] and bars["visible"] is True
    assert balance["value"] == "Languages (rows): en: 9"
    _, _, cut, bars, balance, *_ = check_view({**result, "lengths": None, "languages": None, "no_lengths": ""}, "pt-BR")
    assert cut["value"].startswith("Tamanho em tokens não verificado: escolha um modelo") and bars["visible"] is False
    assert balance["visible"] is False
