"""Running as a Space: the data home on /data, warnings for ephemeral or network storage, binding, deployment."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.errors import AdaptaError
from jobs.export.space_deploy import deploy_space, project_files
from launch import resolve_host
from storage.paths import data_home
from storage.space import space_settings
from tests.fake_hub import FakeHub

ROOT = Path(__file__).resolve().parents[1]


def test_outside_a_space_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert space_settings().on_space is False
    assert resolve_host(None) == "127.0.0.1"
    assert resolve_host("0.0.0.0") == "0.0.0.0"


def test_a_space_with_persistent_storage_keeps_the_data_home_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    persistent = tmp_path / "data"
    persistent.mkdir()
    mounts = tmp_path / "mounts"
    mounts.write_text(f"overlay / overlay rw 0 0\n/dev/vdb {persistent} ext4 rw 0 0\n")
    monkeypatch.setenv("SPACE_ID", "me/adapta")
    settings = space_settings(persistent, mounts)
    assert settings.on_space and settings.home == persistent / "adapta" and settings.warnings == []
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    assert resolve_host(None) == "0.0.0.0"


def test_network_mounts_and_missing_storage_are_warned_about(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPACE_ID", "me/adapta")
    persistent = tmp_path / "data"
    persistent.mkdir()
    mounts = tmp_path / "mounts"
    mounts.write_text(f"bucket {persistent} fuse.s3fs rw 0 0\n")
    assert "WAL mode is unsafe" in space_settings(persistent, mounts).warnings[0]
    missing = space_settings(tmp_path / "absent", mounts)
    assert missing.home is None and "no persistent storage" in missing.warnings[0]


def test_data_home_defaults_to_the_space_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADAPTA_HOME", raising=False)
    monkeypatch.setenv("SPACE_ID", "me/adapta")
    monkeypatch.setattr("storage.space.PERSISTENT_ROOT", tmp_path)
    assert data_home().root == tmp_path / "adapta"


def test_deploy_uploads_the_tracked_source_and_nothing_private(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    files = project_files()
    assert "launch.py" in files and "README.md" in files and "requirements.txt" in files
    assert not [name for name in files if name.startswith((".venv/", "data/", ".ci/"))]
    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        url = deploy_space("me/adapta", token="hf_test_token")
        with pytest.raises(AdaptaError, match="refused the Space"):
            deploy_space("me/adapta", token="hf_bad")
    assert url.endswith("me/adapta")
    assert hub.created[0]["type"] == "space" and hub.created[0]["sdk"] == "gradio"
    commit = hub.commits[-1]
    assert commit["type"] == "spaces" and set(commit["files"]) == set(files)
    readme = commit["files"]["README.md"].decode()
    assert readme.startswith("---\ntitle: Adapta") and "app_file: launch.py" in readme and "hf_oauth: true" in readme
