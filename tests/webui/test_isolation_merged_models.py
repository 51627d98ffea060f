"""A model merged from a job belongs to the job's owner: on a real ``launch.py --auth`` server, through ``gradio_client``, Bob cannot
see, try, train on, push or download the model merged from Alice's job, while Alice can; deleting the job removes the merged folder."""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.served_app import served_app
from tests.webui.conftest import tiny_spec_yaml
from tests.webui.test_users import PASSWORDS, TOKEN, add_users, offered_model

NOT_OFFERED = "is not a model this server offers"


def local_models(client: Client) -> set[str]:
    """The ids the Models tab's search lists (offline: the local catalog)."""
    return {row["id"] for row in client.predict("", api_name="/search_models")["models"]}


def wait_until_finished(client: Client, job_id: int) -> dict:
    status: dict = {}
    for _ in range(300):
        status = client.predict(job_id, api_name="/job_status")
        if status["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(1)
    return status


def test_bob_cannot_see_use_push_or_download_alices_merged_model(adapta_home: Path, tiny_llama: Path, qa_jsonl: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from jobs.export.merge import merge_run
    from jobs.queue import get_job
    from storage.paths import data_home

    add_users(adapta_home)
    base = offered_model(adapta_home, tiny_llama)
    with served_app(["--auth"], home=adapta_home) as app:
        alice = Client(app.url, auth=("alice", PASSWORDS["alice"]), verbose=False)
        bob = Client(app.url, auth=("bob", PASSWORDS["bob"]), verbose=False)
        stored = alice.predict(handle_file(str(qa_jsonl)), "auto", "causal-lm", api_name="/inspect_dataset")["stored_path"]
        job_id = alice.predict(tiny_spec_yaml(base, Path(stored)), api_name="/submit_job")
        status = wait_until_finished(alice, job_id)
        assert status["status"] == "succeeded", status
        merged = str(merge_run(get_job(job_id).run_dir, data_home().merged_model_dir(job_id)))  # what the Export tab's Merge does

        # Alice sees her merged model (as a shared server shows paths: relative to the data home) and can try it and describe it.
        shown = f"models/{Path(merged).name}"
        assert shown in local_models(alice)
        assert alice.predict(merged, api_name="/model_info")["parameters"] > 0
        assert alice.predict(shown, api_name="/model_info")["parameters"] > 0
        assert isinstance(alice.predict(merged, "Hello", 3, 0.0, 0.9, api_name="/generate")["base"], str)

        # Bob does not see it, and every way of naming it (plain, or through another offered folder) is refused.
        assert f"models/{base.name}" in local_models(bob) and shown not in local_models(bob)
        mine = bob.predict(handle_file(str(qa_jsonl)), "auto", "causal-lm", api_name="/inspect_dataset")["stored_path"]
        for ref in (merged, shown, f"{base}/../{Path(merged).name}", merged + "/."):
            with pytest.raises(AppError, match=NOT_OFFERED):
                bob.predict(ref, api_name="/model_info")
            with pytest.raises(AppError, match=NOT_OFFERED):
                bob.predict(ref, "Hello", 3, 0.0, 0.9, api_name="/generate")
            with pytest.raises(AppError, match=NOT_OFFERED):
                bob.predict(tiny_spec_yaml(Path(ref), Path(mine)), api_name="/submit_job")
        with pytest.raises(AppError, match=f"there is no job {job_id}"):
            bob.predict(str(job_id), api_name="/download_job")
        with pytest.raises(AppError, match=f"there is no job {job_id}"):
            bob.predict(job_id, "bob/stolen", TOKEN, True, True, api_name="/push_to_hub")
        assert bob.predict(api_name="/list_jobs") == []

    # The Playground's picker and the catalog agree: the merged model is offered to Alice only.
    from jobs.models import local_catalog
    from jobs.queue import delete_job
    from webui import access
    from webui.playground_tab import source_choices

    monkeypatch.setattr(access, "_mode", access.AccessMode.ACCOUNTS)
    offered = {name: {value for _, value in source_choices(gr.Request(username=name))["choices"]} for name in ("alice", "bob")}
    assert merged in offered["alice"] and merged not in offered["bob"] and str(base) in offered["bob"]
    assert [entry.job_id for entry in local_catalog(owner="bob") if entry.job_id] == []
    assert [entry.job_id for entry in local_catalog(owner="alice") if entry.job_id] == [job_id]

    # Code handed no caller (the Models tab's "Use this model", the Data tab's tokenizer) answers for the caller of the event.
    from gradio.context import LocalContext

    from jobs.errors import AdaptaError
    from webui.api_models import check_model_allowed

    with pytest.raises(AdaptaError, match=NOT_OFFERED):
        check_model_allowed(merged)  # outside any request: anonymous
    for name, allowed in (("alice", True), ("bob", False)):
        token = LocalContext.request.set(gr.Request(username=name))
        try:
            if allowed:
                assert check_model_allowed(merged) == merged
            else:
                with pytest.raises(AdaptaError, match=NOT_OFFERED):
                    check_model_allowed(merged)
        finally:
            LocalContext.request.reset(token)

    delete_job(job_id, owner="alice")
    assert not Path(merged).exists(), "deleting the job left its merged model behind"
    assert Path(base).is_dir()
