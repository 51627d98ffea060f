"""Fair sharing on a real ``launch.py --auth`` server, through ``gradio_client``: uploads stop at each user's quota and rate,
exports are per caller under the data home (owner-only files, 20 concurrent downloads of one job all succeed), and "Download
now" belongs to who started it (another user's ``/download_status`` shows nothing of it)."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.fake_hub import FakeHub, ModelRepo
from tests.hub_repos import tiny_causal_lm_repo
from tests.served_app import ServedApp, add_accounts, served_app
from webui.upload_quota import UPLOADS_PER_WINDOW

PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-2", "carol": "carol-password-3"}
QUOTA_MB = 0.05  # 50 kB per user, so two 30 kB uploads pass it


@dataclass
class Server:
    app: ServedApp
    home: Path
    hub: FakeHub
    job_id: int

    def client(self, name: str) -> Client:
        return Client(self.app.url, auth=(name, PASSWORDS[name]), verbose=False)


def succeeded_job(home: Path, owner: str) -> int:
    """A succeeded job row of ``owner`` with an adapter/ folder to export (written before the server starts)."""
    from storage.db import reset_engines, session_scope
    from storage.tables import Job, JobStatus

    reset_engines()
    with session_scope() as session:
        job = Job(name="exported", owner=owner, status=JobStatus.SUCCEEDED, task="causal-lm", method="lora", base_model="m", spec_json="{}")
        session.add(job)
        session.flush()
        job_id = int(job.id)
        run_dir = home / "runs" / str(job_id)
        job.run_dir = str(run_dir)
        session.add(job)
    (run_dir / "adapter").mkdir(parents=True)
    (run_dir / "adapter" / "adapter_model.safetensors").write_bytes(os.urandom(200_000))
    (run_dir / "adapter" / "adapter_config.json").write_text('{"r": 8}')
    reset_engines()
    return job_id


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("fair")
    home = root / "home"
    home.mkdir()
    add_accounts(home, PASSWORDS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADAPTA_HOME", str(home))
        job_id = succeeded_job(home, "alice")
    files = tiny_causal_lm_repo(root / "llama")
    env = {"ADAPTA_USER_QUOTA_MB": str(QUOTA_MB), "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_HUB_CACHE": str(root / "hf-cache"),
           "HF_HOME": str(root / "hf-home")}
    with FakeHub(repos={"acme/slow": ModelRepo(files=files, throttle_bytes_per_second=100_000)}) as hub, \
            served_app(["--auth", "--no-worker"], home=home, env={**env, "HF_ENDPOINT": hub.url}) as app:
        yield Server(app, home, hub, job_id)


def rows_file(folder: Path, name: str, size: int) -> Path:
    """A JSON Lines file of about ``size`` bytes whose content is unique to ``name``."""
    line = json.dumps({"text": f"{name} " + "x" * 90}) + "\n"
    path = folder / f"{name}.jsonl"
    path.write_text(line * max(1, size // len(line)), encoding="utf-8")
    return path


def upload(client: Client, path: Path) -> dict:
    return client.predict(handle_file(str(path)), "auto", "causal-lm", api_name="/inspect_dataset")


def test_uploads_stop_at_each_users_quota(server: Server, tmp_path: Path) -> None:
    alice, bob = server.client("alice"), server.client("bob")
    upload(alice, rows_file(tmp_path, "first", 30_000))
    with pytest.raises(AppError, match=r"over the 0 MB each user may keep on this server|over the \d+ MB each user may keep"):
        upload(alice, rows_file(tmp_path, "second", 30_000))
    assert upload(bob, rows_file(tmp_path, "bobs", 30_000))["rows"] > 0, "alice's quota is not bob's"
    stored = sum(path.stat().st_size for path in (server.home / "uploads" / "users" / "alice").rglob("*") if path.is_file())
    assert stored < QUOTA_MB * 1024 * 1024


def test_uploads_stop_at_each_users_rate(server: Server, tmp_path: Path) -> None:
    carol = server.client("carol")
    for number in range(UPLOADS_PER_WINDOW):
        upload(carol, rows_file(tmp_path, f"small-{number}", 200))
    with pytest.raises(AppError, match=f"you uploaded {UPLOADS_PER_WINDOW} files in the last 60 seconds"):
        upload(carol, rows_file(tmp_path, "one-too-many", 200))


def test_twenty_concurrent_exports_succeed_into_the_callers_private_folder(server: Server) -> None:
    # One client per call: gradio_client's one event stream per client cancels calls of its own under load, which is no
    # server failure; twenty browsers of one user are what the break was about.
    clients = [server.client("alice") for _ in range(20)]  # signed in one after another (sign-in checks one password at a time)
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda client: client.predict(str(server.job_id), api_name="/download_job"), clients))
    assert len(results) == 20 and all(Path(path).stat().st_size > 200_000 for path in results)
    folder = server.home / "exports" / "alice"
    zips = sorted(folder.iterdir())
    assert [path.name for path in zips] == [f"job-{server.job_id}-adapter.zip"], "temporary zips were left behind"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and stat.S_IMODE(zips[0].stat().st_mode) == 0o600
    with pytest.raises(AppError, match=f"there is no job {server.job_id}"):
        server.client("bob").predict(str(server.job_id), api_name="/download_job")
    assert not (server.home / "exports" / "bob").exists() or not any((server.home / "exports" / "bob").iterdir())


def test_another_users_download_is_not_shown_to_you(server: Server) -> None:
    bob, alice = server.client("bob"), server.client("alice")
    bob.predict("acme/slow", api_name="/download_model")
    deadline = time.monotonic() + 60
    while "acme/slow" not in (line := bob.predict("acme/slow", api_name="/download_status")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "acme/slow" in line, line
    assert alice.predict("acme/slow", api_name="/download_status") == "", "alice sees bob's download"
