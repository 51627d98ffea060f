"""Accounts and isolation, as users meet them: `adduser`, a real `launch.py --auth` server, two signed-in gradio_client users,
anonymous callers, `--demo`, and the Hugging Face sign-in identity of a Space.
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.fake_hub import FakeHub
from tests.served_app import add_accounts, run_launch, served_app
from tests.webui.conftest import tiny_spec_yaml

PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-2"}
TOKEN = "hf_test_token"


def offered_model(home: Path, model: Path) -> Path:
    """A copy of ``model`` under ``<home>/models``: on a shared server only models the server offers (or Hub ids) may be used."""
    import shutil

    target = home / "models" / model.name
    if not target.is_dir():
        shutil.copytree(model, target)
    return target


def add_users(home: Path) -> None:
    add_accounts(home, PASSWORDS)


def test_adduser_keeps_only_a_salted_hash_readable_by_the_owner(adapta_home: Path) -> None:
    add_users(adapta_home)
    users_file = adapta_home / "users.json"
    text = users_file.read_text()
    users = json.loads(text)
    assert set(users) == {"alice", "bob"}
    assert all(password not in text for password in PASSWORDS.values())
    assert users["alice"]["hash"].startswith("scrypt$") and users["alice"]["hash"] != users["bob"]["hash"]
    assert stat.S_IMODE(users_file.stat().st_mode) == 0o600

    from storage.users import verify_user

    assert verify_user("alice", PASSWORDS["alice"]) and not verify_user("alice", PASSWORDS["bob"]) and not verify_user("carol", "whatever-1")

    short = run_launch("adduser", "carol", home=adapta_home, stdin="short\n")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr and "Traceback" not in short.stderr
    bad = run_launch("adduser", "../evil", home=adapta_home, stdin="long-enough-1\n")
    assert bad.returncode == 2 and "not allowed" in bad.stderr
    assert set(json.loads(users_file.read_text())) == {"alice", "bob"}


def test_auth_without_accounts_refuses_to_start_with_one_line(adapta_home: Path) -> None:
    done = run_launch("--auth", "--no-worker", home=adapta_home)
    assert done.returncode == 2 and "adduser" in done.stderr and "Traceback" not in done.stderr


def test_two_signed_in_users_cannot_reach_each_others_jobs_or_data(adapta_home: Path, tiny_llama: Path, qa_jsonl: Path) -> None:
    add_users(adapta_home)
    outside, tiny_llama = tiny_llama, offered_model(adapta_home, tiny_llama)
    with FakeHub(valid_token=TOKEN) as hub, served_app(["--auth"], home=adapta_home, env={"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0"}) as app:
        alice = Client(app.url, auth=("alice", PASSWORDS["alice"]), verbose=False)
        bob = Client(app.url, auth=("bob", PASSWORDS["bob"]), verbose=False)

        stored = alice.predict(handle_file(str(qa_jsonl)), "auto", "causal-lm", api_name="/inspect_dataset")["stored_path"]
        job_id = alice.predict(tiny_spec_yaml(tiny_llama, Path(stored)), api_name="/submit_job")
        assert [job["id"] for job in alice.predict(api_name="/list_jobs")] == [job_id]

        # Bob sees nothing of Alice's, and every way of reaching her job says it does not exist.
        assert [row["stored_path"] for row in alice.predict(api_name="/list_datasets")] == [stored]
        assert bob.predict(api_name="/list_jobs") == [] and bob.predict(api_name="/list_datasets") == []
        for call in (lambda: bob.predict(job_id, api_name="/job_status"), lambda: bob.predict(job_id, api_name="/cancel_job"),
                     lambda: bob.predict(str(job_id), api_name="/download_job"),
                     lambda: bob.predict(job_id, "bob/stolen", TOKEN, True, api_name="/push_to_hub"),
                     lambda: bob.predict(str(job_id), "hello", 4, 0.0, 0.9, api_name="/generate")):
            with pytest.raises(AppError, match=f"there is no job {job_id}"):
                call()
        # ... nor can he train on her upload by naming its stored path, nor name any other path on the server as a model.
        with pytest.raises(AppError, match="not one of your uploads"):
            bob.predict(tiny_spec_yaml(tiny_llama, Path(stored)), api_name="/submit_job")
        for path in (str(outside), "/etc", "../../"):
            with pytest.raises(AppError, match="is not a model this server offers"):
                bob.predict(path, api_name="/model_info")
        with pytest.raises(AppError, match="is not a model this server offers"):
            alice.predict(tiny_spec_yaml(outside, Path(stored)), api_name="/submit_job")

        status = {}
        for _ in range(240):
            status = alice.predict(job_id, api_name="/job_status")
            if status["status"] in ("succeeded", "failed"):
                break
            time.sleep(1)
        assert status["status"] == "succeeded", status

        # The owner downloads and pushes; Bob still cannot.
        with pytest.raises(AppError, match=f"there is no job {job_id}"):
            bob.predict(str(job_id), api_name="/download_job")
        zipped = alice.predict(str(job_id), api_name="/download_job")
        assert Path(zipped).suffix == ".zip" and Path(zipped).stat().st_size > 0
        with pytest.raises(AppError, match=f"there is no job {job_id}"):
            bob.predict(job_id, "bob/stolen", TOKEN, True, api_name="/push_to_hub")
        assert hub.commits == []
        pushed = alice.predict(job_id, "alice/planets-lora", TOKEN, True, api_name="/push_to_hub")
        assert pushed["url"].endswith("alice/planets-lora") and [commit["repo"] for commit in hub.commits] == ["alice/planets-lora"]

        # Bob's own upload of the same file is his, and his job is his only.
        mine = bob.predict(handle_file(str(qa_jsonl)), "auto", "causal-lm", api_name="/inspect_dataset")["stored_path"]
        bob_job = bob.predict(tiny_spec_yaml(tiny_llama, Path(mine)), api_name="/submit_job")
        assert [job["id"] for job in bob.predict(api_name="/list_jobs")] == [bob_job]
        assert len(bob.predict(api_name="/list_datasets")) == 1 and len(alice.predict(api_name="/list_datasets")) == 1
        assert [job["id"] for job in alice.predict(api_name="/list_jobs")] == [bob_job - 1] == [job_id]

        # Anonymous callers get no further than the sign-in page, and a wrong password is refused.
        assert httpx.post(app.url + "gradio_api/call/submit_job", json={"data": ["base_model: x"]}).status_code == 401
        assert httpx.get(app.url + "gradio_api/info").status_code == 401
        with pytest.raises(Exception):  # noqa: B017 - gradio_client raises a plain ValueError for a refused sign-in
            Client(app.url, auth=("alice", "wrong-password"), verbose=False)

    from sqlmodel import select

    from jobs.queue import list_jobs
    from storage.db import session_scope
    from storage.tables import Artifact, Dataset

    assert {job.id: job.owner for job in list_jobs()} == {job_id: "alice", bob_job: "bob"}
    with session_scope() as session:  # every job, dataset and artifact row names its owner
        assert [(row.job_id, row.owner) for row in session.exec(select(Artifact)).all()] == [(job_id, "alice")]
        assert sorted(row.owner for row in session.exec(select(Dataset)).all()) == ["alice", "bob"]


def test_demo_mode_lets_visitors_browse_and_try_but_not_write(adapta_home: Path, tiny_llama: Path, qa_jsonl: Path) -> None:
    outside, tiny_llama = tiny_llama, offered_model(adapta_home, tiny_llama)
    with served_app(["--demo"], home=adapta_home) as app:
        visitor = Client(app.url, verbose=False)
        assert visitor.predict("", "", "downloads", api_name="/search_models")["models"]
        assert visitor.predict(str(tiny_llama), api_name="/model_info")["parameters"] > 0
        assert visitor.predict(api_name="/list_jobs") == []
        result = visitor.predict(str(tiny_llama), "Hello", 3, 0.0, 0.9, api_name="/generate")
        assert isinstance(result["base"], str)
        with pytest.raises(AppError, match="is not a model this server offers"):
            visitor.predict(str(outside), "Hello", 3, 0.0, 0.9, api_name="/generate")
        for call in (lambda: visitor.predict(handle_file(str(qa_jsonl)), "auto", "causal-lm", api_name="/inspect_dataset"),
                     lambda: visitor.predict(tiny_spec_yaml(tiny_llama, qa_jsonl), api_name="/submit_job"),
                     lambda: visitor.predict(1, api_name="/cancel_job"),
                     lambda: visitor.predict(1, "me/x", TOKEN, True, api_name="/push_to_hub")):
            with pytest.raises(AppError, match="demo server"):
                call()
    assert not any((adapta_home / "uploads").iterdir())


def test_space_sign_in_names_the_caller_and_anonymous_visitors_cannot_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """The identity Gradio's Hugging Face sign-in leaves in the session, read through a real Starlette request."""
    import gradio as gr
    from starlette.requests import Request

    from webui import access

    monkeypatch.setattr(access, "_mode", access.AccessMode.HF_OAUTH)

    def request_with(session: dict | None) -> gr.Request:
        scope = {"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b""}
        if session is not None:
            scope["session"] = session
        return gr.Request(request=Request(scope))

    signed_in = {"oauth_info": {"userinfo": {"preferred_username": "ada"}, "expires_at": int(time.time()) + 60, "access_token": "x"}}
    expired = {"oauth_info": {"userinfo": {"preferred_username": "ada"}, "expires_at": int(time.time()) - 1, "access_token": "x"}}
    caller = access.caller_of(request_with(signed_in))
    assert caller.name == "ada" and caller.can_write and caller.owner_filter == "ada"
    for session in (expired, {}, None):
        anonymous = access.caller_of(request_with(session))
        assert anonymous.name is None and anonymous.owner_filter == access.NO_OWNER
        with pytest.raises(access.NotAllowed, match="Sign in with Hugging Face"):
            access.require_writer(anonymous, "train")
    assert access.default_mode() is access.AccessMode.OPEN
    monkeypatch.setenv("SPACE_ID", "ada/adapta")
    monkeypatch.setenv("OAUTH_CLIENT_ID", "client")
    assert access.default_mode() is access.AccessMode.OPEN, "Gradio mocks sign-in outside a real Space (SYSTEM=spaces)"
    monkeypatch.setenv("SYSTEM", "spaces")
    assert access.default_mode() is access.AccessMode.HF_OAUTH and access.default_mode(auth=True) is access.AccessMode.ACCOUNTS
    assert os.environ["SPACE_ID"] == "ada/adapta"


def test_a_space_with_hugging_face_sign_in_lets_anonymous_visitors_browse_only(adapta_home: Path, tiny_llama: Path, qa_jsonl: Path) -> None:
    """The app as a Space with `hf_oauth: true` runs it (the Hub sets these variables): a sign-in button that goes to the Hub's
    authorize page with the Space's scopes, and anonymous API callers refused every write."""
    tiny_llama = offered_model(adapta_home, tiny_llama)
    with FakeHub() as hub:
        space_env = {"SYSTEM": "spaces", "SPACE_ID": "ada/adapta", "OAUTH_CLIENT_ID": "adapta-client", "OAUTH_CLIENT_SECRET": "s3cret",
                     "OAUTH_SCOPES": "openid profile manage-repos write-repos", "OPENID_PROVIDER_URL": hub.url, "HF_HUB_OFFLINE": "1"}
        with served_app(["--host", "127.0.0.1", "--no-worker"], home=adapta_home, env=space_env) as app:
            page = httpx.get(app.url).text
            assert "Sign in with Hugging Face" in page or "login" in page.lower()
            redirect = httpx.get(app.url + "login/huggingface", follow_redirects=False)
            assert redirect.status_code in (302, 307) and redirect.headers["location"].startswith(f"{hub.url}/oauth/authorize")
            assert "client_id=adapta-client" in redirect.headers["location"] and "manage-repos" in redirect.headers["location"]

            visitor = Client(app.url, verbose=False)
            assert visitor.predict(str(tiny_llama), api_name="/model_info")["parameters"] > 0
            assert visitor.predict(api_name="/list_jobs") == []
            for call in (lambda: visitor.predict(handle_file(str(qa_jsonl)), "auto", "causal-lm", api_name="/inspect_dataset"),
                         lambda: visitor.predict(tiny_spec_yaml(tiny_llama, qa_jsonl), api_name="/submit_job"),
                         lambda: visitor.predict(1, "me/x", TOKEN, True, api_name="/push_to_hub")):
                with pytest.raises(AppError, match="Sign in with Hugging Face button"):
                    call()
