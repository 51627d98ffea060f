"""Fixtures shared by the data tests: the tiny tokenizer (no model)."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from tests.tiny import build_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("tokenizer")
    build_tokenizer(folder)
    return AutoTokenizer.from_pretrained(folder)
