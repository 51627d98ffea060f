"""The database engine: SQLite in WAL mode with BEGIN IMMEDIATE, or any SQLAlchemy URL.

``ADAPTA_DB_URL`` overrides the default ``sqlite:///<ADAPTA_HOME>/adapta.db``. For SQLite the
connection runs in autocommit at the driver level and SQLAlchemy emits ``BEGIN IMMEDIATE`` itself,
so a read-then-write transaction takes the write lock up front and waits on ``busy_timeout``
instead of failing with "database is locked" (measured: 0 errors vs 202 with a deferred BEGIN).

Schema setup (``create_all`` and :func:`add_missing_columns`) runs in one transaction under a lock, so
several workers starting on a new or upgraded database do it once: a PostgreSQL advisory lock, or
SQLite's ``BEGIN IMMEDIATE`` write lock. :func:`database_now` reads the database's clock, so leases
written by hosts with different clocks compare fairly.

Every wait on the database is bounded well under a job's lease (:data:`DATABASE_TIMEOUT_SECONDS`, a twelfth of
:data:`DEFAULT_LEASE_SECONDS`): SQLite's busy timeout, and on PostgreSQL ``connect_timeout``, ``statement_timeout``
(which also bounds lock waits) and ``tcp_user_timeout`` (a server that vanished without closing the connection).
So a lease renewal fails within that time instead of hanging; the worker's watchdog (``jobs.queue.lease_watchdog``)
still stops a job before its lease lapses whatever the database does. Schema setup, which may build indexes on a
large table, gets :data:`SCHEMA_TIMEOUT_SECONDS` instead.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import event, inspect, make_url, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel, create_engine

from storage import tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.paths import DataHome, data_home

DEFAULT_LEASE_SECONDS = 60.0
"""How long a job attempt's lease lasts without a renewal (``jobs.queue.leases``, ``launch.py worker --lease``)."""
DATABASE_TIMEOUT_SECONDS = DEFAULT_LEASE_SECONDS / 12
"""The longest one database wait may take (5 s): a lock, a statement, a connection. Well under a lease, so a worker
whose renewal failed still has most of its lease to try again."""
BUSY_TIMEOUT_MS = round(DATABASE_TIMEOUT_SECONDS * 1000)
SCHEMA_TIMEOUT_SECONDS = 300.0
"""Schema setup's bound instead: creating or upgrading tables (indexes on a large metric table) may take a while."""
SCHEMA_LOCK_KEY = 0x41444150  # "ADAP": the PostgreSQL advisory lock held while the schema is created or upgraded
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()  # the embedded worker thread and the web server's threads create engines concurrently


def database_url(home: DataHome | None = None) -> str:
    """``ADAPTA_DB_URL`` if set, else the SQLite file in the data home."""
    url = os.environ.get("ADAPTA_DB_URL")
    if url:
        return url
    home = home or data_home()
    return f"sqlite:///{home.database_file}"


def _enable_wal(cursor) -> None:  # noqa: ANN001 - a DB-API cursor
    """Switch the file to WAL, retrying while another process holds a lock (the busy handler does not cover it)."""
    import sqlite3
    import time

    for attempt in range(100):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == 99:
                raise
            time.sleep(0.05)


def postgres_connect_args(url: str, timeout_seconds: float | None = None) -> dict[str, object]:
    """libpq settings that bound every wait on the server (:data:`DATABASE_TIMEOUT_SECONDS` unless given); a setting the URL
    already names is left to the URL."""
    timeout_seconds = DATABASE_TIMEOUT_SECONDS if timeout_seconds is None else timeout_seconds
    milliseconds = round(timeout_seconds * 1000)
    bounds: dict[str, object] = {
        "connect_timeout": max(2, round(timeout_seconds)),  # libpq's smallest useful value is 2 s
        "options": f"-c statement_timeout={milliseconds} -c lock_timeout={milliseconds}",
        "tcp_user_timeout": milliseconds,  # sent data unacknowledged that long: the server is gone
        "keepalives": 1, "keepalives_idle": max(1, round(timeout_seconds)), "keepalives_interval": 1, "keepalives_count": 3,
    }
    named = set(make_url(url).query)
    return {key: value for key, value in bounds.items() if key not in named}


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # pragma: no cover - driver callback
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # WAL is a property of the database file: only its first connection has to switch it, and switching
        # needs a moment of exclusive access, so a connection that finds WAL already on leaves it alone.
        if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            _enable_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # pragma: no cover - driver callback
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL per process, tables created on first use."""
    url = url or database_url()
    engine = _engines.get(url)
    if engine is not None:
        return engine
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000})
                _configure_sqlite(engine)
            else:
                engine = create_engine(url, pool_pre_ping=True, connect_args=postgres_connect_args(url) if url.startswith("postgres") else {})
            set_up_schema(engine)
            _engines[url] = engine
    return engine


def set_up_schema(engine: Engine) -> list[str]:
    """Create missing tables and columns in one transaction, under a lock only one process holds at a time.

    It may wait (for another process doing the same) and run up to :data:`SCHEMA_TIMEOUT_SECONDS`."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:  # the wait for BEGIN IMMEDIATE's lock: longer here (set on the driver, outside any transaction), restored after
            connection.connection.driver_connection.execute(f"PRAGMA busy_timeout={round(SCHEMA_TIMEOUT_SECONDS * 1000)}")
        try:
            with connection.begin():  # SQLite: BEGIN IMMEDIATE, the database's single write lock
                if engine.dialect.name == "postgresql":
                    connection.execute(text(f"SET LOCAL statement_timeout = {round(SCHEMA_TIMEOUT_SECONDS * 1000)}"))
                    connection.execute(text(f"SET LOCAL lock_timeout = {round(SCHEMA_TIMEOUT_SECONDS * 1000)}"))
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
                SQLModel.metadata.create_all(connection)
                return add_missing_columns(connection)
        finally:
            if sqlite:
                connection.connection.driver_connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def database_now(connection: Connection | Session) -> datetime:
    """The database server's current time (UTC, timezone-aware): one clock for every host that shares the queue."""
    if connection.get_bind().dialect.name == "sqlite":
        value = connection.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    value = connection.execute(text("SELECT CURRENT_TIMESTAMP")).scalar_one()
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


def add_missing_columns(connection: Engine | Connection) -> list[str]:
    """Bring a database made by an older Adapta up to date: add each column the tables now declare and it lacks.

    Only additive changes are made (``ALTER TABLE ... ADD COLUMN`` with the column's default), so older rows keep
    every value and an older Adapta can still read the file. Returns ``table.column`` for each column added.
    Given an engine it runs in a transaction of its own; :func:`set_up_schema` passes its locked connection.
    """
    if isinstance(connection, Engine):
        with connection.begin() as own:
            return add_missing_columns(own)
    added: list[str] = []
    inspector = inspect(connection)
    for table in SQLModel.metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            kind = column.type.compile(dialect=connection.dialect)
            default = column.default.arg if column.default is not None and column.default.is_scalar else None
            clause = f" DEFAULT '{default}'" if isinstance(default, str) else (f" DEFAULT {default}" if isinstance(default, (int, float)) else "")
            # Identifiers and defaults come from this package's table classes, never from user input.
            connection.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}{clause}'))
            added.append(f"{table.name}.{column.name}")
        if any(name.startswith(f"{table.name}.") for name in added):
            for index in table.indexes:
                index.create(connection, checkfirst=True)
    return added


def reset_engines() -> None:
    """Dispose every cached engine (tests that switch data homes, and forked children)."""
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.dispose()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
