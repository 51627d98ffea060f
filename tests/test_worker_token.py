"""A standalone ``launch.py worker`` may run anybody's job: the operator's ``HF_TOKEN`` in its environment never reaches a job's
process (before, every job ran with it, so a visitor's job read whatever the operator's account can). A gated model then fails
in the job with the sentence naming its page, and the loopback Hub saw no request carrying the operator's token."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fake_hub import FakeHub, ModelRepo
from tests.finished_jobs import write_planet_questions
from tests.hub_repos import tiny_causal_lm_repo
from tests.served_app import ROOT, run_launch
from tests.webui.conftest import tiny_spec_yaml

OPERATOR_TOKEN = "hf_operator_can_read_everything"


def job_row(home: Path, job_id: int) -> tuple[str, str | None]:
    with sqlite3.connect(f"file:{home / 'adapta.db'}?mode=ro", uri=True, timeout=10) as connection:
        status, error = connection.execute("SELECT status, error FROM job WHERE id = ?", (job_id,)).fetchone()
    return str(status).lower(), error


@pytest.mark.timeout(400)
def test_a_standalone_worker_withholds_the_operators_token_from_jobs(tmp_path: Path) -> None:
    home = tmp_path / "worker-home"  # not this test process's data home: a worker thread of the test session must not claim it
    spec = tmp_path / "spec.yaml"
    spec.write_text(tiny_spec_yaml(Path("acme/gated-llm"), write_planet_questions(tmp_path / "planets.jsonl")), encoding="utf-8")
    repos = {"acme/gated-llm": ModelRepo(files=tiny_causal_lm_repo(tmp_path / "llama"), gated=True)}
    with FakeHub(valid_token=OPERATOR_TOKEN, repos=repos) as hub:
        env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_HUB_CACHE": str(tmp_path / "hf-cache"),
               "HF_HOME": str(tmp_path / "hf-home"), "HF_TOKEN": OPERATOR_TOKEN}
        submitted = run_launch("submit", str(spec), home=home, env=env)
        assert submitted.returncode == 0, submitted.stderr
        job_id = int(submitted.stdout.split()[-1])
        log = (tmp_path / "worker.log").open("wb")
        worker = subprocess.Popen([sys.executable, str(ROOT / "launch.py"), "worker", "--heartbeat", "1", "--lease", "10"],
                                  env={**os.environ, "ADAPTA_HOME": str(home), **env}, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            deadline = time.monotonic() + 300
            while (row := job_row(home, job_id))[0] in ("queued", "running") and time.monotonic() < deadline:
                time.sleep(1)
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
            log.close()
        status, error = row
        assert status == "failed", f"{status}: {error}\n{(tmp_path / 'worker.log').read_text(errors='replace')[-2000:]}"
        assert "acme/gated-llm is gated: accept its terms" in (error or "")
        assert hub.requests and not [headers for _, _, headers, _ in hub.requests if OPERATOR_TOKEN in str(headers)], \
            "a job's request carried the operator's token"
