"""A private or gated Hub model that one user's token brought into the server's cache is not everyone's: on a real ``--auth``
server talking to the loopback Hub, Alice (no token) can neither describe, download, nor train on ``acme/secret-llm`` or
``acme/gated-llm`` after Bob's token cached them; with a token the Hub accepts, she can. (Before, the cached snapshot was used
without asking the Hub, so she trained on, merged and downloaded the private weights.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.fake_hub import FakeHub, ModelRepo
from tests.hub_repos import tiny_causal_lm_repo
from tests.served_app import run_launch, served_app
from tests.webui.conftest import tiny_spec_yaml
from tests.webui.test_users import PASSWORDS, TOKEN, add_users

PRIVATE, GATED = "acme/secret-llm", "acme/gated-llm"


@pytest.mark.timeout(600)
def test_a_cached_private_or_gated_model_is_used_only_with_the_callers_own_access(qa_jsonl: Path, tmp_path: Path) -> None:
    home = tmp_path / "served-home"
    add_users(home)
    files = tiny_causal_lm_repo(tmp_path / "llama")
    env = {"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_HUB_CACHE": str(tmp_path / "hf-cache"), "HF_HOME": str(tmp_path / "hf-home")}
    with FakeHub(valid_token=TOKEN, repos={PRIVATE: ModelRepo(files=files, private=True), GATED: ModelRepo(files=files, gated=True)}) as hub:
        env["HF_ENDPOINT"] = hub.url
        for repo_id in (PRIVATE, GATED):  # Bob's token brings both into the shared cache
            done = run_launch("download", repo_id, home=home, env={**env, "HF_TOKEN": TOKEN})
            assert done.returncode == 0, done.stderr
        with served_app(["--auth", "--no-worker"], home=home, env=env) as app:
            alice = Client(app.url, auth=("alice", PASSWORDS["alice"]), verbose=False)
            stored = Path(alice.predict(handle_file(str(qa_jsonl)), "auto", "causal-lm", api_name="/inspect_dataset")["stored_path"])

            with pytest.raises(AppError, match=f"no model {PRIVATE} on the Hub, or it is private"):
                alice.predict(tiny_spec_yaml(Path(PRIVATE), stored), api_name="/submit_job")
            with pytest.raises(AppError, match=f"{GATED} is gated: accept its terms"):
                alice.predict(tiny_spec_yaml(Path(GATED), stored), api_name="/submit_job")
            with pytest.raises(AppError, match=f"no model {PRIVATE} on the Hub"):
                alice.predict(PRIVATE, api_name="/model_info")
            with pytest.raises(AppError, match=f"no model {PRIVATE} on the Hub, or it is private"):
                alice.predict(PRIVATE, api_name="/download_model")
            wrong = "hf_not_a_token_of_bob"
            with pytest.raises(AppError, match=f"{GATED} is gated"):
                alice.predict(tiny_spec_yaml(Path(GATED), stored), wrong, api_name="/submit_job")

            # With a token the Hub accepts (hers), the same cached snapshots are hers to use.
            assert alice.predict(PRIVATE, TOKEN, api_name="/model_info")["parameters"] > 0
            for repo_id in (PRIVATE, GATED):
                assert isinstance(alice.predict(tiny_spec_yaml(Path(repo_id), stored), TOKEN, api_name="/submit_job"), int)
        checks = [path for method, path, _, _ in hub.requests if path.endswith("/auth-check")]
        assert checks, "the Hub was never asked"
