"""Gradio's file route serves nothing it should not: system files, ``../`` escapes, the database, run folders."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from storage.db import get_engine
from storage.paths import data_home


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


@pytest.mark.parametrize(
    "target",
    [
        "/etc/passwd",
        "../../../../../../etc/passwd",
        "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/proc/self/environ",
    ],
)
def test_system_files_are_refused(app_url: str, target: str) -> None:
    status, body = fetch(f"{app_url}gradio_api/file={target}")
    assert status in (400, 403, 404), status
    assert b"root:" not in body


def test_the_database_and_run_folders_are_not_served(app_url: str, tmp_path: Path) -> None:
    get_engine()  # the database file exists
    home = data_home()
    secret_run = home.run_dir(1)
    secret_run.mkdir(parents=True)
    (secret_run / "spec.yaml").write_text("base_model: private\n")
    for path in (home.database_file, secret_run / "spec.yaml", Path(__file__)):
        status, body = fetch(f"{app_url}gradio_api/file={urllib.parse.quote(str(path))}")
        assert status in (400, 403, 404), (path, status)
        assert b"base_model" not in body and b"SQLite" not in body
