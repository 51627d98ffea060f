"""Whose token reaches the Hub: on a shared (--auth) server a visitor's searches, checks and job downloads carry their own
token or none, never the operator's HF_TOKEN; a gated model is then refused at submit in one sentence naming its page, and
succeeds with the caller's token (kept in memory for that job only). The fake Hub records every request header."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.fake_hub import FakeHub, ModelRepo
from tests.hub_repos import tiny_causal_lm_repo
from tests.served_app import served_app
from tests.webui.conftest import tiny_spec_yaml
from tests.webui.test_users import PASSWORDS, TOKEN, add_users

OPERATOR_TOKEN = "hf_operator_secret_never_for_visitors"


def wait_finished(client: Client, job_id: int, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.predict(job_id, api_name="/job_status")
        if status["status"] in ("succeeded", "failed", "cancelled"):
            return status
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def authorizations(hub: FakeHub) -> list[str | None]:
    return [next((value for key, value in headers.items() if key.lower() == "authorization"), None) for _, _, headers, _ in hub.requests]


@pytest.mark.timeout(600)
def test_a_visitor_never_borrows_the_operators_token_and_brings_their_own_for_a_gated_model(qa_jsonl: Path, tmp_path: Path) -> None:
    # A data home of its own: a session-wide worker thread of this test process follows ADAPTA_HOME and, running offline, must not
    # claim the served app's jobs.
    home = tmp_path / "served-home"
    add_users(home)
    files = tiny_causal_lm_repo(tmp_path / "llama")
    repos = {"acme/gated": ModelRepo(files=files, gated=True), "acme/open": ModelRepo(files=files)}
    search = [{"id": "acme/open", "modelId": "acme/open", "pipeline_tag": "text-generation", "downloads": 1, "likes": 1, "private": False}]
    env = {"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_TOKEN": OPERATOR_TOKEN, "HF_HUB_CACHE": str(tmp_path / "hf-cache"),
           "HF_HOME": str(tmp_path / "hf-home")}
    with FakeHub(valid_token=TOKEN, repos=repos, models=search) as hub, \
            served_app(["--auth"], home=home, env={**env, "HF_ENDPOINT": hub.url}) as app:
        alice = Client(app.url, auth=("alice", PASSWORDS["alice"]), verbose=False)
        found = alice.predict("acme", "", "downloads", api_name="/search_models")
        assert [model["id"] for model in found["models"]] == ["acme/open"]
        assert alice.predict("acme/open", api_name="/model_info")["verdict"]["ok"]
        stored = Path(alice.predict(handle_file(str(qa_jsonl)), "auto", "causal-lm", api_name="/inspect_dataset")["stored_path"])
        spec = tiny_spec_yaml(Path("acme/gated"), stored)

        with pytest.raises(AppError, match=f"acme/gated is gated: accept its terms at {hub.url}/acme/gated"):
            alice.predict(spec, api_name="/submit_job")  # refused at submit by the pre-flight, as in the Train tab

        done = wait_finished(alice, alice.predict(spec, TOKEN, api_name="/submit_job"))
        assert done["status"] == "succeeded", done["error"]
        gated_files = [auth for (method, path, _, _), auth in zip(hub.requests, authorizations(hub), strict=True)
                       if method == "GET" and path.startswith("/acme/gated/resolve/")]
    assert all(OPERATOR_TOKEN not in str(headers) for _, _, headers, _ in hub.requests), "the operator's token reached the Hub"
    assert gated_files and set(gated_files) == {f"Bearer {TOKEN}"}
    # The caller's token lived in memory only: not in the database (and its WAL), not in any file of the runs.
    stored_files = [path for path in home.rglob("*") if path.is_file()]
    assert stored_files and not [path for path in stored_files if TOKEN.encode() in path.read_bytes()]
