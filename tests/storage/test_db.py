"""The engine: WAL mode, busy timeout, tables, the data-home layout."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from storage.db import BUSY_TIMEOUT_MS, DATABASE_TIMEOUT_SECONDS, DEFAULT_LEASE_SECONDS, database_url, get_engine, session_scope
from storage.paths import data_home, safe_name
from storage.tables import Job, JobStatus, Metric


def test_default_database_is_a_wal_sqlite_file_in_the_data_home(adapta_home: Path) -> None:
    url = database_url()
    assert url == f"sqlite:///{adapta_home / 'adapta.db'}"
    with get_engine().connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == BUSY_TIMEOUT_MS
    assert (adapta_home / "adapta.db").is_file()
    for folder in ("uploads", "runs", "models"):
        assert (adapta_home / folder).is_dir()


def test_db_url_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "elsewhere.db"
    monkeypatch.setenv("ADAPTA_DB_URL", f"sqlite:///{other}")
    with session_scope() as session:
        session.add(Job(name="x", task="causal-lm", method="lora", base_model="m", spec_json="{}"))
    assert other.is_file()


def test_jobs_and_metrics_persist_across_engines(adapta_home: Path) -> None:
    from storage.db import reset_engines

    with session_scope() as session:
        job = Job(name="run", task="causal-lm", method="lora", base_model="m", spec_json="{}")
        session.add(job)
        session.flush()
        session.add(Metric(job_id=job.id, step=1, name="loss", value=2.5))
    reset_engines()
    with session_scope() as session:
        stored = session.get(Job, 1)
        assert stored.status is JobStatus.QUEUED and stored.name == "run"


def test_run_folders_cannot_escape_the_data_home() -> None:
    home = data_home()
    assert home.run_dir(7) == home.runs / "7"
    assert home.contains(home.run_dir(7))
    assert not home.contains(home.root / ".." / "outside")
    assert safe_name("../../etc/passwd") == "etc-passwd"
    with pytest.raises(ValueError):
        safe_name("../..")


def test_a_database_from_an_older_adapta_gains_the_new_columns_and_keeps_its_rows(adapta_home: Path, tmp_path: Path) -> None:
    import sqlite3

    from jobs.queue import get_job, submit_job
    from storage.db import reset_engines

    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "hello"}\n')
    job_id = submit_job({"base_model": "some/model", "data": {"train": str(data)}})
    reset_engines()
    with sqlite3.connect(adapta_home / "adapta.db") as db:  # the job table as Adapta wrote it before the Hugging Face Jobs backend
        db.execute("DROP INDEX ix_job_backend")
        for column in ("backend", "remote_id", "remote_url"):
            db.execute(f"ALTER TABLE job DROP COLUMN {column}")
        assert "backend" not in [row[1] for row in db.execute("PRAGMA table_info(job)")]
    job = get_job(job_id)
    assert job.backend == "local" and job.remote_id is None and job.status.value == "queued" and job.base_model == "some/model"
    with sqlite3.connect(adapta_home / "adapta.db") as db:
        assert "ix_job_backend" in [row[1] for row in db.execute("PRAGMA index_list(job)")]


def test_every_database_wait_is_bounded_well_under_a_lease() -> None:
    assert DATABASE_TIMEOUT_SECONDS <= DEFAULT_LEASE_SECONDS / 4
    assert BUSY_TIMEOUT_MS == DATABASE_TIMEOUT_SECONDS * 1000


def test_a_write_blocked_by_another_connection_fails_after_the_busy_timeout_instead_of_hanging(
        adapta_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import storage.db as db

    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 300)  # the mechanism, quickly; the bound itself is checked above
    db.reset_engines()
    get_engine()
    holder = sqlite3.connect(adapta_home / "adapta.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holding the single write lock (a stuck writer)
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError, match="locked"):
            with session_scope() as session:
                session.add(Job(name="x", task="causal-lm", method="lora", base_model="m", spec_json="{}"))
        assert time.monotonic() - started < 3
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        db.reset_engines()
