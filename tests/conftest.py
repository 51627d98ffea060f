"""Shared fixtures: offline mode, a fresh data home per test, and tiny models built once per session."""

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

import pytest  # noqa: E402

from tests.tiny import build_tiny_bert, build_tiny_llama  # noqa: E402

warnings.filterwarnings("ignore", message=".*Pandas4Warning.*")

pytest_plugins = ["tests.postgres"]


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
