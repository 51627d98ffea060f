""""Download now" on a shared server belongs to who started it: another user neither sees its progress nor stops it, and
each user's "Downloaded models" lists only what they downloaded."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest

from jobs.hub.prefetch import cancel_prefetch, downloaded_models, downloads_of, prefetch_state, start_prefetch
from tests.fake_hub import FakeHub, ModelRepo, use_fake_hub
from tests.hub_repos import tiny_causal_lm_repo


def settled(repo_id: str, owner: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = prefetch_state(repo_id, owner=owner)
        if state is not None and not state.running:
            return state.status
        time.sleep(0.05)
    raise AssertionError(f"{owner}'s download of {repo_id} did not settle")


def test_a_download_is_seen_and_stopped_only_by_who_started_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, adapta_home: Path) -> None:
    files = tiny_causal_lm_repo(tmp_path / "llama")
    with FakeHub(repos={"acme/private-slow": ModelRepo(files=files, throttle_bytes_per_second=400_000)}) as hub:
        use_fake_hub(monkeypatch, hub, tmp_path / "cache")
        start_prefetch("acme/private-slow", token=False, owner="bob")
        assert prefetch_state("acme/private-slow", owner="alice") is None, "alice sees bob's download"
        assert not cancel_prefetch("acme/private-slow", owner="alice"), "alice stopped bob's download"
        assert prefetch_state("acme/private-slow", owner="bob").running
        assert settled("acme/private-slow", "bob") == "done", prefetch_state("acme/private-slow", owner="bob").message
    assert [row["id"] for row in downloaded_models(owner="bob")] == ["acme/private-slow"]
    assert downloaded_models(owner="alice") == [], "alice's list shows bob's private model"
    assert set(downloads_of("bob")) == {"acme/private-slow"} and downloads_of("alice") == {}
    record = next((adapta_home / "downloads").glob("bob.json"))
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
