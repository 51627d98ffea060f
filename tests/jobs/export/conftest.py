"""llama.cpp for the export tests: skipped (with the reason) only when Node.js is absent; a missing npm install is a failure."""

from __future__ import annotations

import shutil

import pytest

from jobs.export.gguf_llamacpp import llamacpp_status


@pytest.fixture(scope="session")
def llamacpp() -> str:
    """The llama.cpp that verifies exports; the test fails when Node.js is here but ``make install-dev`` did not install it."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed, so llama.cpp (node-llama-cpp) cannot run; install Node.js 20+ and run make install-dev")
    status = llamacpp_status()
    assert status.installed, status.reason
    return status.reason
