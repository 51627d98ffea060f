"""Fixtures shared by the queue tests: the database under test, SQLite or PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from storage.db import reset_engines


@pytest.fixture(params=["sqlite", "postgresql"])
def queue_db(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, adapta_home: Path) -> str:
    """The database URL under test; PostgreSQL gets a fresh database on the test server."""
    if request.param == "postgresql":
        from tests.postgres import fresh_database

        url = fresh_database(request.getfixturevalue("postgres_url"), f"queue_{uuid.uuid4().hex[:12]}")
        monkeypatch.setenv("ADAPTA_DB_URL", url)
    else:
        url = f"sqlite:///{adapta_home / 'adapta.db'}"
    reset_engines()
    return url
