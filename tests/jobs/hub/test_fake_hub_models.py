"""The fake Hub serves model repositories well enough for the real ``huggingface_hub`` client.

Every call here is the installed client's own (``HfApi.model_info``, ``snapshot_download``, ``hf_hub_download``,
``get_hf_file_metadata``) against ``tests.fake_hub.FakeHub(repos=...)`` on the loopback, pointed at it with
``use_fake_hub``. What the client does on the wire is asserted from ``hub.requests`` / ``hub.file_requests``.

Two facts about huggingface_hub 2.4 these tests pin down: a download killed mid-file is NOT resumed by the next
process (each download writes its own ``<etag>.<random>.incomplete`` and starts from byte 0, leaving the dead one's
partial file behind), and a body cut short IS resumed within the same call with ``Range: bytes=N-`` (N counts only
the bytes already flushed, in ``constants.DOWNLOAD_CHUNK_SIZE`` = 10 MiB pieces, so the tests make that small).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.fake_hub import FakeHub, ModelRepo, git_blob_sha1, use_fake_hub
from tests.hub_repos import DIFFUSERS_DECOYS, pickle_only_repo, remote_code_repo, tiny_causal_lm_repo, tiny_diffusers_repo

TOKEN = "hf_fake_hub_models_token"
WANTED = ["*.json", "*.safetensors", "*.jinja"]  # config, generation config, tokenizer files, weights (safetensors only)
DECOYS = {"pytorch_model.bin", "onnx/model.onnx", "flax_model.msgpack", "tf_model.h5", "README.md"}


@pytest.fixture(scope="session")
def llm_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return tiny_causal_lm_repo(tmp_path_factory.mktemp("hub-repos"))


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[[dict[str, ModelRepo]], FakeHub]]:
    """``serve({"acme/tiny": ModelRepo(...)})`` starts a fake Hub and points the client (and children) at it."""
    with ExitStack() as stack:
        def start(repos: dict[str, ModelRepo]) -> FakeHub:
            hub = stack.enter_context(FakeHub(valid_token=TOKEN, repos=repos))
            use_fake_hub(monkeypatch, hub, tmp_path / "hf-cache")
            return hub

        yield start


def _headers(hub: FakeHub, method: str, fragment: str) -> list[dict[str, str]]:
    """Lower-cased headers of the recorded requests with that method whose path contains ``fragment``."""
    return [{key.lower(): value for key, value in headers.items()} for verb, path, headers, _ in hub.requests
            if verb == method and fragment in path]


def test_model_info_reports_sizes_sha_config_and_the_real_parameter_count(serve: Callable, llm_files: dict[str, bytes],
                                                                           tmp_path: Path) -> None:
    from huggingface_hub import HfApi, model_info
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError
    from transformers import LlamaForCausalLM

    repo = ModelRepo(files=llm_files, pipeline_tag="text-generation", claimed_sizes={"tf_model.h5": 16_000_000_000})
    serve({"acme/tiny": repo})
    info = HfApi().model_info("acme/tiny", revision="main", files_metadata=True, token=False)
    assert info.id == "acme/tiny" and info.sha == repo.sha and len(info.sha) == 40 and not info.private and info.gated is False
    assert info.config["architectures"] == ["LlamaForCausalLM"] and info.config["model_type"] == "llama"
    assert {"transformers", "safetensors", "llama", "text-generation"} <= set(info.tags) and info.pipeline_tag == "text-generation"
    siblings = {sibling.rfilename: sibling for sibling in info.siblings}
    assert set(siblings) == set(llm_files)
    weights = siblings["model.safetensors"]
    assert weights.size == len(llm_files["model.safetensors"]) and weights.lfs is not None
    assert weights.lfs.sha256 == hashlib.sha256(llm_files["model.safetensors"]).hexdigest() and weights.lfs.size == weights.size
    assert siblings["config.json"].lfs is None and siblings["config.json"].blob_id == git_blob_sha1(llm_files["config.json"])
    assert siblings["tf_model.h5"].size == 16_000_000_000  # claimed, not served

    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        (folder / name).write_bytes(llm_files[name])
    parameters = LlamaForCausalLM.from_pretrained(folder).num_parameters()
    assert info.safetensors is not None and info.safetensors.total == parameters and info.safetensors.parameters == {"F32": parameters}

    by_sha = model_info("acme/tiny", revision=repo.sha)  # the module-level function is bound to an HfApi made at import
    assert by_sha.sha == repo.sha and by_sha.siblings[0].size is None  # no files_metadata: names only
    with pytest.raises(RevisionNotFoundError):
        HfApi().model_info("acme/tiny", revision="v9")
    with pytest.raises(RepositoryNotFoundError):
        HfApi().model_info("acme/missing")


def test_snapshot_download_fetches_only_the_allowed_files_with_the_served_bytes(serve: Callable, llm_files: dict[str, bytes]) -> None:
    from huggingface_hub import snapshot_download

    hub = serve({"acme/tiny": ModelRepo(files=llm_files)})
    folder = Path(snapshot_download("acme/tiny", allow_patterns=WANTED, revision="main", max_workers=8, token=False))
    wanted = {name for name in llm_files if name.endswith((".json", ".safetensors", ".jinja"))}
    assert {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"} <= wanted
    assert sorted(hub.file_requests("acme/tiny")) == sorted(wanted)
    touched = {path.split("/resolve/", 1)[1].split("/", 1)[1] for _, path, _, _ in hub.requests if "/resolve/" in path}
    assert touched == wanted and not touched & DECOYS  # no HEAD either
    assert {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()} == wanted
    assert all((folder / name).read_bytes() == llm_files[name] for name in wanted)
    api_calls = [path for _, path, _, _ in hub.requests if path.startswith("/api/")]
    assert api_calls[0] == "/api/models/acme/tiny/revision/main" and api_calls[1].startswith(f"/api/models/acme/tiny/tree/{folder.name}")

    before = len(hub.requests)
    assert snapshot_download("acme/tiny", allow_patterns=WANTED, revision="main", token=False) == str(folder)
    assert hub.file_requests("acme/tiny")[len(wanted):] == [] and len(hub.requests) - before == 1  # info; tree and files cached


def test_a_diffusers_repo_downloads_its_fp16_variant_without_the_decoys(serve: Callable, tmp_path_factory: pytest.TempPathFactory) -> None:
    from huggingface_hub import HfApi, snapshot_download

    files = tiny_diffusers_repo(tmp_path_factory.mktemp("hub-repos"))
    hub = serve({"acme/tiny-sd": ModelRepo(files=files)})
    info = HfApi().model_info("acme/tiny-sd", files_metadata=True)
    assert info.config == {"diffusers": {"_class_name": "StableDiffusionPipeline"}} and info.library_name == "diffusers"
    components = [name for name, value in json.loads(files["model_index.json"]).items() if isinstance(value, list) and value[0]]
    assert sorted(components) == ["scheduler", "text_encoder", "tokenizer", "unet", "vae"]  # safety_checker / feature_extractor: null
    patterns = ["model_index.json"] + [f"{name}/{kind}" for name in components for kind in ("*.json", "*.txt", "*.fp16.safetensors")]
    folder = Path(snapshot_download("acme/tiny-sd", allow_patterns=patterns, token=False))
    fetched = set(hub.file_requests("acme/tiny-sd"))
    assert {"unet/diffusion_pytorch_model.fp16.safetensors", "vae/diffusion_pytorch_model.fp16.safetensors",
            "text_encoder/model.fp16.safetensors", "model_index.json", "tokenizer/tokenizer.json"} <= fetched
    assert not fetched & set(DIFFUSERS_DECOYS) and all(name.endswith(".fp16.safetensors") for name in fetched if name.endswith(".safetensors"))
    weights = (folder / "unet/diffusion_pytorch_model.fp16.safetensors").read_bytes()
    header = json.loads(weights[8:8 + int.from_bytes(weights[:8], "little")])
    assert {tensor["dtype"] for name, tensor in header.items() if name != "__metadata__"} == {"F16"}


def test_a_body_cut_short_is_resumed_with_a_range_request(serve: Callable, llm_files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants, hf_hub_download

    hub = serve({"acme/flaky": ModelRepo(files=llm_files, interrupt_after_bytes=100_000)})
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 8192)  # 10 MiB by default: a tiny file would restart from 0
    path = hf_hub_download("acme/flaky", "model.safetensors", token=False)
    assert Path(path).read_bytes() == llm_files["model.safetensors"]
    gets = _headers(hub, "GET", "/model.safetensors")
    assert len(gets) == 2 and "range" not in gets[0]
    resumed_at = int(gets[1]["range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 100_000 and resumed_at % 8192 == 0
    assert hub.bytes_sent("acme/flaky", "model.safetensors") == 100_000 + len(llm_files["model.safetensors"]) - resumed_at


def test_a_killed_downloader_is_not_resumed_by_the_next_one(serve: Callable, llm_files: dict[str, bytes], tmp_path: Path,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    from huggingface_hub import hf_hub_download

    size = len(llm_files["model.safetensors"])
    hub = serve({"acme/slow": ModelRepo(files=llm_files, throttle_bytes_per_second=400_000)})
    code = ("from huggingface_hub import constants, hf_hub_download; constants.DOWNLOAD_CHUNK_SIZE = 8192; "
            "hf_hub_download('acme/slow', 'model.safetensors', token=False)")
    child = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    blobs = tmp_path / "hf-cache" / "models--acme--slow" / "blobs"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (hub.bytes_sent("acme/slow", "model.safetensors") > size // 4 and blobs.is_dir()
                                               and any(path.stat().st_size for path in blobs.glob("*.incomplete"))):
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    partial = list(blobs.glob("*.incomplete"))
    assert len(partial) == 1 and 0 < partial[0].stat().st_size < size
    etag = hashlib.sha256(llm_files["model.safetensors"]).hexdigest()
    assert partial[0].name.startswith(f"{etag}.")  # <etag>.<8 random hex>.incomplete: private to the dead process

    hub.repos["acme/slow"].throttle_bytes_per_second = None
    path = hf_hub_download("acme/slow", "model.safetensors", token=False)
    assert Path(path).read_bytes() == llm_files["model.safetensors"]
    gets = _headers(hub, "GET", "/model.safetensors")
    assert len(gets) == 2 and not any("range" in headers for headers in gets)  # started over from byte 0
    assert partial[0].exists()  # the dead download's partial file stays behind: cleaning it is the caller's business
    assert "Traceback" not in capfd.readouterr().err  # the server shrugged off the vanished client


def test_gated_and_private_repos_need_the_token_and_get_it_sent(serve: Callable, llm_files: dict[str, bytes]) -> None:
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    hub = serve({"acme/gated": ModelRepo(files=llm_files, gated=True), "acme/secret": ModelRepo(files=llm_files, private=True)})
    assert HfApi().model_info("acme/gated", token=False).gated == "manual"  # the card is public, the files are not
    with pytest.raises(GatedRepoError):
        hf_hub_download("acme/gated", "config.json", token=False)
    with pytest.raises(GatedRepoError):
        snapshot_download("acme/gated", allow_patterns=["config.json"], token="hf_someone_else")
    assert hub.file_requests("acme/gated") == []  # refused at the HEAD
    refused = [headers.get("authorization") for headers in _headers(hub, "HEAD", "/acme/gated/resolve/")]
    assert refused == [None, "Bearer hf_someone_else"]
    hub.requests.clear()
    folder = snapshot_download("acme/gated", allow_patterns=WANTED, token=TOKEN)
    assert (Path(folder) / "model.safetensors").read_bytes() == llm_files["model.safetensors"]
    sent = [headers.get("authorization") for method in ("HEAD", "GET") for headers in _headers(hub, method, "/acme/gated/")]
    assert len(sent) > 2 * 5 and set(sent) == {f"Bearer {TOKEN}"}  # info, tree, every HEAD and GET carried the token

    with pytest.raises(RepositoryNotFoundError):
        HfApi().model_info("acme/secret", token=False)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("acme/secret", "config.json", token=False)
    assert HfApi().model_info("acme/secret", token=TOKEN).private is True
    assert Path(hf_hub_download("acme/secret", "config.json", token=TOKEN)).read_bytes() == llm_files["config.json"]


def test_file_metadata_ranges_and_missing_files_answer_like_the_hub(serve: Callable, llm_files: dict[str, bytes]) -> None:
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError

    repo = ModelRepo(files=llm_files)
    hub = serve({"acme/tiny": repo})
    weights = get_hf_file_metadata(hf_hub_url("acme/tiny", "model.safetensors"))
    assert weights.etag == hashlib.sha256(llm_files["model.safetensors"]).hexdigest() and weights.commit_hash == repo.sha
    assert weights.size == len(llm_files["model.safetensors"]) and weights.xet_file_data is None
    config = get_hf_file_metadata(hf_hub_url("acme/tiny", "config.json", revision=repo.sha))
    assert config.etag == git_blob_sha1(llm_files["config.json"]) and config.size == len(llm_files["config.json"])
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("acme/tiny", "nope.json", token=False)

    url = hf_hub_url("acme/tiny", "model.safetensors")
    part = httpx.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == llm_files["model.safetensors"][10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(llm_files['model.safetensors'])}" and part.headers["Accept-Ranges"] == "bytes"
    assert httpx.get(url, headers={"Range": "bytes=99999999-"}).status_code == 416
    assert hub.file_requests("acme/tiny") == ["model.safetensors", "model.safetensors"]


def test_pickle_only_and_remote_code_repos_say_so_in_their_info(serve: Callable, tmp_path_factory: pytest.TempPathFactory) -> None:
    from huggingface_hub import HfApi

    folder = tmp_path_factory.mktemp("hub-repos")
    serve({"acme/pickle": ModelRepo(files=pickle_only_repo(folder)), "acme/custom": ModelRepo(files=remote_code_repo(folder))})
    pickled = HfApi().model_info("acme/pickle", files_metadata=True)
    assert [sibling.rfilename for sibling in pickled.siblings] == ["config.json", "pytorch_model.bin"]
    assert pickled.safetensors is None and pickled.siblings[1].lfs is not None and "safetensors" not in pickled.tags
    custom = HfApi().model_info("acme/custom", files_metadata=True)
    assert "custom_code" in custom.tags and custom.config["auto_map"]["AutoModelForCausalLM"] == "modeling_custom.CustomForCausalLM"
    assert "modeling_custom.py" in {sibling.rfilename for sibling in custom.siblings} and custom.safetensors.total > 0
