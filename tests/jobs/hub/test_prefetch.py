""""Download now" and the downloaded-models list: a background download with progress, stop, the cache scan and delete."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from jobs.errors import ModelError
from jobs.hub.prefetch import cancel_prefetch, delete_downloaded, downloaded_models, prefetch_state, start_prefetch
from jobs.models.hub_cache import cached_snapshot
from tests.fake_hub import FakeHub, ModelRepo, use_fake_hub
from tests.hub_repos import tiny_causal_lm_repo


def wait_until_settled(repo_id: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = prefetch_state(repo_id)
        if state is not None and not state.running:
            return state.status
        time.sleep(0.1)
    raise AssertionError(f"the download of {repo_id} did not settle")


def test_download_now_shows_progress_lists_the_model_and_deletes_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    files = tiny_causal_lm_repo(tmp_path / "llama")
    repos = {"acme/slow": ModelRepo(files=files, throttle_bytes_per_second=150_000), "acme/quick": ModelRepo(files=files)}
    with FakeHub(repos=repos) as hub:
        use_fake_hub(monkeypatch, hub, tmp_path / "cache")
        start_prefetch("acme/slow", token=False)
        deadline = time.monotonic() + 30
        while (state := prefetch_state("acme/slow")).progress is None or state.progress.done_bytes == 0:
            assert time.monotonic() < deadline, "no progress reported"
            time.sleep(0.05)
        assert state.status == "downloading" and "downloading acme/slow:" in state.line() and "/s" in state.line()
        assert cancel_prefetch("acme/slow")
        assert wait_until_settled("acme/slow") == "cancelled" and cached_snapshot("acme/slow") is None
        start_prefetch("acme/quick", token=False)
        assert wait_until_settled("acme/quick") == "done", prefetch_state("acme/quick").message
        assert prefetch_state("acme/quick").line().startswith("✅ acme/quick is downloaded")
    listed = {row["id"]: row for row in downloaded_models()}
    assert listed["acme/quick"]["size_bytes"] >= len(files["model.safetensors"]) and listed["acme/quick"]["revisions"] == 1
    with pytest.raises(ModelError, match="base of a queued or running job"):
        delete_downloaded("acme/quick", in_use={"acme/quick"})
    assert delete_downloaded("acme/quick") >= len(files["model.safetensors"])
    assert "acme/quick" not in {row["id"] for row in downloaded_models()} and cached_snapshot("acme/quick") is None
    with pytest.raises(ModelError, match="not in the Hugging Face cache"):
        delete_downloaded("acme/quick")


def test_download_now_refuses_what_a_job_would_refuse(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with FakeHub(repos={"acme/gated": ModelRepo(files=tiny_causal_lm_repo(tmp_path / "llama"), gated=True)}) as hub:
        use_fake_hub(monkeypatch, hub, tmp_path / "cache")
        start_prefetch("acme/gated", token=False)
        assert wait_until_settled("acme/gated") == "failed"
        assert "accept its terms" in prefetch_state("acme/gated").line()
    with pytest.raises(ModelError, match="not a Hub model id"):
        start_prefetch("http://example.com/x")
