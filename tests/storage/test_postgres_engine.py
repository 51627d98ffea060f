"""The engine on a real PostgreSQL server: tables, a round trip, SKIP LOCKED, timestamps, isolation."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import OperationalError, StatementError
from sqlmodel import Session, select

from storage import db
from storage.tables import Job, JobStatus
from tests.postgres import fresh_database


def _job(name: str, **fields) -> Job:
    return Job(name=name, task="causal-lm", method="lora", base_model="m", spec_json="{}", **fields)


def test_engine_creates_tables_and_round_trips_a_job(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = fresh_database(postgres_url, "round_trip")
    monkeypatch.setenv("ADAPTA_DB_URL", url)
    db.reset_engines()
    engine = db.get_engine()
    assert engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
    assert {"job", "metric", "dataset", "artifact"} <= set(inspect(engine).get_table_names())
    with db.session_scope() as session:
        job = _job("pg-run", priority=3)
        session.add(job)
        session.flush()
        job_id = job.id
    db.reset_engines()
    with db.session_scope() as session:
        stored = session.get(Job, job_id)
        assert stored.name == "pg-run" and stored.priority == 3 and stored.status is JobStatus.QUEUED


def test_select_for_update_skip_locked(postgres_db_url: str) -> None:
    with db.session_scope() as session:
        session.add_all([_job("first"), _job("second")])
    engine = db.get_engine()
    query = select(Job).where(Job.status == JobStatus.QUEUED).order_by(Job.id).limit(1).with_for_update(skip_locked=True)
    assert "FOR UPDATE SKIP LOCKED" in str(query.compile(engine))
    with Session(engine) as holder:
        locked = holder.exec(query).one()
        assert locked.name == "first"
        seen: list[str] = []

        def other_worker() -> None:  # a second connection must skip the row the first one holds
            with Session(engine) as session:
                seen.append(session.exec(query).one().name)

        worker = threading.Thread(target=other_worker)
        worker.start()
        worker.join(timeout=10)
        assert not worker.is_alive() and seen == ["second"]
        holder.rollback()


def test_each_test_gets_an_empty_database(postgres_db_url: str) -> None:
    assert postgres_db_url.startswith("postgresql+psycopg://") and db.database_url() == postgres_db_url
    with db.session_scope() as session:
        assert session.exec(select(Job)).all() == []


def test_timestamps_round_trip_as_aware_utc_whatever_the_session_timezone(postgres_db_url: str) -> None:
    """sqlmodel maps ``datetime`` to UTCDateTime: TIMESTAMP WITH TIME ZONE on PostgreSQL, aware UTC values back."""
    engine = db.get_engine()
    column = inspect(engine).get_columns("job")
    assert {c["name"]: c["type"].timezone for c in column if c["name"] == "lease_expires_at"} == {"lease_expires_at": True}
    moment = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    with db.session_scope() as session:
        session.add(_job("timed", lease_expires_at=moment))
    with Session(engine) as session:
        session.connection().execute(text("SET TIME ZONE 'America/New_York'"))
        stored = session.exec(select(Job)).one()
        assert stored.lease_expires_at == moment and stored.lease_expires_at.tzinfo is UTC
        assert stored.lease_expires_at.hour == 1
        assert session.exec(select(Job.id).where(Job.lease_expires_at < moment + timedelta(seconds=1))).all() == [stored.id]
        assert session.exec(select(Job.id).where(Job.lease_expires_at < moment)).all() == []
        session.rollback()


def test_naive_datetimes_are_refused(postgres_db_url: str) -> None:
    with pytest.raises(StatementError, match="timezone information"):
        with db.session_scope() as session:
            session.add(_job("naive", lease_expires_at=datetime(2030, 1, 2, 3, 4, 5)))


def test_statements_and_lock_waits_are_bounded_well_under_a_lease(postgres_db_url: str) -> None:
    with db.get_engine().connect() as connection:
        assert connection.execute(text("SHOW statement_timeout")).scalar() == f"{round(db.DATABASE_TIMEOUT_SECONDS)}s"
        assert connection.execute(text("SHOW lock_timeout")).scalar() == f"{round(db.DATABASE_TIMEOUT_SECONDS)}s"
    short = create_engine(postgres_db_url, connect_args=db.postgres_connect_args(postgres_db_url, timeout_seconds=0.5))
    try:
        with short.connect() as connection:
            started = time.monotonic()
            with pytest.raises(OperationalError, match="statement timeout"):
                connection.execute(text("SELECT pg_sleep(30)"))  # a statement that would hang a lease renewal
            assert time.monotonic() - started < 5
    finally:
        short.dispose()


def test_a_server_that_never_answers_fails_the_connection_within_the_bound() -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, then says nothing: a hung server or a black-holed network
    url = f"postgresql+psycopg://adapta@127.0.0.1:{silent.getsockname()[1]}/adapta?sslmode=disable"
    engine = create_engine(url, connect_args=db.postgres_connect_args(url, timeout_seconds=2))
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError, match="timeout"):
            engine.connect()
        assert time.monotonic() - started < 10
    finally:
        engine.dispose()
        silent.close()


def test_settings_the_url_names_are_left_to_the_url() -> None:
    args = db.postgres_connect_args("postgresql+psycopg://u@h/d?connect_timeout=30&options=-c%20search_path%3Dx")
    assert "connect_timeout" not in args and "options" not in args and args["tcp_user_timeout"] == db.BUSY_TIMEOUT_MS
