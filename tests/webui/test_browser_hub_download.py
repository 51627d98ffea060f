"""The online newcomer path in real Chromium: search the Hub, pick a model, train on it; the job downloads it first.

The app runs as ``launch.py`` (with its embedded worker) pointed at the loopback fake Hub of ``tests/fake_hub.py``,
which serves a real tiny Llama with throttled weights, so the Jobs tab shows the download phase for a few seconds.
Checks: search results, the picked row filling the Model box, "Use this model", the data upload, the Train form's
submit, the Jobs tab's download line (table "⬇️ NN%", detail "downloading the base model"), success, the run pinned
to the repo's commit, and no decoy file (pickle, ONNX, Flax, TF weights) ever requested. A screenshot of the download
phase goes to ``tests/webui/artifacts/jobs-downloading.png`` (git-ignored).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml

from tests.fake_hub import FakeHub, ModelRepo
from tests.hub_repos import CAUSAL_LM_DECOYS, tiny_causal_lm_repo
from tests.served_app import served_app
from tests.webui.conftest import ARTIFACTS, needs_chromium
from tests.webui.test_browser import fill, shot, wait_text

pytestmark = needs_chromium

LLAMA = "acme/tiny-llama"
THROTTLE = 100_000  # bytes/s: the ~500 KB model.safetensors takes ~5 s, so the Jobs tab (polled every 2 s) shows the download
SEARCH_RESULTS = [
    {"id": LLAMA, "modelId": LLAMA, "pipeline_tag": "text-generation", "downloads": 10, "likes": 1,
     "tags": ["transformers", "safetensors", "llama", "text-generation"], "private": False},
    {"id": "acme/other-model", "modelId": "acme/other-model", "pipeline_tag": "text-generation", "downloads": 3, "likes": 0,
     "tags": ["transformers"], "private": False},
]
DOWNLOAD_CELL = re.compile(r"⬇️\s*\d{1,3}%")


def test_a_hub_model_is_searched_picked_downloaded_by_the_job_and_trained(page: object, monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path, qa_jsonl: Path) -> None:
    from jobs.queue import get_job, list_jobs
    from storage.db import reset_engines
    from storage.tables import JobStatus

    # The served app gets a data home of its own: a session-wide worker thread of this test process follows ADAPTA_HOME and,
    # running offline, must not claim the served app's job.
    served_home = tmp_path / "served-home"

    repo = ModelRepo(files=tiny_causal_lm_repo(tmp_path / "repo-build"), pipeline_tag="text-generation", throttle_bytes_per_second=THROTTLE)
    env = {"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0", "HF_HUB_CACHE": str(tmp_path / "hf-cache"),
           "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    with FakeHub(models=SEARCH_RESULTS, repos={LLAMA: repo}) as hub, \
            served_app([], home=served_home, env={**env, "HF_ENDPOINT": hub.url}) as app:
        page.goto(app.url)
        # 1 · Models: search the Hub, click the result row; the id fills the Model box and the check describes it
        wait_text(page, "#hub-notice", "2 models found on the Hub")  # the search on load asked the (fake) Hub
        query = page.get_by_label("Search", exact=True).first
        query.fill("tiny")
        query.press("Enter")
        wait_text(page, "#model-results", "tiny-llama")  # the table shows the repo's name and owner; selection keeps the id
        page.locator("#model-results [role=gridcell]").filter(has_text="tiny-llama").first.click()
        model_ref = page.locator("#model-ref textarea, #model-ref input").first
        deadline = time.monotonic() + 30
        while model_ref.input_value() != LLAMA and time.monotonic() < deadline:
            time.sleep(0.2)
        assert model_ref.input_value() == LLAMA
        wait_text(page, "#model-info", "Adapta can adapt this model")
        shot(page, "hub-01-model-picked")
        page.locator("#model-use").click()
        # 2 · Data: upload the small question/answer file and hand it to the Train form
        page.get_by_role("tab", name="2 · Data", selected=True).wait_for()
        page.locator("#data-upload input[type=file]").set_input_files(str(qa_jsonl))
        wait_text(page, "#data-status", "is ready")
        page.locator("#data-use").click()
        # 3 · Train: the base model came from the Models tab; a tiny LoRA run
        page.get_by_role("tab", name="3 · Train", selected=True).wait_for()
        wait_text(page, "#train-why-epochs", "rows")  # the recommendations are in; the settings below are the user's
        page.locator("#train-advanced").first.get_by_text("Advanced", exact=True).first.click()  # model, steps and LoRA live there
        assert page.locator("#train-base-model textarea, #train-base-model input").first.input_value() == LLAMA
        page.locator("#field-method input").first.click()
        page.get_by_role("option", name="lora", exact=True).click()
        fill(page, "field-training-max-steps", "4")
        fill(page, "field-training-batch-size", "2")
        fill(page, "field-training-learning-rate", "0.02")
        page.locator("#field-lora-target-modules input").first.fill("all-linear")
        page.locator("#train-submit").click()
        # 4 · Jobs: the download phase, then success
        page.get_by_role("tab", name="4 · Jobs", selected=True).wait_for()
        wait_text(page, "#job-detail", "downloading the base model", timeout_s=90)
        detail = page.locator("#job-detail").inner_text()
        table = page.locator("#jobs-table").inner_text()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "jobs-downloading.png"), full_page=True)
        assert "⬇️" in detail and LLAMA in table, (detail, table)
        assert DOWNLOAD_CELL.search(table), table
        wait_text(page, "#job-detail", "succeeded", timeout_s=120)
        shot(page, "hub-02-job-succeeded")
        requested = hub.file_requests(LLAMA)
        searches = [path for method, path, _headers, _body in hub.requests if method == "GET" and path.startswith("/api/models?")]
    monkeypatch.setenv("ADAPTA_HOME", str(served_home))
    reset_engines()
    [job] = list_jobs()
    job = get_job(int(job.id))
    assert job.status is JobStatus.SUCCEEDED, (job.error, job.log_tail)
    assert job.base_model == LLAMA
    assert yaml.safe_load((Path(job.run_dir) / "spec.yaml").read_text())["base_model_revision"] == repo.sha
    assert any("search=tiny" in path for path in searches), searches  # the typed query reached the Hub
    assert "model.safetensors" in requested, requested
    # The detail view read the model card once (README.md, over HTTP, not into the cache); the job's download fetched no decoy.
    assert requested.count("README.md") == 1 and not set(requested) & (set(CAUSAL_LM_DECOYS) - {"README.md"}), requested
